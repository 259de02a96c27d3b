"""cnnscope: CNN architectures as TOML specs, with every number shown and checkable.

The static side (``cnnscope.spec``, ``cnnscope.analysis``) never imports torch.
"""

from cnnscope import zoo
from cnnscope.analysis import Analysis, analyze
from cnnscope.errors import CheckpointError, CnnscopeError, DeviceError, SpecError
from cnnscope.spec import Spec, load, parse

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
    "load",
    "load_weights",
    "parse",
    "zoo",
]


def build(spec_or_path):  # type: ignore[no-untyped-def]
    """A runnable ``torch.nn.Module`` from a Spec, a spec file or a zoo name (imports torch)."""
    from cnnscope.runtime.build import build as build_model

    return build_model(spec_or_path)


def load_weights(model, path):  # type: ignore[no-untyped-def]
    """Load a ``.pth``/``.pt`` (``weights_only=True``) or ``.safetensors`` state_dict into a built model."""
    from cnnscope.runtime.weights import load_weights as load

    return load(model, path)
