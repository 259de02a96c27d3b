"""The layer table: the same columns as ``cnnscope inspect``, one row per layer."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widgets import DataTable

from cnnscope.analysis import Analysis
from cnnscope.errors import CnnscopeError
from cnnscope.layers import fmt_shape
from cnnscope.report.numbers import count, si
from cnnscope.report.rows import receptive_text, returned_labels

# the output size first: on a narrow terminal it is what stays in view
BROKEN_ROW = "__error__"  # key of the row that marks the layer where the model breaks
COLUMNS = ("Layer", "Output", "Params", "MACs", "Type", "Out", "Kernel/stride/pad", "Act", "RF")
ALWAYS = 2  # Layer and Output are shown however narrow the table is


class LayerTable(DataTable):
    """Rows keyed by layer name; a layer that breaks the model gets a red row with the reason.

    Only whole columns are shown: those that do not fit the table's width are left out (from
    the right) rather than cut to a letter or two.
    """

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        self.rows_shown: list[tuple[str, list[str | Text]]] = []
        self.columns_shown = len(COLUMNS)
        self.add_columns(*COLUMNS)

    def show(self, analysis: Analysis, error: CnnscopeError | None = None) -> None:
        rows: list[tuple[str, list[str | Text]]] = []
        returned = returned_labels(analysis)
        for report in analysis.layers:
            cells = report.node.layer.cells()
            geometry = "/".join(c for c in (cells.size, cells.stride, cells.padding) if c)
            name = Text(report.name)
            if report.name in returned:  # one of the model's outputs: its key (the spec's text, never markup)
                name.append(f" → {returned[report.name]}", style="green")
            values: list[str | Text] = [
                name,
                fmt_shape(report.output_shape),
                count(report.cost.params) if report.cost.params else "-",
                si(report.cost.macs) if report.cost.macs else "-",
                report.type,
                cells.units,
                geometry,
                report.node.act.label if report.node.act else "",
                receptive_text(report.receptive),
            ]
            rows.append((report.name, values))
        if error is not None:
            broken = [Text(error.layer or "?", style="bold red"), Text("breaks here", style="red")]
            rows.append((BROKEN_ROW, [*broken, *[""] * (len(COLUMNS) - 2)]))
        self.rows_shown = rows
        self._fill(self._fitting_columns())

    def _fitting_columns(self) -> int:
        """How many columns, from the left, fit the table's width whole."""
        width = self.scrollable_content_region.width
        if width <= 0:  # not laid out yet: on_resize fits it
            return len(COLUMNS)
        used, shown = 0, 0
        for index, header in enumerate(COLUMNS):
            widest = max([len(header), *(len(_plain(v[index])) for _, v in self.rows_shown)]) + 2 * self.cell_padding
            if index >= ALWAYS and used + widest > width:
                break
            used += widest
            shown += 1
        return shown

    def _fill(self, columns: int) -> None:
        selected = self.cursor_row
        self.clear(columns=columns != self.columns_shown)
        if not self.columns:
            self.add_columns(*COLUMNS[:columns])
        self.columns_shown = columns
        for key, values in self.rows_shown:
            self.add_row(*values[:columns], key=key)
        if self.row_count:
            self.move_cursor(row=min(selected, self.row_count - 1))

    def on_resize(self, event: events.Resize) -> None:
        if self.rows_shown and self._fitting_columns() != self.columns_shown:
            self._fill(self._fitting_columns())


def _plain(value: str | Text) -> str:
    return value.plain if isinstance(value, Text) else value
