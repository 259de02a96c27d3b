"""``cnnscope.summary(...)``: the layer table as an object that prints in a terminal and renders in Jupyter.

``str()``/``print`` give the same table as ``cnnscope inspect`` (fitted to the terminal, names whole);
``rich.print`` gives it in colour; Jupyter calls ``_repr_html_`` and gets an HTML table with the
totals and the warnings.
"""

from __future__ import annotations

import io
import shutil
from html import escape
from typing import TYPE_CHECKING

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from cnnscope.analysis import Analysis, Totals
from cnnscope.report.rows import rows
from cnnscope.report.table import layer_table, summary_lines

if TYPE_CHECKING:
    from rich.console import ConsoleOptions, RenderResult


class Summary:
    """The analysis of one model at one input size; ``analysis`` holds every figure per layer."""

    def __init__(self, analysis: Analysis, depth: int | None = None) -> None:
        self.analysis = analysis
        self.depth = depth

    @property
    def total(self) -> Totals:
        return self.analysis.total

    def renderable(self, width: int | None = None) -> RenderableType:
        table = layer_table(self.analysis, rows(self.analysis, self.depth), width=width)
        return Group(table, *summary_lines(self.analysis))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.renderable(options.max_width)

    def __str__(self) -> str:
        width = shutil.get_terminal_size().columns
        console = Console(
            file=io.StringIO(), width=width, color_system=None, markup=False, emoji=False, highlight=False
        )
        console.print(self.renderable(width))
        return console.file.getvalue()  # type: ignore[attr-defined]

    __repr__ = __str__  # a bare `cnnscope.summary(model)` at the Python prompt shows the table, as torchinfo's does

    def _repr_html_(self) -> str:
        table = layer_table(self.analysis, rows(self.analysis, self.depth))
        notes = "".join(f"<div>{escape(line.plain)}</div>" for line in summary_lines(self.analysis))
        return f'<div class="cnnscope-summary">{html_table(table)}{notes}</div>'


def html_table(table: Table) -> str:
    """A rich Table's title, header, cells and footer as an HTML table (text escaped, right-justified
    columns aligned right)."""

    def text(cell: object) -> str:
        plain = cell.plain if isinstance(cell, Text) else str(cell or "")
        return escape(plain).replace("\n", "<br>")

    aligns = [' style="text-align:right"' if column.justify == "right" else "" for column in table.columns]
    head = "".join(f"<th{align}>{text(column.header)}</th>" for column, align in zip(table.columns, aligns))
    body = "".join(
        "<tr>" + "".join(f"<td{align}>{text(cell)}</td>" for cell, align in zip(cells, aligns)) + "</tr>"
        for cells in zip(*(column._cells for column in table.columns))
    )
    foot = "".join(f"<th{align}>{text(column.footer)}</th>" for column, align in zip(table.columns, aligns))
    paper = f"<br><small>{text(table.caption)}</small>" if table.caption else ""
    caption = f"<caption>{text(table.title)}{paper}</caption>" if table.title else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody><tfoot><tr>{foot}</tr></tfoot></table>"
