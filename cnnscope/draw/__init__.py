"""Architecture figures from a spec (``cnnscope draw``): every size in them computed, none typed.

Two styles: ``volumes``, the classic figure of feature maps as boxes (for chains such as
AlexNet and VGG), and ``graph``, blocks as boxes in a top-down layout with branches side by
side (for Inception, ResNet, U-Net). Pure Python over an :class:`Analysis`: no torch. The
figure is SVG written here; PNG is that SVG rendered by resvg.
"""

from __future__ import annotations

from typing import Literal

from cnnscope.analysis import Analysis
from cnnscope.draw.canvas import Canvas
from cnnscope.errors import CnnscopeError

Style = Literal["volumes", "graph"]
STYLES: tuple[Style, ...] = ("volumes", "graph")
PNG_ZOOM = 2  # pixels per SVG unit: sharp on slides and in print


def branches(analysis: Analysis) -> bool:
    """Some layer reads several tensors, or some tensor is read by several layers."""
    readers: dict[str, int] = {}
    for report in analysis.layers:
        if len(report.node.inputs) > 1:
            return True
        for name in report.node.inputs:
            readers[name] = readers.get(name, 0) + 1
    return any(count > 1 for count in readers.values())


def default_style(analysis: Analysis) -> Style:
    return "graph" if branches(analysis) else "volumes"


GRAPH_DEPTH = 2  # graphs fold blocks inside blocks unless told otherwise: Inception's paths, conv-BN boxes


def draw(analysis: Analysis, style: str | None = None, depth: int | None = None) -> Canvas:
    """The figure of ``analysis``.

    ``depth`` as for ``inspect --depth``: blocks nested deeper than N are one box each (1: every
    top-level block is a box); a repetition group and its instances count as one level. None:
    volumes unfold everything, graphs fold at ``GRAPH_DEPTH``.
    """
    if style is not None and style not in STYLES:
        raise CnnscopeError(f"unknown style '{style}'", hint=f"one of {', '.join(STYLES)}")
    if depth is not None and depth < 1:
        raise CnnscopeError(f"--depth must be at least 1, got {depth}")
    style = style or default_style(analysis)
    if style == "volumes":
        from cnnscope.draw.volumes import layout as volumes

        return volumes(analysis, None if depth is None else depth - 1)[0]
    from cnnscope.draw.graph import layout as graph

    return graph(analysis, (depth or GRAPH_DEPTH) - 1)[0]


PNG_MAX_PIXELS = 100_000_000  # a figure larger than this is no picture anyone can open: use SVG


def to_png(canvas: Canvas) -> bytes:
    """Render the figure to PNG bytes at ``PNG_ZOOM`` pixels per SVG unit."""
    width, height = (side * PNG_ZOOM for side in canvas.size())
    if width * height > PNG_MAX_PIXELS:
        raise CnnscopeError(
            f"the figure is too large for a PNG ({width} x {height} pixels)",
            hint="write .svg, or fold blocks with --depth",
        )
    svg = canvas.to_svg()
    try:
        import resvg_py
    except ImportError:  # pragma: no cover - a dependency; only a broken install lacks it
        raise CnnscopeError("PNG output needs the resvg-py package: pip install resvg-py") from None
    try:
        return bytes(resvg_py.svg_to_bytes(svg_string=svg, zoom=PNG_ZOOM, background="white"))
    except ValueError as exc:  # pragma: no cover - our SVG is valid; say so if it is not
        raise CnnscopeError(f"cannot render the figure as PNG: {exc}") from None
