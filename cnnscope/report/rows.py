"""Table rows for people: one per layer, or one per block when collapsed by depth."""

from __future__ import annotations

from dataclasses import dataclass

from cnnscope.analysis import Analysis, Field, LayerReport, Receptive
from cnnscope.layers import Cells, Global, Shape


@dataclass(frozen=True)
class Row:
    name: str
    kind: str  # layer type, or the block's name for a collapsed block
    cells: Cells
    output: Shape
    act: str
    params: int
    macs: int
    flops: int
    receptive: Receptive
    collapsed: int = 0  # number of layers folded into this row
    returned: str = ""  # which of the model's outputs it is ("'out'", "[0]"), where the spec says ``outputs``


def receptive_text(field: Receptive) -> str:
    if isinstance(field, Global):
        return "all"
    if not isinstance(field, Field):
        return "-"
    return "x".join(map(str, field.size)) if len(set(field.size)) > 1 else str(field.size[0])


def jump_text(field: Receptive) -> str:
    if not isinstance(field, Field):
        return "-"
    return "x".join(map(str, field.jump)) if len(set(field.jump)) > 1 else str(field.jump[0])


def returned_labels(analysis: Analysis) -> dict[str, str]:
    """Layer -> the outputs it is, as people read them ("'out'", "[0], [2]"), for a spec that says
    ``outputs``; empty without it (the last layer is the output, as it always was)."""
    if analysis.spec.outputs is None:
        return {}
    labels: dict[str, list[str]] = {}
    for output in analysis.outputs:
        labels.setdefault(output.layer, []).append(output.label)
    return {layer: ", ".join(keys) for layer, keys in labels.items()}


def _layer_row(report: LayerReport, returned: str) -> Row:
    node = report.node
    return Row(
        name=node.name,
        kind=report.type,
        cells=node.layer.cells(),
        output=report.output_shape,
        act=node.act.label if node.act else "",
        params=report.cost.params,
        macs=report.cost.macs,
        flops=report.cost.flops,
        receptive=report.receptive,
        returned=returned,
    )


def rows(analysis: Analysis, depth: int | None = None) -> list[Row]:
    """Layers in execution order; blocks nested deeper than ``depth`` become one row each."""
    result: list[Row] = []
    returned = returned_labels(analysis)
    groups: dict[str, list[LayerReport]] = {}
    order: list[str | LayerReport] = []
    for report in analysis.layers:
        scope = report.node.scope
        if depth is None or len(scope) < depth:
            order.append(report)
            continue
        group = scope[depth - 1]
        if group not in groups:
            groups[group] = []
            order.append(group)
        groups[group].append(report)
    for item in order:
        if isinstance(item, LayerReport):
            result.append(_layer_row(item, returned.get(item.name, "")))
            continue
        members = groups[item]
        result.append(
            Row(
                name=item,
                kind=analysis.spec.groups.get(item, "block"),
                cells=Cells(),
                output=members[-1].output_shape,
                act="",
                params=sum(m.cost.params for m in members),
                macs=sum(m.cost.macs for m in members),
                flops=sum(m.cost.flops for m in members),
                receptive=members[-1].receptive,
                collapsed=len(members),
                returned=", ".join(returned[m.name] for m in members if m.name in returned),
            )
        )
    return result
