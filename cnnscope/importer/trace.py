"""A torch model -> the layers of a spec: torch.fx captures the graph, each layer type reads its calls.

torch.fx records every module call, function call and tensor method of one forward pass
(modules that some layer type imports are kept whole, the others are traced through); a
run on a real input gives every tensor's shape. Each call is then offered to the layer
types that list it in ``imports``, in registry order, and the first whose ``from_torch``
accepts it describes it. Anything no type describes is an :class:`ImportFailure` naming
the module path and the op.
"""

from __future__ import annotations

import functools
import inspect
import operator
import os
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn

from cnnscope.errors import SpecError
from cnnscope.importer.records import Imported, ImportFailure, all_gaps, fuse_activations, parents
from cnnscope.layers import LAYER_TYPES, TENSOR, Layer, Parameter, Shape, TorchCall, fmt_shape
from cnnscope.layers.base import Size, functional_owner
from cnnscope.spec import INPUT
from cnnscope.spec.parse import NAME

# calls that return their input as it is, at inference
IDENTITY = frozenset({"nn.Identity", "Tensor.contiguous", "Tensor.clone", "Tensor.detach"})
# casts, which return their input as it is where its dtype and device are already the ones asked for
# (`x.float()` in a float32 model, `y.to(x.dtype)`, `y.type_as(x)`: code written to be safe under autocast)
CASTS = frozenset({"Tensor.float", "Tensor.to", "Tensor.type_as", "Tensor.type"})
# calls that change a tensor only by repeating it along axes of size 1, which every reader of it
# (mul, add) would broadcast in the same way: SE-style gates written `x * y.expand_as(x)`
EXPAND = frozenset({"Tensor.expand_as", "Tensor.expand"})
# a view of a parameter alone (ConvNeXt's `gamma.reshape(1, -1, 1, 1)`): still that parameter
PARAMETER_VIEW = frozenset({"Tensor.view", "Tensor.reshape", "torch.reshape", "Tensor.unsqueeze", "Tensor.view_as"})
# aliases of sizes taken from tensors: an axis's, one scaled by a whole number (H // 4), or computed otherwise
SIZES = frozenset({"axis", "scaled", "computed"})
CHUNK = frozenset({"Tensor.chunk", "torch.chunk", "Tensor.split", "torch.split"})
TRANSPOSE = frozenset({"Tensor.transpose", "torch.transpose"})
RESHAPE = frozenset({"Tensor.view", "Tensor.reshape", "torch.reshape"})
CONCAT = frozenset({"torch.cat", "torch.concat"})
RESIZE = frozenset({"F.interpolate"})  # calls that may take their output size from another tensor
# calls that are two simpler ones, read as those: torch.addcmul(t, a, b) is t + a * b (ConvNeXt-V2's response norm)
COMPOUND = {"addcmul": operator.mul, "addcdiv": operator.truediv}


_GAP = ("gap",)  # the alias of a node that could not be read, and of every node computed from it


def _in_place(node: fx.Node, name: str, root: nn.Module) -> bool:
    """Whether a call changes its first argument: ``x.mul_(g)``, ``torch.relu_(x)``, ``F.relu(x, inplace=True)``
    (by keyword or in its place), a module made with ``inplace=True``."""
    if name.endswith("_") and not name.endswith("__"):
        return True
    if node.op == "call_module":
        return getattr(root.get_submodule(str(node.target)), "inplace", False) is True
    if node.op != "call_function" or not callable(node.target):
        return False
    place = _inplace_position(node.target)
    value = node.kwargs.get("inplace", node.args[place] if place is not None and len(node.args) > place else False)
    return value is True


@functools.cache
def _inplace_position(function: Any) -> int | None:
    """Where ``function`` takes ``inplace`` by position (F.relu: 1, F.leaky_relu: 2), if it does."""
    try:
        names = list(inspect.signature(function).parameters)
    except (TypeError, ValueError):  # builtins without a signature
        return None
    return names.index("inplace") if "inplace" in names else None


def _where(node: fx.Node) -> str:
    return str(node.target) if node.op == "call_module" else (node.meta.get("scope") or "the model's forward")


def torch_name(node: fx.Node, root: nn.Module) -> str:
    """The callable of a call node as people write it: nn.Conv2d, F.relu, torch.cat, Tensor.mean."""
    if node.op == "call_module":
        return module_name(root.get_submodule(str(node.target)))
    if node.op == "call_method":
        return f"Tensor.{node.target}"
    target: Any = node.target
    module, name = getattr(target, "__module__", "") or "", getattr(target, "__name__", str(target))
    if module in ("torch.nn.functional", "torch._C._nn"):  # F.avg_pool2d is torch._C._nn.avg_pool2d
        return f"F.{name}"
    if module in ("_operator", "operator"):
        return f"operator.{name}"
    if module == "torch" or module.startswith("torch._"):
        return f"torch.{name}"
    return f"{module.split('.')[0]}.{name}"


def module_name(module: nn.Module) -> str:
    """The module's class as people write it (``nn.Conv2d``), or the torch class it is an unchanged
    subclass of: ``class MyConv(nn.Conv2d): pass`` computes what nn.Conv2d computes, and reads as it."""
    cls: type = type(module)
    return _class_reads_as(cls)


@functools.cache
def _class_reads_as(cls: type) -> str:
    readable = _readable_classes()
    for base in cls.__mro__:
        name = class_name(base)
        if name in readable and _same_computation(cls, base):
            return name
    return class_name(cls)


def class_name(cls: type) -> str:
    package = cls.__module__.split(".")[0]
    if cls.__module__.startswith("torch.nn"):
        return f"nn.{cls.__name__}"
    return f"{package}.{cls.__name__}"


# methods a subclass may define without changing what the module computes
_SETUP = frozenset({"__init__", "extra_repr", "reset_parameters", "__repr__", "__setstate__", "_init_weights"})


def _same_computation(cls: type, base: type) -> bool:
    """Whether ``cls`` runs ``base``'s code: no class between them overrides a method of ``base``
    other than set-up (new methods of its own, such as torchvision's ``Conv3DSimple.get_downsample_stride``,
    are never called by ``base``'s forward)."""
    for between in cls.__mro__[: cls.__mro__.index(base)]:
        for attribute, value in vars(between).items():
            overrides = any(attribute in vars(inherited) for inherited in base.__mro__)
            if overrides and callable(value) and not isinstance(value, type) and attribute not in _SETUP:
                return False
    return True


@functools.cache
def _readable_classes() -> frozenset[str]:
    return frozenset(name for cls in LAYER_TYPES.values() for name in cls.imports)


def importers() -> dict[str, list[type[Layer]]]:
    """torch callable -> the layer types that may describe it, in registry order."""
    found: dict[str, list[type[Layer]]] = {}
    for cls in LAYER_TYPES.values():
        for name in cls.imports:
            found.setdefault(name, []).append(cls)
    return found


class _Tracer(fx.Tracer):
    """Keeps importable modules whole and notes, on every node, the module whose forward made it."""

    def __init__(self, importable: set[str]) -> None:
        super().__init__()
        self.importable = importable
        self.scopes = [""]
        self.parameters: dict[int, str] = {}  # id -> path, of the root's parameters
        self.buffers: dict[int, str] = {}  # and of its buffers
        self.failed_in: str | None = None  # the module whose forward the trace failed in
        self.sample: torch.Tensor | None = None  # the input that branches on sizes are settled on
        self.values: dict[fx.Node, Any] = {}  # what the graph's nodes gave on it, as far as a branch needed
        self.branches: dict[str, str] = {}  # the model's line of each branch on sizes taken -> its module

    def trace(self, root: Any, concrete_args: dict[str, Any] | None = None) -> fx.Graph:
        # torch.fx finds the path of a parameter a forward reads by walking all of the root's
        # parameters at every read (a third of the time it took to trace mobilenetv3): index them once
        if isinstance(root, nn.Module):
            self.parameters = {id(p): path for path, p in root.named_parameters()}
            self.buffers = {id(b): path for path, b in root.named_buffers()}
        return super().trace(root, concrete_args)

    def _path_of(self, value: Any, buffers: bool = True) -> str | None:
        """The path of a parameter of the root, or of a buffer (where ``buffers``), as torch.fx finds it."""
        if not isinstance(value, torch.Tensor):  # most arguments: ints, tuples, proxies
            return None
        path = self.parameters.get(id(value))  # by id: nn.Parameter's isinstance check is Python
        return path if path is not None or not buffers else self.buffers.get(id(value))

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict[str, Any]) -> Any:
        path = self._path_of(attr_val, buffers=self.proxy_buffer_attributes)
        if path is None:
            return attr_val
        if path not in parameter_proxy_cache:
            parameter_proxy_cache[path] = self.create_proxy("get_attr", path, (), {})
        return parameter_proxy_cache[path]

    def create_arg(self, a: Any) -> Any:
        path = self._path_of(a)
        return super().create_arg(a) if path is None else self.create_node("get_attr", path, (), {})

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return module_name(m) in self.importable or super().is_leaf_module(m, module_qualified_name)

    def call_module(self, m: nn.Module, forward: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            path = self.path_of_module(m)
        except NameError:  # called but not held by the model (cnnscope's fused activations): trace into it
            return forward(*args, **kwargs)
        self.scopes.append(path)
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception:
            self.failed_in = self.failed_in or path  # the innermost module the failure passed through
            raise
        finally:
            self.scopes.pop()

    def create_node(
        self,
        kind: str,
        target: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str | None = None,
        type_expr: Any | None = None,
    ) -> fx.Node:
        # the graph's node and its module; not torch.fx's own notes on each node (a copy of its module
        # stack, a map of names to scopes: a tenth of tracing inception_resnet_v2), which nothing here reads
        node = self.graph.create_node(kind, target, args, kwargs, name, type_expr)
        node.meta["scope"] = self.scopes[-1]
        return node

    # --- branches on sizes, taken as they fall -------------------------------------------------
    def to_bool(self, obj: fx.Proxy) -> bool:
        """``if x.shape[-2] < 7:``: for one input size every size is known, so the branch is taken as the model
        takes it on the sample, and noted (:attr:`branches`); a branch on the data's values is refused."""
        return bool(self._settled(obj.node))

    def proxy(self, node: fx.Node) -> fx.Proxy:
        return _SizedProxy(node, self)

    def iter(self, obj: fx.Proxy) -> Iterator[Any]:
        """``for size in x.shape:``, ``tuple(x.shape)``: as many items as the sample's value has."""
        items: Any = obj  # a proxy: indexing it records a getitem
        return iter([items[i] for i in range(len(self._settled(obj.node)))])

    def _settled(self, node: fx.Node) -> Any:
        if self.sample is None or not self._from_sizes(node):
            raise fx.proxy.TraceError("symbolically traced variables cannot be used as inputs to control flow")
        line = _model_line(traceback.extract_stack()) or "the model's forward"
        self.branches.setdefault(line, self.scopes[-1])
        modules = dict(self.root.named_modules())
        # torch.fx's own way of running real code mid-trace: its patches of nn.Module's call and getattr undone
        with torch.no_grad(), fx._symbolic_trace._maybe_revert_all_patches():
            for earlier in self.graph.nodes:  # every node up to this one, each once: one forward pass in all
                if earlier not in self.values:
                    self.values[earlier] = _evaluate(earlier, self.values, self.root, modules, self.sample)
                if earlier is node:
                    return self.values[node]
        raise AssertionError("a node of the graph")

    def _from_sizes(self, node: fx.Node) -> bool:
        """Whether ``node``'s value follows from tensors' sizes (``x.shape[-2] < 7``) and other static properties
        (``x.device.type``) alone, not from their values."""
        pending, seen = [node], {node}
        while pending:  # back through what it reads, to a size (fine) or to a tensor's values (not)
            current = pending.pop()
            if current.op == "call_method" and current.target in _STATIC_METHODS:
                continue
            if current.op == "call_function" and current.target is getattr and current.args[1] in _STATIC_ATTRIBUTES:
                continue
            if current.op in ("placeholder", "get_attr", "call_module"):
                return False
            pending += [used for used in current.all_input_nodes if used not in seen]
            seen.update(current.all_input_nodes)
        return True


# what a tensor is, not what it holds: the same for every input of one size
_STATIC_METHODS = frozenset({"size", "dim", "numel", "is_floating_point", "is_contiguous", "get_device"})
_STATIC_ATTRIBUTES = frozenset({"shape", "ndim", "device", "dtype", "is_cuda", "layout"})


class _SizedProxy(fx.Proxy):
    """A proxy whose ``len()`` is known where it is a size's (``len(x.shape)``, ``tuple(x.shape)``), as its
    ``if`` is (``to_bool``)."""

    def __len__(self) -> int:
        tracer: Any = self.tracer
        return len(tracer._settled(self.node))

    def __getattr__(self, k: str) -> fx.proxy.Attribute:
        return _SizedAttribute(self, k)


class _SizedAttribute(fx.proxy.Attribute, _SizedProxy):
    """``x.shape``, with a length as :class:`_SizedProxy` has one."""


def _record(
    model: nn.Module, graph: fx.Graph, sample: torch.Tensor, known: dict[fx.Node, Any]
) -> tuple[Any, dict[fx.Node, Any]]:
    """Run the captured graph once on ``model``'s own modules and weights: what it returns, and each node's
    shape (tensors) or value (anything else); the values ``known`` already (the trace ran the graph as far as
    a branch on a size) are taken as they are.

    ``fx.Interpreter`` does the same, but looks every module up by its dotted path at each call and
    maps arguments through pytrees (mobilenetv3's run took 46 ms with it, 31 ms here, 23 ms as a plain
    forward): here modules are found by a dict, and each value is dropped after its last use, as the
    interpreter does.
    """
    modules = dict(model.named_modules())
    values: dict[fx.Node, Any] = {}
    seen: dict[fx.Node, Any] = {}
    last_use: dict[fx.Node, fx.Node] = {}
    for node in graph.nodes:
        last_use[node] = node  # read by nothing: dropped at once
        for used in node.all_input_nodes:
            last_use[used] = node
    dropped_after: dict[fx.Node, list[fx.Node]] = {}
    for used, user in last_use.items():
        dropped_after.setdefault(user, []).append(used)

    for node in graph.nodes:
        if node.op == "output":
            return _substituted(node.args, values)[0], seen
        values[node] = result = known.pop(node) if node in known else _evaluate(node, values, model, modules, sample)
        seen[node] = _summary(result)
        for used in dropped_after.get(node, ()):
            del values[used]
    raise AssertionError("a graph ends in its output node")


def _substituted(arg: Any, values: dict[fx.Node, Any]) -> Any:
    """``arg`` with each node in it replaced by its value."""
    if isinstance(arg, fx.Node):
        return values[arg]
    if isinstance(arg, tuple):
        items = [_substituted(a, values) for a in arg]
        return type(arg)(*items) if hasattr(arg, "_fields") else tuple(items)  # a namedtuple stays one
    if isinstance(arg, list):  # torch.fx's immutable_list too
        return [_substituted(a, values) for a in arg]
    if isinstance(arg, dict):
        return {k: _substituted(v, values) for k, v in arg.items()}
    if isinstance(arg, slice):
        return slice(_substituted(arg.start, values), _substituted(arg.stop, values), _substituted(arg.step, values))
    return arg


def _evaluate(
    node: fx.Node, values: dict[fx.Node, Any], model: nn.Module, modules: dict[str, nn.Module], sample: torch.Tensor
) -> Any:
    """What ``node`` (not the output) gives, from the values of the nodes it reads."""
    args, kwargs = _substituted(node.args, values), _substituted(node.kwargs, values)
    if node.op == "placeholder":
        return sample
    if node.op == "get_attr":
        return functools.reduce(getattr, str(node.target).split("."), model)
    if node.op == "call_module":
        return modules[str(node.target)](*args, **kwargs)
    if node.op == "call_function":
        return node.target(*args, **kwargs)  # type: ignore[operator]
    return getattr(args[0], str(node.target))(*args[1:], **kwargs)  # call_method


@dataclass(frozen=True)
class Recorded:
    """A tensor's per-sample shape, as the recorder keeps it, its whole shape (for parameters), dtype and device."""

    shape: Shape
    whole: Shape
    dtype: str = ""


def _summary(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return Recorded(tuple(value.shape[1:]), tuple(value.shape), f"{value.dtype} on {value.device}")
    if isinstance(value, (tuple, list)) and any(isinstance(v, torch.Tensor) for v in value):
        return tuple(_summary(v) for v in value)
    return value


@dataclass(frozen=True)
class Run:
    """One run of a model: a random input, what the model returned on it and what it did not use."""

    input: torch.Tensor
    output: Any
    unreached: dict[str, int]  # outermost submodules with parameters or buffers that it never used -> parameters
    branches: dict[str, str] = field(default_factory=dict)  # the model's lines that branched on sizes -> module


def capture(model: nn.Module, input_shape: Shape) -> tuple[fx.Graph, dict[fx.Node, Any], Run]:
    """The model's graph, what each node produced on a random input of ``input_shape``, and that run."""
    tracer = _Tracer({name for cls in LAYER_TYPES.values() for name in cls.imports})
    sample = tracer.sample = torch.randn(1, *input_shape)
    try:
        graph = tracer.trace(model)
    except Exception as exc:  # torch.fx raises TraceError, TypeError, ... for what it cannot follow
        raise _untraceable(exc, tracer.failed_in) from None
    _decompose(graph)
    try:
        with torch.no_grad():
            output, seen = _record(model, graph, sample, tracer.values)
    except Exception as exc:  # shape errors and the like: the input size does not fit the model
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImportFailure(
            f"the model does not run on an input of {fmt_shape(input_shape)}: {first}",
            hint="give the size it takes with --input",
        ) from None
    return graph, seen, Run(sample, output, _unreached(model, graph), tracer.branches)


def _model_line(frames: traceback.StackSummary) -> str | None:
    """``net.py:12``: the innermost of ``frames`` in the model's own code, not torch's or cnnscope's."""
    own = [
        f
        for f in frames
        if f"{os.sep}torch{os.sep}" not in f.filename and f"{os.sep}cnnscope{os.sep}" not in f.filename
    ]
    return f"{os.path.basename(own[-1].filename)}:{own[-1].lineno}" if own else None


def _untraceable(exc: Exception, module: str | None) -> ImportFailure:
    """Why torch.fx could not follow the forward, where: the module, and the model's own line that did it."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    line = _model_line(traceback.extract_tb(exc.__traceback__))
    where = ", ".join(part for part in (f"in {module}" if module else None, f"at {line}" if line else None) if part)
    at = f" ({where})" if where else ""
    if "used as inputs to control flow" in first or "cannot be iterated" in first:
        return ImportFailure(
            f"the model's forward branches on the values of a tensor{at} (`if x.sum() > 0:`): a spec takes one"
            " path for every input",
            hint="branches on sizes are taken as they fall at the input size; branches on values have no spec form",
        )
    return ImportFailure(
        f"the model's forward raised {type(exc).__name__} while torch.fx traced it{at}: {first}",
        hint="the model's own error, or code that needs a real tensor where torch.fx passes a stand-in (.item())",
    )


def _decompose(graph: fx.Graph) -> None:
    """Each compound call (``torch.addcmul(t, a, b, value=v)``, as a function or a method) replaced by the
    calls it is made of (``t + a * b``, times ``v`` where it is not 1), in the module whose forward made it."""
    for node in list(graph.nodes):
        name = node.target if node.op == "call_method" else getattr(node.target, "__name__", "")
        if node.op not in ("call_function", "call_method") or name not in COMPOUND or len(node.args) != 3:
            continue
        if node.op == "call_function" and getattr(node.target, "__module__", "") != "torch":
            continue
        base, first, second = node.args
        with graph.inserting_before(node):
            made = [graph.call_function(COMPOUND[name], (first, second))]
            if node.kwargs.get("value", 1) != 1:
                made.append(graph.call_function(operator.mul, (made[-1], node.kwargs["value"])))
            made.append(graph.call_function(operator.add, (base, made[-1])))
        for step in made:
            step.meta["scope"] = node.meta.get("scope", "")
        node.replace_all_uses_with(made[-1])
        graph.erase_node(node)


def _parameter_shape(result: Any) -> Shape:
    """The shape of a view of a parameter, as it broadcasts against one sample: (1, C, 1, 1) is C x 1 x 1."""
    whole = result.whole if isinstance(result, Recorded) else ()
    return whole[1:] if len(whole) > 1 and whole[0] == 1 else whole


@dataclass
class Reading:
    """What one capture of a model gives: its layers, what it returns, and the run that read it (which also
    says what eval mode leaves unused); the written spec is checked against that run."""

    layers: list[Imported]
    outputs: str | list[str] | dict[str, str]  # the layers it returns: one, a tuple's (or list's), a dict's
    run: Run


def read(model: nn.Module, input_shape: Shape) -> Reading:
    """The model as a list of layers in execution order, named like its modules."""
    reader = _Reader(model, input_shape)
    return Reading(reader.layers, reader.outputs(), reader.run)


def _named(item: Any, final: Any) -> str:
    if not isinstance(item, fx.Node):
        raise ImportFailure("the model returns nested containers or values other than tensors, which no spec can say")
    return str(final(item))


def _unreached(model: nn.Module, graph: fx.Graph) -> dict[str, int]:
    """The outermost submodules holding parameters or buffers that the captured forward never calls,
    traces into or reads (inception_v3's ``AuxLogits``, used in training only), with their parameter counts."""
    reached: set[str] = set()
    for node in graph.nodes:
        reached.add(node.meta.get("scope", ""))
        if node.op in ("call_module", "get_attr"):
            reached.add(str(node.target))
    return unreached(model, reached)


def unreached(model: nn.Module, reached: set[str]) -> dict[str, int]:
    """The outermost submodules holding parameters or buffers with no path in ``reached`` at or below
    them, with their parameter counts."""
    used = {".".join(parts[:n]) for parts in (r.split(".") for r in reached) for n in range(len(parts) + 1)}
    left_out: dict[str, int] = {}
    for path, module in model.named_modules():
        if not path or path in used or any(parent in left_out for parent in parents(path)):
            continue
        if next(iter(module.state_dict()), None) is not None:
            left_out[path] = sum(p.numel() for p in module.parameters())
    return left_out


def _held_by(activation: Imported, layer: Imported) -> bool:
    """An activation module of the layer's own module, without weights (timm's ``BatchNormAct2d.act``):
    the two are one layer with its ``act``, as the model's author grouped them."""
    return (
        activation.name.startswith(layer.name + ".")
        and not activation.layer.cost(activation.inputs, activation.out).params
    )


class _Reader:
    def __init__(self, model: nn.Module, input_shape: Shape) -> None:
        self.root = model
        self.graph, self.seen, self.run = capture(model, input_shape)
        modules = dict(model.named_modules())
        self.paths = set(modules) | set(model.state_dict())
        self.unsaved = {
            f"{path}.{name}".lstrip(".") for path, m in modules.items() for name in m._non_persistent_buffers_set
        }
        self.types = importers()
        self.layers: list[Imported] = []
        self.names: set[str] = set()
        self.shapes: dict[str, Shape] = {INPUT: tuple(input_shape)}  # layer name -> output shape, as read
        self.alias: dict[fx.Node, Any] = {}  # node -> a layer name, or ("value", v), ("param", path, shape), ...
        self.called: set[str] = set()  # module paths already read
        self.weights: dict[int, str] = {}  # id of a parameter of a module read -> that module's path
        self.skip: set[fx.Node] = set()  # nodes read as part of a pattern
        gaps: dict[str, list[str]] = {}  # what has no reader -> where: every gap of the model in one pass
        for node in self.graph.nodes:
            if any(self.alias.get(arg) == _GAP for arg in node.all_input_nodes):
                self.alias[node] = _GAP  # follows from an earlier gap: not a gap of its own
                continue
            try:
                self._read(node)
                continue
            except ImportFailure as exc:
                gaps.setdefault(exc.op or exc.message, []).append(exc.where or "the model's forward")
            except Exception as exc:  # a reader failing unexpectedly is reported as what it was reading
                op = torch_name(node, self.root) if node.op.startswith("call") else node.op
                gaps.setdefault(f"{op} ({type(exc).__name__}: {exc})"[:200], []).append(_where(node))
            self._stand_in(node)
        if gaps:
            raise all_gaps(gaps)
        self.renamed: dict[str, str] = {}  # layers merged into or renamed as others
        self.returned = self._returned()
        self._fuse_activations()
        self._chain_concatenations()

    # --- one node -------------------------------------------------------------------------
    def _read(self, node: fx.Node) -> None:
        if node in self.skip:
            return
        if node.op == "placeholder":
            self.alias[node] = INPUT
            return
        if node.op == "output":
            return
        if node.op == "get_attr":
            value = operator.attrgetter(str(node.target))(self.root)
            self.alias[node] = (
                "param",
                str(node.target),
                tuple(value.shape) if isinstance(value, torch.Tensor) else (),
            )
            return
        result = self.seen[node]
        name = torch_name(node, self.root)
        first: Any = node.args[0] if node.args else None
        if name in IDENTITY or (name in CASTS and self._unchanged(first, result)):
            self.alias[node] = self._of(first)
        elif name in PARAMETER_VIEW and self._is_parameter(first):
            _, path, shape, *stored = self.alias[first]
            self.alias[node] = ("param", path, _parameter_shape(result), stored[0] if stored else shape)
        elif name in EXPAND and isinstance(first, fx.Node) and isinstance(self.alias.get(first), str):
            self.alias[node] = self.alias[first]
        elif name in CONCAT and isinstance(first, (list, tuple)) and len(first) == 1:  # torch.cat of one tensor
            self.alias[node] = self._of(first[0])
        elif name in CHUNK:
            self.alias[node] = ("chunk", node)
        elif node.op == "call_function" and node.target is operator.getitem and self._is_chunk(node.args[0]):
            self._read_chunk_item(node)
        elif (size_of := self._size_of(node, name, result)) is not None:
            self.alias[node] = ("size_of", size_of, result)
        elif (axis := self._axis_of(node, name)) is not None:
            self.alias[node] = ("axis", *axis, result)
        elif (scaled := self._scaled_axis(node)) is not None:
            self.alias[node] = ("scaled", *scaled, result)
        elif not isinstance(result, Recorded):  # sizes, shape arithmetic: values the calls below take as arguments
            from_sizes = isinstance(result, int) and any(self._kind(arg) in SIZES for arg in node.all_input_nodes)
            self.alias[node] = ("computed", result) if from_sizes else ("value", result)
        elif name in RESHAPE and self._channel_shuffle(node):
            pass
        else:
            self._read_call(node, name, result.shape)
            if _in_place(node, name, self.root) and isinstance(self.alias.get(first), str):
                # the calls after it that read `first` read the new values (NFNet's `out.mul_(gain)`, a bare
                # `F.relu(y, inplace=True)`: their results unused, torch.fx's graph feeds the tensor before them on)
                self.alias[first] = self.alias[node]

    def _of(self, arg: Any) -> Any:
        return self.alias[arg] if isinstance(arg, fx.Node) else ("value", arg)

    def _stand_in(self, node: fx.Node) -> None:
        """A tensor no reader could make stands in with its shape, so that the calls after it are
        still read (and their own gaps found); anything else cuts what follows from it."""
        result = self.seen.get(node)
        if isinstance(result, Recorded):
            name = f"<gap {len(self.shapes)}>"
            self.shapes[name] = result.shape
            self.alias[node] = name
        else:
            self.alias[node] = _GAP

    def _size_of(self, node: fx.Node, name: str, result: Any) -> str | None:
        """The layer whose spatial size ``node`` is, where it is one: ``y.shape``, ``y.size()`` and their
        ``[-2:]`` (FCN's and FPN's ``F.interpolate(x, size=y.shape[-2:])``), so that a resize to it is
        written as a resize to that layer's size, right at every input size, not as frozen numbers."""
        first: Any = node.args[0] if node.args else None
        if not isinstance(first, fx.Node):
            return None
        alias = self.alias.get(first)
        whole = (node.target is getattr and node.args[1] == "shape") or (name == "Tensor.size" and len(node.args) == 1)
        if whole and isinstance(alias, str):
            return alias
        if node.target is operator.getitem and isinstance(alias, tuple) and alias[0] == "size_of":
            full = tuple(alias[2])
            spatial = isinstance(result, tuple) and len(full) > 2 and tuple(result) == full[2:]
            return alias[1] if spatial else None  # a single axis (x.shape[1]) is a number, as before
        return None

    def _axis_of(self, node: fx.Node, name: str) -> tuple[str, int] | None:
        """The layer and axis (per sample) whose size ``node`` is: ``x.shape[2]``, ``x.size(2)`` and the ``H`` of
        ``B, C, H, W = x.shape`` (split attention's reshapes), so that a reshape to it follows the input."""
        first: Any = node.args[0] if node.args else None
        alias: Any = self.alias.get(first) if isinstance(first, fx.Node) else None
        layer: str
        index: Any
        if node.target is operator.getitem and self._kind(first) == "size_of":
            layer, index, part = alias[1], node.args[1], alias[2]
            rank = len(self._shape_of(layer))
            if not isinstance(index, int) or len(part) not in (rank + 1, rank - 1):
                return None
            if len(part) == rank - 1:  # the spatial part (h, w = x.shape[-2:]): its axes are the sample's 1, 2, ...
                return layer, 1 + index % len(part)
        elif name == "Tensor.size" and isinstance(alias, str) and len(node.args) + len(node.kwargs) == 2:
            layer, index = alias, node.kwargs.get("dim", node.args[-1])
        else:
            return None
        axis = index % (len(self._shape_of(layer)) + 1) - 1
        return (layer, axis) if axis >= 0 else None  # the batch's size stays a number

    def _scaled_axis(self, node: fx.Node) -> tuple[str, int, int, int] | None:
        """The layer, axis, factor and divisor of ``H // 4`` or ``C * 16``: an axis's size scaled by whole numbers,
        as space-to-depth takes it (``x.view(B, C, H // 4, 4, W // 4, 4)``), so that a reshape follows it too."""
        if node.op != "call_function" or node.target not in (operator.floordiv, operator.mul) or len(node.args) != 2:
            return None
        size, factor = node.args
        if node.target is operator.mul and not isinstance(size, fx.Node):  # 16 * C
            size, factor = factor, size
        base = self.alias.get(size) if isinstance(size, fx.Node) else None
        if type(factor) is not int or factor < 1 or not isinstance(base, tuple) or base[0] not in ("axis", "scaled"):
            return None
        layer, axis, times, per = (base[1], base[2], 1, 1) if base[0] == "axis" else base[1:5]
        if node.target is operator.floordiv:
            return layer, axis, times, per * factor
        return (layer, axis, times * factor, per) if per == 1 else None  # (H // 4) * 4 is no scaling of H

    def _spatial_size_of(self, items: list[Any] | tuple[Any, ...]) -> str | None:
        """The layer whose spatial size ``items`` are, axis by axis in order: ``(y.shape[2], y.shape[3])``, or the
        ``(h, w)`` of ``h, w = y.shape[-2:]``."""
        aliases: list[Any] = [self.alias.get(item) for item in items if isinstance(item, fx.Node)]
        if not items or len(aliases) != len(items) or not all(isinstance(a, tuple) and a[0] == "axis" for a in aliases):
            return None
        layers = {alias[1] for alias in aliases}
        layer = layers.pop() if len(layers) == 1 else None
        if layer is None or [alias[2] for alias in aliases] != list(range(1, len(self._shape_of(layer)))):
            return None
        return layer

    def _kind(self, arg: Any) -> str | None:
        """What a node's alias is: "param", "size_of", "axis", ... (None for a layer's output)."""
        alias = self.alias.get(arg) if isinstance(arg, fx.Node) else None
        return alias[0] if isinstance(alias, tuple) and alias else None

    def _is_parameter(self, arg: Any) -> bool:
        alias = self.alias.get(arg) if isinstance(arg, fx.Node) else None
        return isinstance(alias, tuple) and alias[0] == "param"

    def _is_chunk(self, arg: Any) -> bool:
        alias = self.alias.get(arg) if isinstance(arg, fx.Node) else None
        return isinstance(alias, tuple) and alias[0] == "chunk"

    def _read_call(self, node: fx.Node, name: str, out: Shape, extra: dict[str, Any] | None = None) -> None:
        sources: list[str] = []
        parameters: list[tuple[str, Shape]] = []

        def convert(arg: Any) -> Any:
            if isinstance(arg, fx.Node):
                alias = self.alias[arg]
                if isinstance(alias, str):
                    sources.append(alias)
                    return TENSOR
                if alias[0] == "param":
                    parameters.append((alias[1], alias[2]))
                    return Parameter(*alias[1:])._replace(fixed=self._fixed(alias[1]))
                if alias[0] == "value":
                    return alias[1]
                if alias[0] == "size_of" and name in RESIZE:  # a resize to a layer's size: it is an input
                    sources.append(alias[1])
                    return TENSOR
                if alias[0] == "size_of":  # any other call takes the size as the numbers it was
                    return alias[2]
                if alias[0] in SIZES:  # a size taken from a tensor: a reshape writes it relative to that tensor
                    return self._size(alias, sources) if name in RESHAPE else alias[-1]
                return TENSOR
            if isinstance(arg, (list, tuple)):
                if name in RESIZE and (layer := self._spatial_size_of(arg)) is not None:
                    sources.append(layer)  # size=(y.shape[2], y.shape[3]): a resize to y's size, as above
                    return TENSOR
                return type(arg)(convert(a) for a in arg)
            return arg

        args = tuple(convert(a) for a in node.args)
        kwargs = {k: convert(v) for k, v in node.kwargs.items()} | (extra or {})
        module = self.root.get_submodule(str(node.target)) if node.op == "call_module" else None
        inputs = tuple(self._shape_of(source) for source in sources)
        call = TorchCall(name, module, args, kwargs, inputs, out, tuple(parameters))
        where = str(node.target) if module is not None else (node.meta.get("scope") or "the model's forward")
        try:
            layer, keys = self._describe(call, where)
        except ImportFailure:  # a spec's weights are a state_dict's: a tensor it leaves out is none, but a blur's
            for path, _ in parameters:
                if self._fixed(path) is not None:
                    buffer = path.rpartition(".")[2]
                    op = f"{name} of {buffer}, a buffer outside the state_dict (a fixed filter, not the binomial),"
                    op += " has no spec form"
                    raise ImportFailure(f"{where}: {op}", op=op, where=where) from None
            raise
        layer_name = self._name(node, layer, call)
        functional = module is None and layer.peer_counts(list(inputs), out, True) != layer.peer_counts(
            list(inputs), out, False
        )
        scope = node.meta.get("scope", "")
        self._add(
            Imported(layer_name, layer, sources, scope, list(inputs), out, keys, functional, module_call=bool(module))
        )
        self.alias[node] = layer_name

    def _unchanged(self, first: Any, result: Any) -> bool:
        """Whether a cast gave back a tensor of its input's dtype, device and shape: the input as it is."""
        before = self.seen.get(first) if isinstance(first, fx.Node) else None
        return isinstance(before, Recorded) and before == result

    def _fixed(self, path: str) -> tuple[float, ...] | None:
        """The values of a buffer that the state_dict leaves out (timm's BlurPool2d's filter), flattened;
        None for a parameter or a buffer the state_dict holds."""
        if path not in self.unsaved:
            return None
        return tuple(operator.attrgetter(path)(self.root).flatten().tolist())

    def _size(self, alias: tuple[Any, ...], sources: list[str]) -> Size:
        """A size taken from a tensor as a reshape reads it: an axis of its own input, or of one more input
        (the tensor it was taken from: ``y.view(B, C, H, W)`` with ``H, W`` of ``x``), or computed."""
        if alias[0] not in ("axis", "scaled"):
            return Size(alias[-1])
        _, layer, axis, *scale, value = alias
        times, per = scale or (1, 1)
        if len(sources) == 1 and layer != sources[0]:
            sources.append(layer)
        return Size(value, axis, sources.index(layer), times, per) if layer in sources else Size(value)

    def _describe(self, call: TorchCall, where: str) -> tuple[Layer, dict[str, Any]]:
        candidates = self.types.get(call.name)
        if not candidates:
            op = f"{call.name} has no layer type"
            raise ImportFailure(f"{where}: {op}", op=op, where=where, hint="`cnnscope types` lists what a spec can say")
        if not call.inputs:  # attention's relative position tables: `self.rel_width.transpose(...)`
            op = f"{call.name} of the model's parameters or constants alone (no layer's output) has no spec form"
            raise ImportFailure(f"{where}: {op}", op=op, where=where)
        for cls in candidates:
            try:
                keys = cls.from_torch(call)
                if keys is None:
                    continue
                layer = cls.from_config(keys)
                shape = layer.infer(list(call.inputs), tuple(f"input {i + 1}" for i in range(len(call.inputs))))
            except SpecError as exc:
                op = f"{call.name}: {exc.message}"
                raise ImportFailure(f"{where}: {op}", op=op, where=where, hint=exc.hint) from None
            if shape != call.out:
                op = f"{call.name} read as {cls.type_name} gives {fmt_shape(shape)}, torch gives {fmt_shape(call.out)}"
                raise ImportFailure(f"{where}: {op}", op=op, where=where)
            return layer, keys
        shapes = ", ".join(fmt_shape(s) for s in call.inputs) or "no tensors"
        op = f"{call.name} on {shapes} has no layer type that describes it"
        raise ImportFailure(f"{where}: {op}", op=op, where=where)

    def _name(self, node: fx.Node, layer: Layer, call: TorchCall) -> str:
        if node.op == "call_module":
            path = str(node.target)
            if path in self.called and any(True for _ in call.module.parameters()):
                op = "the module is called twice with the same weights (weight sharing has no spec form)"
                raise ImportFailure(f"{path}: {op}", op=op, where=path)
            for weight in call.module.parameters():  # tied weights (b.weight = a.weight): one tensor, two layers
                if (first := self.weights.setdefault(id(weight), path)) != path:
                    op = f"shares a weight with {first} (weight sharing has no spec form)"
                    raise ImportFailure(f"{path}: {op}", op=op, where=path)
            self.called.add(path)
            return path if path not in self.names else self._free_name(path)
        if layer.named_after_parameter and len(call.parameters) == 1 and call.parameters[0][0] not in self.names:
            return call.parameters[0][0]  # ConvNeXt's `layer_scale * x`: named like the parameter
        owner = functional_owner(call)
        if owner and owner not in self.names:  # F.batch_norm(x, self.running_mean, ...): named like its module
            return owner
        scope = node.meta.get("scope", "")
        return self._free_name(f"{scope}.{layer.type_name}" if scope else layer.type_name)

    def _add(self, layer: Imported) -> None:
        """Keep ``layer``, once its name (the module path) is shown to be one a spec can hold: ``self.input``
        or ``add_module("a b", ...)`` would write a spec that does not parse."""
        if not NAME.fullmatch(layer.name) or layer.name.split(".")[-1] in ("in", INPUT):
            op = f"the module path '{layer.name}' is no spec layer name (letters, digits, _ and -, not 'input' or 'in')"
            raise ImportFailure(op, op=op, where=layer.scope or layer.name)
        self.names.add(layer.name)
        self.shapes[layer.name] = layer.out
        self.layers.append(layer)

    def _shape_of(self, name: str) -> Shape:
        return self.shapes[name]

    # --- patterns ---------------------------------------------------------------------------
    def _read_chunk_item(self, node: fx.Node) -> None:
        """``x.chunk(n, dim)[i]``: one slice."""
        source: Any = node.args[0]
        chunk_node: fx.Node = self.alias[source][1]
        index: Any = node.args[1]
        result = self.seen[chunk_node][index]
        self._read_call(chunk_node, torch_name(chunk_node, self.root), result.shape, {"index": index})
        self.alias[node] = self.alias.pop(chunk_node)
        self.alias[chunk_node] = ("chunk", chunk_node)

    def _channel_shuffle(self, node: fx.Node) -> bool:
        """ShuffleNet's ``view(n, g, c/g, h, w) -> transpose(1, 2) -> contiguous -> view(n, c, h, w)``."""
        source = node.args[0]
        if not isinstance(source, fx.Node) or not isinstance(self.alias.get(source), str):
            return False
        before, split = self._shape_of(self.alias[source]), self.seen[node].shape
        chain = [node]
        while len(chain[-1].users) == 1:
            chain.append(next(iter(chain[-1].users)))
            if len(chain) == 4 or (len(chain) == 3 and torch_name(chain[-1], self.root) in RESHAPE):
                break
        names = [torch_name(n, self.root) for n in chain]
        if len(chain) < 3 or names[1] not in TRANSPOSE or names[-1] not in RESHAPE:
            return False
        if len(chain) == 4 and names[2] not in IDENTITY:
            return False
        if len(before) != 3 or len(split) != 4 or split[0] * split[1] != before[0] or split[2:] != before[1:]:
            return False
        if set(chain[1].args[1:]) != {1, 2} or self.seen[chain[-1]].shape != before:
            return False
        from cnnscope.layers.structure import ChannelShuffle

        layer = ChannelShuffle(groups=split[0])
        scope = node.meta.get("scope", "")
        name = self._free_name(f"{scope}.channel_shuffle" if scope else "channel_shuffle")
        self._add(Imported(name, layer, [self.alias[source]], scope, [before], before, {"groups": split[0]}))
        for step in chain:
            self.alias[step] = name
        self.skip.update(chain[1:])
        return True

    def _free_name(self, base: str) -> str:
        """``base``, or ``base_1``, ``base_2``, ...: never a name already used, nor the path of one of the
        model's modules or parameters (an SE block's ``x.mean`` must not take the name of its conv ``reduce``)."""
        name, suffix = base, 0
        while name in self.names or name in self.paths:
            suffix += 1
            name = f"{base}_{suffix}"
        return name

    def _returned(self) -> list[str]:
        """The layers whose outputs the model returns, in the order its return value holds them."""
        output = next(node for node in self.graph.nodes if node.op == "output")
        found: list[str] = []

        def note(node: fx.Node) -> fx.Node:
            found.append(self._returned_layer(node))
            return node

        fx.node.map_arg(output.args[0], note)
        return found

    def _returned_layer(self, node: fx.Node) -> str:
        alias = self.alias.get(node)
        if not isinstance(alias, str) or alias == INPUT:
            raise ImportFailure("the model returns a tensor that no layer computes (its input, or a parameter)")
        return alias

    def outputs(self) -> Any:
        """The model's return value with each tensor as the name of the layer that computes it (a name,
        a list for a tuple or list, a dict for a dict), after the layers were merged and renamed."""
        output = next(node for node in self.graph.nodes if node.op == "output")

        def final(node: fx.Node) -> str:
            name = self._returned_layer(node)
            while name in self.renamed:
                name = self.renamed[name]
            return name

        value = output.args[0]
        if isinstance(value, fx.Node):
            return final(value)
        if isinstance(value, dict):
            return {str(key): _named(item, final) for key, item in value.items()}
        if isinstance(value, (tuple, list)):
            return [_named(item, final) for item in value]
        what = "None" if value is None else f"a value of type {type(value).__name__}"
        raise ImportFailure(f"the model returns {what}, which no spec can say")

    def _fuse_activations(self) -> None:
        """A functional activation that alone reads a layer's output becomes that layer's ``act``,
        as googlenet's ``F.relu(self.bn(x))`` is written ``act = "relu"`` on the batch norm."""
        self.layers = fuse_activations(
            self.layers,
            self.returned,
            self.renamed,
            lambda activation, layer: not activation.module_call or _held_by(activation, layer),
        )

    def _chain_concatenations(self) -> None:
        """DenseNet's dense layer k concatenates all k earlier outputs (``torch.cat(features, 1)``).
        Where one concat's inputs extend another's, it becomes ``cat(that concat, the rest)``, and
        each such concat moves to just after its last input, into that input's module: dense
        layer k then ends with ``cat(in, conv2)`` and reads only its input, so the layers fold into
        one block. The values are the same tensors; a concat has no parameters to rename."""
        from cnnscope.layers.structure import Concat

        made: dict[tuple[str, ...], str] = {}  # inputs -> the concat that joins exactly them
        chained: set[str] = set()
        for layer in self.layers:
            if not isinstance(layer.layer, Concat) or layer.layer.axis != 0:
                continue
            inputs = tuple(layer.sources)
            for cut in range(len(inputs) - 1, 1, -1):
                if inputs[:cut] in made:
                    prefix = made[inputs[:cut]]
                    layer.sources = [prefix, *inputs[cut:]]
                    layer.inputs = [self._shape_of(prefix), *layer.inputs[cut:]]
                    chained.update({prefix, layer.name})
                    break
            made[inputs] = layer.name
        if not chained:
            return
        order = list(self.layers)
        for layer in [layer for layer in self.layers if layer.name in chained]:
            order.remove(layer)
            sources = set(layer.sources)
            last = max(i for i, x in enumerate(order) if x.name in sources)
            order.insert(last + 1, layer)
            owner = order[last].name.rpartition(".")[0]
            name = f"{owner}.concat" if owner else "concat"
            if name == layer.name or name in self.names:
                continue
            old, layer.name = layer.name, name  # names are reused down the chain: rename one at a time
            self.renamed[old] = name
            self.names.discard(old)
            self.names.add(name)
            for other in order[last + 2 :]:  # what reads it comes after it
                if old in other.sources:
                    other.sources = [name if s == old else s for s in other.sources]
        self.layers = order
