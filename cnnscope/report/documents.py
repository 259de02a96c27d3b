"""Every ``--json`` document, built here and nowhere else.

Each command's document has a JSON Schema in ``cnnscope/schemas/`` (shipped with the package,
checked against real outputs by the tests) and is described in docs/json.md. ``SCHEMA`` versions
them all: within a version keys are only ever added, never renamed or removed. Documents are
objects with a ``schema`` key, except the two that predate it and stay byte for byte as they were:
``list`` (an array) and ``compare``.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from cnnscope.analysis import BYTES_PER_ELEMENT, Analysis, Field, Mismatch, Receptive
from cnnscope.errors import CnnscopeError
from cnnscope.layers import LAYER_TYPES, Global, activation_types
from cnnscope.rules import DEFAULT, EXPECT_MISMATCH, INVALID_SPEC, RULES
from cnnscope.spec import OutputKey

if TYPE_CHECKING:
    from cnnscope.peers import PeerCount

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


def outputs_json(analysis: Analysis, runtime: list[list[int]] | None = None) -> list[dict[str, Any]]:
    """What the model returns, one entry per output in order: ``key`` indexes the return value (a dict's
    key, a tuple's index, null for one tensor). With ``runtime`` (the shapes a built model returned):
    ``static``, ``runtime`` and ``ok`` in place of ``shape``."""
    entries = []
    for i, output in enumerate(analysis.outputs):
        entry: dict[str, Any] = {"key": output.key, "layer": output.layer}
        if runtime is None:
            entry["shape"] = list(output.shape)
        else:
            found = runtime[i] if i < len(runtime) else None
            entry |= {"static": list(output.shape), "runtime": found, "ok": found == list(output.shape)}
        entries.append(entry)
    return entries


def inspect_document(analysis: Analysis) -> dict[str, Any]:
    """``inspect --json``."""
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
                "warnings": [warning.message for warning in report.warnings],
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
        "returns": analysis.spec.returns.kind,
        "outputs": outputs_json(analysis),
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
        "warnings": [
            {"layer": layer, "code": warning.code, "message": warning.message} for layer, warning in analysis.warnings
        ],
        "conventions": CONVENTIONS,
    }


def schema_of(document: str) -> dict[str, Any]:
    """The JSON Schema of a document (``inspect``, ``check``, ...), as shipped in the package."""
    import json
    from importlib import resources  # here: with tempfile and random it is 7 ms of every command's start

    return json.loads(resources.files("cnnscope.schemas").joinpath(f"{document}.json").read_text(encoding="utf-8"))


def peer_count_document(analysis: Analysis, counted: PeerCount, unit: str) -> dict[str, Any]:
    """``inspect --count-as PEER --json``."""
    return {
        "name": analysis.spec.name,
        "peer": counted.peer,
        "unit": unit,
        "total": counted.total,
        "macs": analysis.total.macs,
        "by_type": counted.by_type,
        "layers": counted.by_layer,
    }


def zoo_entry(name: str, analysis: Analysis) -> dict[str, Any]:
    """One model of ``list --json`` (an array of these)."""
    spec = analysis.spec
    return {
        "name": name,
        "title": spec.title,
        "input_shape": list(spec.input.shape),
        "output_shape": list(analysis.output_shape),
        "params": analysis.total.params,
        "macs": analysis.total.macs,
        "paper": spec.paper,
        "path": spec.path,
    }


def compare_document(first: str, second: str, metrics: list[tuple[str, int, int]]) -> dict[str, Any]:
    """``compare --json``: ``ratio`` is first / second, null when second is 0."""
    return {
        "first": first,
        "second": second,
        "metrics": {key: {"first": x, "second": y, "ratio": x / y if y else None} for key, x, y in metrics},
    }


def error_entry(error: CnnscopeError) -> dict[str, Any]:
    code = error.code or INVALID_SPEC
    return {
        "code": code,
        "rule": RULES[code].name,
        "message": error.message,
        "line": error.line,
        "layer": error.layer,
        "hint": error.hint,
    }


def check_entry(
    target: str,
    path: str | None,
    errors: list[CnnscopeError],
    analysis: Analysis | None = None,
    mismatches: list[Mismatch] | None = None,
    enabled: frozenset[str] = DEFAULT,
) -> dict[str, Any]:
    """One spec of ``check --json``; ``analysis`` is None when the spec is invalid; ``enabled``: the
    warnings' rule codes that are switched on (``cnnscope.rules``)."""
    expect = analysis.spec.expect if analysis else None
    warnings = []
    if analysis is not None:
        lines = {report.name: report.node.line for report in analysis.layers}
        warnings = [
            {
                "code": warning.code,
                "rule": RULES[warning.code].name,
                "layer": layer,
                "line": lines.get(layer),
                "message": warning.message,
            }
            for layer, warning in analysis.warnings
            if warning.code in enabled
        ]
    return {
        "target": target,
        "path": path,
        "valid": not errors,
        "errors": [error_entry(e) for e in errors],
        "expectations": None
        if analysis is None or expect is None
        else {
            "checked": not expect.empty,
            "hold": not mismatches,
            "mismatches": [
                {"code": EXPECT_MISMATCH, "what": m.what, "expected": m.expected, "actual": m.actual}
                for m in (mismatches or [])
            ],
        },
        "warnings": warnings,
    }


def check_document(files: list[dict[str, Any]], strict: bool, exit_code: int) -> dict[str, Any]:
    """``check --json``: one entry per spec (see :func:`check_entry`)."""
    return {"schema": SCHEMA, "strict": strict, "exit_code": exit_code, "files": files}


def types_document() -> dict[str, Any]:
    """``types --json``: every layer type with its keys, and the keys every layer takes."""
    return {
        "schema": SCHEMA,
        "types": [
            {
                "name": name,
                "summary": cls.summary,
                "keys": [{"name": key, "default": default, "doc": doc} for key, default, doc in cls.keys_doc()],
                "example": cls.example_line(),
            }
            for name, cls in LAYER_TYPES.items()
        ],
        "common_keys": ["name", "from", "act", "when", "functional"],
        "activations": list(activation_types()),
    }


def verify_document(
    analysis: Analysis,
    device: str,
    runtime_shapes: Mapping[str, list[int]],
    torch_params: int,
    counted_macs: float,
    returned_shapes: list[list[int]],
) -> dict[str, Any]:
    """``verify --json``: per layer the static and the runtime output shape, what the model returned,
    then the totals."""
    layers = [
        {
            "name": report.name,
            "static_shape": list(report.output_shape),
            "runtime_shape": runtime_shapes.get(report.name),
            "ok": runtime_shapes.get(report.name) == list(report.output_shape),
        }
        for report in analysis.layers
    ]
    total = analysis.total
    params_ok, macs_ok = torch_params == total.params, counted_macs == total.macs
    outputs = outputs_json(analysis, returned_shapes)
    outputs_ok = len(returned_shapes) == len(outputs) and all(output["ok"] for output in outputs)
    return {
        "schema": SCHEMA,
        "name": analysis.spec.name,
        "device": device,
        "layers": layers,
        "outputs": outputs,
        "params": {"static": total.params, "runtime": torch_params, "ok": params_ok},
        "macs": {
            "static": total.macs,
            "runtime": int(counted_macs) if counted_macs.is_integer() else counted_macs,
            "ok": macs_ok,
            "counter": "FlopCounterMode / 2",
        },
        "ok": params_ok and macs_ok and outputs_ok and all(layer["ok"] for layer in layers),
    }


def build_document(
    analysis: Analysis,
    *,
    device: str,
    dtype: str,
    batch: int,
    weights: str | None,
    returned_shapes: list[list[int]],
    params: int,
    seconds: float,
) -> dict[str, Any]:
    """``build --json``: the built model against the static numbers, and one timed forward pass;
    ``output_shape`` is the first output's (the only one of most models), ``outputs`` has them all."""
    outputs = outputs_json(analysis, returned_shapes)
    output_shape = returned_shapes[0] if returned_shapes else []
    output_ok = len(returned_shapes) == len(outputs) and all(output["ok"] for output in outputs)
    params_ok = params == analysis.total.params
    return {
        "schema": SCHEMA,
        "name": analysis.spec.name,
        "device": device,
        "dtype": dtype,
        "batch": batch,
        "weights": weights,
        "output_shape": {
            "static": list(analysis.output_shape),
            "runtime": output_shape,
            "ok": output_shape == list(analysis.output_shape),
        },
        "outputs": outputs,
        "params": {"static": analysis.total.params, "runtime": params, "ok": params_ok},
        "forward": {"seconds": seconds, "samples_per_second": batch / seconds if seconds else None},
        "ok": output_ok and params_ok,
    }


def run_document(
    name: str,
    *,
    device: str,
    dtype: str,
    image: str,
    weights: str | None,
    output: tuple[OutputKey, str],
    output_shape: list[int],
    predictions: list[tuple[int, str, float | None]] | None,
    note: str,
    saved: list[str],
    cam: dict[str, Any] | None = None,
    output_finite: bool = True,
) -> dict[str, Any]:
    """``run --json``: top-k predictions (class index, name, probability) of the model's first output
    (``output``: its key and layer), the weights used, and with ``--cam`` the heat-map's class, layer,
    method and faithfulness check. Where the output holds NaN or infinities, ``output_finite`` is false,
    probabilities are null and there is no heat-map."""
    return {
        "schema": SCHEMA,
        "name": name,
        "device": device,
        "dtype": dtype,
        "image": image,
        "weights": weights,
        "input_note": note,
        "output_shape": output_shape,
        "output": {"key": output[0], "layer": output[1]},
        "predictions": None
        if predictions is None
        else [{"index": i, "label": label, "probability": p} for i, label, p in predictions],
        "saved": saved,
        "cam": cam,
        "output_finite": output_finite,
    }
