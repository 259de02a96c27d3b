"""What the peer tools would count, computed from the static graph (no torch, no peer).

torchinfo, fvcore, ptflops, thop and torch's FlopCounterMode disagree with each other
because each counts different operations. Each rule below reproduces one tool's total,
per layer, so ``cnnscope inspect NAME --count-as PEER`` says where the difference comes
from. The rules are read from the peers' sources (versions in docs/conventions.md) and
checked against the peers themselves in tests/test_peers.py.

A layer's ``act`` (fused activation) runs as a function, the way torchvision's GoogLeNet
calls ``F.relu``; a separate activation layer is a module, the way AlexNet, VGG and
ResNet hold ``nn.ReLU``. ptflops counts a module twice when its forward calls a
function that ptflops also patches (ReLU, pooling), and that is reproduced too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cnnscope.analysis import Analysis, LayerReport
from cnnscope.layers import Activation, numel
from cnnscope.layers.elementwise import BatchNorm, LocalResponseNorm

PEERS = ("torchinfo", "fvcore", "ptflops", "thop", "flopcounter")
UNITS = {
    "torchinfo": "mult-adds (total_mult_adds)",
    "fvcore": "flops, 1 per multiply-add (FlopCountAnalysis.total())",
    "ptflops": "MACs (get_model_complexity_info, pytorch backend)",
    "thop": "MACs (profile)",
    "flopcounter": "FLOPs, 2 per multiply-add (FlopCounterMode.get_total_flops())",
}


def _spatial(report: LayerReport) -> int:
    return numel(report.output_shape[1:])


def _affine(report: LayerReport) -> int:
    """2 for a batch norm with a learned scale and shift, else 1."""
    layer = report.node.layer
    return 2 if isinstance(layer, BatchNorm) and layer.affine else 1


def torchinfo(report: LayerReport) -> int:
    """Parameters x output positions for convolutions, parameters once for other layers."""
    params = report.cost.params
    if report.type in ("conv2d", "conv1d"):
        return params * _spatial(report)
    return params


def fvcore(report: LayerReport) -> int:
    """Conv/linear multiply-adds, batch norm 2 per element (1 without affine), adaptive
    average pooling 1 per input element; ReLU, max pooling, adds and biases are ignored."""
    kind, inputs = report.type, report.input_shapes
    if kind in ("conv2d", "conv1d", "linear"):
        return report.cost.macs
    if kind == "batchnorm":
        return numel(inputs[0]) * _affine(report)
    if kind in ("adaptive_avgpool", "global_avgpool"):
        return numel(inputs[0])
    return 0


def ptflops(report: LayerReport) -> int:
    """Conv/linear multiply-adds plus biases, batch norm 2 per element, and per element:
    ReLU and pooling modules twice (module hook and patched F.*), functions once."""
    kind, inputs, out = report.type, report.input_shapes, report.output_shape
    layer = report.node.layer
    count = 0
    if kind in ("conv2d", "conv1d", "linear"):
        count = report.cost.macs + (numel(out) if report.cost.biases else 0)
    elif kind == "batchnorm":
        count = numel(inputs[0]) * _affine(report)
    elif kind == "relu":
        count = 2 * numel(out)
    elif kind in ("leaky_relu", "softmax"):
        count = numel(out)
    elif kind in ("maxpool", "avgpool", "maxpool1d", "avgpool1d", "adaptive_avgpool", "global_avgpool"):
        count = 2 * numel(inputs[0])
    elif isinstance(layer, LocalResponseNorm):  # F.local_response_norm averages channel-padded squares
        channels, *spatial = inputs[0]
        count = (channels + layer.size - 1) * numel(spatial)
    return count + _ptflops_act(report)


def _ptflops_act(report: LayerReport) -> int:
    act = report.node.act
    return numel(report.output_shape) if act is not None and act.type_name in ("relu", "softmax") else 0


def thop(report: LayerReport) -> int:
    """Conv/linear multiply-adds without biases, batch norm 4 per element (2 without affine),
    average pooling 1 per output, adaptive pooling (kernel + 1) per output, softmax
    3N - 1 per row; ReLU, max pooling and functions are free."""
    kind, inputs, out = report.type, report.input_shapes, report.output_shape
    if kind in ("conv2d", "conv1d", "linear"):
        return report.cost.macs
    if kind == "batchnorm":
        return 2 * numel(inputs[0]) * _affine(report)
    if kind in ("avgpool", "avgpool1d"):
        return numel(out)
    if kind in ("adaptive_avgpool", "global_avgpool"):
        kernel = 1.0
        for size, target in zip(inputs[0][1:], out[1:]):
            kernel *= size / target
        return int((kernel + 1) * numel(out))
    if kind == "softmax":
        classes = out[0]
        return (numel(out) // classes) * (3 * classes - 1)
    return 0


def flopcounter(report: LayerReport) -> int:
    """2 FLOPs per multiply-add of conv and linear layers, nothing else."""
    return 2 * report.cost.macs


RULES: dict[str, Callable[[LayerReport], int]] = {
    "torchinfo": torchinfo,
    "fvcore": fvcore,
    "ptflops": ptflops,
    "thop": thop,
    "flopcounter": flopcounter,
}


@dataclass(frozen=True)
class PeerCount:
    peer: str
    total: int
    by_layer: dict[str, int]
    by_type: dict[str, int]  # layer type (fused activations as "act:relu") -> count


def count_as(analysis: Analysis, peer: str) -> PeerCount:
    """The total ``peer`` reports for this model, with its per-layer and per-type split."""
    rule = RULES[peer]
    by_layer: dict[str, int] = {}
    by_type: dict[str, int] = {}
    for report in analysis.layers:
        count = rule(report)
        by_layer[report.name] = count
        act: Activation | None = report.node.act
        act_part = _ptflops_act(report) if peer == "ptflops" else 0
        by_type[report.type] = by_type.get(report.type, 0) + count - act_part
        if act is not None and act_part:
            by_type[f"act:{act.type_name}"] = by_type.get(f"act:{act.type_name}", 0) + act_part
    return PeerCount(peer, sum(by_layer.values()), by_layer, by_type)
