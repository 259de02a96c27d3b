"""Rich renderings for people: the layer table (shaped like the lecture's) and summaries."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from cnnscope.analysis import BYTES_PER_ELEMENT, Analysis
from cnnscope.layers import fmt_shape
from cnnscope.report.fast_table import FastTable
from cnnscope.report.numbers import count, si, size_bytes
from cnnscope.report.rows import Row, receptive_text
from cnnscope.rules import DEFAULT, RULES

SHOWN_WARNINGS = 5


def layer_table(analysis: Analysis, table_rows: list[Row], compact: bool = False, width: int | None = None) -> Table:
    """The lecture's table plus params, MACs and receptive field.

    ``compact`` joins size, stride and padding into one column. ``width`` (a terminal's) lays the
    table out to fit it without breaking a layer name: compact below 120 columns; where the names
    are still too long, a name wider than its column goes whole on a line of its own, and the
    columns a narrow terminal can spare (Act, Out, then Type) are left out. RF always stays.
    """
    if width is None:
        return _layer_table(analysis, table_rows, compact, ())
    table = _layer_table(analysis, table_rows, width < 120, ())
    if _natural_width(table) <= width:
        return table
    dropped: tuple[str, ...] = ()
    for spare in SPARE_COLUMNS:
        widths = _column_widths(table)
        if width - (sum(widths) - widths[0] + table._extra_width) >= min(MIN_NAME_WIDTH, widths[0]):
            break
        dropped = (*dropped, spare)
        table = _layer_table(analysis, table_rows, True, dropped)
    table.names_on_own_line = True
    return table


SPARE_COLUMNS = ("Act", "Out", "Type")  # left out in this order where names would get too little room
MIN_NAME_WIDTH = 16


def _column_widths(table: Table) -> list[int]:
    """Each column's natural width: its longest line of header, cells and footer, plus padding."""
    widths = []
    for index, column in enumerate(table.columns):
        cells = [column.header, column.footer, *column._cells]
        texts = [cell.plain if isinstance(cell, Text) else str(cell or "") for cell in cells]
        widest = max(len(line) for text in texts for line in text.split("\n"))
        widths.append(max(widest, column.min_width or 0) + table._get_padding_width(index))
    return widths


def _natural_width(table: Table) -> int:
    return sum(_column_widths(table)) + table._extra_width


def _layer_table(analysis: Analysis, table_rows: list[Row], compact: bool, dropped: tuple[str, ...]) -> FastTable:
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
    geometry = ["Kernel/\nstride/pad"] if compact else ["Size", "Stride", "Pad"]
    outputs = len(analysis.outputs)
    shown = fmt_shape(analysis.output_shape) if outputs == 1 else f"{outputs} outputs"
    axes = "CxDxHxW" if len(spec.input.shape) == 4 else "CxHxW"  # D: a video's frames (conv3d)
    columns: list[tuple[str, dict[str, Any]]] = [
        ("Layer", {"footer": "Total", "overflow": "fold", "min_width": 8}),
        ("Type", {"style": "cyan", "no_wrap": True}),
        ("Out" if compact else "Filters/\nneurons", {"justify": "right", "no_wrap": True}),
        *((header, {"justify": "right", "no_wrap": True}) for header in geometry),
        (f"Output\n({axes})", {"justify": "right", "style": "green", "no_wrap": True, "footer": shown}),
        ("Act", {"no_wrap": True}),
        ("Params", {"justify": "right", "no_wrap": True, "footer": count(total.params)}),
        ("MACs", {"justify": "right", "no_wrap": True, "footer": si(total.macs)}),
        ("RF", {"justify": "right", "no_wrap": True}),
    ]
    kept = [index for index, (header, _) in enumerate(columns) if header not in dropped]
    for index in kept:
        header, options = columns[index]
        table.add_column(header, **options)
    blank = [""] * len(geometry)
    table.add_row(*_kept(["input", "", "", *blank, fmt_shape(spec.input.shape), "", "", "", ""], kept))
    for row in table_rows:
        name = Text(row.name, style="bold" if row.collapsed else "")
        if row.collapsed:
            name.append(f" ({row.collapsed} layers)", style="dim")
        if row.returned:
            name.append(f" → {row.returned}", style="green")
        cells = row.cells
        if compact:
            geometry_cells = ["/".join(c for c in (cells.size, cells.stride, cells.padding) if c)]
        else:
            geometry_cells = [cells.size, cells.stride, cells.padding]
        row_cells: list[RenderableType] = [
            name,
            row.kind,
            cells.units,
            *geometry_cells,
            fmt_shape(row.output),
            row.act,
            count(row.params) if row.params else "-",
            si(row.macs) if row.macs else "-",
            receptive_text(row.receptive),
        ]
        table.add_row(*_kept(row_cells, kept))
    return table


def returned_shapes(analysis: Analysis) -> str:
    """The output's shape; a model with several outputs: each, with its key ("'out' 21x64x64, 'aux' ...")."""
    if not analysis.spec.returns.several:
        return fmt_shape(analysis.output_shape)
    return ", ".join(f"{o.label} {fmt_shape(o.shape)}" for o in analysis.outputs)


def outputs_line(analysis: Analysis) -> Text:
    """What the model returns, for a spec that says ``outputs``: "a dict: 'out' head 21x64x64, ..."."""
    returns = analysis.spec.returns
    described = ", ".join(f"{o.label} = {o.layer} ({fmt_shape(o.shape)})" for o in analysis.outputs)
    form = "a tensor:" if returns.kind == "tensor" else f"a {returns.kind} of {len(returns.layers)}:"
    return Text.assemble(("returns ", "bold"), f"{form} {described}")


def _kept(cells: list[Any], kept: list[int]) -> list[Any]:
    return [cells[index] for index in kept]


def summary(analysis: Analysis) -> RenderableType:
    return Group(*summary_lines(analysis))


def summary_lines(analysis: Analysis) -> list[Text]:
    """Totals, memory, the warnings of the rules on by default, and a count of the others."""
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
    if analysis.spec.outputs is not None:
        lines.append(outputs_line(analysis))
    warnings = [(layer, warning) for layer, warning in analysis.warnings if warning.code in DEFAULT]
    off = Counter(warning.code for _, warning in analysis.warnings if warning.code not in DEFAULT)
    for layer, warning in warnings[:SHOWN_WARNINGS]:
        lines.append(
            Text.assemble((f"warning {warning.code} ", "yellow bold"), (f"{layer}: ", "bold"), warning.message)
        )
    if len(warnings) > SHOWN_WARNINGS:
        lines.append(Text(f"... and {len(warnings) - SHOWN_WARNINGS} more warnings (--explain LAYER or --json)"))
    for code, number in off.items():
        lines.append(
            Text(
                f"{number} {RULES[code].name} note(s) ({code}, a rule off by default): --explain LAYER, --json, or"
                f" cnnscope check --extend-select {code}",
                style="dim",
            )
        )
    return lines
