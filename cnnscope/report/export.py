"""Machine-readable tables: CSV and Markdown (the ``--json`` documents are in ``report.documents``)."""

from __future__ import annotations

import csv
import io

from cnnscope.analysis import Analysis
from cnnscope.layers import fmt_shape
from cnnscope.report.numbers import count
from cnnscope.report.rows import Row, jump_text, receptive_text
from cnnscope.text import visible

COLUMNS = [
    "layer",
    "type",
    "filters/neurons",
    "size",
    "stride",
    "padding",
    "output",
    "activation",
    "params",
    "macs",
    "receptive_field",
    "jump",
]


def _cells(row: Row) -> list[str]:
    """A row's cells, their text as :func:`visible` shows it (a CSV record or a Markdown row per line)."""
    cells = [
        row.name,
        row.kind,
        row.cells.units,
        row.cells.size,
        row.cells.stride,
        row.cells.padding,
        fmt_shape(row.output),
        row.act,
        str(row.params),
        str(row.macs),
        receptive_text(row.receptive),
        jump_text(row.receptive),
    ]
    return [visible(cell) for cell in cells]


def to_csv(table: list[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(_cells(row) for row in table)
    return buffer.getvalue()


def to_markdown(analysis: Analysis, table: list[Row]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out = [line(COLUMNS), line(["---"] * len(COLUMNS))]
    for row in table:
        cells = _cells(row)
        cells[8], cells[9] = count(row.params), count(row.macs)
        out.append(line(cells))
    total = analysis.total
    out.append(
        line(
            ["**total**", "", "", "", "", "", "", "", f"**{count(total.params)}**", f"**{count(total.macs)}**", "", ""]
        )
    )
    return "\n".join(out) + "\n"
