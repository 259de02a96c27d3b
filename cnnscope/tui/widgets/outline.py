"""The graph outline: blocks as collapsible branches, merges shown with what they join."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from cnnscope.analysis import Analysis
from cnnscope.layers import fmt_shape
from cnnscope.spec import INPUT


class GraphOutline(Tree[str]):
    """Layers nested in their block instances; concat/add nodes list their inputs (``<- a, b``)."""

    def show(self, analysis: Analysis) -> None:
        self.clear()
        self.root.label = f"{analysis.spec.name}  ({fmt_shape(analysis.spec.input.shape)})"
        groups: dict[str, TreeNode[str]] = {}
        for report in analysis.layers:
            node = report.node
            parent = self.root
            for group in node.scope:
                if group not in groups:
                    kind = analysis.spec.groups.get(group, "block")
                    groups[group] = parent.add(Text.assemble((group, "bold"), f"  {kind}"), data=group)
                parent = groups[group]
            label = Text.assemble(
                node.name.rsplit(".", 1)[-1] if node.scope else node.name,
                "  ",
                (report.type, "cyan"),
                f"  {fmt_shape(report.output_shape)}",
            )
            if node.layer.merges:
                sources = ", ".join("in" if s == INPUT else s.rsplit(".", 1)[-1] for s in node.inputs)
                label.append(f"  <- {sources}", style="magenta")
            parent.add_leaf(label, data=node.name)
        self.root.expand()  # blocks start folded: enter or a click opens one
