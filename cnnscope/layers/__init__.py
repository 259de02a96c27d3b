"""The layer types a spec can use, one registry for all of them.

To add a layer type, write a frozen dataclass subclass of :class:`Layer` with
``@register`` in the module that fits it: specs, the engine and every report know it
from there. To run it with torch, add its module to ``cnnscope/runtime/modules.py``.
"""

from cnnscope.layers import dense, elementwise, sliding, structure
from cnnscope.layers.base import GLOBAL, LAYER_TYPES, Cells, Cost, Global, Layer, Shape, Window, fmt_shape, numel
from cnnscope.layers.elementwise import ACTIVATIONS, Activation

__all__ = [
    "ACTIVATIONS",
    "GLOBAL",
    "LAYER_TYPES",
    "Activation",
    "Cells",
    "Cost",
    "Global",
    "Layer",
    "Shape",
    "Window",
    "dense",
    "elementwise",
    "fmt_shape",
    "numel",
    "sliding",
    "structure",
]
