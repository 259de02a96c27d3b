"""The layer types a spec can use, one registry for all of them.

To add a layer type, write a subclass of :class:`Layer` (keys declared with ``key``, as
a frozen dataclass's fields) with ``@register`` in the module of its family (sliding, dense, elementwise, structure):
its keys, shape rule, costs, receptive-field effect, explanation, peer counts and
torch module all live in that class, and specs, the engine, every report, the
runtime and the TUI know it from there. ``tests/test_registry.py`` checks that it
provides everything.
"""

from cnnscope.layers import dense, elementwise, sliding, structure
from cnnscope.layers.base import (
    GLOBAL,
    LAYER_TYPES,
    MAX_ELEMENTS,
    TENSOR,
    UNCOUNTED,
    Cells,
    Cost,
    Effect,
    Global,
    Layer,
    Mixes,
    Moves,
    Parameter,
    PeerCounts,
    Shape,
    TorchCall,
    Window,
    bounded,
    fmt_shape,
    numel,
)
from cnnscope.layers.elementwise import Activation, activation_types

__all__ = [
    "GLOBAL",
    "LAYER_TYPES",
    "MAX_ELEMENTS",
    "TENSOR",
    "UNCOUNTED",
    "Activation",
    "Cells",
    "Cost",
    "Effect",
    "Global",
    "Layer",
    "Mixes",
    "Moves",
    "Parameter",
    "PeerCounts",
    "Shape",
    "TorchCall",
    "Window",
    "activation_types",
    "bounded",
    "dense",
    "elementwise",
    "fmt_shape",
    "numel",
    "sliding",
    "structure",
]
