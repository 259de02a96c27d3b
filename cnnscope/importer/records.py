"""What every reader of a model gives the writer, torch-free: the layers read, and the failures.

The PyTorch reader (:mod:`.trace`, torch.fx) and the ONNX reader (:mod:`.onnx`, the ``onnx``
package alone) both produce :class:`Imported` records, which :mod:`.fold` and :mod:`.write`
turn into a spec; this module imports neither torch nor onnx, so that an ONNX import runs
where torch is not installed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cnnscope.errors import CnnscopeError
from cnnscope.layers import Activation, Layer, Shape
from cnnscope.report.numbers import counted


class ImportFailure(CnnscopeError):
    """The model holds something no spec can describe: an op with no layer type, control flow
    that depends on the data, a module whose weights are used twice.

    ``op`` and ``where`` (the module path), where known, let one run list every such gap.
    """

    def __init__(self, message: str, *, op: str | None = None, where: str | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.op, self.where = op, where


def all_gaps(gaps: dict[str, list[str]], items: str = "calls") -> ImportFailure:
    """One error that names every op without a reader, how often, and where (as fvcore's unsupported_ops)."""
    if len(gaps) == 1 and len(next(iter(gaps.values()))) == 1:
        ((op, (where,)),) = gaps.items()
        return ImportFailure(f"{where}: {op}", hint="`cnnscope types` lists what a spec can say")
    parts = []
    for op, places in sorted(gaps.items(), key=lambda item: -len(item[1])):
        shown = ", ".join(dict.fromkeys(places[:3])) + (", ..." if len(places) > 3 else "")
        parts.append(f"{op} x{len(places)} ({shown})")
    total = sum(len(places) for places in gaps.values())
    return ImportFailure(
        f"{total} {items} in {counted(len(gaps), 'kind')} have no spec form: " + "; ".join(parts),
        hint="`cnnscope types` lists what a spec can say",
    )


def parents(name: str) -> list[str]:
    """The module paths a layer or module name lies under: ``a.b.c`` -> ``a``, ``a.b``."""
    parts = name.split(".")
    return [".".join(parts[:n]) for n in range(1, len(parts))]


@dataclass
class Imported:
    """One layer read from the model, as the spec will write it."""

    name: str
    layer: Layer
    sources: list[str]  # names of earlier layers, or INPUT
    scope: str  # the module whose forward made the call ("" for the model's own forward)
    inputs: list[Shape]
    out: Shape
    keys: dict[str, Any]  # as the type read them from torch, for writing
    functional: bool = False  # a function call where the peers count functions differently
    act: tuple[Activation, dict[str, Any]] | None = None  # a functional activation fused into this layer
    module_call: bool = False  # read from a module (an activation module stays a layer of its own)


def fuse_activations(
    layers: list[Imported],
    returned: list[str],
    renamed: dict[str, str],
    joins: Callable[[Imported, Imported], bool],
) -> list[Imported]:
    """The layers with each activation that alone reads a layer's output fused into it as its ``act``
    (googlenet's ``F.relu(self.bn(x))`` is ``act = "relu"`` on the batch norm), where ``joins(activation,
    layer)`` says the reader's own rule allows it. Each fused activation's name goes into ``renamed``,
    mapped to the layer's, and later readers read the layer."""
    readers: dict[str, int] = {}
    for source in [*(s for layer in layers for s in layer.sources), *returned]:
        readers[source] = readers.get(source, 0) + 1  # a layer the model returns is read once more
    by_name = {layer.name: layer for layer in layers}
    kept = []
    for layer in layers:
        layer.sources = [renamed.get(s, s) for s in layer.sources]
        feeding = by_name.get(layer.sources[0]) if len(layer.sources) == 1 else None
        if (
            isinstance(layer.layer, Activation)
            and feeding is not None
            and feeding.act is None
            and not isinstance(feeding.layer, Activation)
            and readers.get(feeding.name) == 1
            and joins(layer, feeding)
        ):
            feeding.act = (layer.layer, layer.keys)
            feeding.out = layer.out
            renamed[layer.name] = feeding.name
            continue
        kept.append(layer)
    return kept
