"""Where cnnscope keeps what it makes: ``$CNNSCOPE_HOME``, else ``~/.cache/cnnscope``."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")  # a file name on every system, never "." or ".."


def home() -> Path:
    return Path(os.environ.get("CNNSCOPE_HOME") or Path.home() / ".cache" / "cnnscope")


def trained_checkpoint(spec_name: str) -> Path:
    """Where ``cnnscope train`` saves, and ``run`` and the TUI look for, a model's weights.

    Always a file directly inside :func:`home`: a spec's name is the spec author's text
    (``"../victim"``, ``"/etc/x"``), so a name that is not a plain file name is mapped to one,
    its plain characters plus a hash of the whole name (two names never share a file).
    """
    if PLAIN.fullmatch(spec_name):
        stem = spec_name
    else:
        plain = re.sub(r"[^A-Za-z0-9_.-]+", "_", spec_name).strip("._")[:60] or "model"
        stem = f"{plain}-{hashlib.sha256(spec_name.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"
    return home() / f"{stem}.safetensors"
