"""Layers that slide a window over the input: convolutions and pooling.

All of them obey the lecture's O = (I - K + 2P)/S + 1 per spatial axis (with the
effective kernel K = d(K-1)+1 under dilation, and floor or ceil of the division);
:func:`slide` computes it once, with the same rules and checks as torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from cnnscope.errors import SpecError
from cnnscope.layers.base import (
    Cells,
    Cost,
    Layer,
    Shape,
    Window,
    boolean,
    expect_rank,
    fmt_shape,
    key,
    numel,
    optional_per_axis,
    padding,
    per_axis,
    positive,
    register,
)

AXIS_NAMES = {1: ("length",), 2: ("height", "width")}


@dataclass(frozen=True)
class Axis:
    """One spatial axis through a window: the numbers of the output-size formula."""

    size: int
    kernel: int
    stride: int
    pad_before: int
    pad_after: int
    dilation: int = 1
    ceil: bool = False

    @property
    def effective_kernel(self) -> int:
        return self.dilation * (self.kernel - 1) + 1

    @property
    def span(self) -> int:
        """I - K + 2P: how far the window can travel."""
        return self.size + self.pad_before + self.pad_after - self.effective_kernel

    @property
    def out(self) -> int:
        if self.ceil:
            out = -(-self.span // self.stride) + 1
            # torch: the last window must start inside the input or the left padding
            if (out - 1) * self.stride >= self.size + self.pad_before:
                out -= 1
            return out
        return self.span // self.stride + 1

    def formula(self) -> str:
        k = str(self.kernel) if self.dilation == 1 else str(self.effective_kernel)
        pad = f"2*{self.pad_before}" if self.pad_before == self.pad_after else f"({self.pad_before}+{self.pad_after})"
        body = f"({self.size} - {k} + {pad})/{self.stride}"
        if self.span % self.stride == 0:
            return f"O = {body} + 1 = {self.span // self.stride} + 1 = {self.out}"
        rounding = "ceil" if self.ceil else "floor"
        quotient = f"{self.span / self.stride:.4g}"
        return f"O = {rounding}({body}) + 1 = {rounding}({quotient}) + 1 = {self.out}"

    def dropped(self) -> int:
        """Pixels at the end of the padded input that no window covers (floor mode)."""
        return 0 if self.ceil else self.span % self.stride


def check_axes(layer: Layer, axes: list[Axis]) -> None:
    for name, axis in zip(AXIS_NAMES[len(axes)], axes):
        padded = axis.size + axis.pad_before + axis.pad_after
        # like torch: in ceil mode a window may hang over the end as long as one output remains
        if axis.span < 0 and not (axis.ceil and axis.out >= 1):
            raise SpecError(
                f"kernel {axis.effective_kernel} is larger than the padded input {padded} along the {name}",
                hint="use a smaller kernel, more padding or a larger input",
            )


def axis_warnings(axes: list[Axis]) -> list[str]:
    """Say which pixels the floor in O = (I - K + 2P)/S + 1 leaves out."""
    names = list(AXIS_NAMES[len(axes)])
    if len(axes) == 2 and axes[0] == axes[1]:
        names, axes = ["height and width"], axes[:1]
    notes = []
    for name, axis in zip(names, axes):
        if axis.dropped():
            pad = axis.pad_before + axis.pad_after
            notes.append(
                f"{name}: {axis.size} - {axis.effective_kernel} + {pad} = {axis.span} is not a multiple of"
                f" stride {axis.stride}, so the floor leaves the last {axis.dropped()} pixel(s) of the padded"
                " input unused"
            )
    return notes


def explain_axes(axes: list[Axis]) -> list[str]:
    names = AXIS_NAMES[len(axes)]
    if len(axes) == 2 and axes[0] == axes[1]:
        return [f"height = width: {axes[0].formula()}"]
    return [f"{name}: {axis.formula()}" for name, axis in zip(names, axes)]


def _pair(values: tuple[int, ...]) -> str:
    return "x".join(map(str, values)) if len(set(values)) > 1 else str(values[0])


def _square(values: tuple[int, ...]) -> str:
    return "x".join(map(str, values)) if len(values) > 1 else str(values[0])


@dataclass(frozen=True)
class Conv(Layer):
    """Convolution (cross-correlation, as in every framework) over channels x spatial axes."""

    ndim: ClassVar[int] = 2
    out: int = key(positive, doc="number of filters (output channels)")
    kernel: tuple[int, ...] = key(per_axis(1), doc="filter size: a number or one per axis")
    stride: tuple[int, ...] = key(per_axis(1), 1, "step of the filter")
    padding: tuple[int, ...] | str = key(padding, 0, 'zeros added on each side, or "same"/"valid"')
    dilation: tuple[int, ...] = key(per_axis(1), 1, "spacing between filter taps")
    groups: int = key(positive, 1, "channel groups (groups = in channels: depthwise)")
    bias: bool = key(boolean, True, "add a learned bias per filter")

    def axes(self, shape: Shape) -> list[Axis]:
        axes = []
        for i, size in enumerate(shape[1:]):
            k, d = self.kernel[i], self.dilation[i]
            if self.padding == "same":
                total = d * (k - 1)
                before, after = total // 2, total - total // 2
            elif self.padding == "valid":
                before = after = 0
            else:
                before = after = self.padding[i]
            axes.append(Axis(size, k, self.stride[i], before, after, d))
        return axes

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (shape,) = inputs
        spatial = " x ".join(AXIS_NAMES[self.ndim])
        expect_rank(self, shape, (self.ndim + 1,), f"a channels x {spatial} input")
        channels = shape[0]
        if channels % self.groups or self.out % self.groups:
            raise SpecError(
                f"groups = {self.groups} must divide both the {channels} input channels and the {self.out} filters"
            )
        if self.padding == "same" and any(s != 1 for s in self.stride):
            raise SpecError('padding "same" needs stride 1', hint="give the padding as a number instead")
        axes = self.axes(shape)
        check_axes(self, axes)
        return (self.out, *(a.out for a in axes))

    def weights_per_filter(self, shape: Shape) -> int:
        return shape[0] // self.groups * math.prod(self.kernel)

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        per_filter = self.weights_per_filter(inputs[0])
        macs = numel(out) * per_filter
        return Cost(weights=self.out * per_filter, biases=self.out if self.bias else 0, macs=macs, flops=2 * macs)

    def window(self, inputs: list[Shape]) -> Window:
        return Window(tuple(a.effective_kernel for a in self.axes(inputs[0])), self.stride)

    def warnings(self, inputs: list[Shape]) -> list[str]:
        return axis_warnings(self.axes(inputs[0]))

    def cells(self) -> Cells:
        pad = self.padding if isinstance(self.padding, str) else _pair(self.padding)
        return Cells(str(self.out), _square(self.kernel), _pair(self.stride), pad)

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        lines = explain_axes(self.axes(inputs[0]))
        if self.padding == "same":
            lines.append('padding "same": the zeros are chosen so that O = I')
        if any(d > 1 for d in self.dilation):
            lines.append(f"dilation {_pair(self.dilation)}: effective kernel K = d*(K-1)+1")
        return lines

    def explain_cost(self, inputs: list[Shape], out: Shape) -> list[str]:
        shape = inputs[0]
        group_in = shape[0] // self.groups
        taps = "*".join(map(str, self.kernel))
        fan_in = f"{group_in}*{taps}" if self.groups == 1 else f"{shape[0]}/{self.groups}*{taps}"
        per_filter = self.weights_per_filter(shape)
        cost = self.cost(inputs, out)
        bias = f" + {self.out}" if self.bias else ""
        positions = "*".join(map(str, out))
        return [
            f"params = {self.out} * ({fan_in}){bias} = {cost.params:,}",
            f"MACs = {positions} outputs * {per_filter} taps = {cost.macs:,}",
            f"FLOPs = 2 * MACs = {cost.flops:,}",
        ]


@register
@dataclass(frozen=True)
class Conv2d(Conv):
    type_name = "conv2d"
    summary = "2-D convolution over channels x height x width"


@register
@dataclass(frozen=True)
class Conv1d(Conv):
    ndim = 1
    type_name = "conv1d"
    summary = "1-D convolution over channels x length (text, signals)"


@dataclass(frozen=True)
class Pool(Layer):
    """Max or average over a window, channel by channel."""

    ndim: ClassVar[int] = 2
    reduce: ClassVar[str] = "max"
    kernel: tuple[int, ...] = key(per_axis(1), doc="window size: a number or one per axis")
    stride: tuple[int, ...] | None = key(optional_per_axis(1), None, "step of the window (default: the kernel)")
    padding: tuple[int, ...] = key(per_axis(0), 0, "padding on each side, at most half the kernel")
    ceil: bool = key(boolean, False, "ceil instead of floor in the output size (Caffe's rule)")

    @property
    def steps(self) -> tuple[int, ...]:
        return self.stride or self.kernel

    def axes(self, shape: Shape) -> list[Axis]:
        return [
            Axis(size, self.kernel[i], self.steps[i], self.padding[i], self.padding[i], 1, self.ceil)
            for i, size in enumerate(shape[1:])
        ]

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (shape,) = inputs
        expect_rank(self, shape, (self.ndim + 1,), f"a channels x {' x '.join(AXIS_NAMES[self.ndim])} input")
        if any(2 * p > k for p, k in zip(self.padding, self.kernel)):
            raise SpecError("padding must be at most half the kernel", hint="torch rejects larger pooling padding")
        axes = self.axes(shape)
        check_axes(self, axes)
        return (shape[0], *(a.out for a in axes))

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        return Cost(flops=numel(out) * (math.prod(self.kernel) - (self.reduce == "max")))

    def window(self, inputs: list[Shape]) -> Window:
        return Window(self.kernel, self.steps)

    def warnings(self, inputs: list[Shape]) -> list[str]:
        return axis_warnings(self.axes(inputs[0]))

    def cells(self) -> Cells:
        stride = _pair(self.steps) + (" ceil" if self.ceil else "")
        return Cells("", _square(self.kernel), stride, _pair(self.padding))

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        lines = explain_axes(self.axes(inputs[0]))
        return [*lines, f"channels unchanged: {out[0]}"]

    def explain_cost(self, inputs: list[Shape], out: Shape) -> list[str]:
        taps = math.prod(self.kernel)
        what = f"{taps} - 1 comparisons" if self.reduce == "max" else f"{taps - 1} adds + 1 divide"
        return [f"params = 0, MACs = 0, FLOPs = {numel(out):,} outputs * ({what}) = {self.cost(inputs, out).flops:,}"]


@register
@dataclass(frozen=True)
class MaxPool2d(Pool):
    type_name = "maxpool"
    summary = "2-D max pooling"


@register
@dataclass(frozen=True)
class AvgPool2d(Pool):
    reduce = "avg"
    type_name = "avgpool"
    summary = "2-D average pooling"


@register
@dataclass(frozen=True)
class MaxPool1d(Pool):
    ndim = 1
    type_name = "maxpool1d"
    summary = "1-D max pooling"


@register
@dataclass(frozen=True)
class AvgPool1d(Pool):
    ndim = 1
    reduce = "avg"
    type_name = "avgpool1d"
    summary = "1-D average pooling"


def _widest_adaptive_window(size: int, out: int, exact_up_to: int = 10_000) -> int:
    """torch's adaptive window i spans [floor(i*I/O), ceil((i+1)*I/O)): the widest one.

    Beyond ``exact_up_to`` outputs the bound ceil(I/O) + 1 is used instead of a long scan.
    """
    if size % out == 0:
        return size // out
    if out > exact_up_to:
        return -(-size // out) + 1
    return max(-(-(i + 1) * size // out) - i * size // out for i in range(out))


@dataclass(frozen=True)
class AveragePoolTo(Layer):
    """Average pooling to a fixed output size, whatever the input size."""

    ndim: ClassVar[int] = 2

    @property
    def target(self) -> tuple[int, ...]:
        raise NotImplementedError

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (shape,) = inputs
        expect_rank(self, shape, (self.ndim + 1,), "a channels x height x width input")
        return (shape[0], *self.target)

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        return Cost(flops=numel(inputs[0]) + numel(out))

    def window(self, inputs: list[Shape]) -> Window:
        sizes = list(zip(inputs[0][1:], self.target))
        kernel = tuple(_widest_adaptive_window(size, o) for size, o in sizes)
        return Window(kernel, tuple(max(1, size // o) for size, o in sizes))

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        return [f"output size fixed by the layer: {fmt_shape(inputs[0])} -> {fmt_shape(out)}"]

    def explain_cost(self, inputs: list[Shape], out: Shape) -> list[str]:
        return [f"params = 0, MACs = 0, FLOPs = {numel(inputs[0]):,} adds + {numel(out):,} divides"]


@register
@dataclass(frozen=True)
class AdaptiveAvgPool(AveragePoolTo):
    type_name = "adaptive_avgpool"
    summary = "average pooling to a fixed output size (torchvision's heads)"
    out: tuple[int, ...] = key(per_axis(1), 1, "output size: a number or one per axis")

    @property
    def target(self) -> tuple[int, ...]:
        return self.out

    def cells(self) -> Cells:
        return Cells(size=f"-> {_square(self.out)}")


@register
@dataclass(frozen=True)
class GlobalAvgPool(AveragePoolTo):
    type_name = "global_avgpool"
    summary = "average of each channel over all positions (output C x 1 x 1)"

    @property
    def target(self) -> tuple[int, ...]:
        return (1,) * self.ndim

    def cells(self) -> Cells:
        return Cells(size="global")
