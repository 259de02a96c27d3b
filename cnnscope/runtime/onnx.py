"""ONNX with torch: the check of an ONNX import against onnxruntime, and ``cnnscope export NAME --out x.onnx``.

Both compare the spec-built model with onnxruntime running the ONNX file on one random batch:
an import is written only if the spec, with the weights read from the file, computes what the
file computes; an export is written only if the file computes what the spec-built model computes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from cnnscope.errors import CheckpointError, CnnscopeError
from cnnscope.importer.records import ImportFailure
from cnnscope.runtime.build import SpecModel, build, output_tensors
from cnnscope.runtime.weights import load_state
from cnnscope.spec import Spec

if TYPE_CHECKING:
    import onnx

    from cnnscope.importer.onnx import OnnxReading

OPSET = 20  # recent enough for Gelu as one operator; onnxruntime, TensorRT and OpenVINO all run it
INPUT_NAME = "input"


def difference(expected: np.ndarray, actual: np.ndarray) -> float:
    """The largest difference between two outputs, relative to the scale of the expected one."""
    if expected.shape != actual.shape:
        return float("inf")
    return float(np.abs(actual - expected).max(initial=0.0)) / max(float(np.abs(expected).max(initial=0.0)), 1e-12)


def _session(model: bytes | str) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: its warnings about unused initializers are not the user's
    try:
        return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own exception types (Fail, InvalidGraph, ...) are not exported
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CnnscopeError(f"onnxruntime cannot load the model: {first[:300]}") from None


@dataclass
class Comparison:
    """How far the spec-built model is from onnxruntime on the ONNX file, and where they part."""

    difference: float
    parting: str | None = None  # the first layer whose outputs differ, where the outputs do


def compare_import(path: Path, spec: Spec, reading: OnnxReading, tolerance: float) -> Comparison:
    """Build ``spec``, load the weights read from the file (every key, every shape) and compare its outputs
    with onnxruntime's on the original file, on one random batch; where they differ, find the first layer
    that does (every layer's output asked of onnxruntime)."""
    model = build(spec, init=False).eval()
    state = {key: torch.from_numpy(np.array(value)) for key, value in reading.weights.items()}
    try:
        load_state(model, state, "the weights read from the ONNX file")
    except CheckpointError as exc:  # the reader's mistake, not the user's
        raise ImportFailure(f"the weights read do not load into the written spec: {exc.message}") from None
    batch = reading.batch or 2
    x = np.random.default_rng(0).standard_normal((batch, *reading.input_shape), dtype=np.float32)
    expected = _session(str(path)).run(reading.output_names, {reading.input_name: x})
    with torch.no_grad():
        actual = [t.numpy() for t in output_tensors(spec, model(torch.from_numpy(x)))]
    worst = max(difference(e, a) for e, a in zip(expected, actual))
    if worst <= tolerance:
        return Comparison(worst)
    return Comparison(worst, _parting(path, model, reading, x, tolerance))


def _parting(path: Path, model: SpecModel, reading: OnnxReading, x: np.ndarray, tolerance: float) -> str:
    """The first layer, in execution order, whose output differs from the ONNX value it was read from."""
    from onnx import TensorProto, helper

    from cnnscope.importer.onnx import load

    probed = load(path)
    layers = list(reading.values)  # in the order they run
    known = {o.name for o in probed.graph.output}
    probed.graph.output.extend(
        helper.make_tensor_value_info(reading.values[layer], TensorProto.FLOAT, None)
        for layer in layers
        if reading.values[layer] not in known
    )
    found = _session(probed.SerializeToString()).run(
        [reading.values[layer] for layer in layers], {reading.input_name: x}
    )
    with torch.no_grad():
        ours = model.activations(torch.from_numpy(x))
    for layer, theirs in zip(layers, found):
        if layer in ours and difference(theirs, ours[layer].numpy()) > tolerance:
            return layer
    return "the outputs only"


# --- export -----------------------------------------------------------------------------------------
def export_onnx(
    model: SpecModel, destination: str | Path, *, static_batch: bool, tolerance: float
) -> tuple[Path, float]:
    """Write ``model`` as an ONNX file through torch's exporter, node names following the spec's layer names,
    the batch axis dynamic unless ``static_batch`` (fixed at 1); checked against onnxruntime first (on two
    batch sizes where the batch is dynamic). Returns the path and the largest relative difference."""
    import onnx

    from cnnscope.files import write_bytes_atomically

    path = Path(destination)
    if path.is_dir() or not path.parent.is_dir():
        raise CnnscopeError("is a directory" if path.is_dir() else "the folder does not exist", path=str(path))
    spec = model.spec
    model = model.eval()
    batch = 1 if static_batch else 2
    example = torch.randn(batch, *spec.input.shape)
    program = _exported(model, example, static_batch)
    proto = program.model_proto
    _name_nodes(proto, spec)
    data = proto.SerializeToString()
    session = _session(data)
    worst = 0.0
    for size in (batch,) if static_batch else (batch, 3):
        x = torch.randn(size, *spec.input.shape)
        with torch.no_grad():
            ours = [t.numpy() for t in output_tensors(spec, model(x))]
        theirs = session.run(None, {INPUT_NAME: x.numpy()})
        worst = max(worst, *(difference(a, b) for a, b in zip(ours, theirs)))
    if worst > tolerance:
        raise CnnscopeError(
            f"the exported ONNX file does not compute the model's function (outputs differ by {worst:.2g})",
            hint="please report this spec",
        )
    onnx.checker.check_model(proto)
    write_bytes_atomically(path, data)
    return path, worst


def _exported(model: SpecModel, example: torch.Tensor, static_batch: bool) -> Any:
    """torch's ONNX program of ``model``: torch.export of the loop over the layers (each layer's module
    called as a module, so every operator knows its layer), then constants folded and dead nodes removed,
    but no fusion (a batch norm stays a batch norm, as in the spec)."""
    import warnings

    import onnxscript
    from onnxscript.rewriter.rules import common as rules

    dynamic = None if static_batch else ({0: torch.export.Dim("batch")},)
    model.forward = model.forward_steps  # type: ignore[method-assign]  # modules called in order, one at a time
    # fused activations run out of place: torch.export replays views of a tensor changed in place (U-Net's
    # crop of a ReLU's output) where they are read, so their operators would be named after the reader
    in_place = [step.act for step in model._steps if step.act is not None and getattr(step.act, "inplace", False)]
    for act in in_place:
        act.inplace = False  # type: ignore[assignment]  # a plain flag: nn.Module's __setattr__ is typed for tensors
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                model,
                (example,),
                dynamo=True,
                opset_version=OPSET,
                dynamic_shapes=dynamic,
                optimize=False,
                verbose=False,
            )
    except Exception as exc:  # torch.export's and the translator's errors, of many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CnnscopeError(f"torch's ONNX exporter failed: {first[:300]}") from None
    finally:
        del model.forward
        for act in in_place:
            act.inplace = True  # type: ignore[assignment]
    if program is None:
        raise CnnscopeError("torch's ONNX exporter returned nothing")
    ir_model = program.model
    onnxscript.optimizer.fold_constants(ir_model)
    onnxscript.rewriter.rewrite(
        ir_model,
        pattern_rewrite_rules=[
            rules.remove_optional_bias_from_conv_rule,
            rules.remove_optional_bias_from_conv_transpose_rule,
            rules.remove_optional_bias_from_gemm_rule,
            rules.no_op_expand_rule,
            rules.no_op_cast_rule,
        ],
    )
    onnxscript.optimizer.remove_unused_nodes(ir_model)
    ir_model.graph.inputs[0].name = INPUT_NAME
    returns = model.spec.returns
    keys = returns.keys if returns.kind == "dict" else None
    for index, output in enumerate(ir_model.graph.outputs):
        output.name = str(keys[index]) if keys else ("output" if len(ir_model.graph.outputs) == 1 else f"output{index}")
    return program


def _name_nodes(proto: onnx.ModelProto, spec: Spec) -> None:
    """Name every node after the layer it computes: ``layer1.0.conv1`` for the layer's first operator from
    a tensor outside it to a tensor, ``layer1.0.conv1/Relu`` for the others (a fused activation, shape arithmetic),
    as the ONNX import reads them back. torch's metadata (module paths, stack traces with this machine's
    file paths) is dropped."""
    from onnx import TensorProto

    layers = {node.name for node in spec.nodes}
    nodes = list(proto.graph.node)
    producer = {value: i for i, node in enumerate(nodes) for value in node.output}
    readers: dict[str, list[int]] = {}
    for i, node in enumerate(nodes):
        for value in node.input:
            readers.setdefault(value, []).append(i)
    owner: list[str | None] = []
    for node in nodes:  # the layer whose module ran it, else the layer whose output it reads (a fused act)
        inherited = (owner[producer[v]] for v in node.input if v in producer and owner[producer[v]])
        owner.append(_module_layer(node, layers) or next(inherited, None))
    for i in reversed(range(len(nodes))):  # shape arithmetic outside every module: the layer that reads it
        if owner[i] is None:
            following = (owner[j] for value in nodes[i].output for j in readers.get(value, []) if owner[j])
            owner[i] = next(following, "graph")
    floats = {i.name for i in proto.graph.input} | {
        v.name
        for v in [*proto.graph.value_info, *proto.graph.output]
        if v.type.tensor_type.elem_type == TensorProto.FLOAT
    }
    named: set[str] = set()
    counts: dict[tuple[str, str], int] = {}
    for node, layer in zip(nodes, owner):
        assert layer is not None
        outside = any(v in floats and (v not in producer or owner[producer[v]] != layer) for v in node.input)
        if outside and layer not in named and any(v in floats for v in node.output):
            node.name = layer
            named.add(layer)
        else:
            count = counts[layer, node.op_type] = counts.get((layer, node.op_type), 0) + 1
            node.name = f"{layer}/{node.op_type}" + (f"_{count}" if count > 1 else "")
        del node.metadata_props[:]


def _module_layer(node: onnx.NodeProto, layers: set[str]) -> str | None:
    """The innermost spec layer among the modules torch's exporter says the node ran in."""
    import ast

    scopes = next((p.value for p in node.metadata_props if p.key == "pkg.torch.onnx.name_scopes"), "[]")
    return next((str(p) for p in reversed(ast.literal_eval(scopes)) if str(p) in layers), None)
