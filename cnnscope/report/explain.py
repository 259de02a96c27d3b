"""``--explain LAYER``: the arithmetic of one layer with every number filled in."""

from __future__ import annotations

from pathlib import Path

from cnnscope.analysis import Analysis, LayerReport
from cnnscope.errors import SpecError, did_you_mean, zoo_label
from cnnscope.layers import fmt_shape
from cnnscope.report.numbers import count
from cnnscope.report.rows import jump_text, receptive_text, returned_labels


def shown_path(path: str) -> str:
    """Relative to the working folder where it lies below it, ``zoo:NAME`` for an installed zoo spec
    (not a long site-packages path): shorter, and the same on every machine."""
    from cnnscope.zoo import zoo_dir

    installed = zoo_label(path)  # wherever the working folder is
    if installed:
        return installed
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(Path.cwd()))  # a checkout's specs/alexnet.toml, your own net.toml
    except ValueError:
        return f"zoo:{resolved.stem}" if resolved.parent == zoo_dir().resolve() else path


def explain(analysis: Analysis, name: str) -> list[str]:
    report = analysis.by_name.get(name)
    if report is None:
        members = [r for r in analysis.layers if name in r.node.scope]
        if members:
            return explain_block(analysis, name, members)
        blocks = {block for r in analysis.layers for block in r.node.scope}
        raise SpecError(
            f"no layer or block named '{name}'",
            path=analysis.spec.path,
            hint=did_you_mean(name, [*analysis.by_name, *blocks]) or "`cnnscope inspect` lists the layer names",
        )
    node, total = report.node, analysis.total
    inputs, out = list(report.input_shapes), report.output_shape
    where = f" (line {node.line} of {shown_path(analysis.spec.path)})" if node.line and analysis.spec.path else ""
    lines = [
        f"{node.name}: {report.type}{where}",
        f"input {', '.join(fmt_shape(s) for s in inputs)} -> output {fmt_shape(out)}",
        *("  " + line for line in node.layer.explain(inputs, out)),
        *("  " + line for line in node.layer.explain_cost(inputs, out)),
    ]
    if node.act is not None:
        lines.append(f"  then {node.act.label}: FLOPs = {node.act.cost([out], out).flops:,}")
    lines.append(f"receptive field {receptive_text(report.receptive)}, jump {jump_text(report.receptive)}")
    share = [
        f"{100 * report.cost.params / total.params:.2f}% of params" if total.params else "",
        f"{100 * report.cost.macs / total.macs:.2f}% of MACs" if total.macs else "",
    ]
    lines.append("share of the model: " + ", ".join(s for s in share if s))
    lines.append(f"activations: {count(report.activations)} elements")
    returned = returned_labels(analysis).get(name)
    if returned:
        lines.append(f"the model returns it: output {returned} of {len(analysis.outputs)}")
    lines += [f"warning {w.code}: {w.message}" for w in report.warnings]
    return lines


def explain_block(analysis: Analysis, name: str, members: list[LayerReport]) -> list[str]:
    """A block row of ``--depth``: its totals, summed over its layers, and where they come from."""
    total = analysis.total
    inside = {m.name for m in members}
    entry = next((m for m in members if any(i not in inside for i in m.node.inputs)), members[0])
    inputs = [s for i, s in zip(entry.node.inputs, entry.input_shapes) if i not in inside] or list(entry.input_shapes)
    params, macs = sum(m.cost.params for m in members), sum(m.cost.macs for m in members)
    flops = sum(m.cost.flops for m in members)
    heaviest = max(members, key=lambda m: (m.cost.macs, m.cost.params))
    terms = [f"{m.cost.params:,}" for m in members if m.cost.params]
    if len(terms) > 6:  # a long block: the sum by layer type reads better than 100 terms
        by_type: dict[str, int] = {}
        for m in members:
            by_type[m.type] = by_type.get(m.type, 0) + m.cost.params
        terms = [f"{value:,} ({kind})" for kind, value in by_type.items() if value]
    kind, span = analysis.spec.groups.get(name, "block"), f"{members[0].name} ... {members[-1].name}"
    lines = [
        f"{name}: {kind}, {len(members)} layers ({span})",
        f"input {', '.join(fmt_shape(s) for s in inputs)} -> output {fmt_shape(members[-1].output_shape)}",
        f"  params = {' + '.join(terms) or '0'} = {params:,}",
        f"  MACs = sum over its layers = {macs:,}; FLOPs = {flops:,}",
        f"  most MACs: {heaviest.name} ({heaviest.cost.macs:,}); `--explain {heaviest.name}` shows its arithmetic",
        f"receptive field {receptive_text(members[-1].receptive)}, jump {jump_text(members[-1].receptive)}",
    ]
    share = [
        f"{100 * params / total.params:.2f}% of params" if total.params else "",
        f"{100 * macs / total.macs:.2f}% of MACs" if total.macs else "",
    ]
    lines.append("share of the model: " + ", ".join(s for s in share if s))
    lines.append(f"activations: {count(sum(m.activations for m in members))} elements")
    return lines
