"""The one exception a user ever sees: a spec that cannot be read or analysed.

Every check in cnnscope raises :class:`SpecError` with as much context as it has
(file, TOML line, layer, a suggested fix). The CLI prints it as one line and exits
with code 2; library users can catch it and read the fields.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SpecError(Exception):
    """A spec is malformed or describes a network that cannot exist."""

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

    def located(self, *, path: str | None = None, line: int | None = None, layer: str | None = None) -> SpecError:
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


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A 'did you mean ...?' hint for a misspelt name, or None when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None
