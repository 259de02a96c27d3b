"""Layers that keep the shape: activations, normalisation, dropout, layer scale.

FLOP convention (see docs/conventions.md): 1 FLOP per element for a one-step activation
(relu, relu6, leaky_relu, prelu, tanh, sigmoid, hardsigmoid), 2 for a gated one
(silu, hardswish, gelu: a gate times x), 3 for softmax (exp, sum, divide), 2 for
inference batch norm (scale and shift), 2 * size + 3 for local response normalisation,
0 for dropout and stochastic depth (off at inference).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from cnnscope.errors import SpecError
from cnnscope.layers.base import (
    GLOBAL,
    UNCOUNTED,
    Cells,
    Cost,
    Global,
    Layer,
    Mixes,
    Parameter,
    PeerCounts,
    Shape,
    TorchCall,
    boolean,
    choice,
    expect_rank,
    fmt_shape,
    given,
    key,
    non_negative,
    number,
    numel,
    positive,
    positive_number,
    probability,
    register,
    shape_list,
    weight_argument,
)

if TYPE_CHECKING:
    from torch import nn


class Activation(Layer):
    """A function applied to every element; usable as a layer or as ``act = "..."``.

    ``torch_name`` is the ``torch.nn`` class that computes it. The peers' rules are
    stated per type: ``ptflops`` hooks some activation modules and patches some
    ``F.*`` functions, so a module whose forward calls a patched function counts twice.
    """

    flops_per_element: ClassVar[int] = 1
    torch_name: ClassVar[str] = ""

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        return Cost(flops=self.flops_per_element * numel(out))

    def explain_cost(self, inputs: list[Shape], out: Shape) -> list[str]:
        flops = self.cost(inputs, out).flops
        return [f"params = 0, MACs = 0, FLOPs = {numel(out):,} elements * {self.flops_per_element} = {flops:,}"]

    @property
    def label(self) -> str:
        """How the table's activation column names it."""
        return self.type_name

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from torch import nn

        module: nn.Module = getattr(nn, self.torch_name)()
        return module

    def ptflops_count(self, elements: int, functional: bool) -> int:
        """ptflops: how many times its hooks see each element (module hook, patched function)."""
        return 0

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED._replace(ptflops=self.ptflops_count(numel(out), functional))


@register
class ReLU(Activation):
    type_name = "relu"
    summary = "max(0, x)"
    torch_name = "ReLU"

    imports = ("nn.ReLU", "F.relu", "F.relu_", "torch.relu", "torch.relu_", "Tensor.relu", "Tensor.relu_")

    def ptflops_count(self, elements: int, functional: bool) -> int:
        return elements if functional else 2 * elements  # nn.ReLU hooked, and calls the patched F.relu


@register
class ReLU6(Activation):
    type_name = "relu6"
    summary = "min(max(0, x), 6) (MobileNet)"
    torch_name = "ReLU6"

    imports = ("nn.ReLU6", "F.relu6")

    def ptflops_count(self, elements: int, functional: bool) -> int:
        return elements  # nn.ReLU6 is hooked but calls F.hardtanh; F.relu6 is patched


@register
class Tanh(Activation):
    type_name = "tanh"
    summary = "hyperbolic tangent"
    torch_name = "Tanh"

    imports = ("nn.Tanh", "torch.tanh", "F.tanh", "Tensor.tanh")


@register
class Sigmoid(Activation):
    type_name = "sigmoid"
    summary = "1 / (1 + exp(-x))"
    torch_name = "Sigmoid"

    imports = ("nn.Sigmoid", "torch.sigmoid", "F.sigmoid", "Tensor.sigmoid")


@register
class Hardsigmoid(Activation):
    type_name = "hardsigmoid"
    summary = "relu6(x + 3) / 6, a cheap sigmoid (MobileNetV3's squeeze-and-excitation)"
    torch_name = "Hardsigmoid"

    imports = ("nn.Hardsigmoid", "F.hardsigmoid")


@register
class Hardswish(Activation):
    type_name = "hardswish"
    summary = "x * relu6(x + 3) / 6, a cheap swish (MobileNetV3)"
    torch_name = "Hardswish"
    flops_per_element = 2

    imports = ("nn.Hardswish", "F.hardswish")


@register
class SiLU(Activation):
    type_name = "silu"
    summary = "x * sigmoid(x), also called swish (EfficientNet)"
    torch_name = "SiLU"
    flops_per_element = 2

    imports = ("nn.SiLU", "F.silu")

    def ptflops_count(self, elements: int, functional: bool) -> int:
        return elements  # no module hook; F.silu is patched


@register
class GELU(Activation):
    type_name = "gelu"
    summary = "x * Phi(x), the Gaussian error linear unit (ConvNeXt)"
    flops_per_element = 2
    approximate: str = key(choice("none", "tanh"), "none", 'the exact erf form, or "tanh" for the approximation')

    imports = ("nn.GELU", "F.gelu")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        approximate = call.module.approximate if call.module is not None else call.arg(1, "approximate", "none")
        return {} if approximate == "none" else {"approximate": approximate}

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from torch import nn

        return nn.GELU(approximate=self.approximate)

    def ptflops_count(self, elements: int, functional: bool) -> int:
        return elements if functional else 2 * elements  # nn.GELU hooked, and calls the patched F.gelu


@register
class LeakyReLU(Activation):
    type_name = "leaky_relu"
    summary = "x if x > 0 else slope * x (YOLO uses slope 0.1)"
    slope: float = key(number, 0.01, "slope for negative inputs")

    imports = ("nn.LeakyReLU", "F.leaky_relu")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        slope = call.module.negative_slope if call.module is not None else call.arg(1, "negative_slope", 0.01)
        return {"slope": slope}

    @property
    def label(self) -> str:
        return f"leaky_relu({self.slope:g})"

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from torch import nn

        return nn.LeakyReLU(self.slope)

    def ptflops_count(self, elements: int, functional: bool) -> int:
        return 0 if functional else elements  # the module is hooked; F.leaky_relu is not patched


@register
class PReLU(Activation):
    type_name = "prelu"
    summary = "x if x > 0 else a * x with a learned slope a (one per channel, or one in all)"
    per_channel: bool = key(boolean, False, "one slope per channel instead of one for all")
    init: float = key(number, 0.25, "initial slope")

    imports = ("nn.PReLU",)

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        slopes = call.module.num_parameters
        if slopes not in (1, call.out[0]):
            raise SpecError(f"PReLU with {slopes} slopes on {call.out[0]} channels has no spec form")
        return {"per_channel": True} if slopes > 1 else {}

    def slopes(self, shape: Shape) -> int:
        return shape[0] if self.per_channel else 1

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        return Cost(weights=self.slopes(out), flops=numel(out))

    def explain_cost(self, inputs: list[Shape], out: Shape) -> list[str]:
        what = f"{out[0]} channels, one slope each" if self.per_channel else "one slope for all channels"
        return [f"params = {self.slopes(out)} ({what}), MACs = 0, FLOPs = {numel(out):,} elements * 1"]

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from torch import nn

        return nn.PReLU(self.slopes(inputs[0]), self.init)

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        elements = numel(out)
        return PeerCounts(
            torchinfo=0 if functional else self.slopes(out),
            fvcore=0,
            ptflops=elements if functional else 2 * elements,  # nn.PReLU hooked, and calls the patched F.prelu
            thop=0 if functional else elements,
            flopcounter=0,
        )


@register
class Softmax(Activation):
    type_name = "softmax"
    summary = "exp(x_i) / sum_j exp(x_j) over the channel axis (or another axis)"
    flops_per_element = 3
    axis: int = key(non_negative, 0, "the axis per sample whose values sum to one (0 = channels)")

    imports = ("nn.Softmax", "F.softmax", "torch.softmax", "Tensor.softmax")

    @property
    def gives_probabilities(self) -> bool:  # type: ignore[override]  # over the classes, as a classifier's output
        return self.axis == 0

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        dim = call.module.dim if call.module is not None else call.arg(1, "dim")
        rank = len(call.out) + 1
        if dim is None or dim % rank == 0:
            raise SpecError("softmax over the batch axis (or an implicit one) has no spec form")
        return {"axis": dim % rank - 1} if dim % rank != 1 else {}

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        if self.axis >= len(inputs[0]):
            raise SpecError(f"axis {self.axis} does not exist in an input of shape {fmt_shape(inputs[0])}")
        return inputs[0]

    def window(self, inputs: list[Shape]) -> Mixes:
        return Mixes(self.axis, inputs[0][self.axis])

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from torch import nn

        return nn.Softmax(dim=self.axis + 1)

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        classes = out[self.axis]
        return PeerCounts(
            torchinfo=0,
            fvcore=0,
            ptflops=numel(out),  # F.softmax is patched
            thop=0 if functional else (numel(out) // classes) * (3 * classes - 1),  # exp, add, divide per row
            flopcounter=0,
        )


@register
class LogSoftmax(Softmax):
    """The log of a softmax, as one numerically stable step (the output of torch's MNIST example)."""

    type_name = "log_softmax"
    summary = "log(softmax(x)) over the channel axis (or another axis): log-probabilities"
    flops_per_element = 4

    imports = ("nn.LogSoftmax", "F.log_softmax", "torch.log_softmax", "Tensor.log_softmax")

    gives_probabilities = False  # type: ignore[assignment]  # log-probabilities: a softmax gives them back

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from torch import nn

        return nn.LogSoftmax(dim=self.axis + 1)

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED  # no peer has a handler for log_softmax (ptflops patches F.softmax alone)


def activation_types() -> dict[str, type[Activation]]:
    """The registered types usable as a fused ``act``."""
    from cnnscope.layers.base import LAYER_TYPES

    return {name: cls for name, cls in LAYER_TYPES.items() if issubclass(cls, Activation)}


def _affine_factor(affine: bool) -> int:
    """fvcore, ptflops and thop count a normalisation twice when it has a learned scale and shift."""
    return 2 if affine else 1


@register
class BatchNorm(Layer):
    type_name = "batchnorm"
    summary = "batch normalisation over channels (axis 0)"
    fresh_output = True
    eps: float = key(positive_number, 1e-5, "added to the variance")
    momentum: float = key(positive_number, 0.1, "running-statistics momentum")
    affine: bool = key(boolean, True, "learn a scale and shift per channel")

    imports = ("nn.BatchNorm1d", "nn.BatchNorm2d", "nn.BatchNorm3d", "F.batch_norm")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        norm = call.module
        if norm is None:  # F.batch_norm(x, mean, var, weight, bias, training, momentum, eps): timm's BatchNormAct2d
            weight_argument(call, 1, "running_mean")
            if call.arg(5, "training", False):
                raise SpecError("batch norm that uses the batch's statistics in eval mode has no spec form")
            momentum = call.arg(6, "momentum", 0.1)  # unused in eval: any positive number reads the same
            return {
                "eps": call.arg(7, "eps", 1e-5),
                "momentum": momentum if isinstance(momentum, float) and momentum > 0 else 0.1,
                "affine": given(call.arg(3, "weight")),
            }
        if not norm.track_running_stats or norm.momentum is None:
            raise SpecError("batch norm without running statistics (or with a cumulative average) has no spec form")
        return {"eps": norm.eps, "momentum": norm.momentum, "affine": norm.affine}

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (shape,) = inputs
        expect_rank(self, shape, (1, 2, 3, 4), "channels, channels x length, x height x width or x depth")
        return shape

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        channels = out[0] if self.affine else 0
        return Cost(weights=channels, biases=channels, flops=2 * numel(out))

    def explain_cost(self, inputs: list[Shape], out: Shape) -> list[str]:
        cost = self.cost(inputs, out)
        params = f"{out[0]} scales + {out[0]} shifts = {cost.params:,}" if self.affine else "0"
        return [
            f"params = {params} (running mean and variance are buffers, not parameters)",
            f"MACs = 0, FLOPs = {numel(out):,} elements * 2 (scale, shift) = {cost.flops:,}",
        ]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        elements, factor = numel(inputs[0]), _affine_factor(self.affine)
        if functional:  # F.batch_norm: fvcore traces aten::batch_norm; no tool that hooks modules sees it
            return UNCOUNTED._replace(fvcore=elements * factor)
        return PeerCounts(
            torchinfo=self.cost(inputs, out).params,
            fvcore=elements * factor,
            ptflops=elements * factor,
            thop=2 * elements * factor,
            flopcounter=0,
        )

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from torch import nn

        norm = {1: nn.BatchNorm1d, 2: nn.BatchNorm1d, 3: nn.BatchNorm2d, 4: nn.BatchNorm3d}[len(inputs[0])]
        return norm(inputs[0][0], eps=self.eps, momentum=self.momentum, affine=self.affine)


@register
class LayerNorm(Layer):
    """Normalises each position over one axis: the channels of a C x H x W map, or the last axis."""

    type_name = "layernorm"
    summary = "layer normalisation over the channels of each position (ConvNeXt) or over the last axis"
    fresh_output = True
    over: str = key(choice("channels", "last"), "last", 'normalise over "channels" (axis 0) or the "last" axis')
    eps: float = key(positive_number, 1e-5, "added to the variance")
    affine: bool = key(boolean, True, "learn a scale and shift per normalised element")
    example = {"over": "channels"}

    imports = ("nn.LayerNorm", "torchvision.LayerNorm2d", "cnnscope.ChannelLayerNorm", "F.layer_norm")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        norm = call.module
        if norm is None:  # F.layer_norm(x, normalized_shape, weight, bias, eps) normalises the last axes
            weight, bias = call.arg(2, "weight"), call.arg(3, "bias")
            if len(tuple(call.arg(1, "normalized_shape"))) != 1 or given(weight) != given(bias):
                raise SpecError("layer norm over several axes, or with a scale but no shift, has no spec form")
            if given(weight):
                weight_argument(call, 2, "weight")
            return {"over": "last", "eps": call.arg(4, "eps", 1e-5), "affine": given(weight)}
        if len(norm.normalized_shape) != 1 or (norm.elementwise_affine and norm.bias is None):
            raise SpecError("layer norm over several axes, or without a bias, has no spec form")
        over = "last" if call.name == "nn.LayerNorm" else "channels"
        return {"over": over, "eps": norm.eps, "affine": norm.elementwise_affine}

    def axis(self, shape: Shape) -> int:
        return 0 if self.over == "channels" else len(shape) - 1

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        size = out[self.axis(out)] if self.affine else 0
        # per element: subtract the mean, divide by the deviation, then scale and shift
        return Cost(weights=size, biases=size, flops=(4 if self.affine else 2) * numel(out))

    def window(self, inputs: list[Shape]) -> Mixes:
        axis = self.axis(inputs[0])
        return Mixes(axis, inputs[0][axis])

    def cells(self) -> Cells:
        return Cells(size=self.over)

    def explain_cost(self, inputs: list[Shape], out: Shape) -> list[str]:
        cost, size = self.cost(inputs, out), out[self.axis(out)]
        params = f"{size} scales + {size} shifts = {cost.params:,}" if self.affine else "0"
        per = "4 (centre, normalise, scale, shift)" if self.affine else "2 (centre, normalise)"
        return [f"params = {params}", f"MACs = 0, FLOPs = {numel(out):,} elements * {per} = {cost.flops:,}"]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        elements, factor = numel(inputs[0]), _affine_factor(self.affine)
        # over the channels torchvision uses its own LayerNorm2d (a subclass of nn.LayerNorm, as
        # cnnscope's ChannelLayerNorm is), which thop's and ptflops's exact-type lookups miss
        # (ptflops: `type(module) in MODULES_MAPPING`); F.layer_norm is patched by neither
        hooked = not functional and self.over == "last"
        return PeerCounts(
            torchinfo=0 if functional else self.cost(inputs, out).params,
            fvcore=5 * elements if self.affine else 4 * elements,
            # ptflops doubles when `hasattr(module, "affine") and module.affine`: nn.LayerNorm has none
            ptflops=elements if hooked else 0,
            thop=2 * elements * factor if hooked else 0,
            flopcounter=0,
        )

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from torch import nn

        from cnnscope.layers.modules import ChannelLayerNorm

        size = inputs[0][self.axis(inputs[0])]
        norm = ChannelLayerNorm if self.over == "channels" else nn.LayerNorm
        return norm(size, eps=self.eps, elementwise_affine=self.affine)


# group norm and instance norm: statistics per sample over every position, an optional scale and shift per channel
def _per_sample_norm_cost(affine: bool, out: Shape) -> Cost:
    channels = out[0] if affine else 0
    return Cost(weights=channels, biases=channels, flops=(4 if affine else 2) * numel(out))


def _per_sample_norm_explained(affine: bool, out: Shape) -> list[str]:
    cost = _per_sample_norm_cost(affine, out)
    params = f"{out[0]} scales + {out[0]} shifts = {cost.params:,}" if affine else "0"
    return [f"params = {params}", f"MACs = 0, FLOPs = {numel(out):,} elements * {cost.flops // numel(out)}"]


def _per_sample_norm_peer_counts(affine: bool, shape: Shape, functional: bool, thop_per_element: int) -> PeerCounts:
    """thop counts nn.InstanceNorm (2 per element), not nn.GroupNorm; called as functions, only fvcore (by the aten op)
    counts them."""
    elements = numel(shape)
    return PeerCounts(
        torchinfo=0 if functional else (2 * shape[0] if affine else 0),
        fvcore=5 * elements if affine else 4 * elements,
        ptflops=0 if functional else elements * _affine_factor(affine),
        thop=0 if functional else thop_per_element * elements,
        flopcounter=0,
    )


@register
class GroupNorm(Layer):
    type_name = "groupnorm"
    summary = "normalisation over groups of channels and all positions, per sample"
    fresh_output = True
    groups: int = key(positive, doc="number of channel groups (must divide the channels)")
    eps: float = key(positive_number, 1e-5, "added to the variance")
    affine: bool = key(boolean, True, "learn a scale and shift per channel")
    example = {"groups": 2}

    imports = ("nn.GroupNorm", "F.group_norm")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        norm = call.module
        if norm is None:  # F.group_norm(x, num_groups, weight, bias, eps)
            weight = call.arg(2, "weight")
            if given(weight) != given(call.arg(3, "bias")):
                raise SpecError("group norm with a scale but no shift has no spec form")
            if given(weight):
                weight_argument(call, 2, "weight")
            return {"groups": call.arg(1, "num_groups"), "eps": call.arg(4, "eps", 1e-5), "affine": given(weight)}
        return {"groups": norm.num_groups, "eps": norm.eps, "affine": norm.affine}

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (shape,) = inputs
        expect_rank(self, shape, (2, 3, 4), "a channels x positions input")
        if shape[0] % self.groups:
            raise SpecError(f"groups = {self.groups} must divide the {shape[0]} channels")
        if numel(shape) == self.groups:  # torch refuses it (at batch size 1): one value normalises to 0
            raise SpecError(
                f"each of the {self.groups} groups holds a single value", hint="use fewer groups or a larger input"
            )
        return shape

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        return _per_sample_norm_cost(self.affine, out)

    def window(self, inputs: list[Shape]) -> Global:
        return GLOBAL  # the statistics of each group span every position

    def cells(self) -> Cells:
        return Cells(size=f"{self.groups} groups")

    def explain_cost(self, inputs: list[Shape], out: Shape) -> list[str]:
        return _per_sample_norm_explained(self.affine, out)

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return _per_sample_norm_peer_counts(self.affine, inputs[0], functional, thop_per_element=0)

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from torch import nn

        return nn.GroupNorm(self.groups, inputs[0][0], eps=self.eps, affine=self.affine)


@register
class InstanceNorm(Layer):
    """Normalisation of each channel over its positions, per sample (Ulyanov et al. 2016: style transfer,
    CycleGAN's generators); a group norm with a group per channel, without running statistics."""

    type_name = "instancenorm"
    summary = "normalisation of each channel over its positions, per sample (style transfer, CycleGAN)"
    fresh_output = True
    eps: float = key(positive_number, 1e-5, "added to the variance")
    affine: bool = key(boolean, False, "learn a scale and shift per channel (torch's default: no)")

    imports = ("nn.InstanceNorm1d", "nn.InstanceNorm2d", "nn.InstanceNorm3d", "F.instance_norm")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        norm = call.module
        if norm is not None:
            if norm.track_running_stats:
                raise SpecError("instance norm with running statistics (track_running_stats) has no spec form")
            return {"eps": norm.eps, "affine": norm.affine}
        # F.instance_norm(x, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)
        if given(call.arg(1, "running_mean")) or given(call.arg(2, "running_var")):
            raise SpecError("instance norm with running statistics has no spec form")
        weight = call.arg(3, "weight")
        if given(weight) != given(call.arg(4, "bias")):
            raise SpecError("instance norm with a scale but no shift has no spec form")
        if given(weight):
            weight_argument(call, 3, "weight")
        return {"eps": call.arg(7, "eps", 1e-5), "affine": given(weight)}

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (shape,) = inputs
        expect_rank(self, shape, (2, 3, 4), "a channels x positions input")
        if numel(shape[1:]) == 1:  # torch refuses it: one value normalises to 0
            raise SpecError(f"each channel of {fmt_shape(shape)} holds a single value", hint="use a larger input")
        return shape

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        return _per_sample_norm_cost(self.affine, out)

    def window(self, inputs: list[Shape]) -> Global:
        return GLOBAL  # the statistics of each channel span every position

    def explain_cost(self, inputs: list[Shape], out: Shape) -> list[str]:
        return _per_sample_norm_explained(self.affine, out)

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return _per_sample_norm_peer_counts(self.affine, inputs[0], functional, thop_per_element=2)

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from torch import nn

        norm = {2: nn.InstanceNorm1d, 3: nn.InstanceNorm2d, 4: nn.InstanceNorm3d}[len(inputs[0])]
        return norm(inputs[0][0], eps=self.eps, affine=self.affine)


@register
class LocalResponseNorm(Layer):
    type_name = "lrn"
    summary = "local response normalisation across neighbouring channels (AlexNet, GoogLeNet)"
    fresh_output = True
    size: int = key(positive, 5, "number of neighbouring channels (n)")
    alpha: float = key(number, 1e-4, "scale (alpha)")
    beta: float = key(number, 0.75, "exponent (beta)")
    k: float = key(number, 2.0, "additive constant (k)")

    imports = ("nn.LocalResponseNorm",)

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        norm = call.module
        return {"size": norm.size, "alpha": norm.alpha, "beta": norm.beta, "k": norm.k}

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (shape,) = inputs
        expect_rank(self, shape, (2, 3, 4), "a channels x spatial input")
        return shape

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        return Cost(flops=(2 * self.size + 3) * numel(out))

    def cells(self) -> Cells:
        return Cells(size=str(self.size))

    def explain_cost(self, inputs: list[Shape], out: Shape) -> list[str]:
        flops = self.cost(inputs, out).flops
        return [f"params = 0, MACs = 0, FLOPs = {numel(out):,} elements * (2*{self.size} + 3) = {flops:,}"]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        channels, *spatial = inputs[0]
        # ptflops: F.local_response_norm averages channel-padded squares with a patched avg_pool,
        # and its `input.mul(input)` and `div.mul(alpha).add(k)` are patched Tensor.mul/add: 3 per element
        return UNCOUNTED._replace(ptflops=(channels + self.size - 1) * numel(spatial) + 3 * numel(inputs[0]))

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from torch import nn

        return nn.LocalResponseNorm(self.size, self.alpha, self.beta, self.k)


@register
class Dropout(Layer):
    type_name = "dropout"
    summary = "zeroes elements (or whole channels) with probability p while training; identity at inference"
    p: float = key(probability, 0.5, "drop probability")
    channels: bool = key(boolean, False, "drop whole channels (nn.Dropout2d) instead of single elements")

    imports = ("nn.Dropout", "F.dropout", "nn.Dropout1d", "nn.Dropout2d", "nn.Dropout3d", "F.dropout2d", "F.dropout3d")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        p = call.module.p if call.module is not None else call.arg(1, "p", 0.5)
        whole = call.name[-2:] in ("1d", "2d", "3d")  # nn.Dropout2d, F.dropout2d: a channel at a time
        return {"p": p} | ({"channels": True} if whole else {})

    def cells(self) -> Cells:
        return Cells(units=f"p={self.p:g}" + (" channels" if self.channels else ""))

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from torch import nn

        if self.channels and len(inputs[0]) in (2, 3, 4):  # C x L, C x H x W, C x T x H x W
            whole: nn.Module = getattr(nn, f"Dropout{len(inputs[0]) - 1}d")(self.p)
            return whole
        return nn.Dropout(self.p)


@register
class StochasticDepth(Layer):
    """Drops a residual branch while training (Huang et al. 2016); identity at inference."""

    type_name = "stochastic_depth"
    summary = "drops the whole branch, per sample (row) or per batch, while training; identity at inference"
    p: float = key(probability, doc="drop probability")
    mode: str = key(choice("row", "batch"), "row", '"row": per sample, "batch": the whole batch at once')
    example = {"p": 0.1}

    imports = ("torchvision.StochasticDepth", "torchvision.stochastic_depth", "cnnscope.StochasticDepth")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        if call.module is not None:
            return {"p": call.module.p, "mode": call.module.mode}
        return {"p": call.arg(1, "p"), "mode": call.arg(2, "mode")}

    def cells(self) -> Cells:
        return Cells(units=f"p={self.p:.4g}")

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers.modules import StochasticDepth as Module

        return Module(self.p, self.mode)


def _stored_shape(value: Any, cls: type[Layer]) -> tuple[int, ...] | None:
    """A shape, or [] for a single number kept as a tensor of no axes (timm's ``skipinit_gain``)."""
    return None if value is None else () if value == [] else shape_list(value, cls)


def _sizes(value: Any, cls: type[Layer]) -> tuple[int, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise ValueError("expected a list of sizes such as [64] or [64, 1, 1]")
    return tuple(positive(v, cls) for v in value)


def _learned_keys(shape: Shape, stored: Shape, out: Shape) -> dict[str, Any] | None:
    """The keys of a learned term of ``shape`` (as it broadcasts against a batch of samples of shape ``out``,
    a batch axis of 1 in front or not) stored as ``stored``, where it broadcasts without changing ``out``."""
    if len(shape) == len(out) + 1 and shape[0] == 1:
        shape = shape[1:]  # the batch axis: timm's (1, C, 1, 1) or (1, 1, 1, C)
    if len(shape) > len(out) or _broadcast_into(shape, out) is None:
        return None
    if all(d == 1 for d in shape):
        keys: dict[str, Any] = {"scalar": True}
        default: Shape = (1,)
    else:
        shape = shape[next(i for i, d in enumerate(shape) if d != 1) :]  # leading 1s broadcast alike
        per_channel = shape == (out[0], *[1] * (len(out) - 1))
        keys, default = ({} if per_channel else {"shape": list(shape)}), shape
    return keys | ({"stored": list(stored)} if tuple(stored) != default else {})


def _broadcast_into(shape: Shape, out: Shape) -> Shape | None:
    """``shape`` padded with leading 1s to the rank of ``out``, if it broadcasts into ``out`` unchanged."""
    padded = (1,) * (len(out) - len(shape)) + tuple(shape)
    return padded if len(padded) == len(out) and all(d in (1, o) for d, o in zip(padded, out)) else None


class LearnedTerm(Layer):
    """One learned value per channel (or one in all, or of any shape that broadcasts over a sample),
    combined with every element: :class:`Scale` multiplies by it, :class:`Shift` adds it."""

    fresh_output = True
    named_after_parameter = True
    init: float = key(number, 0.0, "initial value of every learned value")
    scalar: bool = key(boolean, False, "one value for the whole tensor instead of one per channel")
    shape: tuple[int, ...] | None = key(
        _sizes,
        None,
        "the values' shape as they broadcast over a sample, where not one per channel (C x 1 x 1):"
        " [64] is one per channel of a channels-last H x W x 64 map",
    )
    stored: tuple[int, ...] | None = key(
        _stored_shape,
        None,
        "the parameter's shape in checkpoints, where not that shape (timm's ConvNeXt: [C]; NFNet's scalar: [])",
    )
    operation: ClassVar[str] = ""  # what each element gets: "multiplies", "adds"
    torch_name: ClassVar[str] = ""  # its module in cnnscope.layers.modules

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        """``x * gamma`` or ``x + beta`` with one learned parameter that broadcasts into ``x`` (ConvNeXt's layer
        scale, timm's ``gamma.reshape(1, -1, 1, 1)``, a learned scalar), or the module itself."""
        if call.module is not None:
            stored = tuple(getattr(call.module, call.module.parameter).shape)
            return _learned_keys(call.module.broadcast, stored, call.out)
        if len(call.parameters) != 1 or len(call.inputs) != 1 or call.inputs[0] != call.out:
            return None
        if call.kwargs.get("alpha", 1) != 1:
            return None  # torch.add(x, beta, alpha=2)
        _, shape = call.parameters[0]
        whole = next(
            (
                p.shape if p.stored is None else p.stored
                for p in (*call.args, *call.kwargs.values())
                if isinstance(p, Parameter)
            ),
            shape,
        )  # as the model stores it, before any reshape
        return _learned_keys(shape, whole, call.out)

    def broadcast(self, shape: Shape) -> Shape:
        """The values' shape against one sample of ``shape``, as many axes."""
        if self.scalar:
            return (1,) * len(shape)
        if self.shape is not None:
            return (1,) * (len(shape) - len(self.shape)) + self.shape
        return (shape[0], *[1] * (len(shape) - 1))

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (shape,) = inputs
        if self.scalar and self.shape is not None:
            raise SpecError("give either scalar = true or a shape, not both")
        if self.shape is not None and _broadcast_into(self.shape, shape) is None:
            raise SpecError(
                f"values of shape {fmt_shape(self.shape)} do not broadcast over {fmt_shape(shape)}",
                hint="aligned at the last axis, each size must equal the input's or be 1",
            )
        return shape

    def count(self, out: Shape) -> int:
        return numel(self.broadcast(out))

    def explain_cost(self, inputs: list[Shape], out: Shape) -> list[str]:
        if self.scalar:
            what = "one for the whole tensor"
        elif self.shape is not None:
            what = f"{fmt_shape(self.shape)}, broadcast over {fmt_shape(out)}"
        else:
            what = "one per channel"
        return [f"params = {self.count(out)} ({what}), MACs = 0, FLOPs = {numel(out):,} {self.operation}"]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        # torchinfo counts the parameters of leaf modules only: cnnscope's ChannelScale module
        # (its `weight`) is one, while torchvision keeps the scale as a bare parameter of the
        # block (`self.layer_scale * x`, a function for the peers), which no peer counts
        return UNCOUNTED._replace(torchinfo=0 if functional else self.count(out))

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers import modules

        stored = self.stored if self.stored is not None else (1,) if self.scalar else self.shape
        module: nn.Module = getattr(modules, self.torch_name)(self.broadcast(inputs[0]), self.init, stored)
        return module


@register
class Scale(LearnedTerm):
    """A learned multiplier per channel (ConvNeXt's layer scale, Touvron et al. 2021), or one for all."""

    type_name = "scale"
    summary = "a learned multiplier per channel (ConvNeXt's layer scale), one in all, or of any shape"
    init: float = key(number, 1e-6, "initial value of every multiplier")
    operation = "multiplies"
    torch_name = "ChannelScale"

    imports = ("operator.mul", "torch.mul", "Tensor.mul", "Tensor.mul_", "cnnscope.ChannelScale")

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        return Cost(weights=self.count(out), flops=numel(out))


@register
class Shift(LearnedTerm):
    """A learned additive term per channel, or one for all (timm's ``LearnableAffineBlock``: ``scale * x + bias``)."""

    type_name = "shift"
    summary = "a learned additive term per channel, one in all, or of any shape (timm's learnable affine block)"
    init: float = key(number, 0.0, "initial value of every additive term")
    operation = "adds"
    torch_name = "ChannelShift"

    imports = ("operator.add", "torch.add", "Tensor.add", "cnnscope.ChannelShift")

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        return Cost(biases=self.count(out), flops=numel(out))
