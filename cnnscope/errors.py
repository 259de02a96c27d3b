"""The exceptions a user ever sees, each printed by the CLI as one line (exit code 2).

Every check in cnnscope raises a :class:`CnnscopeError` with as much context as it
has (file, TOML line, layer, a suggested fix); library users can catch it and read
the fields. Subclasses say what went wrong: a spec, a checkpoint, a device or an image.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Self

from cnnscope.text import visible

MAX_MESSAGE = 500  # characters
INSTALLED_ZOO = Path(__file__).parent / "zoo"  # where a wheel ships the zoo's specs (see cnnscope.zoo)


def zoo_label(path: str) -> str | None:
    """``zoo:NAME`` for a spec of the installed zoo, whose real path is a long site-packages one; else None."""
    if path.endswith(".toml") and Path(path).resolve().parent == INSTALLED_ZOO.resolve():
        return f"zoo:{Path(path).stem}"
    return None


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
        code: str | None = None,
    ) -> None:
        if len(message) > MAX_MESSAGE:  # a message quotes user text: 100,000 characters of it help nobody
            message = message[: MAX_MESSAGE - 100] + " ... " + message[-95:]
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.layer = layer
        self.hint = hint
        self.code = code  # the rule of `cnnscope check` it breaks (cnnscope.rules), where known

    def located(
        self, *, path: str | None = None, line: int | None = None, layer: str | None = None, code: str | None = None
    ) -> Self:
        """Fill in the context that the raiser did not know (outer frames know more)."""
        self.path = self.path or path
        self.line = self.line or line
        self.layer = self.layer or layer
        self.code = self.code or code
        return self

    def __str__(self) -> str:
        text = ""
        if self.path:
            path = zoo_label(self.path) or self.path
            text = f"{path}:{self.line}: " if self.line else f"{path}: "
        if self.layer:
            text += f"layer '{self.layer}': "
        text += self.message
        if self.hint:
            text += f" ({self.hint})"
        return visible(text)  # messages quote the user's text: shown, never sent raw to a terminal


class SpecError(CnnscopeError):
    """A spec is malformed or describes a network that cannot exist."""


class SpecErrors(SpecError):
    """Several independent problems of one spec, found in one pass (``cnnscope check``).

    Reads as the first of them; ``errors`` holds them all, each with its own line.
    """

    def __init__(self, errors: list[SpecError]) -> None:
        first = errors[0]
        super().__init__(
            first.message, path=first.path, line=first.line, layer=first.layer, hint=first.hint, code=first.code
        )
        self.errors = errors

    def __str__(self) -> str:
        return f"{super().__str__()} (and {len(self.errors) - 1} more)"


class CheckpointError(CnnscopeError):
    """A weights file is unreadable, unsafe, or does not fit the model."""


class DeviceError(CnnscopeError):
    """A device or dtype that this machine or this model cannot run."""


# what each optional extra adds (pyproject.toml), as pip names them
EXTRAS = {
    "torch": ("torch", "torchvision", "safetensors", "scikit-learn", "onnxscript"),
    "onnx": ("onnx", "onnxruntime", "safetensors"),
}
_MODULES = {"sklearn": "torch", "onnx": "onnx", "onnxruntime": "onnx"}  # module -> extra, where not its pip name


def missing_extra(exc: ImportError, what: str) -> CnnscopeError | None:
    """The one-line error for an install without the extra that ``what`` needs (``pip install cnnscope``
    asked for the torch side, or for ONNX); else None."""
    name = (exc.name or "").partition(".")[0]
    extra = _MODULES.get(name, "torch" if name in EXTRAS["torch"] else None)
    if extra is None:
        return None
    return CnnscopeError(f"{what} needs {name}, which this install lacks", hint=extra_hint(extra))


def torch_extra_hint() -> str:
    """How to add the torch extra (see :func:`extra_hint`)."""
    return extra_hint("torch")


def extra_hint(extra: str) -> str:
    """How to add an extra, in a form that works: cnnscope is not on a package index, so
    ``pip install "cnnscope[torch]"`` fails. From a checkout, its folder with the extra; else the packages."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "specs").is_dir():
        return f'pip install "{root}[{extra}]" adds it'
    return f"pip install {' '.join(EXTRAS[extra])} adds it"


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A 'did you mean ...?' hint for a misspelt name (a layer, block, key or model), or None."""
    choices = list(choices)
    same_letters = [choice for choice in choices if choice.casefold() == word.casefold()]  # 'C1' for 'c1'
    close = same_letters or difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def did_you_mean_type(word: str, choices: Iterable[str]) -> str | None:
    """A hint for a misspelt layer type or activation: only a misspelling of the same thing.

    Following such a hint must never silently build another network, so 'relu6' does not
    suggest 'relu', 'hardsigmoid' not 'sigmoid', 'selu' not 'silu', 'conv3d' not 'conv2d'.
    Accepted: case, ``_``/``-``, torch's ``2d`` suffix, a swapped pair, a letter typed twice
    (``rellu``), or one wrong letter in a word of five or more.
    """
    best: tuple[int, str] | None = None
    for choice in choices:
        distance = _typo_distance(word, choice)
        if distance is not None and (best is None or distance < best[0]):
            best = (distance, choice)
    return f"did you mean '{best[1]}'?" if best else None


def _typo_distance(word: str, candidate: str) -> int | None:
    """0 or 1 when ``word`` is a misspelling of ``candidate``; None when it may name something else."""
    a, b = (re.sub(r"[_\-]", "", text.lower()) for text in (word, candidate))
    if a.endswith("2d") and not b.endswith("2d"):  # torch's "maxpool2d" is the 2-D "maxpool"
        a = a[:-2]
    if a == b:
        return 0
    if re.sub(r"\D", "", a) != re.sub(r"\D", "", b) or abs(len(a) - len(b)) > 1:
        return None  # relu6 / relu, conv3d / conv2d
    if any(a[:i] + a[i + 1] + a[i] + a[i + 2 :] == b for i in range(len(a) - 1)):  # a swapped pair
        return 1
    # a key pressed twice, not first: torch's "rrelu" is another function than "relu"
    if any(a[i] == a[i + 1] and a[:i] + a[i + 1 :] == b for i in range(1, len(a) - 1)):
        return 1
    if min(len(a), len(b)) < 5:  # short names one letter apart are often other functions: selu, silu, gelu
        return None
    return 1 if _one_edit(a, b) else None


def _one_edit(a: str, b: str) -> bool:
    """One letter replaced, added or dropped."""
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) == 1
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))
