"""What every layer type provides, and how a TOML table becomes a validated layer.

A layer type is a frozen record (a subclass of :class:`Layer`, declared as a frozen dataclass
is) whose fields are its TOML keys. Each key carries its parser (see :func:`key`), so
validation, defaults and error messages come from one declaration. Everything else the
project knows about a type is a method or class attribute of it: the engine's shape rule
and costs, the receptive-field effect, the arithmetic ``--explain`` shows, the torch module
it builds, how each peer tool counts it, and the capabilities the TUI and ``run`` ask
about. No list of type names is kept anywhere else; ``tests/test_registry.py`` walks
:data:`LAYER_TYPES` and fails when a type lacks any of these.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, dataclass_transform

from cnnscope.errors import SpecError, did_you_mean
from cnnscope.rules import Finding

if TYPE_CHECKING:  # torch is imported only where a model is built
    from torch import nn

Shape = tuple[int, ...]


class FrozenError(AttributeError):
    """A layer's keys cannot change once it is built (as ``dataclasses.FrozenInstanceError``)."""


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
    """A sliding window along the spatial axes: what moves the receptive field.

    ``kernel`` counts the input positions one output reads along each axis (dilation
    included); ``stride`` is a fraction below 1 where the layer upsamples (the output grid
    is finer than the input's: nearest x2 reads 1 input, and outputs are 1/2 apart). With
    ``kernel_on_output`` the kernel spans the output grid, as a transposed convolution's
    does: the jump shrinks first, then the kernel widens the field in steps of the new jump.
    """

    kernel: tuple[int, ...]
    stride: tuple[Fraction | int, ...]
    kernel_on_output: bool = False


class Global:
    """Marker: the layer sees its whole input (flatten, global pooling)."""


GLOBAL = Global()


@dataclass(frozen=True)
class Mixes:
    """The layer mixes all positions along one tensor axis (per sample) and no others.

    ``linear``, ``layernorm`` and ``softmax`` act on one axis. Where it holds the channels
    (after ``permute``, as in ConvNeXt) the receptive field is unchanged. Where it is
    spatial, each output sees that axis whole (``extent`` positions) and is still one
    position along the others: a linear on the width of a C x H x W map turns the width into
    features (``replaces``: the axis is no longer spatial), a layer norm keeps it spatial.
    """

    axis: int
    extent: int = 1  # positions along the axis, in the input
    replaces: bool = False  # the axis holds features afterwards (linear)


@dataclass(frozen=True)
class Moves:
    """The layer reorders the tensor's axes (``permute``): ``dims[i]`` is the input axis of output axis i."""

    dims: tuple[int, ...]


# None: pointwise, the field is unchanged; several Mixes: each of those axes mixed whole (a reduction
# with keepdim whose axes may be spatial or not: channels-last maps hold the channels last)
Effect = Window | Global | Mixes | tuple[Mixes, ...] | Moves | None


@dataclass(frozen=True)
class TorchCall:
    """One call read from a torch model by ``cnnscope import``: a module, a function or a method.

    ``name`` is the callable as people write it: ``nn.Conv2d``, ``F.relu``, ``torch.cat``,
    ``operator.add``, ``Tensor.mean``, ``torchvision.Permute``. ``module`` is the module
    instance for a module call (its attributes hold the settings), else None. In ``args``
    every tensor is :data:`TENSOR`; ``inputs`` are the shapes of those tensors, per sample
    and in order, ``parameters`` the (path, shape) of parameters used directly (ConvNeXt's
    ``layer_scale * x``), ``out`` the output's shape.
    """

    name: str
    module: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    inputs: tuple[Shape, ...]
    out: Shape
    parameters: tuple[tuple[str, Shape], ...] = ()

    def arg(self, position: int, keyword: str, default: Any = None) -> Any:
        """An argument given by position or by keyword."""
        if keyword in self.kwargs:
            return self.kwargs[keyword]
        return self.args[position] if position < len(self.args) else default


TENSOR = "<tensor>"  # stands for a tensor argument in TorchCall.args


class Parameter(NamedTuple):
    """A parameter or buffer of the model passed to a call as it is (``F.batch_norm(x, self.running_mean,
    ...)``, ConvNeXt's ``gamma``): where it lives and its shape. It stands in TorchCall.args as TENSOR does."""

    path: str
    shape: Shape  # as the call sees it (a view's shape, per sample: C x 1 x 1 for gamma.reshape(1, -1, 1, 1))
    stored: Shape | None = None  # the parameter's own shape, where a view changed it
    fixed: tuple[float, ...] | None = None  # a buffer outside the state_dict: its values, flattened (a fixed filter)

    @property
    def owner(self) -> str:
        """The module that holds it (``layer1.0.bn1`` for ``layer1.0.bn1.running_mean``)."""
        return self.path.rpartition(".")[0]


class Size(NamedTuple):
    """A size that a call took from a tensor rather than from the model's code (``B, C, H, W = x.shape``,
    ``x.size(2)``, ``C // self.radix``), standing in TorchCall.args: its value in the capture, and where
    it comes from: ``axis`` (per sample) of the call's input number ``source``, scaled by ``times`` and
    ``per`` (space-to-depth's ``H // 4``), or neither where it was computed otherwise from sizes or comes
    from a tensor that is no input of the call."""

    value: int
    axis: int | None = None
    source: int | None = None
    times: int = 1  # the axis's size times this, floor-divided by ``per`` (``H // 4``, ``C * 16``)
    per: int = 1


def given(value: Any) -> bool:
    """Whether an optional tensor argument was passed (a bias, an affine weight): not None."""
    return value is not None


def functional_owner(call: TorchCall) -> str | None:
    """For a function called with a module's own parameters (timm's ``BatchNormAct2d`` calls
    ``F.batch_norm(x, self.running_mean, ..., self.weight, self.bias)``), the path of that module:
    the layer is then that module's type, named after it, so its state_dict keys load as they are.
    None for a module call, or where the weights are computed in forward or belong to several modules."""
    if call.module is not None or not call.parameters:
        return None
    owners = {path.rpartition(".")[0] for path, _ in call.parameters}
    return owners.pop() if len(owners) == 1 else None


def weight_argument(call: TorchCall, position: int, keyword: str) -> Parameter:
    """The weight a function is called with, which must be a parameter of the model as it is."""
    weight = call.arg(position, keyword)
    if not isinstance(weight, Parameter) or weight.fixed is not None or functional_owner(call) is None:
        raise SpecError(
            f"{call.name} with a weight computed in forward (or shared between modules) has no spec form",
            hint="a layer's weights must be its own parameters",
        )
    return weight


class PeerCounts(NamedTuple):
    """What each peer tool reports for one layer, in its own unit (see ``cnnscope.peers``).

    A type states all five; an explicit 0 documents that the peer ignores it.
    """

    torchinfo: int
    fvcore: int
    ptflops: int
    thop: int
    flopcounter: int


UNCOUNTED = PeerCounts(0, 0, 0, 0, 0)


def multiply_add_counts(cost: Cost, out: Shape, functional: bool, torchinfo: int, thop: int) -> PeerCounts:
    """What the peers count for a conv, transposed conv or linear layer (they differ in torchinfo and thop).

    fvcore and FlopCounterMode trace the op itself: its multiply-adds, 2 FLOPs each for the latter.
    ptflops hooks the module and adds one per output for the bias. Called as a function (``F.conv2d``,
    ``F.linear``) only the tracers see it: ptflops patches neither (its F.linear patch ships commented out).
    """
    if functional:
        return UNCOUNTED._replace(fvcore=cost.macs, flopcounter=2 * cost.macs)
    return PeerCounts(
        torchinfo=torchinfo,
        fvcore=cost.macs,
        ptflops=cost.macs + (numel(out) if cost.biases else 0),
        thop=thop,
        flopcounter=2 * cost.macs,
    )


@dataclass(frozen=True)
class Cells:
    """The lecture table's descriptive columns for one layer."""

    units: str = ""
    size: str = ""
    stride: str = ""
    padding: str = ""


Parser = Callable[[Any, "type[Layer]"], Any]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()  # the default of a key that a spec must give


class Key:
    """One TOML key of a layer type, as :func:`key` declares it: parser, default and meaning."""

    __slots__ = ("default", "doc", "name", "parse")

    def __init__(self, parse: Parser, default: Any, doc: str) -> None:
        self.name = ""  # set when the class is created
        self.parse = parse
        self.default = default
        self.doc = doc

    def __repr__(self) -> str:
        return f"Key({self.name!r}, default={self.default!r})"


def key(parse: Parser, default: Any = REQUIRED, doc: str = "") -> Any:
    """Declare a TOML key of a layer: its parser, default and one-line meaning."""
    return Key(parse, default, doc)


@dataclass_transform(frozen_default=True)
class Layer:
    """Base of all layer types: each subclass is a frozen record of its keys, registered in ``layers/__init__``.

    A subclass declares its keys as annotated class attributes set with :func:`key`, as a frozen
    dataclass would, and gets what ``@dataclass(frozen=True)`` gives (keyword or positional
    ``__init__``, equality, hash, repr, no assignment) from the methods below, shared by all
    types instead of generated for each: creating some sixty dataclasses took most of
    ``import cnnscope``. :attr:`keys` lists the keys in order (base class keys first).
    """

    keys: ClassVar[tuple[Key, ...]] = ()

    type_name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    arity: ClassVar[tuple[int, int | None]] = (1, 1)  # fewest and most inputs (None: any number)
    # capabilities other parts ask about
    draws_filters: ClassVar[bool] = False  # weight is a bank of spatial filters to draw (conv)
    has_units: ClassVar[bool] = False  # one weight row per output unit (conv, linear): TUI filters, maximize
    fresh_output: ClassVar[bool] = False  # output is a new tensor: a fused act may overwrite it in place
    gives_probabilities: ClassVar[bool] = False  # output sums to one over the classes (softmax): run, heat-maps
    named_after_parameter: ClassVar[bool] = False  # import names it like the one parameter it reads (layer scale)
    # a small working configuration, for `cnnscope types` and the registry test
    example: ClassVar[dict[str, Any]] = {}
    example_inputs: ClassVar[tuple[Shape, ...]] = ((4, 8, 8),)

    @property
    def merges(self) -> bool:
        """Takes two or more inputs (concat, add, mul)."""
        return self.arity[0] >= 2

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        """Validate the TOML keys of one layer and build it."""
        known = {f.name: f for f in cls.keys}
        values: dict[str, Any] = {}
        for name, raw in config.items():
            if name not in known:
                raise SpecError(
                    f"{cls.type_name} has no key '{name}'",
                    hint=did_you_mean(name, known) or f"its keys are: {', '.join(known) or 'none'}",
                )
            try:
                values[name] = known[name].parse(raw, cls)
            except ValueError as exc:
                raise SpecError(f"{name} = {_show(raw)}: {exc}") from None
        for name, f in known.items():
            if name in values:
                continue
            if f.default is REQUIRED:
                raise SpecError(f"{cls.type_name} needs '{name}' ({f.doc})")
            if f.default is not None:  # defaults are written as in TOML: normalise them too
                values[name] = f.parse(f.default, cls)
        return cls(**values)

    @classmethod
    def keys_doc(cls) -> list[tuple[str, str, str]]:
        """(key, default, meaning) for each key, for ``cnnscope types``."""
        return [(f.name, "required" if f.default is REQUIRED else _show(f.default), f.doc) for f in cls.keys]

    # --- the frozen record: what @dataclass(frozen=True) would generate, once for all types ---
    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        keys = {f.name: f for f in cls.keys}  # the base classes' keys first, as dataclasses orders them
        # (not inspect.get_annotations: inspect alone costs a tenth of `import cnnscope`)
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063
            if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
                continue
            declared = cls.__dict__.get(name, REQUIRED)
            if not isinstance(declared, Key):
                raise TypeError(f"{cls.__name__}.{name}: declare the key with key(parser, default, doc)")
            declared.name = name
            keys[name] = declared
            if declared.default is REQUIRED:
                delattr(cls, name)
            else:
                setattr(cls, name, declared.default)
        required_after_default = False
        for f in keys.values():
            if f.default is REQUIRED and required_after_default:
                raise TypeError(f"{cls.__name__}: required key '{f.name}' follows a key with a default")
            required_after_default = required_after_default or f.default is not REQUIRED
        cls.keys = tuple(keys.values())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        keys = self.keys
        if len(args) > len(keys):
            raise TypeError(f"{type(self).__name__} takes {len(keys)} arguments, {len(args)} were given")
        values = self.__dict__
        used = 0
        for i, f in enumerate(keys):
            if i < len(args):
                if f.name in kwargs:
                    raise TypeError(f"{type(self).__name__} got two values for '{f.name}'")
                values[f.name] = args[i]
            elif f.name in kwargs:
                values[f.name] = kwargs[f.name]
                used += 1
            elif f.default is not REQUIRED:
                values[f.name] = f.default
            else:
                raise TypeError(f"{type(self).__name__} is missing '{f.name}'")
        if used != len(kwargs):
            unknown = sorted(set(kwargs) - {f.name for f in keys})
            raise TypeError(f"{type(self).__name__} has no key {', '.join(map(repr, unknown))}")

    def _values(self) -> tuple[Any, ...]:
        return tuple([getattr(self, f.name) for f in self.keys])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._values() == other._values()  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in self.keys)
        return f"{type(self).__qualname__}({shown})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenError(f"cannot assign to field '{name}'")

    def __delattr__(self, name: str) -> None:
        raise FrozenError(f"cannot delete field '{name}'")

    @classmethod
    def example_line(cls) -> str:
        """The example as a spec writes it: ``{type = "conv2d", out = 6, kernel = 3}``."""
        keys = "".join(f", {name} = {_show(value)}" for name, value in cls.example.items())
        return f'{{type = "{cls.type_name}"{keys}}}'

    # --- what the engine asks of a layer -------------------------------------------------
    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        """Output shape for these input shapes; raise SpecError when impossible.

        ``sources`` names the inputs, for messages of layers that take several.
        """
        (shape,) = inputs
        return shape

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        return Cost()

    def window(self, inputs: list[Shape]) -> Effect:
        """How the layer moves the receptive field; None for pointwise layers."""
        return None

    # inputs whose values reach the output (crop's second input gives only a size): their fields merge
    value_inputs: ClassVar[int | None] = None

    def warnings(self, inputs: list[Shape], spatial_axes: tuple[int, ...] = ()) -> list[Finding]:
        """Things that work but are likely mistakes; ``spatial_axes``: which input axes are spatial."""
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

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        """What torchinfo, fvcore, ptflops, thop and FlopCounterMode report for this layer.

        ``functional``: the reference model calls it as a function (``F.relu``), which
        tools that only hook modules (torchinfo, thop) do not see.
        """
        raise NotImplementedError(f"{self.type_name} does not say how the peer tools count it")

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        """The torch module that computes this layer, with torch's parameter names."""
        raise NotImplementedError(f"{self.type_name} has no torch module")

    # the torch callables this type reads back (``cnnscope import``), e.g. ("nn.Conv2d",)
    imports: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        """The spec keys that describe ``call`` (one of ``imports``), or None when this type does
        not describe that particular call (another type may). Raise SpecError for settings
        that no spec can express."""
        return {}


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value)


def fmt_shape(shape: Shape) -> str:
    return "x".join(str(d) for d in shape) if shape else "scalar"


def numel(dims: Iterable[int]) -> int:
    """Elements in a shape, or the product of any sizes (a generator of known dims, spatial axes)."""
    return math.prod(dims)


# Elements in one tensor (per sample): torch counts them in 64 bits; more only breaks arithmetic and printing.
MAX_ELEMENTS = 2**62


def bounded(shape: Shape, what: str = "the output") -> Shape:
    """``shape``, checked before any later arithmetic (costs, floats for printing, torch) can overflow."""
    elements = numel(shape)
    if elements > MAX_ELEMENTS:
        raise SpecError(
            f"{what} {fmt_shape(shape)} holds about 2^{elements.bit_length() - 1} elements: larger than any network",
            hint="a smaller scale, stride or size",
        )
    return shape


def expect_rank(layer: Layer, shape: Shape, ranks: tuple[int, ...], what: str) -> None:
    if len(shape) not in ranks:
        raise SpecError(f"{layer.type_name} needs {what}, got a tensor of shape {fmt_shape(shape)}")


# --- parsers for keys ---------------------------------------------------------------------
class NotANumber(ValueError):
    """A key that takes numbers only was given something else: for a bare word, the spec's
    parser says that no variable has that name."""


def _int(value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise NotANumber(f"expected a whole number, got {type(value).__name__}")
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


def numbers(minimum: float, whole: bool = False) -> Parser:
    """A number or a list, one per spatial axis (checked against the input, whose axes the
    key cannot know); whole numbers at least ``minimum``, or real numbers above it."""

    def parse(value: Any, cls: type[Layer]) -> tuple[Any, ...] | None:
        if value is None:
            return None
        items = value if isinstance(value, list) else [value]
        if not items:
            raise ValueError("expected a number or a list of numbers")
        if whole:
            return tuple(_int(item, int(minimum)) for item in items)
        for item in items:
            if number(item, cls) <= minimum:
                raise ValueError(f"every number must be greater than {minimum:g}")
        return tuple(items)

    return parse


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
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NotANumber("expected a number")
    if not math.isfinite(value):
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


def per_spatial_axis(values: tuple[Any, ...], shape: Shape, what: str) -> tuple[Any, ...]:
    """One value per spatial axis of ``shape``, for keys whose axes are known only from the input."""
    axes = len(shape) - 1
    if len(values) == 1:
        return values * axes
    if len(values) != axes:
        raise SpecError(f"{what} has {len(values)} numbers; the input {fmt_shape(shape)} has {axes} spatial axes")
    return values


def check_border(mode: str, shape: Shape, amounts: Iterable[tuple[int, int]]) -> None:
    """A border of the input's own values must exist in it, as F.pad requires: ``reflect`` mirrors at most
    size - 1 values of an axis (the edge is not repeated), ``circular`` wraps at most size. ``amounts``: the
    (before, after) of each spatial axis of ``shape``."""
    if mode not in ("reflect", "circular"):
        return
    for size, (before, after) in zip(shape[1:], amounts):
        most = size - 1 if mode == "reflect" else size
        if max(before, after) > most:
            raise SpecError(
                f"{mode} padding of {max(before, after)} on an axis of {size}: at most {most} ({fmt_shape(shape)})",
                hint='pad less, or pad with "replicate" (the edge repeated)',
            )


def choice(*options: str) -> Parser:
    """One of a few words, such as ``mode = "row" | "batch"``."""

    def parse(value: Any, _cls: type[Layer]) -> str:
        if value not in options:
            quoted = [f'"{option}"' for option in options]
            raise ValueError(
                f"expected {quoted[0]} or {quoted[1]}" if len(quoted) == 2 else f"expected one of {', '.join(quoted)}"
            )
        return str(value)

    return parse


def spatial_size(shape: Shape) -> int:
    """Positions per channel: the product of the axes after the first."""
    return math.prod(shape[1:])


def compact(values: Any) -> Any:
    """Per-axis numbers as a spec writes them: ``3`` for ``(3, 3)``, a list where they differ."""
    if isinstance(values, (tuple, list)):
        items = list(values)
        return items[0] if items and all(v == items[0] for v in items) else items
    return values
