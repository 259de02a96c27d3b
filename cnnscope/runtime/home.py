"""Where cnnscope keeps what it makes: ``$CNNSCOPE_HOME``, else ``~/.cache/cnnscope``."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("CNNSCOPE_HOME") or Path.home() / ".cache" / "cnnscope")


def trained_checkpoint(spec_name: str) -> Path:
    """Where ``cnnscope train`` saves, and ``run`` and the TUI look for, a model's weights."""
    return home() / f"{spec_name}.safetensors"
