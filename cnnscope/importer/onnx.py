"""An ONNX file -> the layers of a spec and the weights they load, with the ``onnx`` package alone (no torch).

The graph is read node by node in topological order. Each tensor has a per-sample shape, found
by the layer types' own shape rules as the layers are made. Everything that is not a tensor of
the batch (initializers, ``Constant`` nodes, and the shape arithmetic that exporters write around
``Reshape`` and ``Resize``: ``Shape``, ``Gather``, ``Concat``, ...) is a constant, computed here
with numpy: a dynamic batch size stands in as :data:`BATCH`. Each operator that computes on a
tensor is read by a function of :data:`READERS` into one layer type (``Conv`` -> ``conv2d``,
``Gemm`` -> ``linear``, ``Mul(x, Sigmoid(x))`` -> ``silu``, ...), its constant inputs becoming that
layer's weights under the names the spec-built model gives them. An operator or attribute no
layer type describes is a gap, named with its node; one run lists every gap.

Layer names come from what the exporter left: torch's dynamo exporter writes each node's module
path in its metadata (``pkg.torch.onnx.name_scopes``), the TorchScript exporter writes it into
the node's name (``/layer1/layer1.0/conv1/Conv``), and a layer with a weight named
``features.0.weight`` is ``features.0`` (parameter names are kept by both). The module classes
in the metadata, or the numbering of the paths (``layer1.0``, ``layer1.1``), let repeated
structure fold into blocks as the PyTorch import does.
"""

from __future__ import annotations

import ast
import itertools
import math
import re
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from cnnscope.analysis import analyze
from cnnscope.errors import SpecError
from cnnscope.files import regular_file
from cnnscope.importer.fold import into_blocks
from cnnscope.importer.records import Imported, ImportFailure, all_gaps, fuse_activations
from cnnscope.importer.write import document
from cnnscope.layers import LAYER_TYPES, Layer, Shape, fmt_shape
from cnnscope.layers.base import compact
from cnnscope.spec import INPUT, Spec, parse
from cnnscope.spec.parse import NAME
from cnnscope.text import visible

BATCH = 999_983  # a dynamic batch size in shape arithmetic: a prime no real axis is
MAX_FOLDED = 1 << 24  # elements of a constant computed while reading (shape arithmetic is a few numbers)
_INT64_MAX = (1 << 63) - 1
_FLOAT = onnx.TensorProto.FLOAT
_CONTAINERS = frozenset({"Module", "Sequential", "ModuleList", "ModuleDict", "SpecModel"})


@dataclass
class Value:
    """A constant while reading: an initializer, a ``Constant``, or shape arithmetic on tensors' sizes."""

    array: np.ndarray
    sizes_of: frozenset[str] = frozenset()  # the layers whose Shape it was computed from
    name: str = ""  # the initializer it is (a parameter's name, where the exporter kept it)


@dataclass
class OnnxReading:
    """What one ONNX file gives: the layers, what the graph returns, module classes, weights and names."""

    layers: list[Imported]
    outputs: str | list[str]  # the layers the graph returns (one, or several in order)
    classes: dict[str, str]  # module path -> class name, for folding repeated structure
    weights: dict[str, np.ndarray]  # state_dict keys of the spec-built model -> values
    params: int  # learned parameters among the weights (running statistics are buffers)
    values: dict[str, str]  # layer -> the ONNX value that holds its output (the check compares them)
    input_name: str
    output_names: list[str]
    input_shape: Shape
    batch: int | None  # the batch size the file fixes, or None where it is dynamic


# --- the file -----------------------------------------------------------------------------------
def load(path: str | Path) -> onnx.ModelProto:
    """The model in ``path``, checked: a regular file under protobuf's 2 GB, an ONNX ModelProto with a
    graph, external data only in files of its own folder, local functions inlined."""
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]  # onnx's own dependency

    path = regular_file(path, "an ONNX model", ImportFailure)
    model = onnx.ModelProto()
    try:
        model.ParseFromString(path.read_bytes())
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ImportFailure(
            f"not an ONNX model, or a truncated one ({str(exc).strip() or type(exc).__name__})", path=str(path)
        ) from None
    if not model.HasField("graph") or not model.graph.node or not model.opset_import or model.ir_version <= 0:
        raise ImportFailure("not an ONNX model (no graph, operators or IR version)", path=str(path))
    _load_external_data(model, path)
    if model.functions:
        from onnx import inliner

        model = inliner.inline_local_functions(model)
    return model


def _load_external_data(model: onnx.ModelProto, path: Path) -> None:
    """Tensors stored in files beside the model (models over 2 GB): read only from regular files inside
    the model's folder, within their size; a location elsewhere (``/etc/passwd``, ``../x``) is refused."""
    from onnx import external_data_helper

    folder = path.resolve().parent
    external = [t for t in external_data_helper._get_all_tensors(model) if external_data_helper.uses_external_data(t)]
    for tensor in external:
        info = {entry.key: entry.value for entry in tensor.external_data}
        location = info.get("location", "")
        target = (folder / location).resolve()
        if not location or Path(location).is_absolute() or not target.is_relative_to(folder):
            raise ImportFailure(
                f"tensor '{tensor.name}' points at external data outside the model's folder ('{location}')",
                path=str(path),
                hint="external data files must lie beside the model",
            )
        data = regular_file(target, "ONNX external data", ImportFailure)
        end = int(info.get("offset", 0) or 0) + int(info.get("length", 0) or 0)
        if end > data.stat().st_size:
            raise ImportFailure(f"tensor '{tensor.name}' reaches past the end of '{location}'", path=str(path))
    if external:
        external_data_helper.load_external_data_for_model(model, str(folder))


# --- names ----------------------------------------------------------------------------------------
def _segment(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text).strip(".") or "_"


def _path_of_name(name: str) -> str:
    """The module path a node's name holds: ``/layer1/layer1.0/conv1/Conv`` -> ``layer1.0.conv1`` (each part
    names a module in its parent's scope, a Sequential's child as ``parent.index``); ``a/b/Op`` -> ``a.b``;
    a name without ``/`` is a path of its own."""
    parts = [p for p in name.split("/") if p]
    if len(parts) > 1 or name.startswith("/"):
        parts = parts[:-1]  # the operator (TorchScript's names always end with it: "/ReduceMean" is at the top)
    path, previous = "", ""
    for part in parts:
        if previous and part.startswith(previous + "."):
            path += part[len(previous) :]
        else:
            path = f"{path}.{part}" if path else part
        previous = part
    return ".".join(_segment(p) for p in path.split(".") if p)


def _metadata(node: onnx.NodeProto) -> tuple[str, list[tuple[str, str]]] | None:
    """The module path and the (path, class) of every module around the node, from the dynamo exporter's
    metadata; None where the node has none."""
    props = {p.key: p.value for p in node.metadata_props}
    scopes, classes = props.get("pkg.torch.onnx.name_scopes"), props.get("pkg.torch.onnx.class_hierarchy")
    if not scopes:
        return None
    try:
        paths, kinds = ast.literal_eval(scopes), ast.literal_eval(classes or "[]")
    except (ValueError, SyntaxError):
        return None
    if not isinstance(paths, list) or len(paths) < 2 or paths[0] != "":
        return None
    modules = [str(p) for p in paths[1:-1]]  # the last is the operator itself
    found = [(p, str(k).rpartition(".")[2]) for p, k in zip(modules, kinds[1:-1]) if isinstance(k, str)]
    return (modules[-1] if modules else ""), found


# --- constants --------------------------------------------------------------------------------------
def _attributes(node: onnx.NodeProto) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for attribute in node.attribute:
        value = helper.get_attribute_value(attribute)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, onnx.TensorProto):
            value = numpy_helper.to_array(value)
        found[attribute.name] = value
    return found


def _fold_binary(op: Callable[[Any, Any], Any]) -> Callable[[list[np.ndarray], dict[str, Any]], list[np.ndarray]]:
    return lambda xs, a: [np.asarray(op(xs[0], xs[1]))]


def _fold_divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer):
        return np.trunc(a / b).astype(np.result_type(a, b))  # ONNX's integer division truncates
    return np.asarray(a / b)


def _fold_slice(xs: list[np.ndarray], a: dict[str, Any]) -> list[np.ndarray]:
    x = xs[0]
    starts, ends = xs[1], xs[2]
    axes = xs[3] if len(xs) > 3 and xs[3] is not None else np.arange(len(starts))
    steps = xs[4] if len(xs) > 4 and xs[4] is not None else np.ones(len(starts), dtype=np.int64)
    index = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        index[int(axis)] = slice(int(start), int(end), int(step))
    return [x[tuple(index)]]


def _fold_unsqueeze(xs: list[np.ndarray], a: dict[str, Any]) -> list[np.ndarray]:
    axes = [int(v) for v in (xs[1] if len(xs) > 1 else a["axes"])]
    rank = xs[0].ndim + len(axes)
    return [np.expand_dims(xs[0], tuple(sorted(axis % rank for axis in axes)))]


def _fold_squeeze(xs: list[np.ndarray], a: dict[str, Any]) -> list[np.ndarray]:
    axes = xs[1] if len(xs) > 1 else a.get("axes")
    return [np.squeeze(xs[0], axis=None if axes is None else tuple(int(v) for v in axes))]


def _fold_shape(xs: list[np.ndarray], a: dict[str, Any]) -> list[np.ndarray]:
    shape = np.array(xs[0].shape, dtype=np.int64)
    return [shape[a.get("start", 0) : a.get("end", len(shape))]]


def _fold_cast(xs: list[np.ndarray], a: dict[str, Any]) -> list[np.ndarray]:
    return [xs[0].astype(helper.tensor_dtype_to_np_dtype(a["to"]))]


def _fold_constant_of_shape(xs: list[np.ndarray], a: dict[str, Any]) -> list[np.ndarray]:
    fill = a.get("value", np.zeros(1, dtype=np.float32))
    return [np.full(tuple(int(v) for v in xs[0]), fill.reshape(-1)[0], dtype=fill.dtype)]


def _fold_reshape(xs: list[np.ndarray], a: dict[str, Any]) -> list[np.ndarray]:
    target = [int(v) for v in xs[1]]
    if not a.get("allowzero", 0):
        target = [xs[0].shape[i] if v == 0 else v for i, v in enumerate(target)]
    return [xs[0].reshape(target)]


def _fold_reduce(function: Callable[..., Any]) -> Callable[[list[np.ndarray], dict[str, Any]], list[np.ndarray]]:
    def fold(xs: list[np.ndarray], a: dict[str, Any]) -> list[np.ndarray]:
        axes = xs[1] if len(xs) > 1 else a.get("axes")
        axis = None if axes is None or len(axes) == 0 else tuple(int(v) for v in axes)
        return [np.asarray(function(xs[0], axis=axis, keepdims=bool(a.get("keepdims", 1))))]

    return fold


# operators computed here when all their inputs are constants (numpy's semantics, as ONNX's)
def _fold_constant(xs: list[np.ndarray], a: dict[str, Any]) -> list[np.ndarray]:
    if "sparse_value" in a or not a:
        raise ValueError("a sparse or empty Constant")
    ((kind, value),) = a.items()
    dtype = {"value_int": np.int64, "value_ints": np.int64, "value_float": np.float32, "value_floats": np.float32}
    return [np.asarray(value, dtype=dtype.get(kind))]


FOLD: dict[str, Callable[[list[np.ndarray], dict[str, Any]], list[np.ndarray]]] = {
    "Constant": _fold_constant,
    "Identity": lambda xs, a: [xs[0]],
    "Shape": _fold_shape,
    "Size": lambda xs, a: [np.array(xs[0].size, dtype=np.int64)],
    "Gather": lambda xs, a: [np.take(xs[0], xs[1], axis=a.get("axis", 0))],
    "Unsqueeze": _fold_unsqueeze,
    "Squeeze": _fold_squeeze,
    "Concat": lambda xs, a: [np.concatenate([np.atleast_1d(x) for x in xs], axis=a["axis"])],
    "Slice": _fold_slice,
    "Cast": _fold_cast,
    "Reshape": _fold_reshape,
    "Flatten": lambda xs, a: [xs[0].reshape(math.prod(xs[0].shape[: a.get("axis", 1)]), -1)],
    "Transpose": lambda xs, a: [np.transpose(xs[0], a.get("perm"))],
    "Add": _fold_binary(np.add),
    "Sub": _fold_binary(np.subtract),
    "Mul": _fold_binary(np.multiply),
    "Div": _fold_binary(_fold_divide),
    "Equal": _fold_binary(np.equal),
    "Max": lambda xs, a: [np.maximum.reduce(xs)],
    "Min": lambda xs, a: [np.minimum.reduce(xs)],
    "Neg": lambda xs, a: [np.negative(xs[0])],
    "Abs": lambda xs, a: [np.abs(xs[0])],
    "Sqrt": lambda xs, a: [np.sqrt(xs[0])],
    "Floor": lambda xs, a: [np.floor(xs[0])],
    "Ceil": lambda xs, a: [np.ceil(xs[0])],
    "Where": lambda xs, a: [np.where(xs[0], xs[1], xs[2])],
    "ConstantOfShape": _fold_constant_of_shape,
    "Expand": lambda xs, a: [xs[0] * np.ones(tuple(int(v) for v in xs[1]), dtype=xs[0].dtype)],
    "Range": lambda xs, a: [np.arange(xs[0].item(), xs[1].item(), xs[2].item())],
    "ReduceProd": _fold_reduce(np.prod),
    "ReduceSum": _fold_reduce(np.sum),
    "ReduceMax": _fold_reduce(np.max),
    "ReduceMin": _fold_reduce(np.min),
    "DequantizeLinear": lambda xs, a: [
        ((xs[0].astype(np.float32) - (xs[2] if len(xs) > 2 else 0)) * xs[1]).astype(np.float32)
    ],
}


_BROADCASTING = frozenset({"Add", "Sub", "Mul", "Div", "Equal", "Max", "Min", "Where", "DequantizeLinear"})


def _folded_size(op: str, arrays: list[np.ndarray]) -> int:
    """Elements the folded output would hold, before it is made: ConstantOfShape, Expand and Range are
    sized by their inputs' values, broadcasting and Gather by their shapes, which a hostile file can
    make huge; every other operator makes at most what its inputs hold (the file's own size)."""
    if op == "ConstantOfShape":
        return math.prod(int(v) for v in arrays[0].reshape(-1))
    if op == "Expand":
        return math.prod(np.broadcast_shapes(arrays[0].shape, tuple(int(v) for v in arrays[1].reshape(-1))))
    if op == "Range":
        start, limit, delta = (float(x) for x in arrays[:3])
        return math.ceil((limit - start) / delta) if delta else MAX_FOLDED + 1
    if op in _BROADCASTING:
        return math.prod(np.broadcast_shapes(*(a.shape for a in arrays)))
    if op == "Gather":  # at most one slice of the data per index
        return arrays[1].size * arrays[0].size
    return sum(a.size for a in arrays)


# --- reading --------------------------------------------------------------------------------------
@dataclass
class Node:
    """One operator of the graph, with what its name or metadata say about where it comes from."""

    proto: onnx.NodeProto
    index: int
    scope: str  # the module path it lies in ("" at the top)
    label: str  # how messages name it

    @property
    def op(self) -> str:
        domain = self.proto.domain
        return self.proto.op_type if domain in ("", "ai.onnx") else f"{domain}.{self.proto.op_type}"


@dataclass
class _Layer:
    """A layer as one reader made it, before naming: its type, keys, inputs and weights."""

    cls: type[Layer]
    keys: dict[str, Any]
    sources: list[str]
    weights: dict[str, np.ndarray | None] = field(default_factory=dict)  # parameter -> value (None: absent)


def _too_large(node: Node) -> str:
    return f"{node.op} making a constant of more than {MAX_FOLDED:,} elements has no spec form"


class Gap(ImportFailure):
    """An operator, or a setting of one, that no layer type describes (one per node; all are listed)."""


class _Graph:
    """The reading of one graph: every ONNX value is a layer's output (its name), the input, or a Value."""

    def __init__(self, model: onnx.ModelProto, input_shape: Shape | None) -> None:
        graph = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.initializers = {t.name: t for t in graph.initializer}
        if graph.sparse_initializer:
            raise ImportFailure("the model holds sparse initializers, which no spec layer loads")
        inputs = [i for i in graph.input if i.name not in self.initializers]
        if len(inputs) != 1:
            names = ", ".join(f"'{i.name}'" for i in inputs) or "none"
            raise ImportFailure(f"the graph takes {len(inputs)} inputs ({names}): a spec takes one tensor")
        self.input_name = inputs[0].name
        shape, self.batch = _input_shape(inputs[0], input_shape)
        self.input_shape = shape
        self.nodes = _sorted(graph)
        self.by_index = {node.index: node for node in self.nodes}
        self.producers = {name: node.index for node in self.nodes for name in node.proto.output if name}
        self.readers: dict[str, list[int]] = {}  # value -> the nodes that read it
        for node in self.nodes:
            for name in node.proto.input:
                if name:
                    self.readers.setdefault(name, []).append(node.index)
        for output in graph.output:
            self.readers.setdefault(output.name, []).append(-1)
        self.value_shapes = _declared_shapes(graph)
        self.values: dict[str, str | Value] = {self.input_name: INPUT}
        self.shapes: dict[str, Shape] = {INPUT: shape}
        self.layers: list[Imported] = []
        self.layer_values: dict[str, str] = {}  # layer -> its ONNX value
        self.weights: dict[str, dict[str, np.ndarray]] = {}
        self.names: set[str] = set()
        self.skip: set[int] = set()  # nodes read as part of a pattern
        # constants too large to compute here (index arithmetic over the batch), by the node that would
        # make each, and the nodes computing on them: a pattern may read them (the batch's size small),
        # else asking for one, or leaving one unread at the end, is a gap
        self.deferred: dict[str, Node] = {}
        self.pads: dict[int, list[int]] = {}  # a Pad folded into the node that reads it: ONNX pads
        scopes = {node.scope for node in self.nodes}
        self.containers = {".".join(path.split(".")[:k]) for path in scopes for k in range(1, path.count(".") + 1)}
        self.param_paths = {name.rpartition(".")[0] for name in self.initializers if "." in name}
        self.classes: dict[str, str] = {}
        for node in self.nodes:
            meta = _metadata(node.proto)
            for path, kind in meta[1] if meta else []:
                if kind not in _CONTAINERS:
                    self.classes.setdefault(path, kind)

    # --- the walk ------------------------------------------------------------------------------
    def read(self) -> None:
        gaps: dict[str, list[str]] = {}
        broken: set[str] = set()  # values computed from a gap: not gaps of their own
        for node in self.nodes:
            if node.index in self.skip:
                continue
            if any(name in broken for name in node.proto.input):
                broken.update(node.proto.output)
                continue
            try:
                self._read(node)
                continue
            except Gap as exc:
                gaps.setdefault(exc.op or exc.message, []).append(exc.where or node.label)
            except (SpecError, ValueError, IndexError, KeyError, TypeError) as exc:
                message = exc.message if isinstance(exc, SpecError) else f"{type(exc).__name__}: {exc}"
                gaps.setdefault(f"{node.op}: {message}"[:200], []).append(f"node {node.label}")
            self._stand_in(node, broken)
        for node in {node.index: node for node in self.deferred.values()}.values():
            if node.index not in self.skip:  # a constant too large to make that no pattern read
                places = gaps.setdefault(_too_large(node), [])
                places += [] if f"node {node.label}" in places else [f"node {node.label}"]
        if gaps:
            raise all_gaps(gaps, items="nodes")

    def _stand_in(self, node: Node, broken: set[str]) -> None:
        """An output of a node no reader could read stands in with the shape the file declares for it, so
        that the nodes after it are still read (and their own gaps found); without one, what follows is cut."""
        for name in node.proto.output:
            declared = self.value_shapes.get(name)
            if declared and None not in declared[1:] and len(declared) > 1:
                stand_in = f"<gap {len(self.shapes)}>"
                self.shapes[stand_in] = tuple(d for d in declared[1:] if d is not None)
                self.values[name] = stand_in
            else:
                broken.add(name)

    def _read(self, node: Node) -> None:
        proto = node.proto
        waiting = [self.deferred[name] for name in proto.input if name in self.deferred]
        constants = all(name in self.deferred or self.constant(name) is not None for name in proto.input if name)
        if waiting and node.op in FOLD and constants:  # arithmetic on a constant too large to make: deferred with it
            self.deferred.update(dict.fromkeys(filter(None, proto.output), waiting[0]))
            return
        arrays = [self.constant(name) for name in proto.input]
        if all(a is not None or not name for a, name in zip(arrays, proto.input)):
            self._fold(node, arrays)
            return
        reader = READERS.get(node.op)
        if reader is None:
            raise self.gap(node, f"{node.op} has no layer type")
        reader(self, node)

    def _fold(self, node: Node, arrays: list[np.ndarray | None]) -> None:
        function = FOLD.get(node.op)
        present = [a for a in arrays if a is not None]
        if function is None:
            raise self.gap(node, f"{node.op} on constants has no reader")
        if _folded_size(node.op, present) > MAX_FOLDED:  # index arithmetic over the batch (an as_strided)?
            self.deferred.update(dict.fromkeys(filter(None, node.proto.output), node))
            return
        results = function(list(arrays), _attributes(node.proto))  # type: ignore[arg-type]
        sources = frozenset().union(
            *(v.sizes_of for name in node.proto.input if isinstance(v := self.values.get(name), Value))
        )
        for name, result in zip(node.proto.output, results):
            if name:
                self.values[name] = Value(np.asarray(result), sources)

    # --- what readers ask --------------------------------------------------------------------------
    def constant(self, name: str) -> np.ndarray | None:
        """The value of ``name`` if it is a constant (an initializer, a Constant, folded arithmetic)."""
        if not name:
            return None
        if name in self.deferred:
            raise self.gap(self.deferred[name], _too_large(self.deferred[name]))
        known = self.values.get(name)
        if isinstance(known, Value):
            return known.array
        if known is None and name in self.initializers:
            value = Value(numpy_helper.to_array(self.initializers[name]), name=name)
            self.values[name] = value
            return value.array
        if known is None and name in self.producers:  # shape arithmetic the walk has not reached: now
            node = self.by_index[self.producers[name]]
            computable = node.op in FOLD or (
                node.op in ("Shape", "Size") and isinstance(self.values.get(node.proto.input[0]), str)
            )
            if computable and node.index not in self.skip:
                self.skip.add(node.index)
                self._read(node)
                return self.constant(name)
        return None

    def at_batch(self, name: str, batch: int, visited: set[int]) -> np.ndarray:
        """``name`` computed with numpy where the batch holds ``batch`` samples: index arithmetic that the
        exporter wrote over the batch size, which no constant can hold. The nodes it runs go into ``visited``."""
        if name in self.initializers or self.producers.get(name) is None:
            value = self.constant(name)
            if value is None:
                raise ValueError(f"'{name}' is neither a constant nor computed from constants and sizes")
            return value
        node = self.by_index[self.producers[name]]
        visited.add(node.index)
        inputs: list[np.ndarray | None] = []
        for source in node.proto.input:
            known = self.values.get(source)
            if node.op in ("Shape", "Size") and isinstance(known, str):  # a tensor: only its shape is read
                inputs.append(np.broadcast_to(np.empty((), np.bool_), (batch, *self.shapes[known])))
            else:
                inputs.append(self.at_batch(source, batch, visited) if source else None)
        function = FOLD.get(node.op)
        present = [array for array in inputs if array is not None]
        if function is None or _folded_size(node.op, present) > MAX_FOLDED:
            raise ValueError(f"{node.op} is not index arithmetic")
        # absent optional inputs go in as None, as in _fold
        outputs = function(inputs, _attributes(node.proto))  # type: ignore[arg-type]
        return np.asarray(outputs[list(node.proto.output).index(name)])

    def tensor(self, node: Node, position: int) -> str:
        """The layer (or the input) whose output is input ``position`` of ``node``."""
        name = node.proto.input[position] if position < len(node.proto.input) else ""
        found = self.values.get(name)
        if not isinstance(found, str):
            raise self.gap(node, f"{node.op} with a constant where a tensor is expected (input {position + 1})")
        return found

    def input_value(self, node: Node, position: int) -> Value | None:
        name = node.proto.input[position] if position < len(node.proto.input) else ""
        self.constant(name)
        found = self.values.get(name)
        return found if isinstance(found, Value) else None

    def weight(self, node: Node, position: int, optional: bool = False) -> np.ndarray | None:
        """A constant input of ``node`` (a weight, a bias), or None where an optional one is absent."""
        name = node.proto.input[position] if position < len(node.proto.input) else ""
        if not name and optional:
            return None
        value = self.constant(name)
        if value is None:
            raise self.gap(node, f"{node.op} with a weight computed from the input (input {position + 1})")
        return value

    def shape_of(self, source: str) -> Shape:
        return self.shapes[source]

    def attrs(self, node: Node) -> dict[str, Any]:
        return _attributes(node.proto)

    def gap(self, node: Node, op: str) -> Gap:
        return Gap(f"node {node.label}: {op}", op=op, where=f"node {node.label}")

    def only_reader(self, value: str) -> Node | None:
        """The one node that reads ``value``, where exactly one does (and the graph does not return it)."""
        readers = self.readers.get(value, [])
        return self.by_index[readers[0]] if len(readers) == 1 and readers[0] >= 0 else None

    def alias(self, node: Node, source: str, output: int = 0) -> None:
        """``node`` passes ``source`` through unchanged (Identity, Dropout at inference)."""
        self.values[node.proto.output[output]] = source

    def add(self, node: Node, made: _Layer, output: int = 0, *, value: str = "", named_by: Node | None = None) -> str:
        """Make the layer read from ``node`` and name it, after ``named_by`` (the first node of a pattern)
        where given; ``value`` is the ONNX value that holds its output (default: the node's output)."""
        type_name = made.cls.type_name
        try:
            layer = made.cls.from_config(made.keys)
            inputs = [self.shapes[s] for s in made.sources]
            out = layer.infer(inputs, tuple(made.sources))
        except SpecError as exc:
            raise self.gap(node, f"{node.op} read as {type_name}: {exc.message}") from None
        value = value or node.proto.output[output]
        declared = self.value_shapes.get(value)
        if declared is not None and len(declared) == len(out) + 1 and declared[1:] != out and None not in declared:
            raise self.gap(node, f"{node.op} read as {type_name} gives {fmt_shape(out)}, the file says {declared}")
        weights = {k: v for k, v in made.weights.items() if v is not None}
        first = named_by or node
        parameters = [v.name for n in node.proto.input if isinstance(v := self.values.get(n), Value) and v.name]
        name = self._name(first, made.cls, parameters)
        record = Imported(name, layer, list(made.sources), first.scope, inputs, out, made.keys)
        self.names.add(name)
        self.shapes[name] = out
        self.layers.append(record)
        self.values[value] = name
        self.layer_values[name] = value
        if weights:
            self.weights[name] = weights
        return name

    def _name(self, node: Node, cls: type[Layer], parameters: list[str]) -> str:
        """The module path of a layer's weights (``layer1.0.conv1.weight`` -> ``layer1.0.conv1``; a layer scale
        named as its parameter), else its node's module path, else ``path.type`` (an operator of a module's
        own forward) or the type alone."""
        type_name = cls.type_name
        for parameter in parameters:
            owner = parameter if cls.named_after_parameter else parameter.rpartition(".")[0]
            if owner and _usable(owner) and owner not in self.names:
                return owner
        scope = node.scope
        if scope and scope not in self.containers and scope not in self.names:
            return scope
        if scope and scope not in self.containers:
            return self.free(scope)
        return self.free(f"{scope}.{type_name}" if scope else type_name)

    def free(self, base: str) -> str:
        taken = self.names | self.param_paths
        if base not in taken and _usable(base):
            return base
        suffix = 1
        while f"{base}_{suffix}" in taken:
            suffix += 1
        return f"{base}_{suffix}"

    # --- after the walk -------------------------------------------------------------------------------
    def fuse_activations(self, returned: list[str]) -> dict[str, str]:
        """An activation that alone reads a layer's output, and lies in that layer's module or in a module
        around it (``F.relu(self.bn(x))``, a fused ``act`` of a spec exported by cnnscope), becomes that
        layer's ``act``; an activation module of its own (``self.relu``) stays a layer. Returns the renames."""
        renamed: dict[str, str] = {}

        def joins(activation: Imported, layer: Imported) -> bool:
            scope = activation.scope
            return not activation.layer.cost(activation.inputs, activation.out).params and (
                scope == layer.name or (bool(scope) and layer.name.startswith(scope + "."))
            )

        self.layers = fuse_activations(self.layers, returned, renamed, joins)
        for old, new in renamed.items():
            self.layer_values[new] = self.layer_values.pop(old)
        return renamed

    def fold_classes(self) -> dict[str, str]:
        """Module path -> class, for folding: the exporter's where it wrote them, else a class named after
        the parent of numbered paths (``layer1.0``, ``layer2.1`` are instances of ``layer``)."""
        classes = dict(self.classes)
        for layer in self.layers:
            parts = layer.name.split(".")
            for k in range(1, len(parts)):
                path = ".".join(parts[:k])
                parent, _, last = path.rpartition(".")
                if path in classes or not last.isdigit() or not parent:
                    continue
                classes[path] = re.sub(r"\d+$", "", parent.rpartition(".")[2]) or "block"
        return classes


def _usable(name: str) -> bool:
    return bool(NAME.fullmatch(name)) and name.split(".")[-1] not in ("in", INPUT)


def _sorted(graph: onnx.GraphProto) -> list[Node]:
    """The graph's nodes in an order where each follows what it reads; a value nothing provides (a missing
    initializer) or a cycle is an error naming the node."""
    produced: dict[str, int] = {}
    for index, proto in enumerate(graph.node):
        for name in proto.output:
            if name:
                if name in produced:
                    raise ImportFailure(f"value '{name}' is computed by two nodes: not a valid graph")
                produced[name] = index
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    labels = [_label(proto, index) for index, proto in enumerate(graph.node)]
    waiting: dict[int, set[str]] = {}
    for index, proto in enumerate(graph.node):
        needed = {name for name in proto.input if name and name not in available}
        for name in needed:
            if name not in produced:
                raise ImportFailure(
                    f"node {labels[index]} ({proto.op_type}) reads '{name}', which no initializer, input or node"
                    " provides (a missing initializer?)"
                )
        waiting[index] = needed
    order: list[int] = []
    ready = deque(i for i, needed in waiting.items() if not needed)
    readers: dict[str, list[int]] = {}
    for index, needed in waiting.items():
        for name in needed:
            readers.setdefault(name, []).append(index)
    while ready:
        index = ready.popleft()
        order.append(index)
        for name in graph.node[index].output:
            for reader in readers.get(name, []):
                waiting[reader].discard(name)
                if not waiting[reader]:
                    ready.append(reader)
    if len(order) < len(graph.node):
        done = set(order)
        stuck = next(i for i in range(len(graph.node)) if i not in done)
        raise ImportFailure(f"the graph has a cycle through node {labels[stuck]} ({graph.node[stuck].op_type})")
    nodes = [Node(graph.node[index], index, "", labels[index]) for index in order]
    _find_scopes(nodes)
    return nodes


def _find_scopes(nodes: list[Node]) -> None:
    """Each node's module path: the exporter's metadata, else the node's name; where the metadata is on
    other nodes but not on this one (a node an optimizer made), the path its readers share."""
    metadata = [_metadata(node.proto) for node in nodes]
    with_metadata = any(meta is not None for meta in metadata)
    readers: dict[str, list[Node]] = {}
    for node in nodes:
        for name in node.proto.input:
            readers.setdefault(name, []).append(node)
    for node, meta in reversed(list(zip(nodes, metadata))):
        if meta is not None:
            scope = meta[0]
        elif with_metadata:
            paths = [reader.scope.split(".") for name in node.proto.output for reader in readers.get(name, [])]
            shared = [parts[0] for parts in zip(*paths) if len(set(parts)) == 1] if paths else []
            scope = ".".join(shared)
        else:
            scope = _path_of_name(node.proto.name) if node.proto.name else ""
        node.scope = ".".join(_segment(p) for p in scope.split(".") if p and not p.startswith("_empty_nn_module"))


def _label(proto: onnx.NodeProto, index: int) -> str:
    return f"'{proto.name}'" if proto.name else f"#{index} ({proto.op_type})"


def _declared_shapes(graph: onnx.GraphProto) -> dict[str, tuple[int | None, ...]]:
    """The shapes the file declares for its values (exporters write them): a check on every layer read."""
    found: dict[str, tuple[int | None, ...]] = {}
    for info in [*graph.value_info, *graph.output]:
        kind = info.type.tensor_type
        if kind.HasField("shape"):
            found[info.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in kind.shape.dim)
    return found


def _input_shape(info: onnx.ValueInfoProto, given: Shape | None) -> tuple[Shape, int | None]:
    """The input's size per sample (the file's, or ``--input`` where the file leaves sizes open) and the
    batch size the file fixes (None: dynamic)."""
    kind = info.type.tensor_type
    if not info.type.HasField("tensor_type") or kind.elem_type != _FLOAT:
        what = onnx.TensorProto.DataType.Name(kind.elem_type) if info.type.HasField("tensor_type") else "no tensor"
        raise ImportFailure(f"input '{info.name}' is {what}: a spec takes float32 tensors")
    dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in kind.shape.dim]
    if len(dims) < 2:
        raise ImportFailure(f"input '{info.name}' has {len(dims)} axes: a spec's input is a batch of tensors")
    batch, per_sample = dims[0], dims[1:]
    shown = "x".join("?" if d is None else str(d) for d in per_sample)
    if given is not None:
        if len(given) == len(per_sample) - 1 and per_sample[0] is not None:  # the spatial sizes alone
            given = (per_sample[0], *given)
        elif len(given) == 1 and len(per_sample) > 1 and per_sample[0] is not None:
            given = (per_sample[0],) + given * (len(per_sample) - 1)
        if len(given) != len(per_sample) or any(d is not None and d != g for d, g in zip(per_sample, given)):
            raise ImportFailure(f"--input {fmt_shape(given)} does not fit input '{info.name}' of {shown} per sample")
        return tuple(given), batch
    if None in per_sample:
        raise ImportFailure(
            f"input '{info.name}' has sizes {shown} per sample, not all fixed in the file",
            hint="give them with --input, e.g. --input 3x224x224",
        )
    return tuple(d for d in per_sample if d is not None), batch


# --- the readers of operators ---------------------------------------------------------------------
Reader = Callable[[_Graph, Node], None]
READERS: dict[str, Reader] = {}


def reads(*ops: str) -> Callable[[Reader], Reader]:
    def register(function: Reader) -> Reader:
        for op in ops:
            READERS[op] = function
        return function

    return register


def _type(name: str) -> type[Layer]:
    return LAYER_TYPES[name]


def _short(value: float) -> float:
    """A float32 attribute as the shortest decimal that is that float32: 1e-05, not 9.99999974738e-06."""
    return float(str(np.float32(value)))


def _ints(values: Any) -> list[int]:
    return [int(v) for v in values]


def _padding(g: _Graph, node: Node, shape: Shape, kernel: list[int], stride: list[int], dilation: list[int]) -> Any:
    """A spec's ``padding`` for ONNX's ``pads``/``auto_pad`` (and a Pad folded into the node): the same
    amount on both sides, or TensorFlow's SAME (the odd zero at the end), else a gap."""
    a = g.attrs(node)
    axes = len(kernel)
    pads = _ints(a.get("pads", [0] * 2 * axes))
    extra = g.pads.get(node.index)
    if extra:
        pads = [p + e for p, e in zip(pads, extra)]
    auto = a.get("auto_pad", "NOTSET")
    same = []
    for size, k, s, d in zip(shape[1:], kernel, stride, dilation):
        total = max((-(-size // s) - 1) * s + d * (k - 1) + 1 - size, 0)
        same += [total // 2, total - total // 2]
    begins, ends = (same[0::2], same[1::2]) if auto in ("SAME_UPPER", "SAME_LOWER") else (pads[:axes], pads[axes:])
    if auto == "VALID":
        return 0
    if auto == "SAME_LOWER" and begins != ends:
        raise g.gap(node, f"{node.op} with auto_pad SAME_LOWER (the odd zero first) has no spec form")
    if begins == ends:
        return compact(begins)
    if (begins, ends) == (same[0::2], same[1::2]):
        return "same"
    raise g.gap(node, f"{node.op} padded {begins} before and {ends} after has no spec form")


def _convolution(
    g: _Graph, node: Node, spatial: tuple[int, ...]
) -> tuple[str, np.ndarray, np.ndarray | None, int, dict[str, Any]]:
    """A Conv's or ConvTranspose's input, weight, bias (or None), spatial axes (one of ``spatial``) and attributes."""
    x = g.tensor(node, 0)
    w = g.weight(node, 1)
    assert w is not None
    bias = g.weight(node, 2, optional=True)
    ndim = w.ndim - 2
    if ndim not in spatial:
        raise g.gap(node, f"{node.op} with {ndim} spatial axes has no layer type")
    return x, w, bias, ndim, g.attrs(node)


@reads("Conv")
def _conv(g: _Graph, node: Node) -> None:
    x, w, bias, ndim, a = _convolution(g, node, (1, 2, 3))
    kernel = list(w.shape[2:])
    stride, dilation = _ints(a.get("strides", [1] * ndim)), _ints(a.get("dilations", [1] * ndim))
    keys = {
        "out": int(w.shape[0]),
        "kernel": compact(kernel),
        "stride": compact(stride),
        "padding": _padding(g, node, g.shape_of(x), kernel, stride, dilation),
        "dilation": compact(dilation),
        "groups": int(a.get("group", 1)),
        "bias": bias is not None,
    }
    g.add(node, _Layer(_type(f"conv{ndim}d"), keys, [x], {"weight": w, "bias": bias}))


@reads("ConvTranspose")
def _conv_transpose(g: _Graph, node: Node) -> None:
    x, w, bias, ndim, a = _convolution(g, node, (1, 2))
    if "output_shape" in a or a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise g.gap(node, "ConvTranspose with output_shape or auto_pad has no spec form")
    pads = _ints(a.get("pads", [0] * 2 * ndim))
    if pads[:ndim] != pads[ndim:]:
        raise g.gap(node, f"ConvTranspose padded {pads[:ndim]} before and {pads[ndim:]} after has no spec form")
    groups = int(a.get("group", 1))
    keys = {
        "out": int(w.shape[1]) * groups,
        "kernel": compact(list(w.shape[2:])),
        "stride": compact(_ints(a.get("strides", [1] * ndim))),
        "padding": compact(pads[:ndim]),
        "output_padding": compact(_ints(a.get("output_padding", [0] * ndim))),
        "dilation": compact(_ints(a.get("dilations", [1] * ndim))),
        "groups": groups,
        "bias": bias is not None,
    }
    g.add(node, _Layer(_type(f"conv_transpose{ndim}d"), keys, [x], {"weight": w, "bias": bias}))


def _pool_type(g: _Graph, node: Node, reduce: str, axes: int) -> type[Layer]:
    name = {1: f"{reduce}pool1d", 2: f"{reduce}pool", 3: f"{reduce}pool3d"}.get(axes)
    if name is None:
        raise g.gap(node, f"{node.op} over {axes} axes has no layer type")
    return _type(name)


@reads("MaxPool", "AveragePool")
def _pool(g: _Graph, node: Node) -> None:
    x = g.tensor(node, 0)
    if len(node.proto.output) > 1 and node.proto.output[1] and g.readers.get(node.proto.output[1]):
        raise g.gap(node, "MaxPool's indices have no spec form")
    a = g.attrs(node)
    kernel = _ints(a["kernel_shape"])
    axes = len(kernel)
    stride = _ints(a.get("strides", [1] * axes))
    dilation = _ints(a.get("dilations", [1] * axes))
    if any(d != 1 for d in dilation):
        raise g.gap(node, f"{node.op} with dilations {dilation} has no spec form")
    padding = _padding(g, node, g.shape_of(x), kernel, stride, dilation)
    if padding == "same":
        raise g.gap(node, f"{node.op} padded as TensorFlow's SAME (more at the end) has no spec form")
    keys: dict[str, Any] = {"kernel": compact(kernel)}
    if compact(stride) != keys["kernel"]:
        keys["stride"] = compact(stride)
    if padding != 0:
        keys["padding"] = padding
    if a.get("ceil_mode", 0):
        keys["ceil"] = True
    reduce = "max" if node.op == "MaxPool" else "avg"
    if reduce == "avg" and padding != 0 and not a.get("count_include_pad", 0):
        keys["count_pad"] = False
    g.add(node, _Layer(_pool_type(g, node, reduce, axes), keys, [x]))


@reads("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(g: _Graph, node: Node) -> None:
    x = g.tensor(node, 0)
    spatial = list(range(1, len(g.shape_of(x))))
    if node.op == "GlobalAveragePool" and len(spatial) in (2, 3):
        g.add(node, _Layer(_type("global_avgpool" if len(spatial) == 2 else "global_avgpool3d"), {}, [x]))
        return
    op = "mean" if node.op == "GlobalAveragePool" else "max"
    g.add(node, _Layer(_type("reduce"), {"op": op, "axes": spatial, "keepdim": True}, [x]))


@reads("ReduceMean", "ReduceSum", "ReduceMax")
def _reduce_op(g: _Graph, node: Node) -> None:
    x = g.tensor(node, 0)
    a = g.attrs(node)
    rank = len(g.shape_of(x)) + 1
    given = g.weight(node, 1, optional=True) if len(node.proto.input) > 1 else a.get("axes")
    if given is None or len(given) == 0:
        raise g.gap(node, f"{node.op} over every axis (the batch's too) has no spec form")
    axes = sorted(int(v) % rank for v in np.reshape(given, -1))
    if 0 in axes:
        raise g.gap(node, f"{node.op} over the batch axis has no spec form")
    keep = bool(a.get("keepdims", 1))
    op = {"ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "max"}[node.op]
    spatial = list(range(2, rank))
    if op == "mean" and axes == spatial and keep and rank in (4, 5):
        g.add(node, _Layer(_type("global_avgpool" if rank == 4 else "global_avgpool3d"), {}, [x]))
    elif op == "mean" and axes == spatial and not keep:
        g.add(node, _Layer(_type("mean"), {}, [x]))
    else:
        keys = {"op": op, "axes": [axis - 1 for axis in axes], "keepdim": keep}
        g.add(node, _Layer(_type("reduce"), keys, [x]))


@reads("Gemm")
def _gemm(g: _Graph, node: Node) -> None:
    x = g.tensor(node, 0)
    a = g.attrs(node)
    if a.get("transA", 0) or len(g.shape_of(x)) != 1:
        raise g.gap(node, "Gemm with transA, or on more than a vector per sample, has no spec form")
    b = g.weight(node, 1)
    assert b is not None
    weight = (b if a.get("transB", 0) else b.T) * np.float32(a.get("alpha", 1.0))
    c = g.weight(node, 2, optional=True)
    bias = None
    if c is not None:
        bias = np.broadcast_to(c.reshape(-1) if c.size == weight.shape[0] else c, (weight.shape[0],))
        bias = (bias * np.float32(a.get("beta", 1.0))).astype(weight.dtype)
    _linear(g, node, x, weight.astype(b.dtype), bias)


@reads("MatMul")
def _matmul(g: _Graph, node: Node) -> None:
    x = g.tensor(node, 0)
    if g.constant(node.proto.input[1]) is None:  # of two tensors: a matrix product (attention, GCNet's pooling)
        g.add(node, _Layer(_type("matmul"), {}, [x, g.tensor(node, 1)]))
        return
    b = g.weight(node, 1)
    assert b is not None
    if b.ndim != 2:
        raise g.gap(node, f"MatMul by a constant of {b.ndim} axes has no spec form")
    _linear(g, node, x, b.T, None)


def _linear(g: _Graph, node: Node, x: str, weight: np.ndarray, bias: np.ndarray | None) -> None:
    """A linear layer; a bias added by the next node (MatMul then Add) joins it."""
    value = ""
    if bias is None:
        following = g.only_reader(node.proto.output[0])
        bias = _added_bias(g, node, following, weight.shape[0])
        if bias is not None and following is not None:
            g.skip.add(following.index)
            value = following.proto.output[0]
    keys = {"out": int(weight.shape[0]), "bias": bias is not None}
    made = _Layer(_type("linear"), keys, [x], {"weight": np.ascontiguousarray(weight), "bias": bias})
    g.add(node, made, value=value)


def _added_bias(g: _Graph, node: Node, following: Node | None, size: int) -> np.ndarray | None:
    """The constant of ``Add(y, b)`` right after the node, where it holds one value per output: the bias."""
    if following is None or following.op != "Add":
        return None
    other = [name for name in following.proto.input if name != node.proto.output[0]]
    bias = g.constant(other[0]) if len(other) == 1 else None
    if bias is None or bias.size != size or bias.shape[-1] != size:
        return None
    return bias.reshape(-1)


@reads("BatchNormalization")
def _batchnorm(g: _Graph, node: Node) -> None:
    x = g.tensor(node, 0)
    a = g.attrs(node)
    if a.get("training_mode", 0) or any(g.readers.get(o) for o in node.proto.output[1:] if o):
        raise g.gap(node, "BatchNormalization in training mode has no spec form")
    scale, shift, mean, var = (g.weight(node, i) for i in range(1, 5))
    momentum = round(1.0 - _short(a.get("momentum", 0.9)), 10)  # ONNX keeps the old statistics' share
    keys = {"eps": _short(a.get("epsilon", 1e-5)), "momentum": momentum if 0 < momentum < 1 else 0.1, "affine": True}
    weights = {"weight": scale, "bias": shift, "running_mean": mean, "running_var": var}
    g.add(node, _Layer(_type("batchnorm"), keys, [x], weights))  # type: ignore[arg-type]


@reads("LayerNormalization")
def _layernorm(g: _Graph, node: Node) -> None:
    x = g.tensor(node, 0)
    a = g.attrs(node)
    rank = len(g.shape_of(x)) + 1
    if int(a.get("axis", -1)) % rank != rank - 1:
        raise g.gap(node, "LayerNormalization over more than the last axis has no spec form")
    scale = g.weight(node, 1)
    assert scale is not None
    shift = g.weight(node, 2, optional=True)
    keys = {"over": "last", "eps": _short(a.get("epsilon", 1e-5)), "affine": True}
    weights = {"weight": scale, "bias": shift if shift is not None else np.zeros_like(scale)}
    g.add(node, _Layer(_type("layernorm"), keys, [x], weights))  # type: ignore[arg-type]


@reads("GroupNormalization")
def _groupnorm(g: _Graph, node: Node) -> None:
    x = g.tensor(node, 0)
    a = g.attrs(node)
    groups, channels = int(a["num_groups"]), g.shape_of(x)[0]
    scale, shift = g.weight(node, 1), g.weight(node, 2)
    assert scale is not None and shift is not None
    if scale.size == groups and groups != channels:  # opset 18: one scale per group, the same for its channels
        scale, shift = np.repeat(scale, channels // groups), np.repeat(shift, channels // groups)
    keys = {"groups": groups, "eps": _short(a.get("epsilon", 1e-5)), "affine": True}
    g.add(node, _Layer(_type("groupnorm"), keys, [x], {"weight": scale, "bias": shift}))


@reads("InstanceNormalization")
def _instancenorm(g: _Graph, node: Node) -> None:
    """ONNX always holds a scale and a shift: ones and zeros are torch's InstanceNorm without ``affine``."""
    x = g.tensor(node, 0)
    scale, shift = g.weight(node, 1), g.weight(node, 2)
    assert scale is not None and shift is not None
    affine = not (np.all(scale == 1) and np.all(shift == 0))
    keys = {"eps": _short(g.attrs(node).get("epsilon", 1e-5)), "affine": affine}
    g.add(node, _Layer(_type("instancenorm"), keys, [x], {"weight": scale, "bias": shift} if affine else {}))


@reads("LRN")
def _lrn(g: _Graph, node: Node) -> None:
    a = g.attrs(node)
    keys = {
        "size": int(a["size"]),
        "alpha": _short(a.get("alpha", 1e-4)),
        "beta": _short(a.get("beta", 0.75)),
        "k": _short(a.get("bias", 1.0)),
    }
    g.add(node, _Layer(_type("lrn"), keys, [g.tensor(node, 0)]))


ACTIVATIONS = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "hardswish"}


@reads(*ACTIVATIONS)
def _activation(g: _Graph, node: Node) -> None:
    x = g.tensor(node, 0)
    if node.op == "Sigmoid" and _gated(g, node, x, "silu"):  # x * sigmoid(x)
        return
    g.add(node, _Layer(_type(ACTIVATIONS[node.op]), {}, [x]))


def _gated(g: _Graph, node: Node, x: str, kind: str) -> bool:
    """``Mul(x, f(x))`` where ``f(x)`` is read by that Mul alone: one activation (silu, hardswish)."""
    following = g.only_reader(node.proto.output[0])
    if following is None or following.op != "Mul":
        return False
    inputs = list(following.proto.input)
    if sorted(inputs) != sorted([node.proto.input[0], node.proto.output[0]]):
        return False
    g.skip.add(following.index)
    g.add(following, _Layer(_type(kind), {}, [x]), named_by=node)
    return True


@reads("HardSigmoid")
def _hardsigmoid(g: _Graph, node: Node) -> None:
    x = g.tensor(node, 0)
    a = g.attrs(node)
    alpha, beta = float(a.get("alpha", 0.2)), float(a.get("beta", 0.5))
    if not (math.isclose(alpha, 1 / 6, rel_tol=1e-6) and math.isclose(beta, 0.5)):
        raise g.gap(node, f"HardSigmoid with alpha {alpha:g}, beta {beta:g} (torch's: 1/6, 0.5) has no spec form")
    if _gated(g, node, x, "hardswish"):  # x * hardsigmoid(x)
        return
    g.add(node, _Layer(_type("hardsigmoid"), {}, [x]))


@reads("LeakyRelu")
def _leaky_relu(g: _Graph, node: Node) -> None:
    slope = _short(g.attrs(node).get("alpha", 0.01))
    g.add(node, _Layer(_type("leaky_relu"), {"slope": slope}, [g.tensor(node, 0)]))


@reads("Gelu")
def _gelu(g: _Graph, node: Node) -> None:
    approximate = g.attrs(node).get("approximate", "none")
    g.add(node, _Layer(_type("gelu"), {"approximate": approximate}, [g.tensor(node, 0)]))


@reads("Clip")
def _clip(g: _Graph, node: Node) -> None:
    x = g.tensor(node, 0)
    a = g.attrs(node)
    low = g.weight(node, 1, optional=True) if len(node.proto.input) > 1 else a.get("min")
    high = g.weight(node, 2, optional=True) if len(node.proto.input) > 2 else a.get("max")
    bounds = (None if low is None else float(low), None if high is None or float(high) > 3e38 else float(high))
    kinds = {(0.0, 6.0): "relu6", (0.0, None): "relu"}
    if bounds not in kinds:
        raise g.gap(node, f"Clip to {bounds} has no layer type (relu: 0..inf, relu6: 0..6)")
    g.add(node, _Layer(_type(kinds[bounds]), {}, [x]))


@reads("PRelu")
def _prelu(g: _Graph, node: Node) -> None:
    x = g.tensor(node, 0)
    slope = g.weight(node, 1)
    assert slope is not None
    shape = g.shape_of(x)
    if slope.size > 1 and _per_channel(slope.shape, shape) is None:
        raise g.gap(node, f"PRelu with slopes of shape {list(slope.shape)} on {fmt_shape(shape)} has no spec form")
    keys = {"per_channel": True} if slope.size > 1 else {}
    g.add(node, _Layer(_type("prelu"), keys, [x], {"weight": slope.reshape(-1)}))


@reads("Softmax", "LogSoftmax")
def _softmax(g: _Graph, node: Node) -> None:
    x = g.tensor(node, 0)
    shape = g.shape_of(x)
    rank = len(shape) + 1
    axis = int(g.attrs(node).get("axis", -1 if g.opset >= 13 else 1)) % rank
    if g.opset < 13 and any(size != 1 for size in shape[axis:]):  # before opset 13: over all axes from `axis` on
        raise g.gap(node, f"{node.op} (opset {g.opset}) over axes {axis} and after has no spec form")
    if axis == 0:
        raise g.gap(node, f"{node.op} over the batch axis has no spec form")
    kind = "log_softmax" if node.op == "LogSoftmax" else "softmax"
    g.add(node, _Layer(_type(kind), {"axis": axis - 1}, [x]))


@reads("Add", "Mul", "Div", "Sum", "Sub")
def _elementwise(g: _Graph, node: Node) -> None:
    names = list(node.proto.input)
    tensors = [g.values.get(name) for name in names]
    if all(isinstance(t, str) for t in tensors) and node.op != "Div":
        kind = {"Mul": "mul", "Sub": "sub"}.get(node.op, "add")
        g.add(node, _Layer(_type(kind), {}, [str(t) for t in tensors]))
        return
    constant = next((g.constant(n) for n in names if g.constant(n) is not None), None)
    x = next((t for t in tensors if isinstance(t, str)), None)
    if (
        node.op == "Sub"
        and len(names) == 2
        and x is not None
        and x == tensors[0]
        and constant is not None
        and constant.size == 1
    ):
        g.add(node, _Layer(_type("sub"), {"by": float(constant.reshape(-1)[0])}, [x]))  # x - c
        return
    if node.op == "Sub":
        raise g.gap(node, "Sub of these inputs (a constant first, or of a shape) has no layer type")
    if len(names) != 2 or constant is None or x is None or (node.op == "Div" and g.constant(names[1]) is None):
        raise g.gap(node, f"{node.op} of these inputs has no layer type")
    shape = g.shape_of(x)
    if node.op == "Add":
        raise g.gap(node, "Add of a constant (other than a linear layer's bias) has no layer type")
    if constant.size == 1:
        factor = float(constant.reshape(-1)[0])
        factor = 1 / factor if node.op == "Div" else factor
        if not (math.isclose(factor, math.sqrt(0.5), rel_tol=1e-6) and _erf_gelu(g, node, x)):
            g.add(node, _Layer(_type("mul"), {"by": factor}, [x]))
        return
    stored = _per_channel(constant.shape, shape)
    if node.op == "Mul" and stored is not None:  # a learned multiplier per channel (layer scale)
        keys = {} if stored == (shape[0], *[1] * (len(shape) - 1)) else {"stored": list(stored)}
        g.add(node, _Layer(_type("scale"), keys, [x], {"": constant.reshape(stored)}))
        return
    raise g.gap(node, f"{node.op} by a constant of shape {list(constant.shape)} has no layer type")


def _erf_gelu(g: _Graph, node: Node, x: str) -> bool:
    """GELU as torch's exporter wrote it before opset 20 had Gelu, ``x * (erf(x / sqrt(2)) + 1) * 0.5``,
    from the node that scales ``x`` by 1/sqrt(2); each step read by the next alone."""
    steps, last = [], node
    for op, constant in (("Erf", None), ("Add", 1.0), ("Mul", None), ("Mul", 0.5)):
        following = g.only_reader(last.proto.output[0])
        if following is None or following.op != op:
            return False
        others = [name for name in following.proto.input if name != last.proto.output[0]]
        if constant is not None:
            value = g.constant(others[0]) if len(others) == 1 else None
            if value is None or value.size != 1 or not math.isclose(float(value.reshape(-1)[0]), constant):
                return False
        elif op == "Mul" and (len(others) != 1 or g.values.get(others[0]) != x):
            return False
        steps.append(following)
        last = following
    g.skip.update(step.index for step in steps)
    g.add(last, _Layer(_type("gelu"), {}, [x]), named_by=node)
    return True


def _per_channel(constant: tuple[int, ...], shape: Shape) -> Shape | None:
    """The per-sample shape of a constant that holds one value per channel of ``shape`` (C x 1 x 1
    against C x H x W, once numpy's broadcasting aligns it with the batch), else None."""
    if len(constant) > len(shape) + 1:
        return None
    whole = (1,) * (len(shape) + 1 - len(constant)) + tuple(constant)
    if whole[0] != 1 or whole[1] != shape[0] or any(d != 1 for d in whole[2:]):
        return None
    return whole[1:]


@reads("Shape", "Size")
def _shape_op(g: _Graph, node: Node) -> None:
    """A tensor's sizes as a constant (the batch as the file fixes it, or :data:`BATCH`), remembered as
    that tensor's: a Resize to them resizes to that tensor's size at any input size."""
    x = g.tensor(node, 0)
    whole = np.array([g.batch or BATCH, *g.shape_of(x)], dtype=np.int64)
    a = g.attrs(node)
    value = whole[a.get("start", 0) : a.get("end", len(whole))] if node.op == "Shape" else np.array(whole.prod())
    g.values[node.proto.output[0]] = Value(value, frozenset({x}))


@reads("Concat")
def _concat(g: _Graph, node: Node) -> None:
    sources = [g.tensor(node, i) for i in range(len(node.proto.input))]
    rank = len(g.shape_of(sources[0])) + 1
    axis = int(g.attrs(node)["axis"]) % rank
    if axis == 0:
        raise g.gap(node, "Concat along the batch axis has no spec form")
    keys = {"axis": axis - 1} if axis > 1 else {}
    if len(sources) == 1:
        g.alias(node, sources[0])
        return
    g.add(node, _Layer(_type("concat"), keys, sources))


@reads("Identity", "Dropout")
def _identity(g: _Graph, node: Node) -> None:
    if node.op == "Dropout" and (g.attrs(node).get("training_mode") or len(node.proto.input) > 2):
        training = g.weight(node, 2, optional=True) if len(node.proto.input) > 2 else None
        if training is not None and bool(training.reshape(-1)[0]):
            raise g.gap(node, "Dropout in training mode has no spec form")
    g.alias(node, g.tensor(node, 0))


@reads("Cast")
def _cast(g: _Graph, node: Node) -> None:
    if int(g.attrs(node)["to"]) != _FLOAT:
        raise g.gap(node, "Cast of a tensor to another type than float32 has no spec form")
    g.alias(node, g.tensor(node, 0))


@reads("Flatten")
def _flatten(g: _Graph, node: Node) -> None:
    if int(g.attrs(node).get("axis", 1)) != 1:
        raise g.gap(node, "Flatten at another axis than 1 has no spec form")
    g.add(node, _Layer(_type("flatten"), {}, [g.tensor(node, 0)]))


def _reshaped(g: _Graph, node: Node, x: str, target: list[int], asked: list[int] | None = None) -> None:
    """``x`` as ``target`` (per sample): a flatten where it is one vector, else a reshape."""
    shape = g.shape_of(x)
    if len(target) == 1 and target[0] == math.prod(shape):
        g.add(node, _Layer(_type("flatten"), {}, [x]))
        return
    keys = {"shape": asked if asked and asked.count(-1) == 1 else target}
    g.add(node, _Layer(_type("reshape"), keys, [x]))


def _per_sample(g: _Graph, node: Node, whole: list[int]) -> list[int]:
    batch = g.batch or BATCH
    if not whole or whole[0] != batch:
        raise g.gap(node, f"{node.op} that changes the batch axis (to {whole[:1]}) has no spec form")
    return whole[1:]


def _reshape_target(g: _Graph, node: Node, shape: Shape) -> tuple[list[int], list[int]]:
    """What a Reshape of a batch of ``shape`` asks (its target as given) and gives per sample, 0 and -1
    resolved as ONNX resolves them."""
    target = g.weight(node, 1)
    assert target is not None
    full = (g.batch or BATCH, *shape)
    asked = [int(v) for v in target.reshape(-1)]
    allow_zero = g.attrs(node).get("allowzero", 0)
    resolved = [full[i] if v == 0 and not allow_zero else v for i, v in enumerate(asked)]
    if resolved.count(-1) == 1:
        known = math.prod(v for v in resolved if v != -1)
        resolved = [math.prod(full) // known if v == -1 and known else v for v in resolved]
    if math.prod(resolved) != math.prod(full):
        raise g.gap(node, f"Reshape of {fmt_shape(shape)} to {asked} does not fit")
    return asked, _per_sample(g, node, resolved)


@reads("Reshape")
def _reshape(g: _Graph, node: Node) -> None:
    x = g.tensor(node, 0)
    if _strided_gather(g, node, x):
        return
    asked, target = _reshape_target(g, node, g.shape_of(x))
    if _channel_shuffle(g, node, x, target):
        return
    kept = asked[1:] if asked[0] in (g.batch or BATCH, 0, -1) and -1 in asked[1:] else None  # follows the input
    _reshaped(g, node, x, target, kept)


def _strided_gather(g: _Graph, node: Node, x: str) -> bool:
    """A view torch's exporter cannot write as one (an ``as_strided``: timm's ConvNeXt head under a dynamic
    batch) comes as the whole batch flattened to one axis, then a Gather of the indices ``b * S + offsets``,
    computed from the batch size (S values a sample). Where the offsets take each sample's values in the
    order of a reshape or of a permutation of its axes, it is that layer, or nothing at all."""
    target = g.constant(node.proto.input[1])
    gather = g.only_reader(node.proto.output[0])
    if target is None or target.size != 1 or int(target.reshape(-1)[0]) != -1 or gather is None:
        return False
    if (
        gather.op != "Gather"
        or int(g.attrs(gather).get("axis", 0)) != 0
        or gather.proto.input[0] != node.proto.output[0]
    ):
        return False
    shape = g.shape_of(x)
    count = math.prod(shape)
    visited: set[int] = set()
    try:
        one, two = (g.at_batch(gather.proto.input[1], batch, visited) for batch in (1, 2))
    except (ValueError, KeyError, IndexError, TypeError):
        return False
    offsets = one[0] if one.ndim > 1 and one.shape[0] == 1 else None
    if (
        offsets is None
        or two.shape != (2, *offsets.shape)
        or not np.array_equal(two, np.stack([offsets, offsets + count]))
    ):
        return False
    order = np.arange(count).reshape(shape)
    value = gather.proto.output[0]
    if np.array_equal(offsets.reshape(-1), order.reshape(-1)):
        if offsets.shape == shape:
            g.values[value] = x  # the same view: nothing to compute
        else:
            _reshaped(g, gather, x, list(offsets.shape))
    else:
        dims = next(
            (p for p in itertools.permutations(range(len(shape))) if np.array_equal(order.transpose(p), offsets)), None
        )
        if dims is None:
            return False
        g.add(gather, _Layer(_type("permute"), {"dims": list(dims)}, [x]))
    g.skip.update({gather.index, *visited})
    return True


def _channel_shuffle(g: _Graph, node: Node, x: str, split: list[int]) -> bool:
    """ShuffleNet's ``view(n, g, c/g, h, w) -> transpose(1, 2) -> view(n, c, h, w)``: one channel_shuffle."""
    before = g.shape_of(x)
    if len(before) != 3 or len(split) != 4 or split[0] * split[1] != before[0] or tuple(split[2:]) != before[1:]:
        return False
    transpose = g.only_reader(node.proto.output[0])
    if transpose is None or transpose.op != "Transpose" or _ints(g.attrs(transpose).get("perm", [])) != [0, 2, 1, 3, 4]:
        return False
    back = g.only_reader(transpose.proto.output[0])
    if back is None or back.op != "Reshape" or g.constant(back.proto.input[1]) is None:
        return False
    if tuple(_reshape_target(g, back, (split[1], split[0], *split[2:]))[1]) != before:
        return False
    g.skip.update({transpose.index, back.index})
    g.add(back, _Layer(_type("channel_shuffle"), {"groups": split[0]}, [x]), named_by=node)
    return True


@reads("Squeeze", "Unsqueeze")
def _squeeze(g: _Graph, node: Node) -> None:
    x = g.tensor(node, 0)
    shape = g.shape_of(x)
    a = g.attrs(node)
    given = g.weight(node, 1, optional=True) if len(node.proto.input) > 1 else a.get("axes")
    probe = np.empty((1, *shape), dtype=np.bool_)  # the shape only: no elements are copied
    arrays = [probe] + ([np.asarray(given)] if given is not None else [])
    result = (_fold_squeeze if node.op == "Squeeze" else _fold_unsqueeze)(arrays, {})[0]
    if result.ndim == 0 or result.shape[0] != 1:
        raise g.gap(node, f"{node.op} of the batch axis has no spec form")
    _reshaped(g, node, x, list(result.shape[1:]))


@reads("Transpose")
def _transpose(g: _Graph, node: Node) -> None:
    x = g.tensor(node, 0)
    rank = len(g.shape_of(x)) + 1
    perm = _ints(g.attrs(node).get("perm", list(reversed(range(rank)))))
    if perm[0] != 0:
        raise g.gap(node, "Transpose that moves the batch axis has no spec form")
    g.add(node, _Layer(_type("permute"), {"dims": [p - 1 for p in perm[1:]]}, [x]))


def _cuts(g: _Graph, node: Node, full: Shape) -> dict[int, tuple[int, int | None, int]]:
    """What a Slice of a batch of ``full`` keeps: axis -> (start, stop or None for the end, step), for the
    axes it does not keep whole."""
    a = g.attrs(node)
    if len(node.proto.input) > 1:
        starts, ends = g.weight(node, 1), g.weight(node, 2)
        axes, steps = g.weight(node, 3, optional=True), g.weight(node, 4, optional=True)
    else:  # before opset 10: attributes
        starts, ends, axes, steps = a["starts"], a["ends"], a.get("axes"), None
    assert starts is not None and ends is not None
    cuts = {}
    for start, end, axis, step in zip(
        _ints(starts),
        _ints(ends),
        _ints(axes if axes is not None else range(len(starts))),
        _ints(steps if steps is not None else [1] * len(starts)),
    ):
        axis %= len(full)
        kept = range(full[axis])[start : min(end, _INT64_MAX) : step]
        if step < 1 or axis == 0:
            if len(kept) == full[axis] and step == 1:
                continue
            raise g.gap(node, "Slice of the batch axis, or backwards, has no spec form")
        if len(kept) < full[axis]:
            cuts[axis] = (kept.start, None if kept.stop >= full[axis] else kept.stop, step)
    return cuts


@reads("Slice")
def _slice_op(g: _Graph, node: Node) -> None:
    """One axis cut: a slice. Several spatial axes cut about their centres, by one Slice or by one Slice per
    axis each read by the next alone (a crop written axis by axis): a crop."""
    x = g.tensor(node, 0)
    full = (g.batch or BATCH, *g.shape_of(x))
    cuts, last = _cuts(g, node, full), node
    while (following := g.only_reader(last.proto.output[0])) is not None and following.op == "Slice":
        if not all(g.constant(name) is not None for name in following.proto.input[1:] if name):
            break
        cropped = tuple(
            len(range(full[a])[c[0] : c[1] : c[2]]) if (c := cuts.get(a)) else full[a] for a in range(len(full))
        )
        more = _cuts(g, following, cropped)
        if set(more) & set(cuts):
            break
        cuts.update({axis: (start, stop, step) for axis, (start, stop, step) in more.items()})
        g.skip.add(following.index)
        last = following
    value = last.proto.output[0]
    if not cuts:
        g.values[value] = x
    elif len(cuts) == 1:
        ((axis, (start, stop, step)),) = cuts.items()
        keys = {"axis": axis - 1, "start": start, "stop": stop, "step": step}
        g.add(node, _Layer(_type("slice"), keys, [x]), value=value)
    else:
        sizes = []
        for axis in range(2, len(full)):  # a centre crop: offset (I - O) // 2 on each spatial axis
            start, stop, step = cuts.get(axis, (0, None, 1))
            size = (full[axis] if stop is None else stop) - start
            if step != 1 or start != (full[axis] - size) // 2 or 1 in cuts:
                raise g.gap(node, f"Slice of axes {sorted(cuts)} that is no centre crop has no spec form")
            sizes.append(size)
        g.add(node, _Layer(_type("crop"), {"size": compact(sizes)}, [x]), value=value)


@reads("Split")
def _split(g: _Graph, node: Node) -> None:
    x = g.tensor(node, 0)
    shape = g.shape_of(x)
    a = g.attrs(node)
    axis = int(a.get("axis", 0)) % (len(shape) + 1)
    if axis == 0:
        raise g.gap(node, "Split of the batch axis has no spec form")
    size = shape[axis - 1]
    given = g.weight(node, 1, optional=True) if len(node.proto.input) > 1 else a.get("split")
    pieces = len(node.proto.output)
    if given is None:
        step = -(-size // pieces)
        given = [min(step, size - k * step) for k in range(pieces)]
    start = 0
    for index, length in enumerate(_ints(np.reshape(given, -1))):
        output = node.proto.output[index]
        if output and g.readers.get(output):
            keys = {"axis": axis - 1, "start": start, "stop": start + length}
            g.add(node, _Layer(_type("slice"), keys, [x]), output=index)
        start += length


@reads("Resize", "Upsample")
def _resize(g: _Graph, node: Node) -> None:
    x = g.tensor(node, 0)
    shape = g.shape_of(x)
    a = g.attrs(node)
    mode = a.get("mode", "nearest")
    transform = a.get("coordinate_transformation_mode", "half_pixel" if node.op == "Resize" else "asymmetric")
    keys: dict[str, Any] = {}
    if mode == "nearest":
        rounding = a.get("nearest_mode", "round_prefer_floor")
        if node.op == "Resize" and (transform != "asymmetric" or rounding != "floor"):
            raise g.gap(node, f"nearest Resize ({transform}, {rounding}) has no spec form (torch's: asymmetric, floor)")
    elif mode in ("linear", "cubic"):
        keys["mode"] = "bilinear" if mode == "linear" else "bicubic"
        if transform == "align_corners":
            keys["align_corners"] = True
        elif transform not in ("half_pixel", "pytorch_half_pixel"):
            raise g.gap(node, f"{mode} Resize with {transform} coordinates has no spec form")
        if mode == "cubic" and not math.isclose(float(a.get("cubic_coeff_a", -0.75)), -0.75):
            raise g.gap(node, "cubic Resize with another coefficient than torch's -0.75 has no spec form")
    else:
        raise g.gap(node, f"Resize mode '{mode}' has no spec form")
    inputs = list(node.proto.input)
    scales = g.constant(inputs[2]) if node.op == "Resize" and len(inputs) > 2 else g.constant(inputs[1])
    sizes_value = g.input_value(node, 3) if node.op == "Resize" and len(inputs) > 3 else None
    sources = [x]
    if sizes_value is not None and sizes_value.array.size:
        sizes = _ints(sizes_value.array)
        if sizes[1] != shape[0]:
            raise g.gap(node, "Resize of the channels has no spec form")
        reference = [s for s in sizes_value.sizes_of if s != x and g.shape_of(s)[1:] == tuple(sizes[2:])]
        if len(reference) == 1:
            sources.append(reference[0])  # to another tensor's size: right at every input size
        else:
            keys["size"] = compact(sizes[2:])
    elif scales is not None and scales.size:
        factors = [float(s) for s in scales.reshape(-1)]
        if factors[:2] != [1.0, 1.0]:
            raise g.gap(node, "Resize of the batch or channel axis has no spec form")
        keys["scale"] = compact([int(f) if f.is_integer() else f for f in factors[2:]])
    else:
        raise g.gap(node, "Resize without constant scales or sizes has no spec form")
    g.add(node, _Layer(_type("upsample"), keys, sources))


# ONNX's Pad modes -> a pad layer's
_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}


@reads("Pad")
def _pad(g: _Graph, node: Node) -> None:
    """A border of the spatial axes: a pad layer; zeros that a Conv alone reads join its padding
    instead where the spec can say it (the same on both sides, or TensorFlow's SAME)."""
    x = g.tensor(node, 0)
    a = g.attrs(node)
    pads = g.weight(node, 1) if len(node.proto.input) > 1 else np.asarray(a.get("pads", []))
    fill = g.weight(node, 2, optional=True) if len(node.proto.input) > 2 else a.get("value", 0.0)
    value = 0.0 if fill is None else float(np.reshape(fill, -1)[0])
    rank = len(g.shape_of(x)) + 1
    amounts = _ints(np.reshape(pads, -1)) if pads is not None else []
    mode = _PAD_MODES.get(str(a.get("mode", "constant")))
    if mode is None or (len(node.proto.input) > 3 and node.proto.input[3]):
        raise g.gap(node, f"Pad in {a.get('mode', 'constant')} mode, or of chosen axes, has no spec form")
    if len(amounts) != 2 * rank or any(amounts[i] or amounts[rank + i] for i in (0, 1)) or min(amounts) < 0:
        raise g.gap(node, f"Pad {amounts} of the batch or channels, or a negative one, has no spec form")
    before, after = amounts[2:rank], amounts[rank + 2 :]
    following = g.only_reader(node.proto.output[0])
    zeros = mode == "constant" and value == 0.0
    if zeros and following is not None and following.op == "Conv" and _joins(g, following, before + after, x):
        g.alias(node, x)
        return
    keys = {"before": compact(before), "after": compact(after)}
    keys |= ({"value": value} if value and mode == "constant" else {}) | ({"mode": mode} if mode != "constant" else {})
    g.add(node, _Layer(_type("pad"), keys, [x]))


def _joins(g: _Graph, conv: Node, pads: list[int], x: str) -> bool:
    """Whether zeros padded before ``conv`` can be the conv's own padding; if so they are (see _padding)."""
    weight = g.constant(conv.proto.input[1]) if len(conv.proto.input) > 1 else None
    if weight is None:
        return False
    a = g.attrs(conv)
    axes = weight.ndim - 2
    g.pads[conv.index] = pads
    try:
        _padding(
            g,
            conv,
            g.shape_of(x),
            list(weight.shape[2:]),
            _ints(a.get("strides", [1] * axes)),
            _ints(a.get("dilations", [1] * axes)),
        )
    except Gap:
        del g.pads[conv.index]
        return False
    return True


# --- the whole --------------------------------------------------------------------------------------
def read_onnx(model: onnx.ModelProto, input_shape: Shape | None = None) -> OnnxReading:
    """The layers of ``model``'s graph in execution order, with their weights (see the module's doc)."""
    g = _Graph(model, input_shape)
    g.read()
    returned = []
    for output in model.graph.output:
        found = g.values.get(output.name)
        if not isinstance(found, str) or found == INPUT:
            raise ImportFailure(f"the graph returns '{output.name}', which no layer computes (the input or a constant)")
        returned.append(found)
    renamed = g.fuse_activations(returned)
    returned = [renamed.get(name, name) for name in returned]
    _crop_to_partners(g.layers, returned)
    layers = _depth_first(g.layers, returned)
    weights: dict[str, np.ndarray] = {}
    params = 0
    for layer, tensors in g.weights.items():
        for parameter, array in tensors.items():
            weights[f"{layer}.{parameter}" if parameter else layer] = np.ascontiguousarray(array, dtype=np.float32)
            if not parameter.startswith("running_"):
                params += array.size
    return OnnxReading(
        layers=layers,
        outputs=returned[0] if len(returned) == 1 else returned,
        classes=g.fold_classes(),
        weights=weights,
        params=params,
        values=g.layer_values,
        input_name=g.input_name,
        output_names=[o.name for o in model.graph.output],
        input_shape=g.input_shape,
        batch=g.batch,
    )


def _crop_to_partners(layers: list[Imported], returned: list[str]) -> None:
    """A centre crop to fixed sizes that only a concat or add reads, beside a layer of exactly those sizes
    (U-Net's encoder map, cropped to the upsampled map it is put beside), becomes a crop to that layer's
    size: the file fixes the sizes it was exported at, the spec is then right at every input size."""
    crop = LAYER_TYPES["crop"]
    readers = Counter([*(source for layer in layers for source in layer.sources), *returned])
    by_name = {layer.name: layer for layer in layers}
    for join in layers:
        if join.layer.type_name not in ("concat", "add"):
            continue
        for source in join.sources:
            cropped = by_name.get(source)
            if cropped is None or type(cropped.layer) is not crop or len(cropped.sources) != 1 or cropped.act:
                continue
            beside = [s for s in join.sources if s != source and s in by_name]
            partner = next((s for s in beside if by_name[s].out[1:] == cropped.out[1:]), None)
            if readers[source] == 1 and partner is not None:
                cropped.layer, cropped.keys = crop.from_config({}), {}
                cropped.sources.append(partner)
                cropped.inputs.append(by_name[partner].out)


def _depth_first(layers: list[Imported], returned: list[str]) -> list[Imported]:
    """The layers in the order a person writes them: each input's whole chain before the layer that joins
    them (inception's branches one after another, as in the model's forward, not interleaved as an
    exporter's topological order may have them); layers no output depends on keep their place at the end."""
    by_name = {layer.name: layer for layer in layers}
    order: list[Imported] = []
    placed: set[str] = set()
    for output in returned:
        stack: list[tuple[str, bool]] = [(output, False)]
        while stack:
            name, expanded = stack.pop()
            if name in placed or name not in by_name:
                continue
            if expanded:
                placed.add(name)
                order.append(by_name[name])
                continue
            stack.append((name, True))
            stack.extend((source, False) for source in reversed(by_name[name].sources))
    return order + [layer for layer in layers if layer.name not in placed]


def spec_text(reading: OnnxReading, *, name: str, origin: str) -> str:
    """The spec of a reading as TOML text: layers folded into blocks, where they come from in the header."""
    layer_lines, blocks = into_blocks(reading.layers, reading.classes)
    shapes = {layer.name: list(layer.out) for layer in reading.layers}
    returned = reading.outputs
    output: Any = shapes[returned] if isinstance(returned, str) else [shapes[layer] for layer in returned]
    header = [
        f"Imported by `cnnscope import` from {origin} on inputs of {fmt_shape(reading.input_shape)}.",
        "Layer names are the module paths the exporter left in the file, where it left them.",
        "",
    ]
    return document(
        header=header,
        name=name,
        title=f"{name}, imported from {origin}",
        input_shape=reading.input_shape,
        layer_lines=layer_lines,
        blocks=blocks,
        params=reading.params,
        output=output,
        outputs=None if returned == reading.layers[-1].name else returned,
        counted="in the ONNX file's initializers (running statistics are buffers, not parameters)",
    )


def from_onnx(
    path: str | Path, input_shape: Shape | None = None, *, name: str | None = None
) -> tuple[Spec, OnnxReading]:
    """The spec of the ONNX model in ``path`` and the reading it was written from (with the weights)."""
    path = Path(path)
    reading = read_onnx(load(path), input_shape)
    name = name or _spec_name(path.stem)
    origin = visible(path.name)
    text = spec_text(reading, name=name, origin=origin)
    try:
        spec = parse(text, path=f"<import of {origin}>", default_name=name)
    except SpecError as exc:  # the writer's mistake, not the user's: say so plainly
        raise ImportFailure(f"the written spec does not parse: {exc}", hint="please report this model") from None
    counted = analyze(spec).total.params
    if counted != reading.params:
        raise ImportFailure(
            f"the spec counts {counted:,} parameters, the file's weights hold {reading.params:,}",
            hint="please report this model",
        )
    return spec, reading


def annotated(spec: Spec, notes: list[str]) -> Spec:
    """``spec`` with ``notes`` as comment lines after the first (what was checked, where the weights are)."""
    assert spec.source is not None and spec.path is not None
    first, _, rest = spec.source.partition("\n")
    text = "\n".join([first, *(f"# {visible(note)}" for note in notes), rest])
    return parse(text, path=spec.path, default_name=spec.name)


def _spec_name(stem: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]", "_", stem).strip("_-") or "model"
    return name if NAME.fullmatch(name) and name not in ("in", INPUT) else "model"
