"""The MACs chart: one column per layer (or per group of neighbours when there are more layers
than columns), a y axis in MACs, the selected layer marked under its column, the heaviest named."""

from __future__ import annotations

import math

from rich.text import Text
from textual.widgets import Static

from cnnscope.analysis import Analysis
from cnnscope.report.numbers import si

ROWS = 3  # bar rows; each cell holds eight levels
LEVELS = " ▁▂▃▄▅▆▇█"
HEAVIEST = 3


class CostChart(Static):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.names: list[str] = []
        self.macs: list[int] = []
        self.selected: str | None = None

    def show(self, analysis: Analysis, selected: str | None) -> None:
        self.names = [report.name for report in analysis.layers]
        self.macs = [report.cost.macs for report in analysis.layers]
        self.selected = selected
        self.draw()

    def select(self, name: str | None) -> None:
        self.selected = name
        self.draw()

    def on_resize(self) -> None:
        self.draw()

    def draw(self) -> None:
        self.update(chart(self.names, self.macs, self.selected, self.size.width or 80))


def chart(names: list[str], macs: list[int], selected: str | None, width: int) -> Text:
    """The chart as text, ``width`` cells wide."""
    total, top = sum(macs), max(macs, default=0)
    if not top:
        return Text("MACs per layer: none (no layer multiplies)", style="dim")
    heaviest = sorted(range(len(macs)), key=lambda i: -macs[i])[:HEAVIEST]
    named = ", ".join(f"{names[i]} {macs[i] / total:.0%}" for i in heaviest)
    text = Text.assemble(("MACs per layer", "bold"), f"  heaviest: {named}\n", no_wrap=True, overflow="ellipsis")
    label = max(len(si(top)), 1)
    per = max(1, math.ceil(len(macs) / max(1, width - label - 3)))  # layers per column
    columns = [max(macs[i : i + per]) for i in range(0, len(macs), per)]
    mark = names.index(selected) // per if selected in names else None
    for row in range(ROWS - 1, -1, -1):
        axis = si(top) if row == ROWS - 1 else ("0" if row == 0 else "")
        text.append(f"{axis:>{label}} ┤" if axis else f"{'':>{label}} │", style="dim")
        for column, value in enumerate(columns):
            eighths = round(value / top * ROWS * 8)
            cell = LEVELS[min(8, max(0, eighths - row * 8))]
            if row == 0 and value and cell == " ":
                cell = "▁"  # a layer with any MACs shows
            text.append(cell, style="bold yellow" if column == mark else "green")
        text.append("\n")
    under = [" "] * len(columns)
    if mark is not None:
        under[mark] = "▲"
    text.append(f"{'':>{label}} └", style="dim")
    text.append("".join(under), style="bold yellow")
    if mark is not None and selected is not None:
        share = macs[names.index(selected)] / total
        text.append(f" {selected} {si(macs[names.index(selected)])} ({share:.0%})", style="yellow")
    if per > 1:
        text.append(f"  (a column = {per} layers)", style="dim")
    return text
