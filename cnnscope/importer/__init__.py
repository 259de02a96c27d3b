"""``cnnscope import``: a PyTorch model -> a spec a person can read, diff and review.

:func:`from_module` reads the module once with torch.fx (:mod:`.trace`), folds its
repeated submodules into blocks (:mod:`.fold`), writes TOML (:mod:`.write`) and parses
that text back: the returned :class:`~cnnscope.spec.Spec` is exactly what the file
says, and ``spec.source`` is the text. :func:`check_import` proves the written spec
computes the model's function with the model's own state_dict.
"""

from __future__ import annotations

import functools
import gc
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from cnnscope.errors import CnnscopeError, SpecError, did_you_mean
from cnnscope.importer.fold import into_blocks
from cnnscope.importer.records import ImportFailure
from cnnscope.importer.write import document
from cnnscope.layers import Shape, fmt_shape
from cnnscope.spec import Spec, parse
from cnnscope.text import visible

if TYPE_CHECKING:  # torch is imported by the functions that read a torch model: an ONNX import needs none
    import torch
    from torch import nn

    from cnnscope.importer.trace import Run

__all__ = ["ImportFailure", "check_import", "from_module", "load_model", "read_module", "running_target"]


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _collector_paused(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """``function`` run with Python's cyclic garbage collector paused, as it was before afterwards.

    Reading and checking a model makes tens of thousands of objects that live to the end (torch.fx's
    nodes, proxies, the spec's layers, the built modules); each of them counts towards the collector's
    next full pass, which walks every object of the process (half a million with torch and timm
    loaded). Those passes were a quarter of importing inception_resnet_v2 and a tenth of resnet50d
    (``benchmarks/README.md``). What the reading leaves as cycles is collected once it resumes.
    """

    @functools.wraps(function)
    def paused(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()

    return paused


def from_module(module: nn.Module, input_shape: Shape, *, name: str | None = None, origin: str | None = None) -> Spec:
    """The spec of ``module`` (put in eval mode) on inputs of ``input_shape`` (per sample, no batch axis).

    Layer names are the module's own, so ``module.state_dict()`` loads into ``cnnscope.build(spec)``.
    """
    return read_module(module, input_shape, name=name, origin=origin)[0]


@_collector_paused
def read_module(
    module: nn.Module, input_shape: Shape, *, name: str | None = None, origin: str | None = None
) -> tuple[Spec, Run]:
    """:func:`from_module`, and the run of the model it was read on: its ``unreached`` submodules (eval mode
    does not use inception_v3's ``AuxLogits``) are left out of the spec, and ``check_import(..., against=run)``
    checks the spec against it without running the model again."""
    from cnnscope.importer.trace import read

    module.eval()
    input_shape = tuple(input_shape)
    reading = read(module, input_shape)
    classes = {path: type(m).__name__ for path, m in module.named_modules()}
    layer_lines, blocks = into_blocks(reading.layers, classes)
    kind = type(module).__name__
    name = name or _snake(kind)
    where = visible(origin or f"{type(module).__module__}.{type(module).__qualname__}")
    left_out = reading.run.unreached
    shapes = {layer.name: list(layer.out) for layer in reading.layers}
    returned = reading.outputs
    output: Any  # [expect] output, in the form of `outputs`
    if isinstance(returned, str):
        output = shapes[returned]
    elif isinstance(returned, list):
        output = [shapes[layer] for layer in returned]
    else:
        output = {key: shapes[layer] for key, layer in returned.items()}
    header = [
        f"Imported by `cnnscope import` from {where} on inputs of {fmt_shape(input_shape)}.",
        "Layer names are the module's own: its state_dict loads into cnnscope.build(spec) as it is.",
        *(f"Left out, not used in eval mode: {path} ({count:,} parameters)." for path, count in left_out.items()),
        *(
            f"Its forward branches on sizes at {line}{f' ({module})' if module else ''}: the path it took at"
            f" {fmt_shape(input_shape)} is the one written; `cnnscope verify --input` compares at other sizes."
            for line, module in reading.run.branches.items()
        ),
        "",
    ]
    text = document(
        header=header,
        name=name,
        title=f"{visible(kind)}, imported from {where}",
        input_shape=input_shape,
        layer_lines=layer_lines,
        blocks=blocks,
        params=sum(p.numel() for p in module.parameters()) - sum(left_out.values()),
        output=output,
        outputs=None if returned == reading.layers[-1].name else returned,
        counted="by torch on the original model" + (", less the modules left out above" if left_out else ""),
    )
    try:
        spec = parse(text, path=f"<import of {where}>", default_name=name)
    except SpecError as exc:  # the writer's mistake, not the user's: say so plainly
        raise ImportFailure(f"the written spec does not parse: {exc}", hint="please report this model") from None
    return spec, reading.run


def called(module: nn.Module, x: torch.Tensor) -> Run:
    """The run of ``module`` on ``x``: what it returns, and the outermost submodules holding parameters or
    buffers that it did not call (inception_v3's ``AuxLogits`` runs in training only)."""
    from cnnscope.importer.trace import Run, unreached

    seen: set[str] = set()
    paths = {m: path for path, m in module.named_modules()}
    hooks = [m.register_forward_pre_hook(lambda m, _: seen.add(paths[m])) for m in paths]
    try:
        out = module(x)
    finally:
        for hook in hooks:
            hook.remove()
    return Run(x, out, unreached(module, seen))


@_collector_paused
def check_import(module: nn.Module, spec: Spec, batch: int = 2, *, against: Run | None = None) -> float:
    """Build ``spec``, load ``module``'s state_dict into it (every key, every shape) and return the
    largest difference between the two models' outputs, relative to the output's scale: on a random
    batch of ``batch``, or on the input of ``against``, a run of the model already made (the import's
    own, so that the model is not run twice)."""
    import torch

    from cnnscope.runtime.build import build, output_tensors

    model = build(spec, init=False).eval()  # every weight is loaded next: none drawn at random first
    if against is None:
        with torch.no_grad():
            against = called(module, torch.randn(batch, *spec.input.shape))
    left_out = against.unreached
    state = {k: v for k, v in module.state_dict().items() if not any(k.startswith(f"{p}.") for p in left_out)}
    try:
        model.load_state_dict(state, strict=True, assign=True)  # the model's own tensors: nothing copied
    except RuntimeError as exc:
        lines = str(exc).strip().splitlines()
        first = lines[1].strip() if len(lines) > 1 else lines[0]
        raise ImportFailure(f"the model's state_dict does not load into the written spec: {first}") from None
    with torch.no_grad():  # the steps in a loop: the generated forward's values, without writing and compiling it
        actual = model.forward_steps(against.input)
    try:
        pairs = zip(output_tensors(spec, against.output), output_tensors(spec, actual))
    except ValueError as exc:  # the written spec returns another form than the model: the writer's mistake
        raise ImportFailure(str(exc), hint="please report this model") from None
    return max(float((b - a).abs().max()) / max(float(a.abs().max()), 1e-12) for a, b in pairs)


def load_model(target: str) -> tuple[nn.Module, str, Shape]:
    """``package.module:callable`` or ``path/to/file.py:Name``, called without arguments, or ``timm:NAME``;
    its name; and the input size it is made for (timm's ``pretrained_cfg``; else 3 x 224 x 224)."""
    if target.startswith("timm:"):
        return _timm_model(target.removeprefix("timm:"))
    where, _, attribute = target.rpartition(":")
    if not where or not attribute:
        raise CnnscopeError(f"'{target}' is not MODULE:NAME", hint="e.g. torchvision.models:resnet50 or net.py:Net")
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise CnnscopeError("no such file", path=where)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None and spec.loader is not None
        namespace = importlib.util.module_from_spec(spec)
        sys.modules.setdefault(path.stem, namespace)
        folder = str(path.resolve().parent)
        if folder not in sys.path:  # as `python path/to/net.py` runs it: `from blocks import SE` finds blocks.py
            sys.path.insert(0, folder)
        try:
            spec.loader.exec_module(namespace)
        except Exception as exc:
            raise CnnscopeError(f"cannot run the file: {type(exc).__name__}: {exc}", path=where) from None
    else:
        try:
            namespace = importlib.import_module(where)
        except ImportError as exc:
            raise CnnscopeError(f"cannot import '{where}': {exc}") from None
        except Exception as exc:  # the module's own code failed as it ran
            raise CnnscopeError(f"importing '{where}' raised {type(exc).__name__}: {exc}") from None
    factory: Any = getattr(namespace, attribute, None)
    if factory is None:
        raise CnnscopeError(f"'{where}' has no '{attribute}'")
    if not callable(factory):
        raise CnnscopeError(f"'{target}' is not a class or a function")
    try:
        module = factory()
    except TypeError as exc:
        raise CnnscopeError(f"'{target}' cannot be called without arguments: {exc}") from None
    except Exception as exc:  # the model's __init__ failed: the user's code, not cnnscope's
        raise CnnscopeError(f"calling '{target}' raised {type(exc).__name__}: {exc}") from None
    from torch import nn  # after the checks above: a missing file is said without waiting for torch

    if not isinstance(module, nn.Module):
        kind = type(module).__name__
        raise CnnscopeError(f"'{target}' gave {'an' if kind[0] in 'aeiouAEIOU' else 'a'} {kind}, not a torch.nn.Module")
    return module, attribute, DEFAULT_INPUT


DEFAULT_INPUT = (3, 224, 224)


def _timm_model(name: str) -> tuple[nn.Module, str, Shape]:
    """``timm.create_model(name)`` with random weights, and timm's input size for it."""
    try:
        import timm
    except ImportError:
        raise CnnscopeError("timm:NAME needs timm, which this install lacks", hint="pip install timm") from None
    if not timm.is_model(name):
        raise CnnscopeError(f"timm has no model '{visible(name)}'", hint=did_you_mean(name, timm.list_models()))
    try:
        module = timm.create_model(name, pretrained=False)
    except Exception as exc:  # timm's own error for a model it lists but cannot make here
        raise CnnscopeError(f"timm.create_model('{name}') raised {type(exc).__name__}: {exc}") from None
    config: Any = getattr(module, "pretrained_cfg", None) or {}
    size = config.get("input_size")
    return module, name, tuple(size) if size else DEFAULT_INPUT


@contextmanager
def running_target(target: str) -> Iterator[None]:
    """Run the target's own code (its module's top level, its ``__init__``, its forward) inside this block.

    Importing a model runs its code: whatever it prints goes to stderr, at the file-descriptor
    level too, so that stdout carries only the spec (``cnnscope import p.py:Net > net.toml``);
    and an exit from the target (``sys.exit``, ``raise SystemExit``, ``exit()``) is one error
    naming it, not the end of cnnscope with the target's exit code.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with redirect_stdout(sys.stderr):
            yield
    except SystemExit as exc:
        raise CnnscopeError(
            f"'{target}' exited (SystemExit: {exc.code!r}) while it was being read",
            hint="a model file must not end the program when it is imported or called",
        ) from None
    except KeyboardInterrupt:  # Ctrl-C, or the target raising it: cnnscope's own 130, with the target named
        print(f"interrupted while '{visible(target)}' was being read", file=sys.__stderr__)
        raise
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _snake(name: str) -> str:
    import re

    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
