"""``--explain LAYER``: the arithmetic of one layer with every number filled in."""

from __future__ import annotations

from pathlib import Path

from cnnscope.analysis import Analysis
from cnnscope.errors import SpecError, did_you_mean
from cnnscope.layers import fmt_shape
from cnnscope.report.numbers import count
from cnnscope.report.rows import jump_text, receptive_text


def shown_path(path: str) -> str:
    """Relative to the working folder where it lies below it: shorter, and the same on every machine."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path


def explain(analysis: Analysis, name: str) -> list[str]:
    report = analysis.by_name.get(name)
    if report is None:
        raise SpecError(
            f"no layer named '{name}'",
            path=analysis.spec.path,
            hint=did_you_mean(name, analysis.by_name) or "`cnnscope inspect` lists the layer names",
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
    lines += [f"warning: {w}" for w in report.warnings]
    return lines
