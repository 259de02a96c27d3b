"""cnnscope: CNN architectures as TOML specs, with every number shown and checkable.

The static side (``cnnscope.spec``, ``cnnscope.analysis``) never imports torch. The package
imports its parts when first asked for them (``cnnscope.parse``, ``cnnscope.zoo``), so that
``import cnnscope`` and commands that need little stay near the interpreter's own start-up.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from cnnscope.errors import CheckpointError, CnnscopeError, DeviceError, SpecError

if TYPE_CHECKING:  # torch is imported by build and load_weights only when they are called
    from pathlib import Path

    from torch.nn import Module

    from cnnscope import zoo
    from cnnscope.analysis import Analysis, analyze
    from cnnscope.report.notebook import Summary
    from cnnscope.runtime.build import SpecModel
    from cnnscope.spec import Spec, parse

# name -> the module that defines it, imported on first access (PEP 562)
_LAZY = {
    "Analysis": "cnnscope.analysis",
    "analyze": "cnnscope.analysis",
    "Spec": "cnnscope.spec",
    "parse": "cnnscope.spec",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name == "zoo":
        return importlib.import_module("cnnscope.zoo")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cnnscope' has no attribute '{name}'")


__version__ = "0.1.0"
__all__ = [
    "Analysis",
    "CheckpointError",
    "CnnscopeError",
    "DeviceError",
    "Spec",
    "SpecError",
    "analyze",
    "build",
    "from_module",
    "load",
    "load_weights",
    "parse",
    "summary",
    "zoo",
]


def load(target: str | Path) -> Spec:
    """A spec from a zoo name (``"resnet50"``) or a spec file, as ``build`` and the commands take."""
    from cnnscope import zoo

    return zoo.load_target(str(target))


def build(spec_or_path: Spec | str | Path) -> SpecModel:
    """A runnable ``torch.nn.Module`` from a Spec, a spec file or a zoo name (imports torch)."""
    from cnnscope.runtime.build import build as build_model

    return build_model(spec_or_path)


def from_module(module: Module, input_shape: tuple[int, ...], *, name: str | None = None) -> Spec:
    """The spec of a PyTorch model read on inputs of ``input_shape`` (per sample); ``spec.source`` is its TOML.

    Layer names are the module's own, so ``module.state_dict()`` loads into ``build(spec)`` as it is.
    """
    from cnnscope.importer import from_module as read_module

    return read_module(module, input_shape, name=name)


def load_weights(model: Module, path: str | Path) -> Module:
    """Load a ``.pth``/``.pt`` (``weights_only=True``) or ``.safetensors`` state_dict into a built model."""
    from cnnscope.runtime.weights import load_weights as load

    return load(model, path)


def summary(
    model_or_spec: Module | Spec | str | Path, input_size: tuple[int, ...] | str | None = None, depth: int | None = None
) -> Summary:
    """The layer table of a model, as torchinfo's ``summary(model, input_size)``: ``print`` it, or let Jupyter
    render it (an HTML table); ``.analysis`` holds every figure.

    ``model_or_spec``: a zoo name, a spec path, a ``Spec``, or a ``torch.nn.Module`` (read through
    :func:`from_module`, which needs ``input_size``). ``input_size``: per sample, no batch axis, e.g.
    ``(3, 224, 224)``, or a string as ``--input`` takes (``"448"``: only the spatial size of a spec).
    ``depth``: fold blocks nested deeper than that into one row each, as ``inspect --depth``.
    """
    from cnnscope.analysis import analyze
    from cnnscope.report.notebook import Summary
    from cnnscope.spec import Spec
    from cnnscope.spec.sizes import resize

    size = "x".join(map(str, input_size)) if isinstance(input_size, tuple | list) else input_size
    if isinstance(model_or_spec, Spec):
        spec = model_or_spec
    elif isinstance(model_or_spec, str | os.PathLike):
        spec = load(model_or_spec)
    else:
        if input_size is None:
            raise CnnscopeError(
                f"summary of a {type(model_or_spec).__name__} needs input_size", hint="e.g. (3, 224, 224), per sample"
            )
        return Summary(analyze(from_module(model_or_spec, tuple(map(int, str(size).split("x"))))), depth)
    return Summary(analyze(resize(spec, size) if size else spec), depth)
