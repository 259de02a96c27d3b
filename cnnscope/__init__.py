"""cnnscope: CNN architectures as TOML specs, with every number shown and checkable.

The static side (``cnnscope.spec``, ``cnnscope.analysis``) never imports torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cnnscope import zoo
from cnnscope.analysis import Analysis, analyze
from cnnscope.errors import CheckpointError, CnnscopeError, DeviceError, SpecError
from cnnscope.spec import Spec, parse

if TYPE_CHECKING:  # torch is imported by build and load_weights only when they are called
    from torch.nn import Module

    from cnnscope.runtime.build import SpecModel

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
    "zoo",
]


def load(target: str | Path) -> Spec:
    """A spec from a zoo name (``"resnet50"``) or a spec file, as ``build`` and the commands take."""
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
