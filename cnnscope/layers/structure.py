"""Layers that rearrange, cut or join tensors: flatten, reshape, permute, channel shuffle,
slice, crop, pad, concat, add, mul, max-over-time."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from cnnscope.errors import SpecError
from cnnscope.layers.base import (
    GLOBAL,
    TENSOR,
    UNCOUNTED,
    Cells,
    Cost,
    Effect,
    Global,
    Layer,
    Mixes,
    Moves,
    PeerCounts,
    Shape,
    Size,
    TorchCall,
    Window,
    boolean,
    check_border,
    choice,
    compact,
    expect_rank,
    fmt_shape,
    key,
    non_negative,
    number,
    numbers,
    numel,
    per_spatial_axis,
    positive,
    register,
)
from cnnscope.rules import RESIDUAL_MISMATCH

if TYPE_CHECKING:
    from torch import nn


@register
class Flatten(Layer):
    type_name = "flatten"
    summary = "all axes into one vector (the batch axis stays)"

    imports = ("nn.Flatten", "torch.flatten", "Tensor.flatten", "Tensor.view", "Tensor.reshape", "torch.reshape")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        return {} if len(call.out) == 1 and len(call.inputs) == 1 else None  # anything else: a reshape

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        return (numel(inputs[0]),)

    def window(self, inputs: list[Shape]) -> Global:
        return GLOBAL

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        return [f"{' * '.join(map(str, inputs[0]))} = {out[0]:,}"]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from torch import nn

        return nn.Flatten()


UNSQUEEZE = frozenset({"Tensor.unsqueeze", "torch.unsqueeze"})
_AXIS = re.compile(r"axis (\d+)(?: \* (\d+))?(?: / (\d+))?")


class AxisSize(NamedTuple):
    """A reshape's ``"axis K"``, ``"axis K / n"`` or ``"axis K * n"``: the size of the input's axis K, times
    ``times``, floor-divided by ``per`` (space-to-depth's ``x.view(B, C, H // 4, 4, W // 4, 4)``)."""

    axis: int
    times: int = 1
    per: int = 1

    def of(self, shape: Shape) -> int:
        return shape[self.axis] * self.times // self.per

    def __str__(self) -> str:
        return (
            f"axis {self.axis}"
            + (f" * {self.times}" if self.times != 1 else "")
            + (f" / {self.per}" if self.per != 1 else "")
        )


def _reshape_sizes(value: Any, cls: type[Layer]) -> tuple[int | str, ...]:
    """Sizes, at most one -1 (inferred), and ``"axis K"``: the size of axis K of the input (of the second input,
    where there are two), which follows the input's size as the model's ``x.shape`` did; ``"axis K / n"`` and
    ``"axis K * n"`` scale it (``H // 4``)."""
    if not isinstance(value, list) or not value:
        raise ValueError('expected a list of sizes such as [30, 7, 7] or [2, -1, "axis 1", "axis 2"]')
    sizes: list[int | str] = []
    for item in value:
        if isinstance(item, str):
            match = _AXIS.fullmatch(item)
            if not match or any(int(n) == 0 for n in match.groups()[1:] if n is not None):
                raise ValueError(
                    f'"{item}" is no size: a size is a number, -1 or "axis K" (K: an axis of the input), which may be'
                    ' scaled: "axis K / n", "axis K * n"'
                )
            sizes.append(str(axis_size(item)))  # one spelling: "axis 1 * 1" is "axis 1"
        else:
            sizes.append(-1 if item == -1 and not isinstance(item, bool) else positive(item, cls))
    if sizes.count(-1) > 1:
        raise ValueError("at most one size may be -1 (inferred)")
    return tuple(sizes)


def axis_size(size: int | str) -> AxisSize | None:
    match = _AXIS.fullmatch(size) if isinstance(size, str) else None
    if match is None:
        return None
    axis, times, per = match.groups()
    return AxisSize(int(axis), int(times or 1), int(per or 1))


@register
class Reshape(Layer):
    type_name = "reshape"
    summary = "same elements, new shape (one size may be -1, others the size of an input's axis)"
    arity = (1, 2)
    value_inputs = 1
    shape: tuple[int | str, ...] = key(
        _reshape_sizes,
        doc='target shape per sample, e.g. [30, 7, 7]; "axis K" is the size of axis K of the input (of the second'
        ' input, where there are two), "axis K / n" and "axis K * n" that size floor-divided or multiplied by n',
    )
    example = {"shape": [-1, 4]}

    imports = ("Tensor.view", "Tensor.reshape", "torch.reshape", *sorted(UNSQUEEZE), "cnnscope.Reshape")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        """The shape torch gave, with the -1 the call asked for kept (``x.view(n, card, radix, -1)``) and a size
        taken from the input (``H`` of ``B, C, H, W = x.shape``) written as that axis's, so that the spec
        stays right at other input sizes, scaled where the model scaled it (``C // radix``: ``"axis 0 / 2"``);
        one size computed from sizes otherwise (``H * W``) becomes the -1."""
        if call.module is not None:
            return {"shape": list(call.module.written)}
        if call.name in UNSQUEEZE:  # a new axis of 1 among the input's own
            position = call.arg(1, "dim") % (len(call.out) + 1)
            if position == 0:
                raise SpecError("a new axis before the batch has no spec form")
            axes: list[Any] = [f"axis {axis}" for axis in range(len(call.inputs[0]))]
            axes.insert(position - 1, 1)
            return {"shape": axes}
        asked = call.args[1] if len(call.args) == 2 and isinstance(call.args[1], (tuple, list)) else call.args[1:]
        asked = list(asked or call.kwargs.get("shape", ()))
        if len(asked) != len(call.out) + 1 or asked[0] == -1:
            return {"shape": list(call.out)}
        reference = len(call.inputs) - 1  # "axis K" reads the last input
        shape: list[Any] = []
        for size, out in zip(asked[1:], call.out):
            if isinstance(size, Size) and size.axis is not None and size.source == reference:
                shape.append(str(AxisSize(size.axis, size.times, size.per)))
            else:
                shape.append(size if isinstance(size, Size) or size == -1 else out)
        loose = [i for i, size in enumerate(shape) if isinstance(size, Size)]
        for i in loose:  # one size that follows the input otherwise is the -1; more stay numbers, as captured
            shape[i] = -1 if len(loose) == 1 and -1 not in shape else shape[i].value
        return {"shape": shape}

    def sizes(self, inputs: list[Shape]) -> list[int]:
        """The shape with each ``"axis K"`` as the size of that axis (-1 kept)."""
        reference = inputs[-1]
        sizes = []
        for size in self.shape:
            copied = axis_size(size)
            if copied is None:
                sizes.append(int(size))
            elif copied.axis >= len(reference):
                raise SpecError(f'"axis {copied.axis}" does not exist in an input of shape {fmt_shape(reference)}')
            elif (value := copied.of(reference)) < 1:
                raise SpecError(f'"{size}" is {value} for an input of shape {fmt_shape(reference)}')
            else:
                sizes.append(value)
        return sizes

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        if len(inputs) == 2 and all(axis_size(size) is None for size in self.shape):
            raise SpecError('a second input only gives the sizes of "axis K" entries, and the shape has none')
        sizes = self.sizes(inputs)
        total, known = numel(inputs[0]), numel(d for d in sizes if d != -1)
        text = "x".join(map(str, sizes))
        if -1 in sizes:
            if total % known:
                raise SpecError(f"cannot reshape {fmt_shape(inputs[0])} ({total:,} elements) to {text}")
            return tuple(total // known if d == -1 else d for d in sizes)
        if known != total:
            raise SpecError(
                f"cannot reshape {fmt_shape(inputs[0])} ({total:,} elements) to {text} ({known:,} elements)"
            )
        return tuple(sizes)

    def window(self, inputs: list[Shape]) -> Global:
        return GLOBAL

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        return [f"{fmt_shape(inputs[0])} = {numel(out):,} elements = {fmt_shape(out)}"]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers.modules import Reshape as Module

        return Module(self.shape)


@register
class MaxOverTime(Layer):
    type_name = "max_over_time"
    summary = "maximum of each channel over all positions (Collobert, Kim): C x L -> C"

    imports = ("cnnscope.MaxOverTime",)

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (shape,) = inputs
        expect_rank(self, shape, (2, 3), "a channels x positions input")
        return (shape[0],)

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        return Cost(flops=numel(inputs[0]) - out[0])

    def window(self, inputs: list[Shape]) -> Global:
        return GLOBAL

    def cells(self) -> Cells:
        return Cells(size="global")

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        return [f"max over {numel(inputs[0][1:])} positions for each of {out[0]} channels"]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers.modules import MaxOverTime as Module

        return Module()


@register
class Concat(Layer):
    type_name = "concat"
    summary = "join inputs along an axis (default 0: channels), as in inception"
    arity = (2, None)
    fresh_output = True
    example_inputs = ((4, 8, 8), (2, 8, 8))
    axis: int = key(non_negative, 0, "axis to join along (0 = channels)")

    imports = ("torch.cat", "torch.concat", "cnnscope.Concat")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        if call.module is not None:
            return {"axis": call.module.axis}
        dim = call.arg(1, "dim", 0)
        axis = dim % (len(call.out) + 1) - 1
        if axis < 0:
            raise SpecError("concatenating along the batch axis has no spec form")
        return {"axis": axis} if axis else {}

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        first, first_name = inputs[0], sources[0] if sources else "input 1"
        if self.axis >= len(first):
            raise SpecError(f"axis {self.axis} does not exist in '{first_name}' ({fmt_shape(first)})")
        for shape, name in zip(inputs[1:], sources[1:]):
            same_rank = len(shape) == len(first)
            if (
                not same_rank
                or shape[: self.axis] + shape[self.axis + 1 :] != first[: self.axis] + first[self.axis + 1 :]
            ):
                raise SpecError(
                    f"cannot concat '{name}' ({fmt_shape(shape)}) with '{first_name}' ({fmt_shape(first)}):"
                    f" all sizes except axis {self.axis} must match",
                    hint="check the stride and padding of the branches",
                )
        joined = sum(shape[self.axis] for shape in inputs)
        return (*first[: self.axis], joined, *first[self.axis + 1 :])

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        parts = " + ".join(str(s[self.axis]) for s in inputs)
        return [f"axis {self.axis}: {parts} = {out[self.axis]} -> {fmt_shape(out)}"]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers.modules import Concat as Module

        return Module(self.axis)


def _optional_number(value: Any, cls: type[Layer]) -> float | None:
    return None if value is None else number(value, cls)


def _constant(call: TorchCall) -> float | None:
    """The one Python number among a call's arguments (``x + self.eps``, ``out * 0.17``), else None."""
    numbers = [a for a in call.args if isinstance(a, (int, float)) and not isinstance(a, bool)]
    return float(numbers[0]) if len(numbers) == 1 else None


@register
class Add(Layer):
    type_name = "add"
    summary = "element-wise sum of inputs of one shape (residual shortcut), or plus a number"
    arity = (1, None)
    fresh_output = True
    by: float | None = key(_optional_number, None, "a constant term (a norm's `+ eps`)")
    example_inputs = ((4, 8, 8), (4, 8, 8))

    imports = (
        "operator.add", "operator.iadd", "torch.add", "Tensor.add", "Tensor.add_", "cnnscope.Add", "cnnscope.AddBy"
    )  # fmt: skip

    @property
    def merges(self) -> bool:
        return self.by is None  # a constant term joins nothing

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        if call.module is not None:
            return {"by": call.module.by} if hasattr(call.module, "by") else {}
        if call.parameters or call.kwargs.get("alpha", 1) != 1:
            return None
        constant = _constant(call)
        if len(call.inputs) == 1 and constant is not None:  # `x + self.eps`
            return {"by": constant}
        if len(call.inputs) < 2 or constant is not None:
            return None
        return {} if all(len(shape) == len(call.out) for shape in call.inputs) else None

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        if len(inputs) == 1 and self.by is None:
            raise SpecError("add takes two or more inputs, or one and a constant term `by`")
        names = sources or tuple(f"input {i + 1}" for i in range(len(inputs)))
        first, first_name = inputs[0], names[0]
        for shape, name in zip(inputs[1:], names[1:]):
            if len(shape) != len(first):
                raise SpecError(
                    f"rank mismatch: '{first_name}' is {fmt_shape(first)}, '{name}' is {fmt_shape(shape)}",
                    hint="add joins tensors of the same shape",
                    code=RESIDUAL_MISMATCH,
                )
            if len(first) == 1 and shape != first:  # flat vectors: features, not channels of a map
                raise SpecError(
                    f"size mismatch: '{first_name}' has {first[0]} features, '{name}' has {shape[0]}",
                    hint=f"give '{name}' a linear layer with out = {first[0]}",
                    code=RESIDUAL_MISMATCH,
                )
            joined = _broadcast(first, shape)
            if joined is not None and len(first) > 1 and joined in (first, shape):
                first = joined  # axes of size 1 repeated to match: a C x 1 x 1 term and a C x H x W map
                continue
            if shape[:1] != first[:1]:
                raise SpecError(
                    f"channel mismatch: '{first_name}' has {first[0]} channels, '{name}' has {shape[0]}",
                    hint=f"project '{name}' with a 1x1 conv2d (out = {first[0]})",
                    code=RESIDUAL_MISMATCH,
                )
            if shape != first:
                raise SpecError(
                    f"spatial mismatch: '{first_name}' is {fmt_shape(first)}, '{name}' is {fmt_shape(shape)}",
                    hint="give the shortcut's projection the stride of the main path",
                    code=RESIDUAL_MISMATCH,
                )
        return first

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        return Cost(flops=(len(inputs) - 1 + (self.by is not None)) * numel(out))

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        plus = f" plus {self.by:g}" if self.by is not None else ""
        if len(inputs) == 1:
            return [f"{fmt_shape(out)}{plus}, element by element"]
        return [f"{len(inputs)} inputs of {fmt_shape(out)} summed element by element{plus}"]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED  # torchvision writes `out += identity`, which no peer counts

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers.modules import Add, AddBy

        return Add(broadcasts=self.infer(inputs) != inputs[0]) if self.by is None else AddBy(self.by)


def _broadcast(first: Shape, other: Shape) -> Shape | None:
    """numpy's broadcasting of two shapes (aligned from the last axis), or None."""
    if len(first) < len(other):
        first, other = other, first
    other = (1,) * (len(first) - len(other)) + other
    if any(a != b and 1 not in (a, b) for a, b in zip(first, other)):
        return None
    return tuple(max(a, b) for a, b in zip(first, other))


@register
class Mul(Layer):
    """Element-wise product; a C x 1 x 1 gate broadcasts over C x H x W (squeeze-and-excitation)."""

    type_name = "mul"
    summary = "element-wise product of inputs, with broadcasting (squeeze-and-excitation's gate), or times a number"
    arity = (1, None)
    fresh_output = True
    by: float | None = key(_optional_number, None, "a constant factor (Inception-ResNet's residual scale 0.17)")
    example_inputs = ((4, 8, 8), (4, 1, 1))

    imports = (
        "operator.mul", "operator.imul", "torch.mul", "Tensor.mul", "Tensor.mul_", "cnnscope.Mul", "cnnscope.MulBy"
    )  # fmt: skip

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        if call.module is not None:
            return {"by": call.module.by} if hasattr(call.module, "by") else {}
        if call.parameters:
            return None
        constant = _constant(call)
        if len(call.inputs) == 1 and constant is not None:  # `out * self.scale` with a Python number
            return {"by": constant}
        numbers = any(isinstance(a, (int, float)) and not isinstance(a, bool) for a in call.args)
        return {} if len(call.inputs) >= 2 and not numbers else None

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        if len(inputs) == 1 and self.by is None:
            raise SpecError("mul takes two or more inputs, or one and a constant factor `by`")
        names = sources or tuple(f"input {i + 1}" for i in range(len(inputs)))
        out = inputs[0]
        for shape, name in zip(inputs[1:], names[1:]):
            joined = _broadcast(out, shape)
            if joined is None:
                raise SpecError(
                    f"cannot multiply '{names[0]}' ({fmt_shape(inputs[0])}) by '{name}' ({fmt_shape(shape)}):"
                    " the shapes do not broadcast",
                    hint="each axis must be equal or 1 in one of them, e.g. a Cx1x1 gate over CxHxW",
                )
            out = joined
        return out

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        return Cost(flops=(len(inputs) - 1 + (self.by is not None)) * numel(out))

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        shapes = " * ".join([fmt_shape(s) for s in inputs] + ([f"{self.by:g}"] if self.by is not None else []))
        return [f"{shapes} -> {fmt_shape(out)} (axes of size 1 are repeated to match)"]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED  # torchvision writes `scale * x`, which no peer counts

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers.modules import Mul, MulBy

        return Mul() if self.by is None else MulBy(self.by)


class _Ordered(Layer):
    """An element-wise operation whose inputs' order matters: the first input and the second, with broadcasting,
    or one input and a constant ``by``. A subclass names the operation (``symbol``) and its torch module."""

    arity = (1, 2)
    fresh_output = True
    by: float | None = key(_optional_number, None, "a constant second operand, for one input")
    symbol: ClassVar[str]
    verb: ClassVar[str]
    example_inputs = ((4, 8, 8), (1, 8, 8))

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        if call.module is not None:  # cnnscope's own module: an Ordered of this symbol
            if call.module.symbol != cls.symbol:
                return None
            return {} if call.module.by is None else {"by": call.module.by}
        if call.parameters or call.kwargs.get("rounding_mode") is not None or call.args[0] != TENSOR:
            return None  # a parameter, a floor or truncating division, a number before a tensor (1 / x, 1 - x)
        if call.arg(2, "alpha", 1) != 1:  # torch.sub(x, y, alpha=2)
            return None
        constant = _constant(call)
        if len(call.inputs) == 1 and constant is not None:
            return {"by": constant}
        return {} if len(call.inputs) == 2 else None

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        if (len(inputs) == 2) == (self.by is not None):
            raise SpecError(f"{self.type_name} takes two inputs (the first {self.symbol} the second), or one and `by`")
        if self.by is not None:
            return inputs[0]
        names = sources or ("input 1", "input 2")
        out = _broadcast(*inputs)
        if out is None:
            raise SpecError(
                f"cannot {self.verb} '{names[0]}' ({fmt_shape(inputs[0])}) and '{names[1]}' ({fmt_shape(inputs[1])}):"
                " the shapes do not broadcast",
                hint="each axis must be equal or 1 in one of them, e.g. a 1xHxW second input for a CxHxW map",
            )
        return out

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        return Cost(flops=numel(out))

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        second = f"{self.by:g}" if self.by is not None else fmt_shape(inputs[1])
        return [
            f"{fmt_shape(inputs[0])} {self.symbol} {second} -> {fmt_shape(out)} (axes of size 1 are repeated to match)"
        ]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED  # written `/` or `-`: fvcore has no handle for aten::div or aten::sub, ptflops patches neither

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers.modules import Ordered

        return Ordered(self.symbol, self.by)


@register
class Div(_Ordered):
    """The first input divided by the second, with broadcasting (global response norm's ``x_g / (mean + eps)``)."""

    type_name = "div"
    summary = "element-wise quotient of two inputs, with broadcasting, or of one input by a number"
    symbol, verb = "/", "divide"

    imports = ("operator.truediv", "operator.itruediv", "torch.div", "Tensor.div", "Tensor.div_", "cnnscope.Ordered")


@register
class Sub(_Ordered):
    """The first input minus the second, with broadcasting (PoolFormer's token mixer: ``pool(x) - x``)."""

    type_name = "sub"
    summary = "element-wise difference of two inputs, with broadcasting, or of one input and a number"
    symbol, verb = "-", "subtract"
    example_inputs = ((4, 8, 8), (4, 8, 8))

    imports = ("operator.sub", "operator.isub", "torch.sub", "Tensor.sub", "Tensor.sub_", "cnnscope.Ordered")


def _dims(value: Any, _cls: type[Layer]) -> tuple[int, ...]:
    if not isinstance(value, list) or sorted(value) != list(range(len(value))):
        raise ValueError("expected a reordering of the axes per sample, such as [1, 2, 0] (C x H x W -> H x W x C)")
    return tuple(value)


@register
class Permute(Layer):
    type_name = "permute"
    summary = "reorder the axes of each sample (ConvNeXt: [1, 2, 0] puts the channels last)"
    dims: tuple[int, ...] = key(_dims, doc="output axis i is input axis dims[i]; the batch axis is not counted")
    example = {"dims": [1, 2, 0]}

    imports = (
        "Tensor.permute", "torch.permute", "Tensor.transpose", "torch.transpose",
        "torchvision.Permute", "cnnscope.Permute",
    )  # fmt: skip

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        rank = len(call.inputs[0]) + 1
        if call.module is not None:
            dims = list(call.module.dims)
        elif call.name.endswith("transpose"):  # x.transpose(a, b): a permutation that swaps two axes
            dims = list(range(rank))
            a, b = call.arg(1, "dim0") % rank, call.arg(2, "dim1") % rank
            dims[a], dims[b] = dims[b], dims[a]
        else:
            dims = list(call.args[1:]) if len(call.args) > 2 else list(call.arg(1, "dims"))
        dims = [d % len(dims) for d in dims]
        if dims[0] != 0:
            raise SpecError("a permutation that moves the batch axis has no spec form")
        return {"dims": [d - 1 for d in dims[1:]]}

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (shape,) = inputs
        if len(self.dims) != len(shape):
            raise SpecError(f"dims has {len(self.dims)} axes, the input {fmt_shape(shape)} has {len(shape)}")
        return tuple(shape[d] for d in self.dims)

    def window(self, inputs: list[Shape]) -> Moves:
        return Moves(self.dims)

    def cells(self) -> Cells:
        return Cells(size=str(list(self.dims)))

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        return [f"axes {list(self.dims)} of {fmt_shape(inputs[0])} -> {fmt_shape(out)}"]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers.modules import Permute as Module

        return Module(self.dims)


@register
class ChannelShuffle(Layer):
    type_name = "channel_shuffle"
    summary = "interleave the channels of groups (ShuffleNet): g x C/g -> C/g x g"
    groups: int = key(positive, doc="number of groups (must divide the channels)")
    example = {"groups": 2}

    imports = ("nn.ChannelShuffle",)

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        return {"groups": call.module.groups}

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (shape,) = inputs
        expect_rank(self, shape, (2, 3), "a channels x positions input")
        if shape[0] % self.groups:
            raise SpecError(f"groups = {self.groups} must divide the {shape[0]} channels")
        return shape

    def cells(self) -> Cells:
        return Cells(size=f"{self.groups} groups")

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        per = out[0] // self.groups
        return [f"{out[0]} channels as {self.groups} x {per}, transposed to {per} x {self.groups}: shape unchanged"]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from torch import nn

        return nn.ChannelShuffle(self.groups)


def _optional_count(value: Any, cls: type[Layer]) -> int | None:
    return None if value is None else non_negative(value, cls)


@register
class Slice(Layer):
    """``x[start:stop:step]`` along one axis: ShuffleNet's ``x.chunk(2, dim=1)`` is two slices."""

    type_name = "slice"
    summary = "a range along one axis, x[start:stop:step] (ShuffleNet's chunk)"
    axis: int = key(non_negative, 0, "axis to cut (0 = channels)")
    start: int = key(non_negative, 0, "first index kept")
    stop: int | None = key(_optional_count, None, "index after the last one kept (default: the end)")
    step: int = key(positive, 1, "keep every step-th index")
    example = {"start": 1, "stop": 3}

    imports = (
        "Tensor.chunk", "torch.chunk", "Tensor.split", "torch.split", "operator.getitem", "cnnscope.Slice"
    )  # fmt: skip

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        """``x.chunk(n, dim)[i]``, ``x.split(size or sizes, dim)[i]``, ``x[:, a:b]`` or the module;
        the piece's index is ``kwargs["index"]``."""
        shape = call.inputs[0]
        if call.module is not None:
            window = call.module.range
            return _slice_keys(call.module.axis - 1, window.start, window.stop, window.step, shape)
        if call.name.endswith(("chunk", "split")):
            sizes = call.arg(1, "chunks" if call.name.endswith("chunk") else "split_size_or_sections")
            dim, index = call.arg(2, "dim", 0), call.kwargs["index"]
            axis = dim % (len(shape) + 1) - 1
            if call.name.endswith("chunk"):  # n pieces of ceil(size / n)
                sizes = -(-shape[axis] // sizes)
            if isinstance(sizes, int):  # pieces of this size, the last one shorter
                sizes = [min(sizes, shape[axis] - start) for start in range(0, shape[axis], sizes)]
            start = sum(sizes[:index])
            return _slice_keys(axis, start, start + sizes[index], 1, shape)
        index = call.args[1] if isinstance(call.args[1], tuple) else (call.args[1],)
        cuts = [(axis, item) for axis, item in enumerate(index) if item != slice(None)]
        if len(cuts) != 1 or cuts[0][0] == 0 or not isinstance(cuts[0][1], slice) or Ellipsis in index:
            return None
        axis, window = cuts[0]
        return _slice_keys(axis - 1, window.start, window.stop, window.step, shape)

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (shape,) = inputs
        if self.axis >= len(shape):
            raise SpecError(f"axis {self.axis} does not exist in an input of shape {fmt_shape(shape)}")
        size = shape[self.axis]
        stop = size if self.stop is None else self.stop
        if not self.start < stop <= size:
            raise SpecError(
                f"start = {self.start}, stop = {stop} is not a range inside axis {self.axis} of size {size}",
                hint="0 <= start < stop <= size",
            )
        kept = len(range(self.start, stop, self.step))
        return (*shape[: self.axis], kept, *shape[self.axis + 1 :])

    def window(self, inputs: list[Shape]) -> Window | None:
        """Every step-th position of a spatial axis: neighbouring outputs are step positions apart."""
        if self.axis == 0 or self.step == 1:
            return None
        axes = len(inputs[0]) - 1
        return Window((1,) * axes, tuple(self.step if i == self.axis - 1 else 1 for i in range(axes)))

    def cells(self) -> Cells:
        stop = "" if self.stop is None else self.stop
        step = "" if self.step == 1 else f":{self.step}"
        return Cells(size=f"[{self.start}:{stop}{step}] axis {self.axis}")

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        stop = inputs[0][self.axis] if self.stop is None else self.stop
        return [f"axis {self.axis}: indices {self.start}..{stop - 1} step {self.step} = {out[self.axis]} kept"]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers.modules import Slice as Module

        return Module(self.axis, self.start, self.stop, self.step)


# a pad's modes, as F.pad names them, and torch's module for each (nn.ReflectionPad2d, ...)
PAD_MODULES = {
    "constant": "ConstantPad", "reflect": "ReflectionPad", "replicate": "ReplicationPad", "circular": "CircularPad",
}  # fmt: skip


@register
class Pad(Layer):
    """A border around the spatial axes, as ``F.pad`` adds it: its own amount before and after each axis
    (HGNetV2's stem pads ``(0, 1, 0, 1)``: one zero after the width and one after the height), of a constant
    or, by ``mode``, of the input's own values: mirrored without the edge (``reflect``: 1 2 3 -> 2 1 2 3 2),
    the edge repeated (``replicate``), or wrapped around (``circular``)."""

    type_name = "pad"
    summary = "a border before and after each spatial axis: a constant (zeros), or the input mirrored or repeated"
    fresh_output = True
    before: tuple[int, ...] = key(numbers(0, whole=True), 0, "positions added before each spatial axis (or one each)")
    after: tuple[int, ...] = key(numbers(0, whole=True), 0, "positions added after each spatial axis (or one each)")
    value: float = key(number, 0.0, "the value of the added positions (constant mode)")
    mode: str = key(choice(*PAD_MODULES), "constant", "constant, reflect, replicate (the edge) or circular (wrapped)")
    example = {"before": [0, 1], "after": 1}

    imports = (
        "F.pad", "nn.ZeroPad1d", "nn.ZeroPad2d", "nn.ZeroPad3d", "cnnscope.Pad",
        *(f"nn.{module}{n}d" for module in PAD_MODULES.values() for n in (1, 2, 3)),
    )  # fmt: skip

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        """``F.pad(x, (left, right, top, bottom, ...), mode, value)``, or a torch padding module: F.pad's
        pairs run from the last axis backwards, a spec's amounts in the axes' order."""
        if call.module is not None:
            pads, value = call.module.padding, getattr(call.module, "value", 0.0)
            kind = type(call.module).__name__[:-2]  # nn.ReflectionPad2d -> ReflectionPad; nn.ZeroPad2d is constant
            mode = {module: mode for mode, module in PAD_MODULES.items()}.get(kind, "constant")
        else:
            pads, value, mode = call.arg(1, "pad"), call.arg(3, "value", None), call.arg(2, "mode", "constant")
            if mode not in PAD_MODULES:
                raise SpecError(f'mode "{mode}" has no spec form', hint=f"a pad's modes: {', '.join(PAD_MODULES)}")
        spatial = len(call.inputs[0]) - 1
        pairs = [tuple(pads[i : i + 2]) for i in range(0, len(pads), 2)][::-1]  # first axis first
        extra = max(len(pairs) - spatial, 0)
        if any(pair != (0, 0) for pair in pairs[:extra]):
            raise SpecError("padding the channels (or the batch) has no spec form")
        pairs = [(0, 0)] * (spatial + extra - len(pairs)) + pairs[extra:]
        if any(amount < 0 for pair in pairs for amount in pair):
            raise SpecError("a negative amount (a crop) has no spec form", hint="crop, or slice")
        keys = {"before": compact([b for b, _ in pairs]), "after": compact([a for _, a in pairs])}
        return (
            keys
            | ({"value": float(value)} if value and mode == "constant" else {})
            | ({"mode": mode} if mode != "constant" else {})
        )

    def amounts(self, shape: Shape) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return per_spatial_axis(self.before, shape, "before"), per_spatial_axis(self.after, shape, "after")

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (shape,) = inputs
        expect_rank(self, shape, (2, 3, 4), "a channels x spatial input")
        before, after = self.amounts(shape)
        if self.value and self.mode != "constant":
            raise SpecError(f'value fills a constant border; mode = "{self.mode}" pads with the input\'s own values')
        check_border(self.mode, shape, zip(before, after))
        return (shape[0], *(size + b + a for size, b, a in zip(shape[1:], before, after)))

    def cells(self) -> Cells:
        mode = "" if self.mode == "constant" else f" {self.mode}"
        return Cells(padding=f"{compact(list(self.before))}+{compact(list(self.after))}{mode}")

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        before, after = self.amounts(inputs[0])
        axes = [f"{b} + {i} + {a} = {o}" for i, b, a, o in zip(inputs[0][1:], before, after, out[1:])]
        return [f"per spatial axis, before + input + after: {'; '.join(axes)} -> {fmt_shape(out)}"]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED  # a copy: no peer counts aten::constant_pad_nd

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from torch import nn

        before, after = self.amounts(inputs[0])
        pads: Any = tuple(amount for b, a in zip(before[::-1], after[::-1]) for amount in (b, a))  # F.pad's order
        pad = getattr(nn, f"{PAD_MODULES[self.mode]}{len(before)}d")
        module: nn.Module = pad(pads, self.value) if self.mode == "constant" else pad(pads)
        return module


@register
class Crop(Layer):
    """Center crop of the spatial axes, to a size or to the size of a second input (U-Net's skips).

    Where the margin is odd, the extra pixel is cut at the end: offset = (I - O) // 2.
    """

    type_name = "crop"
    summary = "center crop to a size, or to the size of a second input (U-Net's skip connections)"
    arity = (1, 2)
    value_inputs = 1
    size: tuple[int, ...] | None = key(numbers(1, whole=True), None, "output size; omit to crop to the second input")
    example = {"size": 6}

    imports = ("cnnscope.CenterCrop",)

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        return {} if call.module.size is None else {"size": compact(call.module.size)}

    def target(self, inputs: list[Shape], sources: tuple[str, ...]) -> tuple[int, ...]:
        shape = inputs[0]
        if len(inputs) == 2:
            if self.size is not None:
                raise SpecError("give either 'size' or a second input to crop to, not both")
            if len(inputs[1]) != len(shape):
                raise SpecError(f"cannot crop {fmt_shape(shape)} to the size of {fmt_shape(inputs[1])}")
            return inputs[1][1:]
        if self.size is None:
            raise SpecError("crop needs 'size' or a second input (from = [layer, reference])")
        return per_spatial_axis(self.size, shape, "size")

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        shape = inputs[0]
        expect_rank(self, shape, (2, 3), "a channels x spatial input")
        target = self.target(inputs, sources)
        if any(t > s for t, s in zip(target, shape[1:])):
            name = sources[0] if sources else "the input"
            raise SpecError(f"cannot crop '{name}' ({fmt_shape(shape)}) to a larger {'x'.join(map(str, target))}")
        return (shape[0], *target)

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        cuts = [
            f"{s} - {o} = {s - o}: {(s - o) // 2} before, {s - o - (s - o) // 2} after"
            for s, o in zip(inputs[0][1:], out[1:])
        ]
        return [f"per spatial axis, {'; '.join(cuts)} -> {fmt_shape(out)}"]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers.modules import CenterCrop

        return CenterCrop(self.size)


def _slice_keys(axis: int, start: int | None, stop: int | None, step: int | None, shape: Shape) -> dict[str, Any]:
    """Slice keys for ``x[start:stop:step]`` along ``axis`` (per sample), with Python's negative indices."""
    begin, end, stride = slice(start, stop, step).indices(shape[axis])
    keys: dict[str, Any] = {"axis": axis} if axis else {}
    keys["start"] = begin
    if end != shape[axis]:
        keys["stop"] = end
    if stride != 1:
        keys["step"] = stride
    return keys


def _axes(value: Any, cls: type[Layer]) -> tuple[int, ...]:
    axes = value if isinstance(value, list) else [value]
    if not axes or len(set(axes)) != len(axes):
        raise ValueError("expected an axis or a list of distinct axes per sample, such as [1, 2] (height and width)")
    return tuple(sorted(non_negative(axis, cls) for axis in axes))


@register
class Reduce(Layer):
    """The mean, sum, maximum or L2 norm over some axes of each sample, kept as size 1 or dropped.

    Squeeze-and-excitation's ``x.mean((2, 3), keepdim=True)`` is ``op = "mean", axes = [1, 2],
    keepdim = true``; split attention's ``x.sum(dim=1)`` over the radix axis is ``op = "sum", axes = [0]``;
    ConvNeXt-V2's global response norm starts with ``x.norm(p=2, dim=(1, 2), keepdim=True)``, ``op = "l2"``.
    """

    type_name = "reduce"
    summary = "mean, sum, max or L2 norm over axes of each sample (squeeze-and-excitation's pooled gate input)"
    fresh_output = True
    op: str = key(
        choice("mean", "sum", "max", "l2"), doc='"mean", "sum", "max" or "l2" (the square root of the sum of squares)'
    )
    axes: tuple[int, ...] = key(_axes, doc="the axes per sample to reduce (0 = channels, 1 and 2 = height and width)")
    keepdim: bool = key(boolean, False, "keep each reduced axis with size 1 (C x 1 x 1), or drop it")
    example = {"op": "mean", "axes": [1, 2], "keepdim": True}

    imports = (
        "Tensor.mean", "torch.mean", "Tensor.sum", "torch.sum", "Tensor.amax", "torch.amax",
        "Tensor.norm", "torch.norm", "torch.linalg_vector_norm", "cnnscope.Reduce",
    )  # fmt: skip
    _OPS = {"mean": "mean", "sum": "sum", "amax": "max", "norm": "l2", "linalg_vector_norm": "l2"}

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        if call.module is not None:
            return {"op": call.module.op, "axes": [d - 1 for d in call.module.dims], "keepdim": call.module.keepdim}
        op = cls._OPS[call.name.rpartition(".")[2]]
        after = 1 if op == "l2" else 0  # x.norm(p, dim, keepdim, dtype): the order's after p
        if op == "l2" and call.arg(1, "ord" if call.name.endswith("vector_norm") else "p", 2) not in (2, "fro"):
            return None  # "fro" over the axes given is the L2 norm; other orders have no spec form
        dims = call.arg(1 + after, "dim")
        if dims is None or call.arg(3 + after, "dtype") is not None:
            return None  # over every axis, the batch's too; or a cast
        rank = len(call.inputs[0]) + 1
        dims = [dims] if isinstance(dims, int) else list(dims)
        if any(d % rank == 0 for d in dims):
            raise SpecError("a reduction over the batch axis has no spec form")
        return {"op": op, "axes": [d % rank - 1 for d in dims], "keepdim": bool(call.arg(2 + after, "keepdim", False))}

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (shape,) = inputs
        if self.axes[-1] >= len(shape):
            raise SpecError(f"axis {self.axes[-1]} does not exist in an input of shape {fmt_shape(shape)}")
        if self.keepdim:
            return tuple(1 if i in self.axes else size for i, size in enumerate(shape))
        kept = tuple(size for i, size in enumerate(shape) if i not in self.axes)
        if not kept:
            raise SpecError("reducing every axis leaves no tensor per sample", hint="keep one axis, or keepdim = true")
        return kept

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        # one add (or comparison) per input element, a multiply more for the squares of an L2 norm;
        # then per output a divide for a mean, a square root for a norm
        per_input = 2 if self.op == "l2" else 1
        return Cost(flops=per_input * numel(inputs[0]) + (numel(out) if self.op in ("mean", "l2") else 0))

    def window(self, inputs: list[Shape]) -> Effect:
        if self.keepdim and 0 in self.axes:  # axis 0 is spatial on a channels-last map: the field says which are
            return tuple(Mixes(axis, inputs[0][axis]) for axis in self.axes)
        spatial = [axis for axis in self.axes if axis > 0]
        if not spatial:
            return None  # over the channels: each position still sees what it saw
        return Mixes(spatial[0], inputs[0][spatial[0]]) if len(spatial) == 1 and self.keepdim else GLOBAL

    def cells(self) -> Cells:
        return Cells(size=f"{self.op} over {', '.join(map(str, self.axes))}")

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        kept = "kept as size 1" if self.keepdim else "dropped"
        return [f"{self.op} over axes {list(self.axes)} of {fmt_shape(inputs[0])} ({kept}) -> {fmt_shape(out)}"]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        # tensor methods: torchinfo and thop hook modules only; fvcore has no handle for aten::mean,
        # sum, amax or linalg_vector_norm, ptflops patches none of them, FlopCounterMode has no formula for them
        return UNCOUNTED

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers.modules import Reduce as Module

        return Module(self.op, tuple(axis + 1 for axis in self.axes), self.keepdim)


def _for_each(leading: Shape, what: str) -> str:
    """ ", for each of the 2x4 = 8 heads": how often a product over the last two axes repeats (nothing for once)."""
    count = numel(leading)
    if count == 1:
        return ""
    return (
        f", for each of the {count:,} {what}"
        if len(leading) == 1
        else f", for each of the {fmt_shape(leading)} = {count:,} {what}"
    )


@register
class MatMul(Layer):
    """A matrix product per sample over the last two axes, the axes before them broadcast (attention's
    ``q @ k.transpose(-2, -1)``; the global-context block's pooling, ``x @ softmax(weights)``)."""

    type_name = "matmul"
    summary = "matrix product of two inputs over their last two axes (attention, global context)"
    arity = (2, 2)
    fresh_output = True
    example_inputs = ((1, 4, 16), (1, 16, 1))

    imports = ("operator.matmul", "torch.matmul", "Tensor.matmul", "torch.bmm", "Tensor.bmm", "cnnscope.MatMul")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        return {} if len(call.inputs) == 2 and not call.parameters else None  # `x @ self.weight`: no layer's

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (a, b), names = inputs, sources or ("input 1", "input 2")
        if len(a) < 2 or len(b) < 2:
            raise SpecError(
                f"matmul multiplies matrices: '{names[0]}' is {fmt_shape(a)} and '{names[1]}' {fmt_shape(b)}",
                hint="each input needs at least two axes per sample, the last two the matrix",
            )
        if a[-1] != b[-2]:
            raise SpecError(
                f"cannot multiply '{names[0]}' ({fmt_shape(a)}) by '{names[1]}' ({fmt_shape(b)}): the first's last"
                f" axis ({a[-1]}) must equal the second's next to last ({b[-2]})"
            )
        leading = _broadcast(a[:-2], b[:-2])
        if leading is None:
            raise SpecError(
                f"cannot multiply '{names[0]}' ({fmt_shape(a)}) by '{names[1]}' ({fmt_shape(b)}): the axes before"
                " the matrices do not broadcast"
            )
        return (*leading, a[-2], b[-1])

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        macs = numel(out) * inputs[0][-1]
        return Cost(macs=macs, flops=2 * macs)

    def window(self, inputs: list[Shape]) -> Global:
        return GLOBAL

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        a, b = inputs
        return [
            f"({fmt_shape(a[-2:])}) @ ({fmt_shape(b[-2:])}) = {fmt_shape(out[-2:])}{_for_each(out[:-2], 'products')}"
        ]

    def explain_cost(self, inputs: list[Shape], out: Shape) -> list[str]:
        cost = self.cost(inputs, out)
        return [
            "params = 0",
            f"MACs = {numel(out):,} outputs * {inputs[0][-1]} products each = {cost.macs:,}",
            f"FLOPs = 2 * MACs = {cost.flops:,}",
        ]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        # the tracers see aten::matmul; fvcore counts the first input's elements times the last axis of the
        # second (the MACs, where the first is not broadcast); ptflops patches torch.matmul, not `@`
        macs = self.cost(inputs, out).macs
        return UNCOUNTED._replace(fvcore=numel(inputs[0]) * inputs[1][-1], flopcounter=2 * macs)

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers.modules import MatMul as Module

        return Module()


@register
class Attention(Layer):
    """Scaled dot-product attention per sample: ``softmax(q @ k^T * scale) @ v`` over the last two axes of the
    three inputs (queries, keys, values), the axes before them broadcast: ``F.scaled_dot_product_attention``
    (MobileNetV4's multi-query attention, one key and value head for all query heads)."""

    type_name = "attention"
    summary = "softmax(q @ k^T * scale) @ v of three inputs (F.scaled_dot_product_attention)"
    arity = (3, 3)
    fresh_output = True
    example_inputs = ((2, 6, 4), (1, 10, 4), (1, 10, 5))
    scale: float | None = key(
        _optional_number, None, "the scores' factor (default: 1 / sqrt of the queries' last axis)"
    )
    causal: bool = key(boolean, False, "query i sees keys 0..i only (is_causal)")

    imports = ("F.scaled_dot_product_attention", "torch.scaled_dot_product_attention", "cnnscope.Attention")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        if call.module is not None:
            settings = {"scale": call.module.scale, "causal": call.module.causal}
        else:
            if len(call.inputs) != 3 or call.parameters:
                return None
            if call.arg(3, "attn_mask") is not None or call.kwargs.get("enable_gqa"):
                raise SpecError("attention with a mask or grouped-query heads has no spec form")
            if call.arg(4, "dropout_p", 0.0):
                raise SpecError("attention dropout in eval mode has no spec form", hint="pass dropout_p=0 in eval")
            settings = {"scale": call.kwargs.get("scale"), "causal": call.arg(5, "is_causal", False)}
        return {name: value for name, value in settings.items() if value not in (None, False)}

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (q, k, v), names = inputs, sources or ("input 1", "input 2", "input 3")
        shapes = ", ".join(f"'{name}' {fmt_shape(shape)}" for name, shape in zip(names, inputs))
        if min(len(q), len(k), len(v)) < 2 or q[-1] != k[-1] or k[-2] != v[-2]:
            raise SpecError(
                f"attention takes queries L x E, keys S x E and values S x Ev: {shapes}",
                hint="the last two axes of each input are its matrix",
            )
        leading = _broadcast(q[:-2], k[:-2])
        leading = None if leading is None else _broadcast(leading, v[:-2])
        if leading is None:
            raise SpecError(f"the axes before the matrices do not broadcast: {shapes}")
        return (*leading, q[-2], v[-1])

    def _sizes(self, inputs: list[Shape], out: Shape) -> tuple[int, int, int, int, int]:
        """Matrices, queries L, keys S, query width E, value width Ev."""
        (q, k, v) = inputs
        return numel(out[:-2]), q[-2], k[-2], q[-1], v[-1]

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        """The two products' multiply-adds; per score also its scale, exp, sum and divide."""
        heads, queries, keys, width, values = self._sizes(inputs, out)
        macs = heads * queries * keys * (width + values)
        return Cost(macs=macs, flops=2 * macs + 4 * heads * queries * keys)

    def window(self, inputs: list[Shape]) -> Global:
        return GLOBAL

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        _, queries, keys, width, values = self._sizes(inputs, out)
        scale = f"{self.scale:g}" if self.scale is not None else f"1/sqrt({width})"
        causal = ", each query over the keys up to its own position" if self.causal else ""
        each = _for_each(out[:-2], "heads")
        return [
            f"scores = ({queries}x{width}) @ ({width}x{keys}) * {scale}, softmax over the {keys} keys{causal}",
            f"out = ({queries}x{keys}) @ ({keys}x{values}) = {queries}x{values}{each}",
        ]

    def explain_cost(self, inputs: list[Shape], out: Shape) -> list[str]:
        heads, queries, keys, width, values = self._sizes(inputs, out)
        cost = self.cost(inputs, out)
        return [
            "params = 0",
            f"MACs = {heads}*{queries}*{keys} scores * ({width} + {values}) = {cost.macs:,}",
            f"FLOPs = 2 * MACs + 4 per score (scale, exp, sum, divide) = {cost.flops:,}",
        ]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        macs = self.cost(inputs, out).macs
        if functional:  # F.scaled_dot_product_attention: fvcore has no handler; FlopCounterMode counts its math
            # path (heads broadcast, inputs permuted into place: the code read by import), not the CPU's flash kernel
            return UNCOUNTED._replace(flopcounter=2 * macs)
        # the module writes the two products with `@` (as timm's unfused path), which fvcore counts as matmuls
        heads, queries, keys, _, values = self._sizes(inputs, out)
        scores = numel(inputs[0]) * keys
        return UNCOUNTED._replace(fvcore=scores + heads * queries * keys * values, flopcounter=2 * macs)

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers.modules import Attention as Module

        return Module(self.scale, self.causal)


@register
class Stack(Layer):
    """Inputs of one shape stacked along a new axis (SKNet's ``torch.stack(paths, dim=1)``)."""

    type_name = "stack"
    summary = "inputs of one shape stacked along a new axis (SKNet's paths)"
    arity = (2, None)
    fresh_output = True
    axis: int = key(non_negative, 0, "where the new axis goes (0: before the channels)")
    example_inputs = ((4, 8, 8), (4, 8, 8))

    imports = ("torch.stack", "cnnscope.Stack")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        if call.module is not None:
            return {"axis": call.module.axis}
        dim = call.arg(1, "dim", 0)
        rank = len(call.out) + 1
        if dim % rank == 0:
            raise SpecError("stacking along the batch axis has no spec form")
        return {"axis": dim % rank - 1}

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        first = inputs[0]
        for shape, name in zip(inputs[1:], sources[1:] or [f"input {i + 2}" for i in range(len(inputs) - 1)]):
            if shape != first:
                raise SpecError(f"stack joins inputs of one shape: {fmt_shape(first)} and '{name}' {fmt_shape(shape)}")
        if self.axis > len(first):
            raise SpecError(f"axis {self.axis} is past the {len(first)} axes of the inputs")
        return (*first[: self.axis], len(inputs), *first[self.axis :])

    def window(self, inputs: list[Shape]) -> Effect:
        return None if self.axis == 0 else GLOBAL  # a new axis among the positions: no field the engine can follow

    def cells(self) -> Cells:
        return Cells(size=f"new axis {self.axis}")

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED  # a copy: no peer counts it

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers.modules import Stack as Module

        return Module(self.axis)
