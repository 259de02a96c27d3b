"""What a figure says about a layer: its family (colour), its size label, its kernel.

Families come from what the layer type is (its capabilities and the module of its family),
never from a list of type names, so a new layer type is drawn without touching this file.
"""

from __future__ import annotations

from cnnscope.analysis import LayerReport
from cnnscope.draw.canvas import Canvas, Rect, Text, text_width
from cnnscope.layers import Activation, Global, Shape, Window, numel
from cnnscope.report.numbers import si

# family -> (fill colour, legend text); the order is the legend's
FAMILIES: dict[str, tuple[str, str]] = {
    "input": ("#e6e6e6", "input"),
    "convolution": ("#f6a97a", "convolution"),
    "pooling": ("#8fc1e3", "pooling"),
    "dense": ("#b9a3dd", "fully connected"),
    "activation": ("#fbdc7e", "activation"),
    "normalisation": ("#a8dba8", "normalisation, dropout"),
    "merge": ("#f4a6c6", "add, concat, mul"),
    "reshape": ("#d3d3d3", "reshape, upsample"),
    "block": ("#f2e6c9", "block (folded)"),
}


def family(report: LayerReport) -> str:
    layer = report.node.layer
    module = type(layer).__module__.rsplit(".", 1)[-1]
    if isinstance(layer, Activation):
        return "activation"
    if layer.merges:
        return "merge"
    if module == "dense":
        return "dense"
    if module == "sliding":  # a window with weights convolves; without, it pools (or upsamples)
        if report.cost.params:
            return "convolution"
        return "pooling" if numel(report.output_shape) <= numel(report.input_shapes[0]) else "reshape"
    if module == "elementwise":
        return "normalisation"
    if isinstance(layer.window(list(report.input_shapes)), Global) and numel(report.output_shape) < numel(
        report.input_shapes[0]
    ):
        return "pooling"  # over the whole input: max over time, global average
    return "reshape"


def size_label(shape: Shape) -> str:
    """The size as the lecture writes it: spatial sizes first, channels last (227x227x3); 4096 for a vector."""
    if len(shape) <= 1:
        return "x".join(str(d) for d in shape) or "scalar"
    return "x".join(str(d) for d in (*shape[1:], shape[0]))


def kernel_label(report: LayerReport) -> str | None:
    """``11x11 /4`` for a layer with a sliding window; None for the others."""
    window = report.node.layer.window(list(report.input_shapes))
    if not isinstance(window, Window) or not window.kernel:
        return None
    text = "x".join(str(k) for k in window.kernel)
    strides = {s for s in window.stride}
    if len(strides) == 1 and (stride := strides.pop()) != 1:
        text += f" /{stride}" if stride > 1 else f" x{float(1 / stride):g}"  # x2: upsamples
    elif len(strides) > 1 and all(s >= 1 and s == int(s) for s in window.stride):
        text += " /" + "x".join(str(int(s)) for s in window.stride)  # 3x7x7 /1x2x2: a video's frames kept
    return text


def params_label(params: int) -> str:
    return f"{si(params)} params" if params else "no params"


def legend(canvas: Canvas, families: set[str], y: float) -> None:
    """A swatch and a name for each family drawn, in one row at ``y``."""
    group = canvas.group("legend")
    x = 0.0
    for name, (colour, text) in FAMILIES.items():
        if name not in families:
            continue
        group.elements.append(Rect(x, y - 11, 14, 14, colour))
        group.elements.append(Text(x + 20, y, text, 12, anchor="start", role="legend"))
        x += 20 + text_width(text, 12) + 18
