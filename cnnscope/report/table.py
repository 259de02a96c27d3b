"""Rich renderings for people: the layer table (shaped like the lecture's) and summaries."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from cnnscope.analysis import BYTES_PER_ELEMENT, Analysis
from cnnscope.layers import fmt_shape
from cnnscope.report.fast_table import FastTable
from cnnscope.report.numbers import count, si, size_bytes
from cnnscope.report.rows import Row, receptive_text

SHOWN_WARNINGS = 5


def layer_table(analysis: Analysis, table_rows: list[Row], compact: bool = False) -> Table:
    """The lecture's table plus params, MACs and receptive field.

    ``compact`` (narrow terminals) joins size, stride and padding into one column.
    """
    spec, total = analysis.spec, analysis.total
    table = FastTable(
        title=Text.assemble((spec.name, "bold"), f" - {spec.title}" if spec.title else ""),
        caption=Text(spec.paper) if spec.paper else None,  # user text, never markup
        box=box.SIMPLE_HEAD,
        show_footer=True,
        header_style="bold",
        footer_style="bold",
        pad_edge=False,
        padding=(0, 0) if compact else (0, 1),
    )
    table.add_column("Layer", footer="Total", overflow="fold", min_width=8)
    table.add_column("Type", style="cyan", no_wrap=True)
    table.add_column("Out" if compact else "Filters/\nneurons", justify="right", no_wrap=True)
    geometry = ["Kernel/\nstride/pad"] if compact else ["Size", "Stride", "Pad"]
    for header in geometry:
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column(
        "Output\n(CxHxW)", justify="right", style="green", no_wrap=True, footer=fmt_shape(analysis.output_shape)
    )
    table.add_column("Act", no_wrap=True)
    table.add_column("Params", justify="right", no_wrap=True, footer=count(total.params))
    table.add_column("MACs", justify="right", no_wrap=True, footer=si(total.macs))
    table.add_column("RF", justify="right", no_wrap=True)
    blank = [""] * len(geometry)
    table.add_row("input", "", "", *blank, fmt_shape(spec.input.shape), "", "", "", "")
    for row in table_rows:
        name = Text(row.name, style="bold" if row.collapsed else "")
        if row.collapsed:
            name.append(f" ({row.collapsed} layers)", style="dim")
        cells = row.cells
        if compact:
            geometry_cells = ["/".join(c for c in (cells.size, cells.stride, cells.padding) if c)]
        else:
            geometry_cells = [cells.size, cells.stride, cells.padding]
        table.add_row(
            name,
            row.kind,
            cells.units,
            *geometry_cells,
            fmt_shape(row.output),
            row.act,
            count(row.params) if row.params else "-",
            si(row.macs) if row.macs else "-",
            receptive_text(row.receptive),
        )
    return table


def summary(analysis: Analysis) -> RenderableType:
    total = analysis.total
    lines = [
        Text.assemble(
            ("params ", "bold"),
            f"{count(total.params)}",
            f"  (trainable {count(total.trainable_params)}, frozen {count(total.frozen_params)})",
        ),
        Text.assemble(
            ("MACs   ", "bold"),
            f"{count(total.macs)} ({si(total.macs)})",
            ("   FLOPs ", "bold"),
            f"{count(total.flops)} ({si(total.flops)})",
        ),
        Text.assemble(
            ("memory ", "bold"),
            f"{size_bytes(total.activation_bytes)} of activations per sample (float32),"
            f" {size_bytes(BYTES_PER_ELEMENT * total.params)} of float32 weights",
        ),
    ]
    warnings = analysis.warnings
    for layer, warning in warnings[:SHOWN_WARNINGS]:
        lines.append(
            Text.assemble((f"warning {warning.code} ", "yellow bold"), (f"{layer}: ", "bold"), warning.message)
        )
    if len(warnings) > SHOWN_WARNINGS:
        lines.append(Text(f"... and {len(warnings) - SHOWN_WARNINGS} more warnings (--explain LAYER or --json)"))
    return Group(*lines)
