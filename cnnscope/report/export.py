"""Machine-readable outputs: the ``--json`` contract, CSV and Markdown tables.

The JSON layout is documented in docs/json.md and versioned by ``schema``: keys are
only ever added within a schema version, never renamed or removed.
"""

from __future__ import annotations

import csv
import io
from fractions import Fraction
from typing import Any

from cnnscope.analysis import BYTES_PER_ELEMENT, Analysis, Field, Receptive
from cnnscope.layers import Global, fmt_shape
from cnnscope.report.numbers import count
from cnnscope.report.rows import Row, jump_text, receptive_text

SCHEMA = 1
CONVENTIONS = {
    "macs": "multiply-accumulates of conv and linear layers; bias adds not counted",
    "flops": "2 per MAC for conv/linear, plus per-element ops of other layers (docs/conventions.md)",
    "shapes": "per sample, channels first, no batch axis",
    "activation_bytes": f"output elements x {BYTES_PER_ELEMENT} (float32)",
}


def _receptive_json(field: Receptive) -> tuple[Any, Any]:
    if isinstance(field, Global):
        return "all", None
    if isinstance(field, Field):
        return [_number(v) for v in field.size], [_number(v) for v in field.jump]
    return None, None


def _number(value: Fraction) -> int | float:
    """A whole number as an integer; a fraction (after upsampling) as a float."""
    return int(value) if value.denominator == 1 else float(value)


def to_json(analysis: Analysis) -> dict[str, Any]:
    spec, total = analysis.spec, analysis.total
    layers = []
    for report in analysis.layers:
        node, cost = report.node, report.cost
        receptive, jump = _receptive_json(report.receptive)
        layers.append(
            {
                "name": report.name,
                "type": report.type,
                "inputs": list(node.inputs),
                "input_shapes": [list(s) for s in report.input_shapes],
                "output_shape": list(report.output_shape),
                "activation": node.act.type_name if node.act else None,
                "params": cost.params,
                "trainable_params": cost.params if cost.trainable else 0,
                "weights": cost.weights,
                "biases": cost.biases,
                "macs": cost.macs,
                "flops": cost.flops,
                "activations": report.activations,
                "receptive_field": receptive,
                "jump": jump,
                "block": node.scope[-1] if node.scope else None,
                "warnings": list(report.warnings),
            }
        )
    return {
        "schema": SCHEMA,
        "name": spec.name,
        "title": spec.title,
        "paper": spec.paper,
        "source": spec.path,
        "input_shape": list(spec.input.shape),
        "output_shape": list(analysis.output_shape),
        "layers": layers,
        "total": {
            "params": total.params,
            "trainable_params": total.trainable_params,
            "frozen_params": total.frozen_params,
            "macs": total.macs,
            "flops": total.flops,
            "activations": total.activations,
            "activation_bytes": total.activation_bytes,
        },
        "warnings": [{"layer": layer, "message": message} for layer, message in analysis.warnings],
        "conventions": CONVENTIONS,
    }


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
    return [
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
