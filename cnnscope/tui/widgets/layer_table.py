"""The layer table: the same columns as ``cnnscope inspect``, one row per layer."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from cnnscope.analysis import Analysis
from cnnscope.errors import CnnscopeError
from cnnscope.layers import fmt_shape
from cnnscope.report.numbers import count, si
from cnnscope.report.rows import receptive_text

# the output size first: on a narrow terminal it is what stays in view
BROKEN_ROW = "__error__"  # key of the row that marks the layer where the model breaks
COLUMNS = ("Layer", "Output", "Params", "MACs", "Type", "Out", "Kernel/stride/pad", "Act", "RF")


class LayerTable(DataTable):
    """Rows keyed by layer name; a layer that breaks the model gets a red row with the reason."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        self.add_columns(*COLUMNS)

    def show(self, analysis: Analysis, error: CnnscopeError | None = None) -> None:
        selected = self.cursor_row
        self.clear()
        for report in analysis.layers:
            cells = report.node.layer.cells()
            geometry = "/".join(c for c in (cells.size, cells.stride, cells.padding) if c)
            self.add_row(
                report.name,
                fmt_shape(report.output_shape),
                count(report.cost.params) if report.cost.params else "-",
                si(report.cost.macs) if report.cost.macs else "-",
                report.type,
                cells.units,
                geometry,
                report.node.act.label if report.node.act else "",
                receptive_text(report.receptive),
                key=report.name,
            )
        if error is not None:
            broken = [Text(error.layer or "?", style="bold red"), Text("breaks here", style="red")]
            self.add_row(*broken, *[""] * (len(COLUMNS) - 2), key=BROKEN_ROW)
        if self.row_count:
            self.move_cursor(row=min(selected, self.row_count - 1))
