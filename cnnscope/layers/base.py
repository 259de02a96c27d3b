"""What every layer type provides, and how a TOML table becomes a validated layer.

A layer type is a frozen dataclass whose fields are its TOML keys. Each field carries
a parser in its metadata (see :func:`key`), so validation, defaults and error messages
come from one declaration. The analysis engine only talks to the methods below.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from cnnscope.errors import SpecError, did_you_mean

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Cost:
    """Parameters and arithmetic of one layer for one sample.

    ``macs`` counts multiply-accumulates of conv/linear layers only (1 MAC = one
    multiply and one add). ``flops`` is 2 x MACs for conv/linear plus the per-element
    operations of the other layers (see ``docs/conventions.md``).
    """

    weights: int = 0
    biases: int = 0
    trainable: bool = True
    macs: int = 0
    flops: int = 0

    @property
    def params(self) -> int:
        return self.weights + self.biases

    def __add__(self, other: Cost) -> Cost:
        if self.params and other.params and self.trainable != other.trainable:
            raise ValueError("cannot add trainable and frozen costs")
        return Cost(
            self.weights + other.weights,
            self.biases + other.biases,
            self.trainable if self.params else other.trainable,
            self.macs + other.macs,
            self.flops + other.flops,
        )


@dataclass(frozen=True)
class Window:
    """A sliding window along the spatial axes: what moves the receptive field."""

    kernel: tuple[int, ...]  # effective size, dilation included
    stride: tuple[int, ...]


class Global:
    """Marker: the layer sees its whole input (flatten, linear, global pooling)."""


GLOBAL = Global()


@dataclass(frozen=True)
class Cells:
    """The lecture table's descriptive columns for one layer."""

    units: str = ""
    size: str = ""
    stride: str = ""
    padding: str = ""


Parser = Callable[[Any, "type[Layer]"], Any]


def key(parse: Parser, default: Any = dataclasses.MISSING, doc: str = "") -> Any:
    """Declare a TOML key of a layer: its parser, default and one-line meaning."""
    return dataclasses.field(default=default, metadata={"parse": parse, "doc": doc})


@dataclass(frozen=True)
class Layer:
    """Base of all layer types. Subclasses are dataclasses registered in ``layers/__init__``."""

    type_name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    merges: ClassVar[bool] = False  # takes several inputs (concat, add)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        """Validate the TOML keys of one layer and build it."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for name, raw in config.items():
            if name not in known:
                raise SpecError(
                    f"{cls.type_name} has no key '{name}'",
                    hint=did_you_mean(name, known) or f"its keys are: {', '.join(known) or 'none'}",
                )
            try:
                values[name] = known[name].metadata["parse"](raw, cls)
            except ValueError as exc:
                raise SpecError(f"{name} = {_show(raw)}: {exc}") from None
        for name, f in known.items():
            if name in values:
                continue
            if f.default is dataclasses.MISSING:
                raise SpecError(f"{cls.type_name} needs '{name}' ({f.metadata['doc']})")
            if f.default is not None:  # defaults are written as in TOML: normalise them too
                values[name] = f.metadata["parse"](f.default, cls)
        return cls(**values)

    @classmethod
    def keys_doc(cls) -> list[tuple[str, str, str]]:
        """(key, default, meaning) for each key, for ``cnnscope types``."""
        rows = []
        for f in dataclasses.fields(cls):
            default = "required" if f.default is dataclasses.MISSING else _show(f.default)
            rows.append((f.name, default, f.metadata["doc"]))
        return rows

    # --- what the engine asks of a layer -------------------------------------------------
    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        """Output shape for these input shapes; raise SpecError when impossible.

        ``sources`` names the inputs, for messages of layers that take several.
        """
        (shape,) = inputs
        return shape

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        return Cost()

    def window(self, inputs: list[Shape]) -> Window | Global | None:
        """How the layer moves the receptive field; None for pointwise layers."""
        return None

    def warnings(self, inputs: list[Shape]) -> list[str]:
        return []

    def cells(self) -> Cells:
        return Cells()

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        """The arithmetic behind the output shape, numbers filled in."""
        return [f"output = input = {fmt_shape(out)} (shape unchanged)"]

    def explain_cost(self, inputs: list[Shape], out: Shape) -> list[str]:
        """The arithmetic behind params, MACs and FLOPs, numbers filled in."""
        cost = self.cost(inputs, out)
        return [f"params = 0, MACs = 0, FLOPs = {cost.flops:,}"]


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value)


def fmt_shape(shape: Shape) -> str:
    return "x".join(str(d) for d in shape) if shape else "scalar"


def numel(shape: Shape) -> int:
    return math.prod(shape)


def expect_rank(layer: Layer, shape: Shape, ranks: tuple[int, ...], what: str) -> None:
    if len(shape) not in ranks:
        raise SpecError(f"{layer.type_name} needs {what}, got a tensor of shape {fmt_shape(shape)}")


# --- parsers for keys ---------------------------------------------------------------------
def _int(value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"must be at least {minimum}")
    return value


def positive(value: Any, _cls: type[Layer]) -> int:
    return _int(value, 1)


def non_negative(value: Any, _cls: type[Layer]) -> int:
    return _int(value, 0)


def per_axis(minimum: int) -> Parser:
    """A number, or one number per spatial axis of the layer (``ndim`` of the class)."""

    def parse(value: Any, cls: type[Layer]) -> tuple[int, ...]:
        ndim: int = getattr(cls, "ndim", 1)
        if isinstance(value, list):
            if len(value) != ndim:
                raise ValueError(f"expected {ndim} numbers, one per spatial axis, got {len(value)}")
            return tuple(_int(v, minimum) for v in value)
        return (_int(value, minimum),) * ndim

    return parse


def optional_per_axis(minimum: int) -> Parser:
    parse = per_axis(minimum)
    return lambda value, cls: None if value is None else parse(value, cls)


def padding(value: Any, cls: type[Layer]) -> tuple[int, ...] | str:
    if isinstance(value, str):
        if value not in ("same", "valid"):
            raise ValueError('expected a number, one number per axis, "same" or "valid"')
        return value
    return per_axis(0)(value, cls)


def boolean(value: Any, _cls: type[Layer]) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def number(value: Any, _cls: type[Layer]) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError("expected a number")
    return float(value)


def positive_number(value: Any, cls: type[Layer]) -> float:
    if number(value, cls) <= 0:
        raise ValueError("must be greater than 0")
    return float(value)


def probability(value: Any, cls: type[Layer]) -> float:
    if not 0 <= number(value, cls) < 1:
        raise ValueError("expected a probability in [0, 1)")
    return float(value)


def shape_list(value: Any, _cls: type[Layer]) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError("expected a list of sizes such as [30, 7, 7]")
    dims = tuple(-1 if v == -1 and not isinstance(v, bool) else _int(v, 1) for v in value)
    if dims.count(-1) > 1:
        raise ValueError("at most one size may be -1 (inferred)")
    return dims


LAYER_TYPES: dict[str, type[Layer]] = {}


def register(cls: type[Layer]) -> type[Layer]:
    """Class decorator: make a layer type available to specs under ``cls.type_name``."""
    LAYER_TYPES[cls.type_name] = cls
    return cls
