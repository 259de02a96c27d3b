"""The exceptions a user ever sees, each printed by the CLI as one line (exit code 2).

Every check in cnnscope raises a :class:`CnnscopeError` with as much context as it
has (file, TOML line, layer, a suggested fix); library users can catch it and read
the fields. Subclasses say what went wrong: a spec, a checkpoint, a device or an image.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class CnnscopeError(Exception):
    """Bad input: the message names the file, line and layer where known, and the fix."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        layer: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.layer = layer
        self.hint = hint

    def located(self, *, path: str | None = None, line: int | None = None, layer: str | None = None) -> CnnscopeError:
        """Fill in the context that the raiser did not know (outer frames know more)."""
        self.path = self.path or path
        self.line = self.line or line
        self.layer = self.layer or layer
        return self

    def __str__(self) -> str:
        text = ""
        if self.path:
            text = f"{self.path}:{self.line}: " if self.line else f"{self.path}: "
        if self.layer:
            text += f"layer '{self.layer}': "
        text += self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class SpecError(CnnscopeError):
    """A spec is malformed or describes a network that cannot exist."""


class CheckpointError(CnnscopeError):
    """A weights file is unreadable, unsafe, or does not fit the model."""


class DeviceError(CnnscopeError):
    """A device or dtype that this machine or this model cannot run."""


def require_file(path: Path, what: str, error: type[CnnscopeError]) -> None:
    """Raise ``error`` naming ``path`` when it is a folder or does not exist."""
    if path.is_dir():
        raise error(f"is a directory, not {what}", path=str(path))
    if not path.exists():
        raise error(f"no such {what.removeprefix('a ').removeprefix('an ')} file", path=str(path))


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A 'did you mean ...?' hint for a misspelt name, or None when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None
