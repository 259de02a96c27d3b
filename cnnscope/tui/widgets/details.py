"""The detail pane of one layer: arithmetic with numbers filled in, and its share of the cost."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from cnnscope.analysis import Analysis
from cnnscope.report.explain import explain

BAR = 16


def share_bar(label: str, part: int, whole: int) -> Text:
    fraction = part / whole if whole else 0.0
    filled = round(fraction * BAR)
    return Text.assemble(f"{label:7}", ("█" * filled, "green"), ("░" * (BAR - filled), "dim"), f" {fraction:6.2%}")


class LayerDetails(Static):
    def show(self, analysis: Analysis, name: str) -> None:
        if name not in analysis.by_name:
            self.update("")
            return
        report, total = analysis.by_name[name], analysis.total
        lines = [Text(line) for line in explain(analysis, name)]
        lines[0].stylize("bold")
        bars = [share_bar("params", report.cost.params, total.params), share_bar("MACs", report.cost.macs, total.macs)]
        self.update(Group(*lines, Text(""), *bars))
