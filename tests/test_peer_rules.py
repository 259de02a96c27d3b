"""Every layer type's peer rule, checked live against the five peers, type by type.

Each registered type is built from its own ``example`` keys on its ``example_inputs``
and placed in a tiny model the way a real model holds it: as a module (``nn.ReLU`` in
AlexNet), and as a function its block calls (``F.relu`` in GoogLeNet, ``scale * x`` in
an SE block). The peers run on that model with batch size 1, and each total must equal
``layer.peer_counts(...)`` for that peer: the peer itself is the oracle, no number is
written here.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402
from torchvision.models.shufflenetv2 import channel_shuffle  # noqa: E402
from torchvision.ops import stochastic_depth  # noqa: E402

from cnnscope.layers import LAYER_TYPES, Layer, Shape  # noqa: E402
from cnnscope.layers.modules import ChannelLayerNorm  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.test_peers import RUNNERS  # noqa: E402

Case = tuple[Layer, list[Shape], Shape]


def build(name: str, config: dict[str, Any] | None = None, inputs: tuple[Shape, ...] | None = None) -> Case:
    """A layer of type ``name`` from its class's example (or the given keys and inputs), with its output shape."""
    cls = LAYER_TYPES[name]
    layer = cls.from_config(dict(cls.example if config is None else config))
    shapes = list(cls.example_inputs if inputs is None else inputs)
    return layer, shapes, layer.infer(shapes, tuple(f"input {i + 1}" for i in range(len(shapes))))


CASES = {name: build(name) for name in sorted(LAYER_TYPES)}
# the other branches of the rules, each as a model uses it
CASES |= {
    "conv2d without bias": build("conv2d", {"out": 6, "kernel": 3, "stride": 2, "bias": False}),
    "conv2d standardised": build("conv2d", {"out": 6, "kernel": 3, "stride": 2, "bias": False, "standardize": True}),
    "conv2d standardised with gains": build(  # NFNets' ScaledStdConv2d
        "conv2d", {"out": 6, "kernel": 3, "padding": 1, "standardize": True, "gain": True, "gamma": 1.7}
    ),
    "attention, causal and scaled": build("attention", {"causal": True, "scale": 0.25}),
    "pad alike on every side": build("pad", {"before": 1, "after": 1}),  # BiT's stem: nn.ConstantPad2d(1, 0.0)
    "linear on channels-last positions": build("linear", {"out": 5}, ((8, 8, 4),)),  # ConvNeXt's MLP
    "layernorm over the last axis": build("layernorm", {"over": "last"}, ((8, 8, 4),)),  # ConvNeXt's nn.LayerNorm
    "layernorm without affine": build("layernorm", {"over": "last", "affine": False}, ((8, 8, 4),)),
    "batchnorm without affine": build("batchnorm", {"affine": False}),
    "batchnorm on features": build("batchnorm", {}, ((12,),)),  # BatchNorm1d after a linear layer
    "groupnorm without affine": build("groupnorm", {"groups": 2, "affine": False}),
    "adaptive_avgpool to 3x3": build("adaptive_avgpool", {"out": 3}),
    "upsample bilinear": build("upsample", {"scale": 2, "mode": "bilinear"}),
    "upsample bicubic to a size": build("upsample", {"size": [12, 10], "mode": "bicubic"}),
    "upsample to one size for every axis": build("upsample", {"size": 12}),
    "upsample nearest on a signal": build("upsample", {"scale": 2}, ((4, 16),)),  # fvcore: 2-D handles only
    # F.interpolate(x, size=reference.shape[2:]), the reference fed as a second input
    "upsample to a reference": build("upsample", {"mode": "bilinear"}, ((4, 4, 4), (4, 8, 6))),
    "conv3d strided without bias": build("conv3d", {"out": 6, "kernel": [3, 1, 1], "stride": 2, "bias": False}),
    "batchnorm over 3-D maps": build("batchnorm", {}, ((4, 4, 8, 8),)),  # BatchNorm3d in video models
    "maxpool3d with padding": build("maxpool3d", {"kernel": 3, "stride": [1, 2, 2], "padding": 1}),
    "global_avgpool3d of a clip": build("global_avgpool3d", {}, ((4, 3, 5, 5),)),
    "mean of a clip": build("mean", {}, ((4, 3, 5, 5),)),  # S3D's torch.mean(x, dim=(2, 3, 4))
    "prelu per channel": build("prelu", {"per_channel": True}),
    "gelu tanh": build("gelu", {"approximate": "tanh"}),
    "softmax over classes": build("softmax", {}, ((10,),)),
    # crop's second form: cut to the size of a second input (U-Net's skips), fed two inputs
    "crop to a reference": build("crop", {}, ((4, 8, 8), (4, 6, 6))),
    "concat of three": build("concat", {}, ((4, 8, 8), (2, 8, 8), (3, 8, 8))),
    # ConvNeXt-V2's global response norm on a channels-last map: x.norm(p=2, dim=(1, 2), keepdim=True), + eps, ...
    "reduce l2 over a channels-last map": build("reduce", {"op": "l2", "axes": [0, 1], "keepdim": True}, ((8, 8, 4),)),
    "add a constant": build("add", {"by": 1e-6}, ((4, 8, 8),)),
    "div by a number": build("div", {"by": 6}, ((4, 8, 8),)),
    "scale of a channels-last map": build("scale", {"shape": [4]}, ((8, 8, 4),)),
    "shift for the whole tensor": build("shift", {"scalar": True}),  # timm's LearnableAffineBlock
    # split attention's x.reshape(B, radix, C // radix, H, W), H and W of x itself, or of another tensor
    "reshape to the input's axes": build("reshape", {"shape": [2, -1, "axis 1", "axis 2"]}, ((4, 8, 8),)),
    "reshape to a second input's axes": build("reshape", {"shape": [-1, "axis 1", "axis 2"]}, ((16, 4, 4), (3, 8, 2))),
    "pad on a signal": build("pad", {"after": 2}, ((4, 16),)),
}


class Model(nn.Module):
    """A model whose forward feeds ``call`` its inputs: the batch, then any further inputs.

    Further inputs are buffers (a second tensor needs no operation a peer might count).
    ``holds`` is the child that owns the layer's tensors.
    """

    def __init__(self, call: Callable[..., torch.Tensor], others: list[Shape], holds: nn.Module) -> None:
        super().__init__()
        self.holds = holds
        object.__setattr__(self, "call", call)  # a plain function, never a child
        for i, shape in enumerate(others):
            self.register_buffer(f"input{i + 2}", torch.randn(1, *shape))
        self.others = [f"input{i + 2}" for i in range(len(others))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.call(x, *(getattr(self, name) for name in self.others))


def as_module(layer: Layer, inputs: list[Shape]) -> nn.Module:
    """The layer's own torch module, held and called as a submodule."""
    module = layer.torch_module(inputs)
    if layer.type_name == "embedding":  # the peers feed floats: the model looks up token 0 everywhere
        return Model(lambda x: module(torch.zeros_like(x, dtype=torch.long)), [], module)
    return Model(module.__call__, inputs[1:], module)


class Block(nn.Module):
    """A block that owns the layer's parameters and buffers and calls the layer as a function.

    ``inner`` is an unused child: the blocks of real models that call functions also hold
    modules, and torchinfo counts a module's parameters only when it has no children.
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.inner = nn.Identity()
        for name, param in module.named_parameters(recurse=False):
            self.register_parameter(name, param)
        for name, buffer in module.named_buffers(recurse=False):
            self.register_buffer(name, buffer)


# How a block calls each type as a function: from the type's torch module ``m`` it takes
# the settings and the tensors (which the block owns), then the inputs. Written the way
# torch's modules and torchvision's models write it.
def weight(conv: nn.Module) -> torch.Tensor:
    """The weight a convolution calls F.conv2d with: standardised first where the layer says so (timm's StdConv2d)."""
    return conv.standardized_weight() if hasattr(conv, "standardized_weight") else conv.weight


FUNCTIONS: dict[str, Callable[..., torch.Tensor]] = {
    "conv2d": lambda m, x: F.conv2d(x, weight(m), m.bias, m.stride, m.padding, m.dilation, m.groups),
    "conv1d": lambda m, x: F.conv1d(x, weight(m), m.bias, m.stride, m.padding, m.dilation, m.groups),
    "conv_transpose2d": lambda m, x: F.conv_transpose2d(
        x, m.weight, m.bias, m.stride, m.padding, m.output_padding, m.groups, m.dilation
    ),
    "conv_transpose1d": lambda m, x: F.conv_transpose1d(
        x, m.weight, m.bias, m.stride, m.padding, m.output_padding, m.groups, m.dilation
    ),
    "conv3d": lambda m, x: F.conv3d(x, weight(m), m.bias, m.stride, m.padding, m.dilation, m.groups),
    "linear": lambda m, x: F.linear(x, m.weight, m.bias),
    "embedding": lambda m, x: F.embedding(torch.zeros_like(x, dtype=torch.long), m.weight).transpose(1, 2),
    "blur": lambda m, x: F.conv2d(x, m.filt, None, m.stride, m.padding, 1, m.channels),  # timm's BlurPool2d
    "maxpool": lambda m, x: F.max_pool2d(x, m.kernel_size, m.stride, m.padding, ceil_mode=m.ceil_mode),
    "maxpool1d": lambda m, x: F.max_pool1d(x, m.kernel_size, m.stride, m.padding, ceil_mode=m.ceil_mode),
    "avgpool": lambda m, x: F.avg_pool2d(x, m.kernel_size, m.stride, m.padding, m.ceil_mode),
    "avgpool1d": lambda m, x: F.avg_pool1d(x, m.kernel_size, m.stride, m.padding, m.ceil_mode),
    "maxpool3d": lambda m, x: F.max_pool3d(x, m.kernel_size, m.stride, m.padding, ceil_mode=m.ceil_mode),
    "avgpool3d": lambda m, x: F.avg_pool3d(x, m.kernel_size, m.stride, m.padding, m.ceil_mode),
    "adaptive_avgpool": lambda m, x: F.adaptive_avg_pool2d(x, m.output_size),
    "adaptive_avgpool3d": lambda m, x: F.adaptive_avg_pool3d(x, m.output_size),
    "global_avgpool3d": lambda m, x: F.adaptive_avg_pool3d(x, 1),  # torchvision's video heads hold the module
    "global_avgpool": lambda m, x: F.adaptive_avg_pool2d(x, 1),  # MobileNetV2's head
    "mean": lambda m, x: x.mean(list(range(2, x.ndim))),  # ShuffleNetV2's head: x.mean([2, 3]); S3D's (2, 3, 4)
    "upsample": lambda m, x, *reference: (
        F.interpolate(x, reference[0].shape[2:], None, m.mode, m.align_corners)  # torchvision's segmentation heads
        if reference
        else F.interpolate(x, m.size, m.scale_factor, m.mode, m.align_corners)
    ),
    "batchnorm": lambda m, x: F.batch_norm(
        x, m.running_mean, m.running_var, m.weight, m.bias, False, m.momentum, m.eps
    ),
    "layernorm": lambda m, x: (
        F.layer_norm(x.movedim(1, -1), m.normalized_shape, m.weight, m.bias, m.eps).movedim(-1, 1)
        if isinstance(m, ChannelLayerNorm)  # over the channels, as torchvision's LayerNorm2d does it
        else F.layer_norm(x, m.normalized_shape, m.weight, m.bias, m.eps)
    ),
    "groupnorm": lambda m, x: F.group_norm(x, m.num_groups, m.weight, m.bias, m.eps),
    "instancenorm": lambda m, x: F.instance_norm(x, None, None, m.weight, m.bias, True, 0.1, m.eps),
    "lrn": lambda m, x: F.local_response_norm(x, m.size, m.alpha, m.beta, m.k),
    "relu": lambda m, x: F.relu(x),  # GoogLeNet's BasicConv2d
    "relu6": lambda m, x: F.relu6(x),
    "hardswish": lambda m, x: F.hardswish(x),
    "hardsigmoid": lambda m, x: F.hardsigmoid(x),
    "silu": lambda m, x: F.silu(x),
    "gelu": lambda m, x: F.gelu(x, approximate=m.approximate),
    "leaky_relu": lambda m, x: F.leaky_relu(x, m.negative_slope),
    "prelu": lambda m, x: F.prelu(x, m.weight),
    "sigmoid": lambda m, x: torch.sigmoid(x),
    "tanh": lambda m, x: torch.tanh(x),
    "softmax": lambda m, x: F.softmax(x, dim=1),
    "log_softmax": lambda m, x: F.log_softmax(x, dim=1),  # torch's MNIST example's output
    "dropout": lambda m, x: F.dropout(x, m.p, training=False),
    "stochastic_depth": lambda m, x: stochastic_depth(x, m.p, m.mode, training=False),
    "scale": lambda m, x: m.learned() * x,  # ConvNeXt's CNBlock: `self.layer_scale * self.block(input)`
    "shift": lambda m, x: x + m.learned(),  # timm's LearnableAffineBlock: `self.scale * x + self.bias`
    "flatten": lambda m, x: torch.flatten(x, 1),
    "reshape": lambda m, x, *reference: m.forward(x, *reference),  # x.reshape(B, ...) with sizes of x.shape
    "max_over_time": lambda m, x: torch.amax(x.flatten(2), dim=-1),
    "permute": lambda m, x: x.permute(m.dims),
    "channel_shuffle": lambda m, x: channel_shuffle(x, m.groups),  # ShuffleNetV2's function
    "slice": lambda m, x: x[(slice(None),) * m.axis + (m.range,)],
    "crop": lambda m, x, *reference: m.forward(x, *reference),  # indexing only
    "concat": lambda m, *xs: torch.cat(xs, dim=m.axis + 1),
    "add": lambda m, x, *y: x + (y[0] if y else m.by),  # torchvision's residual blocks: `out += identity`
    "mul": lambda m, x, y: x * y,  # torchvision's SqueezeExcitation: `scale * input`
    "div": lambda m, x, *y: x / (y[0] if y else m.by),  # a response norm's `x_g / (x_g.mean(...) + eps)`
    "sub": lambda m, x, *y: x - (y[0] if y else m.by),  # PoolFormer's token mixer: `self.pool(x) - x`
    "pad": lambda m, x: F.pad(x, m.padding, value=m.value),  # HGNetV2's stem: `F.pad(x, (0, 1, 0, 1))`
    "reduce": lambda m, x: (  # timm's SqueezeExcite: x.mean((2, 3), keepdim=True); SKNet's sum over paths
        x.amax(m.dims, m.keepdim)
        if m.op == "max"
        else x.norm(p=2, dim=m.dims, keepdim=m.keepdim)  # timm's GlobalResponseNorm
        if m.op == "l2"
        else getattr(x, m.op)(m.dims, keepdim=m.keepdim)
    ),
    "stack": lambda m, *xs: torch.stack(xs, dim=m.axis + 1),  # SKNet's paths
    "attention": lambda m, q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=m.causal, scale=m.scale),
    "matmul": lambda m, a, b: a @ b,  # timm's GlobalContext: `x.reshape(B, C, H * W).unsqueeze(1) @ attn`
}


def as_function(layer: Layer, inputs: list[Shape]) -> nn.Module:
    """A block whose forward calls the layer's function, with the layer's tensors owned by the block."""
    module = layer.torch_module(inputs)
    function = FUNCTIONS[layer.type_name]
    return Model(lambda *xs: function(module, *xs), inputs[1:], Block(module))


def live_counts(model_for: Callable[[], nn.Module], inputs: list[Shape]) -> dict[str, int]:
    """What each peer reports for a fresh model (hooks and buffers of one peer never meet the next)."""
    x = torch.randn(1, *inputs[0])
    counts = {}
    for peer, run in RUNNERS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            counts[peer] = int(run(model_for().eval(), x))
    return counts


@pytest.mark.parametrize("case", CASES)
def test_the_module_form_counts_as_the_peers_count_it(case):
    layer, inputs, out = CASES[case]
    assert live_counts(lambda: as_module(layer, inputs), inputs) == layer.peer_counts(inputs, out, False)._asdict()


@pytest.mark.parametrize("case", CASES)
def test_the_functional_form_counts_as_the_peers_count_it(case):
    layer, inputs, out = CASES[case]
    assert live_counts(lambda: as_function(layer, inputs), inputs) == layer.peer_counts(inputs, out, True)._asdict()


# torchvision's own modules for some types, where cnnscope builds its own: they must count alike
TORCHVISION_MODULES: dict[str, Callable[[], nn.Module]] = {
    "layernorm": lambda: torchvision.models.convnext.LayerNorm2d(4),  # a subclass of nn.LayerNorm
    "permute": lambda: torchvision.ops.Permute([0, 2, 3, 1]),
    "stochastic_depth": lambda: torchvision.ops.StochasticDepth(0.1, "row"),
}


@pytest.mark.parametrize("case", TORCHVISION_MODULES)
def test_torchvisions_module_counts_as_the_module_form(case):
    layer, inputs, out = CASES[case]

    def model() -> nn.Module:
        module = TORCHVISION_MODULES[case]()
        return Model(module.__call__, [], module)

    assert live_counts(model, inputs) == layer.peer_counts(inputs, out, False)._asdict()


def test_every_type_says_how_torch_calls_it_as_a_function():
    assert set(FUNCTIONS) == set(LAYER_TYPES)


def test_the_conventions_give_every_types_peer_rule():
    text = (ROOT / "docs" / "conventions.md").read_text()
    rows = text.split("## The peer tools", 1)[1].splitlines()
    named = {word for row in rows if row.startswith("| ") for word in re.findall(r"[a-z_0-9]+", row.split("|")[1])}
    assert set(LAYER_TYPES) - named == set()
