"""What the peer tools would count, computed from the static graph (no torch, no peer).

torchinfo, fvcore, ptflops, thop and torch's FlopCounterMode disagree with each other
because each counts different operations. Every layer type states what each tool
reports for it (``Layer.peer_counts``, read from the peers' sources at the versions in
docs/conventions.md and checked against the peers themselves in tests/test_peers.py);
this module adds them up, per layer and per type.

A layer's ``act`` (fused activation) runs as a function, the way torchvision's GoogLeNet
calls ``F.relu``; a separate activation layer is a module, the way AlexNet, VGG and
ResNet hold ``nn.ReLU``, unless the spec marks it ``functional = true``.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnscope.analysis import Analysis, LayerReport
from cnnscope.layers import PeerCounts

PEERS = PeerCounts._fields
UNITS = {
    "torchinfo": "mult-adds (total_mult_adds)",
    "fvcore": "flops, 1 per multiply-add (FlopCountAnalysis.total())",
    "ptflops": "MACs (get_model_complexity_info, pytorch backend)",
    "thop": "MACs (profile)",
    "flopcounter": "FLOPs, 2 per multiply-add (FlopCounterMode.get_total_flops())",
}


@dataclass(frozen=True)
class PeerCount:
    peer: str
    total: int
    by_layer: dict[str, int]
    by_type: dict[str, int]  # layer type (fused activations as "act:relu") -> count


def layer_counts(report: LayerReport) -> tuple[PeerCounts, PeerCounts | None]:
    """What the peers count for a layer, and for its fused activation (None without one)."""
    node, inputs, out = report.node, list(report.input_shapes), report.output_shape
    own = node.layer.peer_counts(inputs, out, node.functional)
    act = node.act.peer_counts([out], out, True) if node.act is not None else None
    return own, act


def count_as(analysis: Analysis, peer: str) -> PeerCount:
    """The total ``peer`` reports for this model, with its per-layer and per-type split."""
    field = PEERS.index(peer)
    by_layer: dict[str, int] = {}
    by_type: dict[str, int] = {}
    for report in analysis.layers:
        own, act = layer_counts(report)
        by_type[report.type] = by_type.get(report.type, 0) + own[field]
        total = own[field]
        if act is not None and report.node.act is not None and act[field]:
            name = f"act:{report.node.act.type_name}"
            by_type[name] = by_type.get(name, 0) + act[field]
            total += act[field]
        by_layer[report.name] = total
    return PeerCount(peer, sum(by_layer.values()), by_layer, by_type)
