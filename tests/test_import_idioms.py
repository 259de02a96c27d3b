"""`cnnscope import` reads a call by what it computes, not by how it is spelled: subclasses, functional
calls on a module's own weights, and the idioms of modern blocks (timm's), each checked against the
torch model it came from (state_dict loaded strictly, same outputs, torch's parameter count)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnscope.analysis import analyze
from cnnscope.errors import SpecError
from cnnscope.importer import ImportFailure, check_import, from_module, read_module
from cnnscope.layers import LAYER_TYPES, Global


def imported(model: nn.Module, shape: tuple[int, ...]):
    """The spec of ``model``, after proving it computes the model's function."""
    torch.manual_seed(0)
    model.eval()
    for module in model.modules():  # running statistics that are not the identity
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    spec = from_module(model, shape)
    assert check_import(model, spec) < 1e-5
    assert analyze(spec).total.params == sum(p.numel() for p in model.parameters())
    return spec


def types(spec) -> dict[str, str]:
    return {node.name: node.layer.type_name for node in spec.nodes}


class PlainConv(nn.Conv2d):
    pass


class NamedConv(nn.Conv2d):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(cin, cout, 3, padding=1, bias=False)

    def extra_repr(self) -> str:
        return "named"


def test_a_subclass_that_keeps_torchs_forward_is_that_module() -> None:
    model = nn.Sequential(PlainConv(3, 4, 3), NamedConv(4, 6), nn.ReLU())
    assert types(imported(model, (3, 10, 10))) == {"0": "conv2d", "1": "conv2d", "2": "relu"}


class BatchNormAct(nn.BatchNorm2d):
    """timm's BatchNormAct2d: the norm called as a function on its own buffers, then its activation."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels)
        self.drop = nn.Identity()
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.1, self.eps)
        return self.act(self.drop(x))


class LayerNorm2d(nn.LayerNorm):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps).permute(0, 3, 1, 2)


class OwnWeights(nn.Module):
    """A conv and a linear layer written with F.conv2d / F.linear on the module's own parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(5, 3, 3, 3))
        self.bias = nn.Parameter(torch.randn(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, stride=2, padding=1)


class Head(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(7, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight)


def test_functions_on_a_modules_own_weights_are_that_modules_layer() -> None:
    model = nn.Sequential(OwnWeights(), BatchNormAct(5), LayerNorm2d(5), nn.GroupNorm(1, 5))
    model.add_module("pool", nn.AdaptiveAvgPool2d(1))
    model.add_module("flat", nn.Flatten())
    model.add_module("head", Head())
    spec = imported(model, (3, 8, 8))
    found = types(spec)
    assert found["0"] == "conv2d" and found["1"] == "batchnorm" and found["2"] == "layernorm"
    assert found["head"] == "linear" and found["3"] == "groupnorm"
    bn = next(n for n in spec.nodes if n.name == "1")
    assert bn.act is not None and bn.act.type_name == "relu"  # the norm with its act, one layer
    assert "1.act" not in found


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, 2, 1)
        self.expand = nn.Conv2d(2, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.expand(F.relu(self.reduce(x.mean((2, 3), keepdim=True)))).sigmoid()
        return x * gate.expand_as(x)


class Res2NetSplit(nn.Module):
    """Res2Net's and SKNet's idioms: split()[i], stack, sum over the new axis, a transpose."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(2, 2, 3, padding=1) for _ in range(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pieces = x.split(2, 1)
        paths = [conv(pieces[i]) for i, conv in enumerate(self.convs)]  # as Res2Net indexes spx[i]
        stacked = torch.stack(paths, dim=1)  # N x 2 x 2 x H x W
        weights = stacked.transpose(1, 2).softmax(dim=2).transpose(1, 2)
        return (stacked * weights).sum(dim=1).amax((2, 3), keepdim=True) + paths[0]


class LayerScale(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.rand(channels))  # stored as (C,), as timm's ConvNeXt does
        self.alpha = nn.Parameter(torch.rand(1))  # a learned scalar

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(self.gamma.reshape(1, -1, 1, 1)) * self.alpha * 0.5


def test_the_idioms_of_modern_blocks() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), SqueezeExcite(4), Res2NetSplit(), nn.Conv2d(2, 4, 1), LayerScale(4))
    spec = imported(model, (3, 9, 9))
    kinds = [*types(spec).values(), *(n.act.type_name for n in spec.nodes if n.act is not None)]
    assert {"reduce", "mul", "slice", "stack", "permute", "softmax", "scale", "add"} <= set(kinds)
    softmax = next(
        n.act or n.layer for n in spec.nodes if "softmax" in (n.layer.type_name, getattr(n.act, "type_name", ""))
    )
    assert softmax.axis == 1  # over the paths' axis, after the transpose
    scales = [n.layer for n in spec.nodes if n.layer.type_name == "scale"]
    assert {s.scalar for s in scales} == {True, False} and any(s.stored == (4,) for s in scales)
    assert any(n.layer.type_name == "mul" and n.layer.by == 0.5 for n in spec.nodes)
    # the spec is right at another input size too: nothing was frozen into a number
    assert check_import(model, spec.with_input((3, 13, 11))) < 1e-5


class WithAux(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, 4, 3)
        self.aux = nn.Linear(4, 10)  # inception_v3's AuxLogits: used in training only

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.body(x)
        if self.training:
            return self.aux(x.mean((2, 3)))
        return x


def test_the_check_against_the_reading_run_sees_a_spec_that_computes_something_else() -> None:
    """The command checks the spec against the run its reading made, not a second run: that run's
    output, not the spec's own, is what the spec must give."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    spec, run = read_module(model, (3, 8, 8))
    assert run.input.shape == (1, 3, 8, 8) and run.output.shape == (1, 4, 6, 6)
    assert torch.equal(run.output, model(run.input))
    assert check_import(model, spec, against=run) == 0
    with torch.no_grad():
        model[0].bias.add_(1.0)  # the weights the spec is given now no longer made the run's output
    assert check_import(model, spec, against=run) > 0.01
    unlike = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Tanh()).eval()  # the same keys and shapes, another function
    assert check_import(unlike, spec) > 0.01


def test_a_module_eval_mode_does_not_use_is_named_and_left_out() -> None:
    model = WithAux().eval()
    spec, run = read_module(model, (3, 8, 8))
    assert run.unreached == {"aux": 50}
    assert "Left out, not used in eval mode: aux (50 parameters)" in (spec.source or "")
    assert check_import(model, spec) < 1e-5
    assert check_import(model, spec, against=run) < 1e-5  # the reading's own run, as the command checks
    assert analyze(spec).total.params == sum(p.numel() for p in model.body.parameters())


class ManyGaps(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3)
        self.b = nn.Conv2d(4, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.erf(F.pad(self.a(x), (-1, 1, 1, 1)))  # a negative amount: a crop
        return torch.erf(self.b(x)) + torch.logsumexp(x, 1, keepdim=True)[..., 1:9, 1:7]


def test_one_run_names_every_gap_with_counts_and_places() -> None:
    with pytest.raises(ImportFailure) as failure:
        from_module(ManyGaps(), (3, 10, 10))
    message = str(failure.value)
    assert (
        "F.pad: a negative amount (a crop) has no spec form x1" in message
        and "torch.erf has no layer type x2" in message
    )
    assert "torch.logsumexp" in message and "\n" not in message


def test_timm_models_import_through_the_cli(tmp_path: Path, capfd) -> None:
    """`cnnscope import timm:NAME`: timm's blocks (BatchNormAct2d, SE, ...) read; a wrong name is one line."""
    pytest.importorskip("timm")
    from cnnscope.cli.entry import run

    out = tmp_path / "mnv3.toml"
    assert run(["import", "timm:mobilenetv3_small_050", "-i", "3x64x64", "-o", str(out)]) == 0
    assert "outputs equal to the original's" in " ".join(capfd.readouterr().out.split()) and out.is_file()
    assert run(["import", "timm:mobilenetv3_smal_050"]) == 2
    assert "did you mean 'mobilenetv3_small_050'" in capfd.readouterr().err


def test_fvcore_counts_what_the_written_spec_says_it_counts() -> None:
    """`--count-as fvcore` on the imported spec equals fvcore's FlopCountAnalysis of the timm model."""
    timm = pytest.importorskip("timm")
    from fvcore.nn import FlopCountAnalysis

    from cnnscope.peers import count_as

    model = timm.create_model("mobilenetv3_small_050", pretrained=False).eval()  # BatchNormAct2d, SE, hardswish
    spec = imported(model, (3, 64, 64))
    flops = FlopCountAnalysis(model, torch.zeros(1, 3, 64, 64))
    flops.unsupported_ops_warnings(False)
    flops.uncalled_modules_warnings(False)
    assert count_as(analyze(spec), "fvcore").total == flops.total()


def test_tensorflow_same_padding_reads_as_same_at_any_size() -> None:
    """timm's tf_ models pad as TensorFlow's SAME, worked out from each input's size (Conv2dSame)."""
    pytest.importorskip("timm")
    from timm.layers import Conv2dSame

    model = nn.Sequential(Conv2dSame(3, 4, 3, stride=2), nn.ReLU(), Conv2dSame(4, 4, 4, stride=2, bias=False))
    spec = imported(model, (3, 9, 9))
    assert [n.layer.padding for n in spec.nodes if n.layer.type_name == "conv2d"] == ["same", "same"]
    assert analyze(spec).output_shape == (4, 3, 3)  # ceil(9 / 2) = 5, ceil(5 / 2) = 3
    for size in ((3, 10, 10), (3, 7, 12)):  # the zeros follow the input: nothing frozen
        assert check_import(model, spec.with_input(size)) < 1e-5


class Segmenter(nn.Module):
    """torchvision's segmentation models: a dict of outputs, each resized to the input's size."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU())
        self.classifier = nn.Conv2d(4, 5, 1)
        self.aux_classifier = nn.Conv2d(4, 5, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        size = x.shape[-2:]
        features = self.backbone(x)
        out = F.interpolate(self.classifier(features), size=size, mode="bilinear", align_corners=False)
        return {"out": out, "aux": F.interpolate(self.aux_classifier(features), size=size, mode="bilinear")}


def test_several_outputs_and_sizes_taken_from_a_tensor() -> None:
    model = Segmenter()
    spec = imported(model, (3, 16, 16))
    assert 'outputs = {"out" = ' in (spec.source or "")
    assert [o.key for o in analyze(spec).outputs] == ["out", "aux"]
    resizes = [n for n in spec.nodes if n.layer.type_name == "upsample"]
    assert all(n.inputs[1] == "input" and n.layer.size is None for n in resizes)  # the input's size, not 16
    assert check_import(model, spec.with_input((3, 21, 13))) < 1e-5


def test_a_video_network_imports() -> None:
    model = nn.Sequential(
        nn.Conv3d(3, 4, (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(4), nn.ReLU(), nn.Conv3d(4, 4, (3, 1, 1)),
        nn.MaxPool3d(2), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(4, 3),
    )  # fmt: skip
    spec = imported(model, (3, 4, 10, 10))
    assert [n.layer.type_name for n in spec.nodes][:2] == ["conv3d", "batchnorm"]


class InputAttribute(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.input = nn.Conv2d(3, 4, 3)  # a module path no spec layer may have

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.input(x)


def test_a_module_path_no_spec_can_hold_is_refused_before_writing() -> None:
    with pytest.raises(ImportFailure, match="the module path 'input' is no spec layer name"):
        from_module(InputAttribute(), (3, 8, 8))
    with pytest.raises(ImportFailure, match="returns a tensor that no layer computes"):
        from_module(nn.Identity(), (3, 8, 8))


class ResponseNorm(nn.Module):
    """ConvNeXt-V2's global response norm on a channels-last map, as timm 1.0.31 writes it."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(channels))
        self.bias = nn.Parameter(torch.randn(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_g = x.norm(p=2, dim=(1, 2), keepdim=True)
        x_n = x_g / (x_g.mean(dim=-1, keepdim=True) + 1e-6)
        return x + torch.addcmul(self.bias.view(1, 1, 1, -1), self.weight.view(1, 1, 1, -1), x * x_n)


class ChannelsLast(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.grn = ResponseNorm(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.grn(self.conv(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def test_a_global_response_norm_is_read_as_what_it_computes() -> None:
    """An L2 norm over axes, a mean, + eps, a broadcasting division, addcmul as t + a * b, the residual."""
    model = ChannelsLast()
    spec = imported(model, (3, 9, 9))
    layers = {node.name: node.layer for node in spec.nodes}
    norm = layers["grn.reduce"]
    assert (norm.op, norm.axes, norm.keepdim) == ("l2", (0, 1), True)
    assert {"div", "mul", "add"} <= {layer.type_name for layer in layers.values()}
    assert any(layer.type_name == "add" and layer.by == 1e-6 for layer in layers.values())
    weight, bias = layers["grn.weight"], layers["grn.bias"]  # named after their parameters: the keys load
    assert (weight.type_name, weight.shape, bias.type_name, bias.shape) == ("scale", (4,), "shift", (4,))
    report = analyze(spec).by_name
    # by hand: 7 x 7 x 4 squares and adds, 4 square roots; the norm sees every position (GLOBAL)
    assert report["grn.reduce"].output_shape == (1, 1, 4) and report["grn.reduce"].cost.flops == 2 * 196 + 4
    assert isinstance(report["grn.reduce"].receptive, Global)
    assert (report["grn.weight"].cost.weights, report["grn.bias"].cost.biases) == (4, 4)
    assert check_import(model, spec.with_input((3, 12, 7))) < 1e-5


class SplitAttention(nn.Module):
    """ResNeSt's split attention: reshapes to sizes read from the input one axis at a time (timm's SplitAttn)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Conv2d(4, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        B, RC, H, W = x.shape
        x = x.reshape((B, 2, RC // 2, H, W))
        attention = self.fc(x.sum(dim=1).mean((2, 3), keepdim=True)).view(B, 2, -1).softmax(dim=1)
        return (x * attention.reshape((B, 2, RC // 2, 1, 1))).sum(dim=1)


class Unflatten(nn.Module):
    """Positions flattened into tokens, then put back with the height and width of another tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        B, C, H, W = y.shape
        tokens = y.reshape(B, C, H * W).transpose(1, 2).softmax(dim=-1)  # B x HW x C
        return tokens.transpose(1, 2).reshape(B, C, H, W) + y


def test_sizes_read_from_a_tensor_stay_relative_to_it() -> None:
    """``B, C, H, W = x.shape`` then ``x.reshape(B, 2, C // 2, H, W)``: H and W are the input's axes, C // 2
    half of axis 0 and a size computed from sizes otherwise (H * W) the -1, so the spec is right at any size;
    from another tensor, that tensor is the reshape's second input."""
    model = SplitAttention()
    spec = imported(model, (3, 8, 8))
    shapes = [node.layer.shape for node in spec.nodes if node.layer.type_name == "reshape"]
    assert shapes[0] == (2, "axis 0 / 2", "axis 1", "axis 2") and (2, "axis 0 / 2", 1, 1) in shapes
    assert check_import(model, spec.with_input((3, 13, 7))) < 1e-5
    model = Unflatten()
    spec = imported(model, (3, 8, 6))
    tokens, back = [node for node in spec.nodes if node.layer.type_name == "reshape"]
    assert tokens.layer.shape == ("axis 0", -1)  # H * W, computed from sizes: the -1
    assert back.layer.shape == ("axis 0", "axis 1", "axis 2") and back.inputs[1] == "conv"
    assert check_import(model, spec.with_input((3, 11, 9))) < 1e-5


class ResizeToPartner(nn.Module):
    """A coarse map resized to a finer one's size, the size spelled three ways (GhostNetV2 writes the first)."""

    def __init__(self, spelling: int) -> None:
        super().__init__()
        self.spelling = spelling
        self.fine = nn.Conv2d(3, 4, 3, padding=1)
        self.coarse = nn.Conv2d(4, 4, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fine = self.fine(x)
        coarse = self.coarse(fine)
        if self.spelling == 0:
            size = (fine.shape[2], fine.shape[3])
        elif self.spelling == 1:
            h, w = fine.shape[-2:]
            size = (h, w)
        else:
            size = fine.size()[2:]
        return fine + F.interpolate(coarse, size=size, mode="bilinear", align_corners=False)


class SqueezeByView(nn.Module):
    """The classic SE squeeze: ``b, c, _, _ = x.size(); y = pool(x).view(b, c)``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        b, c, _, _ = x.size()
        return x * self.fc(self.pool(x).view(b, c)).sigmoid().view(b, c, 1, 1)


class BareInPlace(nn.Module):
    """In-place calls whose results are thrown away: what they change is what the next call reads."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.act = nn.LeakyReLU(0.1, inplace=True)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        F.relu(y, inplace=True)
        y = self.conv2(y)
        F.leaky_relu(y, 0.2, True)  # inplace by position
        self.act(y)
        return y


def test_in_place_calls_whose_results_are_unused() -> None:
    """(Each activation was read, then the next call read the tensor before it: outputs differed by 0.9.)"""
    model = BareInPlace()
    spec = imported(model, (3, 6, 6))  # outputs equal: each activation is where the model applies it
    assert sum(node.act is not None or node.layer.type_name == "leaky_relu" for node in spec.nodes) == 3
    assert check_import(model, spec.with_input((3, 9, 7))) < 1e-5


class MnistExample(nn.Module):
    """torch's MNIST example (channel dropout, log-probabilities) with a PoolFormer token mixer (``pool(x) - x``)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)
        self.dropout = nn.Dropout2d(0.25)
        self.fc = nn.Linear(4 * 6 * 6, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv(x))
        x = self.dropout(self.pool(x) - x) - 0.5
        return F.log_softmax(self.fc(torch.flatten(x, 1)), dim=1)


def test_subtraction_channel_dropout_and_log_probabilities() -> None:
    spec = imported(MnistExample(), (1, 8, 8))
    assert [(node.layer.type_name, node.layer.by) for node in spec.nodes if node.layer.type_name == "sub"] == [
        ("sub", None),
        ("sub", 0.5),
    ]
    (dropout,) = [node for node in spec.nodes if node.layer.type_name == "dropout"]
    assert dropout.layer.channels and spec.nodes[-1].act is not None and spec.nodes[-1].act.type_name == "log_softmax"


class KeepsSevenBySeven(nn.Module):
    """timm's VGG head (ConvMlp): pools up to 7x7 only where the map is smaller, a branch on a size."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=4)
        self.fc = nn.Conv2d(4, 2, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        assert x.dim() == 4 and len(x.shape) == 4, tuple(x.shape)  # `assert` and len() of a size too
        if x.shape[-2] < 7 or x.shape[-1] < 7:
            x = F.adaptive_avg_pool2d(x, (max(7, x.shape[-2]), max(7, x.shape[-1])))
        return self.fc(x)


def test_a_branch_on_a_size_is_taken_as_it_falls_and_said() -> None:
    """torch.fx cannot follow an `if` on a proxy; for one input size the branch is known, so it is taken as the
    model takes it, and the spec's header names the line."""
    model = KeepsSevenBySeven()
    spec, _ = read_module(model, (3, 16, 16))  # a 4x4 map: pooled up to 7x7
    assert check_import(model, spec) < 1e-5
    assert "adaptive_avgpool" in [node.layer.type_name for node in spec.nodes]
    assert "Its forward branches on sizes at test_import_idioms.py:" in (spec.source or "")
    spec, _ = read_module(model, (3, 32, 32))  # an 8x8 map: the other path, no pooling
    assert "adaptive_avgpool" not in [node.layer.type_name for node in spec.nodes]
    assert check_import(model, spec) < 1e-5


class Borders(nn.Module):
    """Each of F.pad's modes, as modules and as calls (TResNet's and DenseNet-blur's anti-aliasing pad by reflecting)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.mirror = nn.ReflectionPad2d((1, 2, 0, 1))
        self.edge = nn.ReplicationPad2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.edge(self.mirror(self.conv(x)))
        return F.pad(x, (1, 1, 2, 0), mode="circular") + F.pad(x, (1, 1, 2, 0), mode="reflect")


def test_every_mode_of_f_pad_imports() -> None:
    model = Borders()
    spec = imported(model, (3, 8, 8))
    modes = [node.layer.mode for node in spec.nodes if node.layer.type_name == "pad"]
    assert modes == ["reflect", "replicate", "circular", "reflect"]
    assert check_import(model, spec.with_input((3, 11, 7))) < 1e-5


def test_a_convolution_that_pads_with_the_input_itself() -> None:
    """nn.Conv2d(padding_mode="reflect") and instance norm, as image-to-image nets (CycleGAN's ResNet blocks,
    style transfer) write them."""
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), nn.InstanceNorm2d(4),
        nn.Conv2d(4, 4, 3, padding=2, padding_mode="circular"), nn.InstanceNorm2d(4, affine=True),
        nn.Conv2d(4, 2, 3, padding=(1, 0), padding_mode="replicate"),
    )  # fmt: skip
    for norm in (model[3].weight, model[3].bias):
        nn.init.uniform_(norm, 0.5, 1.5)  # not the identity
    spec = imported(model, (3, 6, 6))
    assert [node.layer.type_name for node in spec.nodes][1::2] == ["instancenorm", "instancenorm"]
    assert [node.layer.affine for node in spec.nodes[1::2]] == [False, True]
    assert [node.layer.padding_mode for node in spec.nodes[::2]] == ["reflect", "circular", "replicate"]
    assert check_import(model, spec.with_input((3, 9, 5))) < 1e-5
    with pytest.raises(SpecError, match=r"reflect padding of 3 on an axis of 3: at most 2 \(1x3x3\)"):
        LAYER_TYPES["conv2d"].from_config({"out": 2, "kernel": 3, "padding": 3, "padding_mode": "reflect"}).infer(
            [(1, 3, 3)]
        )


def test_a_resize_to_another_maps_size_follows_it_however_the_size_is_spelt() -> None:
    """``size=(y.shape[2], y.shape[3])`` and ``h, w = y.shape[-2:]`` are y's size, as ``y.size()[2:]`` is:
    written as a resize to y, so the spec holds at sizes other than the one it was read at."""
    for spelling in range(3):
        model = ResizeToPartner(spelling)
        spec = imported(model, (3, 8, 8))
        (resize,) = [node for node in spec.nodes if node.layer.type_name == "upsample"]
        assert resize.inputs == ("coarse", "fine") and resize.layer.size is None, spelling
        assert check_import(model, spec.with_input((3, 13, 10))) < 1e-5
    model = SqueezeByView()
    spec = imported(model, (3, 6, 6))  # view(b, c) of a 8x1x1 map: a reshape to the conv's channel count
    assert check_import(model, spec.with_input((3, 9, 5))) < 1e-5


class AffineStem(nn.Module):
    """HGNetV2's stem: ``F.pad(x, (0, 1, 0, 1))``, then a learnable affine block (``scale * x + bias``)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 2)
        self.scale = nn.Parameter(torch.tensor([1.5]))
        self.bias = nn.Parameter(torch.tensor([0.25]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * F.relu(self.conv(F.pad(x, (0, 1, 0, 1)))) + self.bias


def test_a_learnable_affine_block_and_a_one_sided_pad() -> None:
    model = AffineStem()
    spec = imported(model, (3, 8, 6))
    layers = {node.name: node.layer for node in spec.nodes}
    pad = next(layer for layer in layers.values() if layer.type_name == "pad")
    assert (pad.before, pad.after) == ((0,), (1,))
    assert layers["scale"].scalar and layers["bias"].scalar and layers["bias"].type_name == "shift"
    assert analyze(spec).output_shape == (4, 8, 6)  # 8 + 1 - 2 + 1: the pad makes up for the 2x2 kernel
    assert check_import(model, spec.with_input((3, 5, 9))) < 1e-5


def test_timms_own_blocks_import() -> None:
    """The same idioms in timm's own code: its GlobalResponseNorm (channels first), SplitAttn, LearnableAffineBlock."""
    pytest.importorskip("timm")
    from timm.layers import SplitAttn
    from timm.layers.grn import GlobalResponseNorm
    from timm.models.hgnet import LearnableAffineBlock

    model = nn.Sequential(nn.Conv2d(3, 8, 1), GlobalResponseNorm(8, channels_last=False), SplitAttn(8, 8, radix=2))
    model.append(LearnableAffineBlock(1.5, 0.25))
    for module in model.modules():
        if isinstance(module, GlobalResponseNorm):  # timm starts it at zero: the identity
            nn.init.normal_(module.weight), nn.init.normal_(module.bias)
    spec = imported(model, (3, 8, 8))
    assert check_import(model, spec.with_input((3, 10, 13))) < 1e-5


class NormFree(nn.Module):
    """An NFNet as timm writes it: weight-standardised convs (the TensorFlow-SAME form pads with Python
    control flow on the size, which torch.fx cannot trace), a zero border, multiplies by Python numbers
    and a learned gain of no axes applied in place, whose result the forward never uses."""

    def __init__(self) -> None:
        super().__init__()
        from timm.layers import ScaledStdConv2d, ScaledStdConv2dSame, StdConv2d

        self.stem = StdConv2d(3, 8, 3, stride=2, eps=1e-8)
        self.pad = nn.ZeroPad2d((0, 1, 0, 1))  # one column at the right, one row below
        self.conv1 = ScaledStdConv2d(8, 8, 1, gamma=1.7, eps=1e-5)
        self.conv2 = ScaledStdConv2dSame(8, 8, 3, stride=2, gamma=1.7)
        self.down = ScaledStdConv2dSame(8, 8, 1, stride=2)
        self.skipinit_gain = nn.Parameter(torch.tensor(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.pad(self.stem(x))).mul_(1.7) * 0.9  # timm's GammaAct, then the block's beta
        shortcut = self.down(out)
        out = 2.0 * self.conv2(F.relu(self.conv1(out)))
        out.mul_(self.skipinit_gain)
        return out * 0.2 + shortcut


def test_weight_standardised_convolutions_and_the_arithmetic_of_normalizer_free_blocks() -> None:
    pytest.importorskip("timm")
    from fvcore.nn import FlopCountAnalysis

    from cnnscope.peers import count_as

    model = NormFree()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("gain"):
                parameter.uniform_(0.5, 2.0)
    spec = imported(model, (3, 17, 16))
    convs = {n.name: n.layer for n in spec.nodes if n.layer.type_name == "conv2d"}
    assert all(conv.standardize for conv in convs.values())
    assert (convs["stem"].eps, convs["stem"].gain, convs["conv1"].eps, convs["conv1"].gamma) == (1e-8, False, 1e-5, 1.7)
    assert convs["conv2"].padding == convs["down"].padding == "same" and convs["down"].gamma == 1.0
    nodes = {n.name: n.layer for n in spec.nodes}
    assert (nodes["pad"].before, nodes["pad"].after) == ((0,), (1,)) and nodes["skipinit_gain"].stored == ()
    assert sorted(n.layer.by for n in spec.nodes if n.layer.type_name == "mul") == [0.2, 0.9, 1.7, 2.0]
    assert check_import(model, spec.with_input((3, 20, 13))) < 1e-5  # the SAME padding follows the input
    flops = FlopCountAnalysis(model, torch.zeros(1, 3, 17, 16))
    flops.unsupported_ops_warnings(False)
    assert count_as(analyze(spec), "fvcore").total == flops.total()  # the standardisation counted as fvcore does


def test_a_standardised_conv_computes_what_timms_does_bit_for_bit() -> None:
    """The module a spec builds loads the state_dict of timm's StdConv2d, ScaledStdConv2d and
    ScaledStdConv2dSame and gives exactly their outputs."""
    timm_layers = pytest.importorskip("timm.layers")
    from cnnscope.layers import LAYER_TYPES

    cases = [
        (timm_layers.StdConv2d(5, 4, 3, stride=2, eps=1e-8), {"stride": 2, "padding": 1, "bias": False, "eps": 1e-8}),
        (timm_layers.ScaledStdConv2d(5, 4, 1, gamma=1.7, eps=1e-5), {"kernel": 1, "gain": True, "gamma": 1.7}),
        (timm_layers.ScaledStdConv2dSame(5, 4, 3, stride=2), {"stride": 2, "padding": "same", "gain": True}),
    ]
    for theirs, keys in cases:
        keys = {"out": 4, "kernel": 3, "standardize": True, "eps": theirs.eps} | keys
        ours = LAYER_TYPES["conv2d"].from_config(keys).torch_module([(5, 11, 10)])
        with torch.no_grad():
            for parameter in theirs.parameters():
                parameter.uniform_(-1, 2)
        ours.load_state_dict(theirs.state_dict(), strict=True)
        x = torch.randn(2, 5, 11, 10)
        with torch.no_grad():
            assert torch.equal(ours(x), theirs(x))


def test_timms_blur_pool_reads_as_a_binomial_blur_at_any_size() -> None:
    """timm's BlurPool2d (anti-aliased downsampling: its reflect padding, then a fixed binomial filter in a
    buffer outside the state_dict) is a pad and a ``blur``: no weights, the same outputs at a second size."""
    timm_layers = pytest.importorskip("timm.layers")
    for taps in (3, 5):
        model = nn.Sequential(
            nn.Conv2d(3, 4, 3), timm_layers.BlurPool2d(4, filt_size=taps, stride=2), nn.Conv2d(4, 2, 1)
        )
        spec = imported(model, (3, 12, 12))
        blur = next(node.layer for node in spec.nodes if node.layer.type_name == "blur")
        assert (blur.kernel, blur.stride, blur.padding) == ((taps, taps), (2, 2), (0, 0))
        assert check_import(model, spec.with_input((3, 17, 15))) < 1e-5
        # fvcore counts its convolution: one multiply-add per tap and output
        report = next(r for r in analyze(spec).layers if r.type == "blur")
        assert report.cost.macs == 4 * report.output_shape[1] * report.output_shape[2] * taps * taps


def test_a_blur_filters_with_the_binomial_coefficients() -> None:
    """By hand: 1 2 1 times 1 2 1 over 16, so a one under a corner tap counts 1/16 and one under an edge
    tap 2/16; 1 4 6 4 1 over 16 per axis for 5 taps (the centre: 36/256)."""
    from cnnscope.runtime.build import build
    from cnnscope.spec import parse

    def blur(taps: int) -> nn.Module:
        return build(parse(f'name = "b"\ninput = [1, 5, 5]\nlayers = [{{type = "blur", kernel = {taps}}}]\n'))

    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 0, 0] = x[0, 0, 0, 2] = 1  # under the first output's corner taps, and under the second's edge tap
    out = blur(3)(x)[0, 0]
    assert out.shape == (3, 3) and out[0, 0] == 2 / 16 and out[0, 1] == 2 / 16 and out[0, 2] == 1 / 16
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 2] = 1
    assert blur(5)(x)[0, 0, 0, 0] == 36 / 256


class SpaceToDepth(nn.Module):
    """TResNet's stem (and YOLO-style space-to-depth): sizes computed from the input's, `H // 4`, `C * 16`."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(48, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.size()
        x = x.view(n, c, h // 4, 4, w // 4, 4).permute(0, 3, 5, 1, 2, 4).contiguous()
        return self.conv(x.view(n, c * 4 * 4, h // 4, w // 4))


def test_sizes_scaled_from_an_axis_stay_relative_to_it() -> None:
    """``h // 4`` and ``c * 16`` are written as "axis 1 / 4" and "axis 0 * 16", so the spec is right at
    another size (they were frozen to the numbers of the size it was read at)."""
    spec = imported(SpaceToDepth(), (3, 16, 24))
    reshapes = [node for node in spec.nodes if node.layer.type_name == "reshape"]
    assert [node.layer.shape for node in reshapes] == [
        ("axis 0", "axis 1 / 4", 4, "axis 2 / 4", 4),
        ("axis 0 * 16", "axis 1 / 4", "axis 2 / 4"),
    ]
    assert reshapes[1].inputs[1] == "input"  # the sizes are the input's, not the permuted map's
    assert check_import(SpaceToDepth(), spec.with_input((3, 32, 8))) < 1e-5
    assert analyze(spec.with_input((3, 32, 8))).layers[-1].output_shape == (8, 8, 2)


class GlobalContext(nn.Module):
    """timm's GlobalContext block (GCNet): attention pooling as a matrix product, then a gate."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_attn = nn.Conv2d(4, 1, 1)
        self.fc = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        attn = F.softmax(self.conv_attn(x).reshape(B, 1, H * W), dim=-1).unsqueeze(3)  # B x 1 x HW x 1
        context = (x.reshape(B, C, H * W).unsqueeze(1) @ attn).view(B, C, 1, 1)
        return x * torch.sigmoid(self.fc(context))


def test_a_global_context_block_reads_its_matrix_product_and_new_axes() -> None:
    """``@`` is a ``matmul`` (its MACs: 4 channels x 1 output x H*W products), ``unsqueeze`` a reshape that
    keeps the input's axes, so the spec is right at another size."""
    spec = imported(GlobalContext(), (4, 6, 5))
    kinds = [node.layer.type_name for node in spec.nodes]
    assert "matmul" in kinds and kinds.count("reshape") == 5
    unsqueezed = [node.layer.shape for node in spec.nodes if node.layer.type_name == "reshape"]
    assert ("axis 0", "axis 1", 1) in unsqueezed and (1, "axis 0", "axis 1") in unsqueezed
    product = next(r for r in analyze(spec).layers if r.type == "matmul")
    assert product.output_shape == (1, 4, 1) and product.cost.macs == 4 * 30
    assert check_import(GlobalContext(), spec.with_input((4, 9, 7))) < 1e-5


class MultiQueryAttention(nn.Module):
    """MobileNetV4's attention over a map, shortened: two query heads, one key and value head for both."""

    def __init__(self, causal: bool = False) -> None:
        super().__init__()
        self.causal = causal
        self.query, self.key, self.value, self.out = (nn.Conv2d(4, 8, 1), nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 1),
                                                      nn.Conv2d(8, 4, 1))  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, _, H, W = x.shape
        q = self.query(x).reshape(B, 2, 4, H * W).transpose(-1, -2)  # B x heads x HW x 4
        k = self.key(x).reshape(B, 1, 4, -1).transpose(-1, -2)
        v = self.value(x).reshape(B, 1, 4, -1).transpose(-1, -2)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)  # B x heads x HW x 4
        return self.out(o.transpose(-1, -2).reshape(B, 8, H, W))


def test_scaled_dot_product_attention_reads_as_attention() -> None:
    """F.scaled_dot_product_attention, with one key head broadcast over the query heads, is an ``attention``
    layer: the same outputs at another size, and MACs worked out by hand."""
    for causal in (False, True):
        spec = imported(MultiQueryAttention(causal), (4, 3, 5))
        (node,) = [node for node in spec.nodes if node.layer.type_name == "attention"]
        assert node.layer.causal is causal and node.functional  # fvcore sees no products in the original
        report = next(r for r in analyze(spec).layers if r.type == "attention")
        # 2 heads x 15 queries x 15 keys, each score 4 products and each output 4 more
        assert report.output_shape == (2, 15, 4) and report.cost.macs == 2 * 15 * 15 * (4 + 4)
        assert check_import(MultiQueryAttention(causal), spec.with_input((4, 6, 2))) < 1e-5


def test_the_attention_module_computes_what_torch_computes() -> None:
    from cnnscope.layers import LAYER_TYPES

    q, k, v = torch.randn(2, 3, 7, 4), torch.randn(2, 1, 9, 4), torch.randn(2, 1, 9, 6)
    for keys in ({}, {"causal": True}, {"scale": 0.3}):
        layer = LAYER_TYPES["attention"].from_config(keys)
        ours = layer.torch_module([(3, 7, 4), (1, 9, 4), (1, 9, 6)])(q, k, v)
        theirs = F.scaled_dot_product_attention(q, k, v, is_causal=keys.get("causal", False), scale=keys.get("scale"))
        assert ours.shape == (2, 3, 7, 6) and torch.allclose(ours, theirs, atol=1e-6)


class CastsForAutocast(nn.Module):
    """Code written to be safe under autocast: casts that, in a float32 model, change nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.gain = nn.Parameter(torch.rand(4, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x.float())
        z = torch.sigmoid(y).to(x.dtype)
        return (z.type_as(y) * self.gain.to(dtype=y.dtype)).to(x.device)


class RealCast(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(torch.float64)


def test_casts_to_the_dtype_a_tensor_has_are_the_tensor() -> None:
    """``x.float()``, ``y.to(x.dtype)``, ``y.type_as(x)``, ``w.to(dtype=...)``, ``.to(device)`` in a float32
    model on the CPU return their input: read as it. A cast that changes the dtype is named."""
    spec = imported(CastsForAutocast(), (3, 8, 8))
    conv, scale = spec.nodes  # the sigmoid is the conv's act, each cast its input
    assert (conv.layer.type_name, conv.act.type_name, scale.layer.type_name) == ("conv2d", "sigmoid", "scale")
    assert scale.inputs == ("conv",)
    with pytest.raises(ImportFailure, match=r"Tensor\.to has no layer type"):
        from_module(RealCast(), (3, 4, 4))
