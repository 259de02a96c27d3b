"""Where cnnscope keeps what it makes: ``$CNNSCOPE_HOME``, else ``~/.cache/cnnscope``."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("CNNSCOPE_HOME") or Path.home() / ".cache" / "cnnscope")


def trained_checkpoint(spec_name: str) -> Path:
    """Where ``cnnscope train`` saves, and ``run`` and the TUI look for, a model's weights."""
    return home() / f"{spec_name}.safetensors"


def weights_for(spec_name: str, explicit: str | None) -> str | None:
    """The weights to load: those asked for, else the trained checkpoint if there is one."""
    if explicit:
        return explicit
    trained = trained_checkpoint(spec_name)
    return str(trained) if trained.exists() else None
