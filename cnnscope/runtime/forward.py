"""A spec model's forward pass as straight-line Python, generated and compiled once per model.

A spec is already a straight-line program (layers in order, inputs by name), so its forward is
written out as one: each tensor lives in a local variable while a later layer reads it (names are
reused, ``del`` frees the rest at once, as the step loop did), each layer's module is called
directly, and no dictionary is consulted. ``SpecModel.forward_source`` shows the code::

    x1 = m[4](x)  # 'layer1.0.conv1'
    x1 = m[5](x1)  # 'layer1.0.bn1'
    x1 = m[6](x1)  # 'layer1.0.relu1', in place
    ...
    x1 = x1.add_(x) if x1.dtype == x.dtype else x1 + x  # 'layer1.0.add', in place
    del x

A model with several outputs (``outputs`` in the spec) returns a tuple of slots, ``return (x3, x1)``;
a dict's keys are the spec's text, so they never enter the code: ``SpecModel.forward`` pairs them
with the tuple in Python.

No text of the spec ever reaches ``compile``: a spec is untrusted input, and a layer name is
text. The compiled code is made only of what this module writes itself (slot names ``x``,
``x1``, ..., indices into ``m`` and the integers of an :class:`Inline` expression), and
:func:`_check_generated` refuses any other construct before it is compiled. The layer names
appear only in ``forward_source``, the copy shown to readers and in tracebacks, as ``repr()``
string literals in comments: a repr holds no line break, so even that copy parses to the same
code as the compiled one.

Why source text, and not ``torch.fx`` code generation: fx's code reaches every module through
attribute chains from ``self`` (``getattr(self.layer1, "0").conv1``: ``nn.Module.__getattr__`` at
every step of every call), and a ``GraphModule`` is a class of its own per instance, with its own
rules for copying and saving. Here the modules arrive as one tuple ``m`` (``m[k]`` is an index
into it), so copying or pickling the model needs nothing but the source to be compiled again.

What the generated code does differently from the step loop is never visible in the values,
which are the loop's bit for bit:

- A module that can say its forward as an expression (:class:`cnnscope.layers.modules.Inline`:
  add, concat, mul) is written as that expression, ``a + b`` or ``torch.cat((a, b), dim=1)``, as
  torchvision writes ``out += identity``.
- A fused activation (no submodule of the model) has its ``forward`` called directly.
- In place, as torchvision does: an add may write into its first input, and an activation layer
  into its input, where that input is a new tensor of a ``fresh_output`` layer (without a fused
  activation, whose backward may need its output) that no other layer reads. The arithmetic is
  the same; only the copy is saved (an add whose inputs differ in dtype, under autocast, is
  written ``a + b``: ``add_`` would keep the first one's).

Whatever could observe those differences sends the forward through the step loop instead: a hook
on a module written as an expression or replaced by an in-place twin, or on a layer whose output
would be overwritten (these are ``Generated.watched``), any global module hook (torch's
``FlopCounterMode`` installs some, so ``verify`` counts the loop), ``torch.jit`` tracing and
``torch.fx`` tracing (which records module calls).
"""

from __future__ import annotations

import ast
import itertools
import linecache
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn.modules import module as torch_modules

from cnnscope.layers.modules import Inline

HookDict = dict[int, Any]
ForwardFunction = Callable[[tuple[Callable[..., Any], ...], torch.Tensor], Any]  # a tensor, or a tuple of them

_numbers = itertools.count()


class Step(NamedTuple):
    """One layer of the forward pass, as :class:`SpecModel` holds it."""

    name: str
    inputs: tuple[str, ...]
    module: nn.Module  # the layer's (registered) module
    act: nn.Module | None  # a fused activation, run on the module's output
    fresh: bool  # the layer's output is a new tensor that no backward needs: it may be overwritten
    in_place: nn.Module | None  # an activation layer's twin that overwrites its input (see module docstring)


class Generated(NamedTuple):
    code: str  # what is compiled: no text of the spec
    source: str  # the same lines with the layer names in comments, for readers and tracebacks
    function: ForwardFunction  # function(calls, x)
    calls: tuple[Callable[..., Any], ...]  # the tuple ``m`` of the source
    watched: tuple[HookDict, ...]  # hook dictionaries: any entry in one sends the forward through the step loop


def observed(watched: tuple[HookDict, ...], x: object) -> bool:
    """Whether a hook or a tracer could tell the generated forward from the step loop: a hook in
    ``watched`` or a global one, ``torch.jit`` tracing, or torch.fx's proxy in place of a tensor
    (``cnnscope import`` reads a model's layers from the module calls that fx records)."""
    return bool(
        not isinstance(x, torch.Tensor)
        or any(watched)
        or torch_modules._global_forward_hooks
        or torch_modules._global_forward_pre_hooks
        or torch_modules._global_backward_hooks
        or torch_modules._global_backward_pre_hooks
        or torch._C._get_tracing_state()
    )


def _hooks(module: nn.Module) -> tuple[HookDict, ...]:
    return (module._forward_hooks, module._forward_pre_hooks, module._backward_hooks, module._backward_pre_hooks)


def generate(steps: Sequence[Step], model_input: str, outputs: Sequence[str], as_tuple: bool = False) -> Generated:
    """The forward pass of ``steps`` (the model input is named ``model_input``) as compiled Python,
    returning the tensor of ``outputs[0]`` or, ``as_tuple``, the tuple of those of ``outputs``."""
    readers = Counter(name for step in steps for name in step.inputs)
    last_use = {name: i for i, step in enumerate(steps) for name in step.inputs}
    for output in outputs:
        last_use[output] = len(steps)  # returned
        readers[output] += 1  # and so never overwritten in place by the layer that reads it
    producers = {step.name: step for step in steps}

    calls: list[Callable[..., Any]] = []
    watched: list[HookDict] = []
    slot_of: dict[str, str] = {model_input: "x"}
    free: list[str] = []  # slots whose tensor nothing reads any more
    count = 1  # slots made so far ("x", "x1", "x2", ...)
    lines = ["def forward(m, x):"]
    notes = [""]  # per line: what forward_source says of it in a comment (never compiled)

    def call(target: Callable[..., Any], args: str) -> str:
        calls.append(target)
        return f"m[{len(calls) - 1}]({args})"

    def overwritable(name: str) -> Step | None:
        """The step that made ``name``, if its one reader (the step at hand) may overwrite it."""
        producer = producers.get(name)
        return producer if producer is not None and producer.fresh and readers[name] == 1 else None

    for index, step in enumerate(steps):
        args = [slot_of[name] for name in step.inputs]
        note = repr(step.name)
        if isinstance(step.module, Inline):
            producer = overwritable(step.inputs[0])
            in_place = step.module.in_place(args) if producer is not None else None
            if producer is not None and in_place is not None:
                expression = in_place
                note += ", in place"
                watched += _hooks(producer.module)
            else:
                expression = step.module.expression(args)
            watched += _hooks(step.module)
        elif step.in_place is not None and len(args) == 1 and (producer := overwritable(step.inputs[0])):
            expression = call(step.in_place.forward, args[0])
            note += ", in place"
            watched += _hooks(producer.module) + _hooks(step.module)
        else:
            expression = call(step.module, ", ".join(args))
        if step.act is not None:
            expression = call(step.act.forward, expression)
            note += f", then {step.act!r}"

        done = [slot_of.pop(name) for name in dict.fromkeys(step.inputs) if last_use[name] == index]
        if done:
            slot = done.pop(0)
        elif free:
            slot = free.pop(0)
        else:
            slot, count = f"x{count}", count + 1
        lines.append(f"    {slot} = {expression}")
        notes.append(note)
        if done:
            lines.append(f"    del {', '.join(done)}")
            notes.append("")
            free = sorted(free + done, key=_slot_order)
        if step.name in last_use:
            slot_of[step.name] = slot
        else:  # nothing reads it: free it now (the loop kept such outputs to the end)
            lines.append(f"    del {slot}")
            notes.append("")
            free = sorted([*free, slot], key=_slot_order)
    returned = [slot_of[output] for output in outputs]
    if as_tuple:  # "(x3, x1)", and "(x3,)" for a tuple of one
        lines.append(f"    return ({', '.join(returned)}{',' if len(returned) == 1 else ''})")
    else:
        lines.append(f"    return {returned[0]}")
    notes.append("")
    code = "\n".join(lines) + "\n"
    shown = "".join(line + (f"  # {note}" if note else "") + "\n" for line, note in zip(lines, notes))
    unique = tuple({id(hooks): hooks for hooks in watched}.values())  # a layer may be watched twice
    return Generated(code, shown, _compile(code, shown), tuple(calls), unique)


def _slot_order(slot: str) -> int:
    return int(slot[1:] or 0)


# What generated code may be made of: a function of (m, x) whose body assigns, deletes and
# returns local tensors, calls ``m[k](...)`` and ``torch.cat``, adds and multiplies, and compares
# dtypes; the only constants are integers (indices, a concat's dim).
_ALLOWED = (
    ast.Module, ast.FunctionDef, ast.arguments, ast.arg, ast.Assign, ast.Delete, ast.Return,
    ast.Call, ast.Subscript, ast.Attribute, ast.Name, ast.Load, ast.Store, ast.Del,
    ast.Tuple, ast.keyword, ast.BinOp, ast.Add, ast.Mult, ast.IfExp, ast.Compare, ast.Eq,
)  # fmt: skip
_ATTRIBUTES = {"add_", "dtype", "cat", "forward"}


def _check_generated(code: str) -> ast.Module:
    """``code`` parsed, once it is shown to be made only of what :func:`generate` writes.

    A second line of defence: whatever a layer's ``expression`` or a future change writes, no
    string, import, attribute lookup or name outside the generated slots can be compiled.
    """
    tree = ast.parse(code)
    pending: list[ast.AST] = [tree]
    while pending:  # ast.walk's order does not matter here, and its generators take half of the check
        node = pending.pop()
        allowed = isinstance(node, _ALLOWED) or (isinstance(node, ast.Constant) and type(node.value) is int)
        if isinstance(node, ast.Attribute):
            allowed = node.attr in _ATTRIBUTES
        elif isinstance(node, ast.Name):
            allowed = node.id in ("m", "torch") or _is_slot(node.id)
        elif isinstance(node, ast.FunctionDef):
            allowed = node.name == "forward" and not node.decorator_list
        if not allowed:
            raise ValueError(f"generated forward holds {ast.dump(node)[:80]}: refused")
        for name in node._fields:
            child = getattr(node, name, None)
            if isinstance(child, list):
                pending.extend(item for item in child if isinstance(item, ast.AST))
            elif isinstance(child, ast.AST):
                pending.append(child)
    return tree


def _is_slot(name: str) -> bool:
    return name == "x" or (name[:1] == "x" and name[1:].isdigit())


def _compile(code: str, shown: str) -> ForwardFunction:
    """Compile ``code``; tracebacks show ``shown``, the same lines with their layer names."""
    filename = f"<cnnscope forward #{next(_numbers)}>"
    linecache.cache[filename] = (len(shown), None, shown.splitlines(keepends=True), filename)
    namespace: dict[str, Any] = {"torch": torch}
    exec(compile(_check_generated(code), filename, "exec"), namespace)
    function: ForwardFunction = namespace["forward"]
    return function
