"""``--input`` and the TUI's size box: a new input size written as text, applied to a spec."""

from __future__ import annotations

import re

from cnnscope.errors import SpecError
from cnnscope.layers import Shape, fmt_shape
from cnnscope.spec.model import Spec

MAX_DIGITS = 9  # a billion pixels a side; longer numbers are typos or attacks
SIZE = re.compile(r"\d+([x\u00d7,]\d+)*")


def parse_size(text: str) -> tuple[int, ...]:
    """``3x224x224`` (or ``3,224,224``) -> (3, 224, 224)."""
    shown = text if len(text) <= 40 else text[:37] + "..."
    if len(text) > 200 or not SIZE.fullmatch(text.strip()):
        raise SpecError(f"input size '{shown}' is not a size such as 3x224x224 or 224")
    parts = re.split(r"[x\u00d7,]", text.strip())
    if any(len(part.lstrip("0")) > MAX_DIGITS for part in parts):
        raise SpecError(f"input size '{shown}': a side of more than {MAX_DIGITS} digits is no input")
    dims = tuple(int(d) for d in parts)
    if any(d <= 0 for d in dims):
        raise SpecError(f"input size '{text}': sizes must be positive")
    return dims


def resize(spec: Spec, text: str) -> Spec:
    """A full shape (3x224x224), only the spatial size (224x224 or 448), or a sequence length."""
    return spec.with_input(fitted(parse_size(text), spec.input.shape, text, "the spec's input"))


def fitted(dims: Shape, shape: Shape, text: str, what: str) -> Shape:
    """``dims`` as given on the command line, read against ``shape``: the whole size, the spatial sizes
    alone (224x224, or 16x112x112 for a video), or one spatial size for every spatial axis (448)."""
    if len(dims) == len(shape):
        return dims
    if len(shape) >= 2 and len(dims) == 1:
        return (shape[0],) + dims * (len(shape) - 1)
    if len(shape) >= 3 and len(dims) == len(shape) - 1:
        return (shape[0], *dims)
    raise SpecError(f"input size '{text}' does not fit {what} {fmt_shape(shape)}")
