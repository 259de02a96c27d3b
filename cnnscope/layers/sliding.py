"""Layers that slide a window over the input: convolutions and pooling.

All of them obey the lecture's O = (I - K + 2P)/S + 1 per spatial axis (with the
effective kernel K = d(K-1)+1 under dilation, and floor or ceil of the division);
:func:`slide` computes it once, with the same rules and checks as torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar

from cnnscope.errors import SpecError
from cnnscope.layers.base import (
    GLOBAL,
    MAX_ELEMENTS,
    TENSOR,
    UNCOUNTED,
    Cells,
    Cost,
    Global,
    Layer,
    Parameter,
    PeerCounts,
    Shape,
    TorchCall,
    Window,
    boolean,
    check_border,
    choice,
    compact,
    expect_rank,
    fmt_shape,
    given,
    key,
    multiply_add_counts,
    number,
    numbers,
    numel,
    optional_per_axis,
    padding,
    per_axis,
    per_spatial_axis,
    positive,
    positive_number,
    register,
    spatial_size,
    weight_argument,
)
from cnnscope.rules import FLOOR_DROPS_PIXELS, Finding

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from torch import nn

# the spatial axes after the channels; a 3-D map is depth x height x width as torch names it (frames, for a video)
AXIS_NAMES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def _per_axis(value: int | Sequence[int], ndim: int) -> tuple[int, ...]:
    """A torch size argument (one number for every axis, or one per axis) as one per axis."""
    return (value,) * ndim if isinstance(value, int) else tuple(value)


def conv_keys(conv: Any) -> dict[str, Any]:
    """The keys of a torch convolution module (plain or transposed), as a spec writes them."""
    return {
        "out": conv.out_channels,
        "kernel": compact(conv.kernel_size),
        "stride": compact(conv.stride),
        "padding": conv.padding if isinstance(conv.padding, str) else compact(conv.padding),
        "dilation": compact(conv.dilation),
        "groups": conv.groups,
        "bias": conv.bias is not None,
    } | ({"padding_mode": conv.padding_mode} if conv.padding_mode != "zeros" else {})


# timm's weight-standardised convolutions, read whole (their forward standardises the weight with
# F.batch_norm, and the "Same" forms pad as TensorFlow's SAME with Python control flow on the size)
STANDARDIZED = frozenset({"timm.StdConv2d", "timm.StdConv2dSame", "timm.ScaledStdConv2d", "timm.ScaledStdConv2dSame"})


def standardized_keys(conv: Any) -> dict[str, Any]:
    """The keys of timm's StdConv2d (``eps``) or ScaledStdConv2d (``eps``, a ``gain`` per filter and
    ``gamma``, which timm keeps only as ``scale = gamma / sqrt(fan-in)``)."""
    keys: dict[str, Any] = {"standardize": True, "eps": conv.eps}
    if getattr(conv, "gain", None) is not None:
        # scale * sqrt(fan-in) is gamma give or take an ulp: rounded to 12 digits (as the spec writes numbers),
        # so that every conv of a model reads the same gamma and 1.0 reads as the default
        keys |= {"gain": True, "gamma": float(f"{conv.scale * conv.weight[0].numel() ** 0.5:.12g}")}
    return keys


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


def named_axes(axes: list[Axis], both: str) -> list[tuple[str, Axis]]:
    """Each axis with its name; height and width as one (named ``both``) where their numbers agree."""
    names = AXIS_NAMES[len(axes)]
    if len(axes) >= 2 and axes[-2] == axes[-1]:
        return [*zip(names[:-2], axes[:-2]), (both, axes[-1])]
    return list(zip(names, axes))


def axis_warnings(axes: list[Axis]) -> list[Finding]:
    """Say which pixels the floor in O = (I - K + 2P)/S + 1 leaves out."""
    notes = []
    for name, axis in named_axes(axes, "height and width"):
        if axis.dropped():
            pad = axis.pad_before + axis.pad_after
            notes.append(
                Finding(
                    FLOOR_DROPS_PIXELS,
                    f"{name}: {axis.size} - {axis.effective_kernel} + {pad} = {axis.span} is not a multiple of"
                    f" stride {axis.stride}, so the floor leaves the last {axis.dropped()} pixel(s) of the padded"
                    " input unused",
                )
            )
    return notes


def explain_axes(axes: list[Axis]) -> list[str]:
    return [f"{name}: {axis.formula()}" for name, axis in named_axes(axes, "height = width")]


def _pair(values: tuple[int, ...]) -> str:
    return "x".join(map(str, values)) if len(set(values)) > 1 else str(values[0])


def _square(values: tuple[object, ...]) -> str:
    return "x".join(map(str, values)) if len(values) > 1 else str(values[0])


class Conv(Layer):
    """Convolution (cross-correlation, as in every framework) over channels x spatial axes."""

    ndim: ClassVar[int] = 2
    draws_filters = True
    has_units = True
    fresh_output = True
    example = {"out": 6, "kernel": 3, "padding": 1}
    out: int = key(positive, doc="number of filters (output channels)")
    kernel: tuple[int, ...] = key(per_axis(1), doc="filter size: a number or one per axis")
    stride: tuple[int, ...] = key(per_axis(1), 1, "step of the filter")
    padding: tuple[int, ...] | str = key(padding, 0, 'zeros added on each side, or "same"/"valid"')
    padding_mode: str = key(
        choice("zeros", "reflect", "replicate", "circular"),
        "zeros",
        "what the padding holds: zeros, or the input mirrored, its edge repeated or wrapped (as nn.Conv2d's)",
    )
    dilation: tuple[int, ...] = key(per_axis(1), 1, "spacing between filter taps")
    groups: int = key(positive, 1, "channel groups (groups = in channels: depthwise)")
    bias: bool = key(boolean, True, "add a learned bias per filter")
    standardize: bool = key(
        boolean, False, "standardise each filter to mean 0, variance 1 before use (weight standardisation, BiT)"
    )
    eps: float = key(positive_number, 1e-6, "added to each filter's variance (with standardize)")
    gain: bool = key(boolean, False, "times a learned gain per filter and gamma / sqrt(fan-in) (NFNets)")
    gamma: float = key(number, 1.0, "the constant of the gain's scale gamma / sqrt(fan-in) (with gain)")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        if call.module is not None:
            keys = conv_keys(call.module)
            if call.name == "timm.Conv2dSame" or getattr(call.module, "same_pad", False):
                keys["padding"] = "same"  # padded in forward, from the input's size
            return keys | (standardized_keys(call.module) if call.name in STANDARDIZED else {})
        # F.conv2d(x, weight, bias, stride, padding, dilation, groups) with a module's own weight
        fixed = call.arg(1, "weight")
        if isinstance(fixed, Parameter) and fixed.fixed is not None:  # a filter outside the state_dict: no weights
            return None
        weight = weight_argument(call, 1, "weight")
        padding = call.arg(4, "padding", 0)
        return {
            "out": weight.shape[0],
            "kernel": compact(weight.shape[2:]),
            "stride": compact(_per_axis(call.arg(3, "stride", 1), cls.ndim)),
            "padding": padding if isinstance(padding, str) else compact(_per_axis(padding, cls.ndim)),
            "dilation": compact(_per_axis(call.arg(5, "dilation", 1), cls.ndim)),
            "groups": call.arg(6, "groups", 1),
            "bias": given(call.arg(2, "bias")),
        }

    def axes(self, shape: Shape) -> list[Axis]:
        axes = []
        for i, size in enumerate(shape[1:]):
            k, d, s = self.kernel[i], self.dilation[i], self.stride[i]
            if self.padding == "same":  # O = ceil(I / S), the odd zero at the end (TensorFlow's SAME)
                total = max((-(-size // s) - 1) * s + d * (k - 1) + 1 - size, 0)
                before, after = total // 2, total - total // 2
            elif isinstance(self.padding, str):  # "valid"
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
        if not self.standardize and (self.gain or self.eps != 1e-6):
            raise SpecError("eps and gain belong to a weight-standardised conv", hint="add standardize = true")
        if not self.gain and self.gamma != 1.0:
            raise SpecError("gamma scales the learned gain", hint="add gain = true (and standardize = true)")
        axes = self.axes(shape)
        check_axes(self, axes)
        if self.padding_mode != "zeros":
            self._check_padding_mode(shape, axes)
        return (self.out, *(a.out for a in axes))

    def _check_padding_mode(self, shape: Shape, axes: list[Axis]) -> None:
        """Padding of the input's own values: what torch's convolutions allow (each ``padding_mode`` pads with
        F.pad, which mirrors at most size - 1 values and wraps at most size)."""
        if self.standardize or (self.padding == "same" and any(s != 1 for s in self.stride)):
            raise SpecError(
                f'padding_mode = "{self.padding_mode}" takes numbers or "same" at stride 1, without standardize'
            )
        check_border(self.padding_mode, shape, ((a.pad_before, a.pad_after) for a in axes))

    def weights_per_filter(self, shape: Shape) -> int:
        return shape[0] // self.groups * math.prod(self.kernel)

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        """The standardisation of the weights is not counted: it is once per forward, not per sample,
        and at inference it can be done once and kept."""
        per_filter = self.weights_per_filter(inputs[0])
        macs = numel(out) * per_filter
        weights = self.out * per_filter + (self.out if self.gain else 0)  # the gains are weights too
        return Cost(weights=weights, biases=self.out if self.bias else 0, macs=macs, flops=2 * macs)

    def window(self, inputs: list[Shape]) -> Window:
        return Window(tuple(a.effective_kernel for a in self.axes(inputs[0])), self.stride)

    def warnings(self, inputs: list[Shape], spatial_axes: tuple[int, ...] = ()) -> list[Finding]:
        return axis_warnings(self.axes(inputs[0]))

    def cells(self) -> Cells:
        pad = self.padding if isinstance(self.padding, str) else _pair(self.padding)
        pad += f" {self.padding_mode}" if self.padding_mode != "zeros" else ""
        return Cells(str(self.out), _square(self.kernel), _pair(self.stride), pad)

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        lines = explain_axes(self.axes(inputs[0]))
        if self.padding == "same":
            lines.append('padding "same": the zeros make O = ceil(I / S), an odd one at the end (TensorFlow\'s rule)')
        if any(d > 1 for d in self.dilation):
            lines.append(f"dilation {_pair(self.dilation)}: effective kernel K = d*(K-1)+1")
        if self.padding_mode != "zeros":
            held = {
                "reflect": "the input mirrored",
                "replicate": "the input's edge repeated",
                "circular": "the input wrapped",
            }
            lines.append(f'padding_mode "{self.padding_mode}": the padding holds {held[self.padding_mode]}')
        return lines

    def explain_cost(self, inputs: list[Shape], out: Shape) -> list[str]:
        shape = inputs[0]
        group_in = shape[0] // self.groups
        taps = "*".join(map(str, self.kernel))
        fan_in = f"{group_in}*{taps}" if self.groups == 1 else f"{shape[0]}/{self.groups}*{taps}"
        per_filter = self.weights_per_filter(shape)
        cost = self.cost(inputs, out)
        gains = f" + {self.out} gains" if self.gain else ""
        bias = f" + {self.out}" if self.bias else ""
        positions = "*".join(map(str, out))
        lines = [
            f"params = {self.out} * ({fan_in}){gains}{bias} = {cost.params:,}",
            f"MACs = {positions} outputs * {per_filter} taps = {cost.macs:,}",
            f"FLOPs = 2 * MACs = {cost.flops:,}",
        ]
        if self.standardize:
            scale = f", times gain * {self.gamma:g} / sqrt({per_filter})" if self.gain else ""
            lines.append(
                f"weights standardised per filter, (w - mean) / sqrt(var + {self.eps:g}){scale}:"
                " once per forward, not counted"
            )
        return lines

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        cost = self.cost(inputs, out)
        if not self.standardize:  # torchinfo: every parameter once per output position
            return multiply_add_counts(cost, out, functional, torchinfo=cost.params * spatial_size(out), thop=cost.macs)
        # the module computes the standardised weight with F.batch_norm (as timm's does): fvcore counts its
        # aten::batch_norm in training mode as 4 per weight, 5 with the gain as its affine weight. torchinfo
        # counts `weight` and `bias` (not `gain`) once per position; a subclass of nn.Conv2d, it is missed
        # by the exact-type lookups of ptflops and thop
        weights = self.out * self.weights_per_filter(inputs[0])
        counts = multiply_add_counts(cost, out, functional, torchinfo=0, thop=0)
        return counts._replace(
            torchinfo=0 if functional else (weights + cost.biases) * spatial_size(out),
            fvcore=cost.macs + (5 if self.gain else 4) * weights,
            ptflops=0,
        )

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from torch import nn

        # torch types sizes per class (tuple[int, int] in 2-D, tuple[int] in 1-D); ours hold ndim numbers
        conv: Callable[..., nn.Module] = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[self.ndim]
        padding: tuple[int, ...] | str | int = self.padding
        same = padding == "same" and any(s != 1 for s in self.stride)  # torch's "same" takes stride 1 only
        if self.standardize:
            from cnnscope.layers.modules import STANDARDIZED_CONVS

            gamma = self.gamma if self.gain else None
            return STANDARDIZED_CONVS[self.ndim](
                inputs[0][0], self.out, self.kernel, self.stride, 0 if same else padding, self.dilation, self.groups,
                self.bias, eps=self.eps, gamma=gamma, same=same,
            )  # fmt: skip
        if same:
            from cnnscope.layers.modules import SAME_CONVS

            conv, padding = SAME_CONVS[self.ndim], 0
        return conv(
            inputs[0][0], self.out, self.kernel, self.stride, padding, self.dilation, self.groups, self.bias,
            padding_mode=self.padding_mode,
        )  # fmt: skip


@register
class Conv2d(Conv):
    type_name = "conv2d"
    summary = "2-D convolution over channels x height x width"

    # timm's Conv2dSame pads as TensorFlow's SAME; its StdConv2d and ScaledStdConv2d standardise their weights
    imports = ("nn.Conv2d", "F.conv2d", "torch.conv2d", "timm.Conv2dSame", *sorted(STANDARDIZED))


@register
class Conv1d(Conv):
    ndim = 1
    example_inputs = ((4, 16),)
    type_name = "conv1d"
    summary = "1-D convolution over channels x length (text, signals)"

    imports = ("nn.Conv1d", "F.conv1d", "torch.conv1d")


@register
class Conv3d(Conv):
    """Convolution over depth x height x width: a video's frames (C3D, R3D, R(2+1)D) or a volume's slices."""

    ndim = 3
    draws_filters = False  # a bank of 3-D filters: the pictures tile 2-D ones
    has_units = False  # the TUI's filter pane and `maximize` show 2-D filters and images
    example = {"out": 6, "kernel": [3, 3, 3], "padding": 1}
    example_inputs = ((4, 4, 8, 8),)
    type_name = "conv3d"
    summary = "3-D convolution over channels x depth (frames) x height x width (video)"

    imports = ("nn.Conv3d", "F.conv3d", "torch.conv3d")


class Pool(Layer):
    """Max or average over a window, channel by channel."""

    ndim: ClassVar[int] = 2
    reduce: ClassVar[str] = "max"
    fresh_output = True
    example = {"kernel": 2}
    kernel: tuple[int, ...] = key(per_axis(1), doc="window size: a number or one per axis")
    stride: tuple[int, ...] | None = key(optional_per_axis(1), None, "step of the window (default: the kernel)")
    padding: tuple[int, ...] = key(per_axis(0), 0, "padding on each side, at most half the kernel")
    ceil: bool = key(boolean, False, "ceil instead of floor in the output size (Caffe's rule)")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        """From ``nn.MaxPool2d(...)`` or ``F.max_pool2d(x, kernel, stride, padding, ...)`` and the avg forms."""
        names = ["kernel_size", "stride", "padding"]
        names += (
            ["dilation", "ceil_mode", "return_indices"]
            if cls.reduce == "max"
            else ["ceil_mode", "count_include_pad", "divisor_override"]
        )
        if call.module is not None:
            given = {name: getattr(call.module, name) for name in names}
        else:
            defaults = {
                "stride": None,
                "padding": 0,
                "dilation": 1,
                "ceil_mode": False,
                "return_indices": False,
                "count_include_pad": True,
                "divisor_override": None,
            }
            given = {name: call.arg(i + 1, name, defaults.get(name)) for i, name in enumerate(names)}
        if compact(given.get("dilation", 1)) != 1 or given.get("return_indices") or given.get("divisor_override"):
            raise SpecError(f"{call.name} with dilation, return_indices or divisor_override has no spec form")
        keys: dict[str, Any] = {"kernel": compact(given["kernel_size"])}
        if given.get("count_include_pad") is False and compact(given["padding"]) != 0:
            keys["count_pad"] = False
        if given["stride"] not in (None, [], ()) and compact(given["stride"]) != keys["kernel"]:
            keys["stride"] = compact(given["stride"])
        if compact(given["padding"]) != 0:
            keys["padding"] = compact(given["padding"])
        if given["ceil_mode"]:
            keys["ceil"] = True
        return keys

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
        if self.reduce == "avg" and self.ndim == 3:  # torch's avg_pool3d, alone, checks the input before padding
            for name, size, k in zip(AXIS_NAMES[3], shape[1:], self.kernel):
                if size < k:
                    raise SpecError(
                        f"kernel {k} is larger than the input {size} along the {name}",
                        hint="torch's avg_pool3d needs the input, before padding, at least as large as the kernel",
                    )
        axes = self.axes(shape)
        check_axes(self, axes)
        return (shape[0], *(a.out for a in axes))

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        return Cost(flops=numel(out) * (math.prod(self.kernel) - (self.reduce == "max")))

    def window(self, inputs: list[Shape]) -> Window:
        return Window(self.kernel, self.steps)

    def warnings(self, inputs: list[Shape], spatial_axes: tuple[int, ...] = ()) -> list[Finding]:
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

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        elements = numel(inputs[0])
        return PeerCounts(
            torchinfo=0,
            fvcore=0,
            # 1 per input element from ptflops's patched F.*_pool, once more from its module hook
            ptflops=elements if functional else 2 * elements,
            thop=numel(out) if self.reduce == "avg" and not functional else 0,
            flopcounter=0,
        )

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from torch import nn

        kinds = {"max": (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d), "avg": (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)}
        pool: Callable[..., nn.Module] = kinds[self.reduce][self.ndim - 1]
        return pool(self.kernel, self.steps, self.padding, ceil_mode=self.ceil)


@register
class MaxPool2d(Pool):
    type_name = "maxpool"
    summary = "2-D max pooling"

    imports = ("nn.MaxPool2d", "F.max_pool2d")


class AveragePool(Pool):
    """Average pooling: where the window overlaps the padding, the divisor counts the zeros or not."""

    reduce = "avg"
    count_pad: bool = key(
        boolean, True, "divide by the whole window, padded zeros included (false: by the input pixels it covers)"
    )

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        lines = super().explain(inputs, out)
        if not self.count_pad and any(self.padding):
            lines.append("at the border the average is over the input pixels only (padding not counted)")
        return lines

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from torch import nn

        pool: Callable[..., nn.Module] = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)[self.ndim - 1]
        return pool(self.kernel, self.steps, self.padding, ceil_mode=self.ceil, count_include_pad=self.count_pad)


@register
class AvgPool2d(AveragePool):
    type_name = "avgpool"
    summary = "2-D average pooling"

    imports = ("nn.AvgPool2d", "F.avg_pool2d")


@register
class MaxPool1d(Pool):
    ndim = 1
    example_inputs = ((4, 16),)
    type_name = "maxpool1d"
    summary = "1-D max pooling"

    imports = ("nn.MaxPool1d", "F.max_pool1d")


@register
class AvgPool1d(AveragePool):
    ndim = 1
    example_inputs = ((4, 16),)
    type_name = "avgpool1d"
    summary = "1-D average pooling"

    imports = ("nn.AvgPool1d", "F.avg_pool1d")


@register
class MaxPool3d(Pool):
    ndim = 3
    example_inputs = ((4, 4, 8, 8),)
    example = {"kernel": [1, 2, 2]}
    type_name = "maxpool3d"
    summary = "3-D max pooling (over depth x height x width)"

    imports = ("nn.MaxPool3d", "F.max_pool3d")


@register
class AvgPool3d(AveragePool):
    ndim = 3
    example_inputs = ((4, 4, 8, 8),)
    example = {"kernel": 2}
    type_name = "avgpool3d"
    summary = "3-D average pooling (over depth x height x width)"

    imports = ("nn.AvgPool3d", "F.avg_pool3d")


def binomial(taps: int) -> tuple[Fraction, ...]:
    """The binomial filter of ``taps`` taps, summing to 1: 1 2 1 / 4 for 3, 1 4 6 4 1 / 16 for 5."""
    return tuple(Fraction(math.comb(taps - 1, i), 2 ** (taps - 1)) for i in range(taps))


@register
class Blur(Layer):
    """A fixed low-pass filter, channel by channel: the binomial filter (1 2 1 times 1 2 1, over 16, for
    3 taps) and then a stride, which is anti-aliased downsampling (Zhang 2019, "Making Convolutional
    Networks Shift-Invariant Again"; timm's BlurPool2d). A depthwise convolution whose filter is fixed:
    no weights, and its multiply-adds counted as a convolution's."""

    type_name = "blur"
    summary = "2-D binomial blur, channel by channel (anti-aliased downsampling)"
    ndim: ClassVar[int] = 2  # the keys' numbers per axis
    fresh_output = True
    example = {"kernel": 3, "stride": 2, "padding": 1}
    imports = ("F.conv2d", "torch.conv2d")  # with a fixed binomial filter outside the state_dict
    kernel: tuple[int, ...] = key(per_axis(2), doc="taps per axis, at least 2: the binomial filter's size")
    stride: tuple[int, ...] = key(per_axis(1), 1, "step of the filter")
    padding: tuple[int, ...] = key(per_axis(0), 0, "zeros added on each side")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        """``F.conv2d(x, filt, stride=s, groups=C)`` where ``filt`` is a buffer outside the state_dict holding
        the binomial filter for every channel (timm's BlurPool2d, after its own ``F.pad``)."""
        weight = call.arg(1, "weight")
        if not isinstance(weight, Parameter) or weight.fixed is None or given(call.arg(2, "bias")):
            return None
        channels, kernel = call.inputs[0][0], weight.shape[2:]
        if weight.shape[:2] != (channels, 1) or call.arg(6, "groups", 1) != channels or len(kernel) != 2:
            return None
        if compact(_per_axis(call.arg(5, "dilation", 1), 2)) != 1 or min(kernel) < 2:
            return None
        taps = [float(a * b) for a in binomial(kernel[0]) for b in binomial(kernel[1])]
        if any(abs(v - taps[i % len(taps)]) > 1e-6 for i, v in enumerate(weight.fixed)):
            return None
        padding = call.arg(4, "padding", 0)
        if isinstance(padding, str):
            return None
        return {
            "kernel": compact(kernel),
            "stride": compact(_per_axis(call.arg(3, "stride", 1), 2)),
            "padding": compact(_per_axis(padding, 2)),
        }

    def axes(self, shape: Shape) -> list[Axis]:
        return [
            Axis(size, self.kernel[i], self.stride[i], self.padding[i], self.padding[i])
            for i, size in enumerate(shape[1:])
        ]

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (shape,) = inputs
        expect_rank(self, shape, (3,), "a channels x height x width input")
        axes = self.axes(shape)
        check_axes(self, axes)
        return (shape[0], *(a.out for a in axes))

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        macs = numel(out) * math.prod(self.kernel)
        return Cost(macs=macs, flops=2 * macs)

    def window(self, inputs: list[Shape]) -> Window:
        return Window(self.kernel, self.stride)

    def warnings(self, inputs: list[Shape], spatial_axes: tuple[int, ...] = ()) -> list[Finding]:
        return axis_warnings(self.axes(inputs[0]))

    def cells(self) -> Cells:
        return Cells("", _square(self.kernel), _pair(self.stride), _pair(self.padding))

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        rows = [" ".join(str(f.numerator * 2 ** (k - 1) // f.denominator) for f in binomial(k)) for k in self.kernel]
        scale = 2 ** (sum(self.kernel) - 2)
        return [
            *explain_axes(self.axes(inputs[0])),
            f"channels unchanged: {out[0]}, each filtered by ({rows[0]}) x ({rows[1]}) / {scale}, fixed",
        ]

    def explain_cost(self, inputs: list[Shape], out: Shape) -> list[str]:
        cost = self.cost(inputs, out)
        positions = "*".join(map(str, out))
        return [
            "params = 0 (the filter is fixed)",
            f"MACs = {positions} outputs * {math.prod(self.kernel)} taps = {cost.macs:,}",
            f"FLOPs = 2 * MACs = {cost.flops:,}",
        ]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        # a module without parameters around F.conv2d: only the tracers see the convolution
        macs = self.cost(inputs, out).macs
        return UNCOUNTED._replace(fvcore=macs, flopcounter=2 * macs)

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers.modules import BinomialBlur

        filters = [[float(f) for f in binomial(k)] for k in self.kernel]
        return BinomialBlur(inputs[0][0], filters, self.stride, self.padding)


def _widest_adaptive_window(size: int, out: int, exact_up_to: int = 10_000) -> int:
    """torch's adaptive window i spans [floor(i*I/O), ceil((i+1)*I/O)): the widest one.

    Beyond ``exact_up_to`` outputs the bound ceil(I/O) + 1 is used instead of a long scan.
    """
    if size % out == 0:
        return size // out
    if out > exact_up_to:
        return -(-size // out) + 1
    return max(-(-(i + 1) * size // out) - i * size // out for i in range(out))


class AveragePoolTo(Layer):
    """Average pooling to a fixed output size, whatever the input size."""

    ndim: ClassVar[int] = 2
    fresh_output = True

    @property
    def target(self) -> tuple[int, ...]:
        raise NotImplementedError

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (shape,) = inputs
        expect_rank(self, shape, (self.ndim + 1,), f"a channels x {' x '.join(AXIS_NAMES[self.ndim])} input")
        return (shape[0], *self.target)

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        return Cost(flops=numel(inputs[0]) + numel(out))

    def window(self, inputs: list[Shape]) -> Window | Global:
        if all(o == 1 for o in self.target):  # one output per channel: it sees everything
            return GLOBAL
        sizes = list(zip(inputs[0][1:], self.target))
        kernel = tuple(_widest_adaptive_window(size, o) for size, o in sizes)
        return Window(kernel, tuple(max(1, size // o) for size, o in sizes))

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        return [f"output size fixed by the layer: {fmt_shape(inputs[0])} -> {fmt_shape(out)}"]

    def explain_cost(self, inputs: list[Shape], out: Shape) -> list[str]:
        return [f"params = 0, MACs = 0, FLOPs = {numel(inputs[0]):,} adds + {numel(out):,} divides"]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        elements = numel(inputs[0])
        kernel = 1.0  # thop: the average kernel, prod(input / output) per axis
        for size, target in zip(inputs[0][1:], out[1:]):
            kernel *= size / target
        return PeerCounts(
            torchinfo=0,
            fvcore=elements if self.ndim == 2 else 0,  # it has a handle for aten::adaptive_avg_pool2d only
            ptflops=elements if functional else 2 * elements,
            thop=0 if functional else int((kernel + 1) * numel(out)),
            flopcounter=0,
        )

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from torch import nn

        pool: Callable[..., nn.Module] = {2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}[self.ndim]
        return pool(self.target)


@register
class AdaptiveAvgPool(AveragePoolTo):
    type_name = "adaptive_avgpool"
    summary = "average pooling to a fixed output size (torchvision's heads)"
    out: tuple[int, ...] = key(per_axis(1), 1, "output size: a number or one per axis")

    imports = ("nn.AdaptiveAvgPool2d", "F.adaptive_avg_pool2d")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        target = call.out[1:]
        return None if all(size == 1 for size in target) else {"out": compact(target)}  # 1: global_avgpool

    @property
    def target(self) -> tuple[int, ...]:
        return self.out

    def cells(self) -> Cells:
        return Cells(size=f"-> {_square(self.out)}")


@register
class GlobalAvgPool(AveragePoolTo):
    type_name = "global_avgpool"
    summary = "average of each channel over all positions (output C x 1 x 1)"

    imports = ("nn.AdaptiveAvgPool2d", "F.adaptive_avg_pool2d")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        return {} if all(size == 1 for size in call.out[1:]) else None

    @property
    def target(self) -> tuple[int, ...]:
        return (1,) * self.ndim

    def cells(self) -> Cells:
        return Cells(size="global")


@register
class AdaptiveAvgPool3d(AdaptiveAvgPool):
    ndim = 3
    example = {"out": [1, 2, 2]}
    example_inputs = ((4, 4, 8, 8),)
    type_name = "adaptive_avgpool3d"
    summary = "3-D average pooling to a fixed output size (depth x height x width)"

    imports = ("nn.AdaptiveAvgPool3d", "F.adaptive_avg_pool3d")


@register
class GlobalAvgPool3d(GlobalAvgPool):
    ndim = 3
    example_inputs = ((4, 4, 8, 8),)
    type_name = "global_avgpool3d"
    summary = "average of each channel over all frames and positions (output C x 1 x 1 x 1: video heads)"

    imports = ("nn.AdaptiveAvgPool3d", "F.adaptive_avg_pool3d")


@register
class Mean(Layer):
    """``x.mean([2, 3])``: the average of each channel with the spatial axes removed, not kept as 1 x 1."""

    type_name = "mean"
    summary = "average of each channel over all positions, spatial axes dropped: C x H x W -> C (ShuffleNet)"
    fresh_output = True
    example = {}  # no keys: it always averages every spatial axis

    imports = ("Tensor.mean", "torch.mean", "cnnscope.Mean")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        if call.module is not None:
            return {}
        dims = call.arg(1, "dim")
        rank = len(call.inputs[0]) + 1
        dims = [dims] if isinstance(dims, int) else list(dims or [])
        spatial = sorted(d % rank for d in dims) == list(range(2, rank))
        return {} if spatial and not call.arg(2, "keepdim", False) else None  # keepdim: a global_avgpool

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (shape,) = inputs
        expect_rank(self, shape, (2, 3, 4), "a channels x positions input")  # 4: a clip's, x.mean((2, 3, 4)) (S3D)
        return (shape[0],)

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        return Cost(flops=numel(inputs[0]) + numel(out))  # as global_avgpool: adds, then one divide per channel

    def window(self, inputs: list[Shape]) -> Global:
        return GLOBAL

    def cells(self) -> Cells:
        return Cells(size="global")

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        return [f"mean over {spatial_size(inputs[0]):,} positions for each of {out[0]} channels -> {fmt_shape(out)}"]

    def explain_cost(self, inputs: list[Shape], out: Shape) -> list[str]:
        return [f"params = 0, MACs = 0, FLOPs = {numel(inputs[0]):,} adds + {numel(out):,} divides"]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        # a tensor method, not a module: torchinfo and thop hook modules only; fvcore has no
        # aten::mean handle, ptflops patches no Tensor.mean, FlopCounterMode has no formula for it
        return UNCOUNTED

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers.modules import Mean as Module

        return Module()


class ConvTranspose(Layer):
    """Transposed convolution (the gradient of a convolution): each input pixel scatters a kernel.

    Output size per axis: O = (I - 1)*S - 2P + D*(K - 1) + output_padding + 1. MACs count
    every input element times every weight it meets: C_in * (out / groups) * prod(K) per
    input position, as torch's FlopCounterMode and fvcore do.
    """

    ndim: ClassVar[int] = 2
    draws_filters = False  # weights are in x out/groups x K: filters per input channel
    has_units = False
    fresh_output = True
    example = {"out": 3, "kernel": 2, "stride": 2}
    out: int = key(positive, doc="number of output channels")
    kernel: tuple[int, ...] = key(per_axis(1), doc="kernel size: a number or one per axis")
    stride: tuple[int, ...] = key(per_axis(1), 1, "upsampling step: outputs per input position")
    padding: tuple[int, ...] = key(per_axis(0), 0, "removed from each side of the output: D*(K-1) - P zeros")
    output_padding: tuple[int, ...] = key(per_axis(0), 0, "extra rows/columns at the end (below stride or dilation)")
    dilation: tuple[int, ...] = key(per_axis(1), 1, "spacing between kernel taps")
    groups: int = key(positive, 1, "channel groups")
    bias: bool = key(boolean, True, "add a learned bias per output channel")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        return {**conv_keys(call.module), "output_padding": compact(call.module.output_padding)}

    def sizes(self, shape: Shape) -> list[int]:
        return [
            (size - 1) * s - 2 * p + d * (k - 1) + op + 1
            for size, k, s, p, op, d in zip(
                shape[1:], self.kernel, self.stride, self.padding, self.output_padding, self.dilation
            )
        ]

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (shape,) = inputs
        expect_rank(self, shape, (self.ndim + 1,), f"a channels x {' x '.join(AXIS_NAMES[self.ndim])} input")
        if shape[0] % self.groups or self.out % self.groups:
            raise SpecError(
                f"groups = {self.groups} must divide both the {shape[0]} input channels and the {self.out} outputs"
            )
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op >= s and op >= d:  # torch's own check and message
                raise SpecError(
                    f"output padding must be smaller than either stride or dilation, but got output_padding = {op},"
                    f" stride = {s}, dilation = {d}"
                )
        sizes = self.sizes(shape)
        if any(o < 1 for o in sizes):
            raise SpecError(
                f"the output size {'x'.join(map(str, sizes))} is too small",
                hint="use less padding, a larger kernel or stride",
            )
        return (self.out, *sizes)

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        per_input = self.out // self.groups * math.prod(self.kernel)
        macs = numel(inputs[0]) * per_input
        weights = inputs[0][0] * per_input
        return Cost(weights=weights, biases=self.out if self.bias else 0, macs=macs, flops=2 * macs)

    def window(self, inputs: list[Shape]) -> Window:
        """The kernel spans the output grid, S times finer than the input's: an upper bound.

        Output u reads inputs ceil((u - K + 1)/S) .. floor(u/S): at most ceil(K/S) of them, but
        neighbouring outputs are not evenly spaced over the input (the pattern repeats every S
        outputs), so no (size, jump) pair is exact for what follows. The continuous interval
        (u - K + 1)/S .. u/S holds every output's inputs, and stays a bound through later layers.
        """
        kernel = tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation))
        return Window(kernel, tuple(Fraction(1, s) for s in self.stride), kernel_on_output=True)

    def cells(self) -> Cells:
        return Cells(str(self.out), _square(self.kernel), f"1/{_pair(self.stride)}", _pair(self.padding))

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        lines = []
        axes = list(zip(AXIS_NAMES[self.ndim], inputs[0][1:], self.kernel, self.stride, self.padding))
        for (name, size, k, s, p), op, d, o in zip(axes, self.output_padding, self.dilation, out[1:]):
            lines.append(
                f"{name}: O = (I - 1)*S - 2P + D*(K - 1) + output_padding + 1"
                f" = ({size} - 1)*{s} - 2*{p} + {d}*({k} - 1) + {op} + 1 = {o}"
            )
        if len(lines) == 2 and lines[0].split(": ", 1)[1] == lines[1].split(": ", 1)[1]:
            lines = ["height = width: " + lines[0].split(": ", 1)[1]]
        return lines

    def explain_cost(self, inputs: list[Shape], out: Shape) -> list[str]:
        cost = self.cost(inputs, out)
        taps = "*".join(map(str, self.kernel))
        per = f"{self.out}" if self.groups == 1 else f"{self.out}/{self.groups}"
        bias = f" + {self.out}" if self.bias else ""
        positions = "*".join(map(str, inputs[0]))
        return [
            f"params = {inputs[0][0]} * ({per}*{taps}){bias} = {cost.params:,}",
            f"MACs = {positions} inputs * {per}*{taps} taps each = {cost.macs:,}",
            f"FLOPs = 2 * MACs = {cost.flops:,}",
        ]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        cost = self.cost(inputs, out)
        thop = numel(out) * (inputs[0][0] // self.groups) * math.prod(self.kernel)  # per output, as a conv
        return multiply_add_counts(cost, out, functional, torchinfo=cost.params * spatial_size(out), thop=thop)

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from torch import nn

        # torch types sizes per class (tuple[int, int] in 2-D, tuple[int] in 1-D); ours hold ndim numbers
        conv: Callable[..., nn.Module] = nn.ConvTranspose2d if self.ndim == 2 else nn.ConvTranspose1d
        return conv(
            inputs[0][0],
            self.out,
            self.kernel,
            self.stride,
            self.padding,
            self.output_padding,
            self.groups,
            self.bias,
            self.dilation,
        )


@register
class ConvTranspose2d(ConvTranspose):
    type_name = "conv_transpose2d"
    summary = "2-D transposed convolution (up-convolution: U-Net, DCGAN)"

    imports = ("nn.ConvTranspose2d",)


@register
class ConvTranspose1d(ConvTranspose):
    ndim = 1
    type_name = "conv_transpose1d"
    summary = "1-D transposed convolution"
    example_inputs = ((4, 16),)

    imports = ("nn.ConvTranspose1d",)


TAPS = {"nearest": 1, "bilinear": 2, "bicubic": 4}  # input pixels each output reads, per axis


@register
class Upsample(Layer):
    """Resize by interpolation: ``O = floor(I * scale)`` per axis, a fixed ``size``, or the size of a second input.

    The second form is ``F.interpolate(x, size=reference.shape[2:])``: written with ``from = [layer,
    reference]`` (``"in"``: the model's or block's input), the output follows the reference at any
    input size, where a number would be frozen. The reference gives only its size, as crop's does.
    """

    type_name = "upsample"
    summary = "resize by a scale, to a size or to the size of a second input: nearest, bilinear or bicubic"
    fresh_output = True
    arity = (1, 2)
    value_inputs = 1  # the reference's values never reach the output
    scale: tuple[float, ...] | None = key(numbers(0), None, "factor per spatial axis (a number or one per axis)")
    size: tuple[int, ...] | None = key(
        numbers(1, whole=True), None, "output size instead of a scale (a number: every axis)"
    )
    mode: str = key(choice("nearest", "bilinear", "bicubic"), "nearest", "interpolation")
    align_corners: bool | None = key(boolean, None, "bilinear/bicubic: align the corner pixels (torch's flag)")
    example = {"scale": 2}

    imports = ("nn.Upsample", "F.interpolate", "cnnscope.ResizeLike")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        if call.module is not None:  # cnnscope's ResizeLike has neither size nor scale: its second input gives the size
            size, scale, mode, align = (
                getattr(call.module, a, None) for a in ("size", "scale_factor", "mode", "align_corners")
            )
        else:
            size, scale = call.arg(1, "size"), call.arg(2, "scale_factor")
            mode, align = call.arg(3, "mode", "nearest"), call.arg(4, "align_corners")
            if size == TENSOR:  # size=y.shape[-2:]: the size of the second input, at any input size
                size = None
        if mode not in TAPS:
            raise SpecError(f"interpolation mode '{mode}' has no spec form", hint=f"one of: {', '.join(TAPS)}")
        keys: dict[str, Any] = {}
        if size is not None:
            keys["size"] = compact(size)
        elif scale is not None:
            keys["scale"] = compact(scale)
        if mode != "nearest":
            keys["mode"] = mode
        if align is not None:
            keys["align_corners"] = bool(align)
        return keys

    def target(self, inputs: list[Shape]) -> tuple[int, ...]:
        shape = inputs[0]
        if len(inputs) == 2:
            if self.scale is not None or self.size is not None:
                raise SpecError(
                    "give 'scale', 'size' or a second input to take the size from, not two of them",
                    hint="remove scale and size to resize to the second input",
                )
            if len(inputs[1]) != len(shape):
                raise SpecError(
                    f"cannot resize {fmt_shape(shape)} to the size of {fmt_shape(inputs[1])}",
                    hint="the second input needs as many spatial axes as the first",
                )
            return inputs[1][1:]
        if (self.scale is None) == (self.size is None):
            raise SpecError(
                "upsample needs exactly one of 'scale' and 'size', or a second input to take the size from",
                hint='e.g. from = ["x", "skip"] resizes x to the size of skip',
            )
        if self.size is not None:
            return per_spatial_axis(self.size, shape, "size")
        assert self.scale is not None  # exactly one of the two is set (checked above)
        scales = per_spatial_axis(self.scale, shape, "scale")
        sizes = [i * s for i, s in zip(shape[1:], scales)]
        if any(size > MAX_ELEMENTS for size in sizes):  # checked as floats: the floor of an infinity is no number
            shown = _square(tuple(f"{s:g}" for s in scales))
            raise SpecError(f"scale {shown} makes the output larger than any network", hint="a smaller scale")
        return tuple(math.floor(size) for size in sizes)

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        shape = inputs[0]
        ranks = (3,) if self.mode != "nearest" else (2, 3)
        expect_rank(
            self, shape, ranks, f"a channels x {'height x width' if self.mode != 'nearest' else 'spatial'} input"
        )
        if self.align_corners is not None and self.mode == "nearest":
            raise SpecError("align_corners only applies to bilinear and bicubic", hint="remove align_corners")
        target = self.target(inputs)
        if any(o < 1 for o in target):
            raise SpecError(f"the output size {'x'.join(map(str, target))} is empty", hint="use a larger scale")
        return (shape[0], *target)

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        taps = TAPS[self.mode] ** (len(out) - 1)
        return Cost(flops=numel(out) * (0 if taps == 1 else 2 * taps - 1))

    def window(self, inputs: list[Shape]) -> Window:
        axes = len(inputs[0]) - 1
        strides = tuple(Fraction(i, o) for i, o in zip(inputs[0][1:], self.target(inputs)))
        return Window((TAPS[self.mode],) * axes, strides)

    def cells(self) -> Cells:
        if self.scale:
            how = f"x{_square(tuple(f'{s:g}' for s in self.scale))}"
        else:
            how = f"-> {_square(self.size)}" if self.size else "-> 2nd input"
        return Cells(size=how, stride=self.mode)

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        if len(inputs) == 2:
            size = "x".join(map(str, out[1:]))
            return [f"output size {size} taken from the second input ({fmt_shape(inputs[1])}), at any input size"]
        if self.size is not None:
            return [f"output size fixed by the layer: {fmt_shape(inputs[0])} -> {fmt_shape(out)}"]
        scales = per_spatial_axis(self.scale or (), inputs[0], "scale")
        parts = [f"floor({i} * {s:g}) = {o}" for i, s, o in zip(inputs[0][1:], scales, out[1:])]
        return [f"O = floor(I * scale): {'; '.join(parts)}"]

    def explain_cost(self, inputs: list[Shape], out: Shape) -> list[str]:
        taps = TAPS[self.mode] ** (len(out) - 1)
        if taps == 1:
            return ["params = 0, MACs = 0, FLOPs = 0 (nearest copies a pixel)"]
        flops = self.cost(inputs, out).flops
        return [
            f"params = 0, MACs = 0, FLOPs = {numel(out):,} outputs * ({taps} multiplies + {taps - 1} adds) = {flops:,}"
        ]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        # to a second input's size it is F.interpolate in any model (nn.Upsample takes one tensor): a function
        functional = functional or len(inputs) == 2
        elements = numel(out)
        thop_per_output = {"nearest": 1, "bilinear": 11, "bicubic": 259}[self.mode]
        # fvcore has handles for aten::upsample_nearest2d and upsample_bilinear2d only
        fvcore = {"nearest": elements, "bilinear": 4 * elements}.get(self.mode, 0) if len(out) == 3 else 0
        return PeerCounts(
            torchinfo=0,
            fvcore=fvcore,
            ptflops=elements if functional else 2 * elements,  # module hook, and the patched F.interpolate
            thop=0 if functional else elements * thop_per_output,
            flopcounter=0,
        )

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from torch import nn

        if len(inputs) == 2:
            from cnnscope.layers.modules import ResizeLike

            return ResizeLike(self.mode, self.align_corners)
        # torch reads a single number as every axis, but a 1-tuple as one axis: pass one per axis
        size = None if self.size is None else per_spatial_axis(self.size, inputs[0], "size")
        scale = None if self.scale is None else per_spatial_axis(self.scale, inputs[0], "scale")
        return nn.Upsample(size=size, scale_factor=scale, mode=self.mode, align_corners=self.align_corners)
