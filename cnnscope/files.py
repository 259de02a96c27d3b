"""Writing files so that a reader never sees half of one: a temporary file beside it, then a rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cnnscope.errors import CnnscopeError


def write_text_atomically(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` whole or not at all, with the permissions the umask gives a new file."""
    path = Path(path)
    if path.is_dir():
        raise CnnscopeError("is a directory", path=str(path))
    if not path.parent.is_dir():
        raise CnnscopeError("the folder does not exist", path=str(path))
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as exc:
        raise CnnscopeError(f"cannot write here: {exc.strerror}", path=str(path)) from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600 whatever the umask
        os.replace(temporary, path)
    except OSError as exc:
        raise CnnscopeError(f"cannot write: {exc.strerror}", path=str(path)) from None
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path
