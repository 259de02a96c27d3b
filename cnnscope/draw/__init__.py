"""Architecture figures from a spec (``cnnscope draw``): every size in them computed, none typed.

Two styles: ``volumes``, the classic figure of feature maps as boxes (for chains such as
AlexNet and VGG), and ``graph``, blocks as boxes in a top-down layout with branches side by
side (for Inception, ResNet, U-Net). Pure Python over an :class:`Analysis`: no torch. The
figure is SVG written here; PNG is that SVG rendered by resvg.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Literal

from cnnscope.analysis import Analysis
from cnnscope.draw.canvas import LEGIBLE, SLIDE, Canvas, Group, Text
from cnnscope.draw.fold import Folded, Groups, fold, levels, stages
from cnnscope.errors import CnnscopeError
from cnnscope.spec import INPUT

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


def separate_outputs(analysis: Analysis) -> tuple[str, str] | None:
    """Two outputs (their labels) neither of which feeds the other, or None where every output
    feeds the next: only then can a chain of volumes draw them without a false arrow between them."""
    position = {INPUT: -1} | {report.name: index for index, report in enumerate(analysis.layers)}
    outputs = sorted(analysis.outputs, key=lambda output: position[output.layer])
    for before, after in pairwise(outputs):
        if before.layer != after.layer and before.layer not in _ancestors(analysis, after.layer):
            return before.label, after.label
    return None


def _ancestors(analysis: Analysis, name: str) -> set[str]:
    """Every tensor ``name`` is computed from."""
    found: set[str] = set()
    todo = [name]
    while todo:
        report = analysis.by_name.get(todo.pop())
        for source in report.node.inputs if report is not None else ():
            if source not in found:
                found.add(source)
                todo.append(source)
    return found


def default_style(analysis: Analysis) -> Style:
    return "graph" if branches(analysis) else "volumes"


FITS = ("slide", "none")
MOST_WRAPS = 4  # rows of volumes, columns of a graph


def draw(analysis: Analysis, style: str | None = None, depth: int | None = None, fit: str = "slide") -> Canvas:
    """The figure of ``analysis``.

    ``depth`` as for ``inspect --depth``: blocks nested deeper than N are one box each (1: every
    top-level block is a box); a repetition group and its instances count as one level.
    ``fit="slide"`` (the default): without ``depth``, the most detailed figure whose every text is
    at least :data:`LEGIBLE` px tall on a 1920x1080 slide, folding blocks level by level, then
    merging top-level boxes into stages, a long chain wrapped into rows or columns; with ``depth``,
    only wrapped. ``fit="none"``: everything (or as deep as ``depth``) at full size, unwrapped.
    The canvas's ``note`` says what was folded or wrapped to fit, or that the figure does not fit.
    """
    if style is not None and style not in STYLES:
        raise CnnscopeError(f"unknown style '{style}'", hint=f"one of {', '.join(STYLES)}")
    if fit not in FITS:
        raise CnnscopeError(f"unknown --fit '{fit}'", hint=f"one of {', '.join(FITS)}")
    if depth is not None and depth < 1:
        raise CnnscopeError(f"--depth must be at least 1, got {depth}")
    chosen: Style = "graph" if (style or default_style(analysis)) == "graph" else "volumes"
    apart = separate_outputs(analysis)
    if chosen == "volumes" and apart:
        # a chain of volumes would draw an arrow from one head to another that does not read it
        canvas = draw(analysis, "graph", depth, fit)
        why = f"outputs {apart[0]} and {apart[1]} are on separate branches, which the one chain of volumes cannot show"
        canvas.note = f"drawn as a graph: {why}" + (f"; {canvas.note}" if canvas.note else "")
        return canvas
    level = None if depth is None else depth - 1
    if fit == "none":
        return _layout(analysis, chosen, fold(analysis, level, once=chosen == "graph"), 1)
    if depth is not None:
        canvas, wraps, text = _wrapped(analysis, chosen, fold(analysis, level, once=chosen == "graph"))
        said = [_wraps(chosen, wraps)] if wraps > 1 else []
        if text < LEGIBLE:
            canvas.note = (
                f"at --depth {depth} the smallest text is {text:.1f} px on a"
                f" {SLIDE[0]}x{SLIDE[1]} slide{' even ' + said[0] if said else ''}; leave out --depth to fold it to fit"
            )
        elif said:
            canvas.note = f"for a {SLIDE[0]}x{SLIDE[1]} slide: {said[0]} (--fit none draws it in one)"
        return canvas
    return _fitted(analysis, chosen)


def _layout(analysis: Analysis, style: Style, folded: Folded, wraps: int) -> Canvas:
    if style == "volumes":
        from cnnscope.draw.volumes import layout as volumes

        return volumes(analysis, rows=wraps, folded=folded)[0]
    from cnnscope.draw.graph import layout as graph

    return graph(analysis, columns=wraps, folded=folded)[0]


def _wraps(style: Style, wraps: int) -> str:
    return f"wrapped into {wraps} {'rows' if style == 'volumes' else 'columns'}"


def _hopeless(canvas: Canvas) -> bool:
    """Too large for wrapping alone to make it legible: wrapping keeps about the same area."""
    width, height = canvas.size()
    most = min(t.size for t in canvas.texts) / LEGIBLE  # the figure may be this much larger than the slide
    return width * height > 1.1 * SLIDE[0] * SLIDE[1] * most * most


def _wrapped(analysis: Analysis, style: Style, folded: Folded) -> tuple[Canvas, int, float]:
    """``folded`` in the number of rows or columns that shows its text largest on the slide (a
    further one only where it gains a tenth), the number, and the text's size on the slide."""
    canvas = _layout(analysis, style, folded, 1)
    best = (canvas, 1, canvas.slide_text())
    if _hopeless(canvas):
        return best
    for wraps in range(2, MOST_WRAPS + 1):
        canvas = _layout(analysis, style, folded, wraps)
        text = canvas.slide_text()
        if text < best[2] * 1.1:
            break
        best = (canvas, wraps, text)
    return best


MOST_BOXES = 400  # more boxes than a slide can hold legibly, whatever the layout: not laid out


def _fitted(analysis: Analysis, style: Style) -> Canvas:
    """The most detailed legible figure: blocks folded level by level, then top-level boxes merged
    into stages; what was done is said in the note."""
    once = style == "graph"
    groups = Groups(analysis)
    deepest = levels(analysis, groups)
    level = deepest
    fitted = _attempt(analysis, style, fold(analysis, None, once, groups))
    while (fitted is None or fitted[2] < LEGIBLE) and level > 0:
        level -= 1
        fitted = _attempt(analysis, style, fold(analysis, level, once, groups))
    said = []
    if fitted is None or fitted[2] < LEGIBLE:
        top = fold(analysis, 0, once, groups)
        count = len(top.items) - 1
        while fitted is None or (fitted[2] < LEGIBLE and count > 1):
            if fitted is None:
                count = min(count - 1, MOST_BOXES)
            else:  # wrapped, a figure keeps about its area, and the slide holds so much of it: aim there
                width, height = fitted[0].size()
                room = SLIDE[0] * SLIDE[1] * (min(t.size for t in fitted[0].texts) / LEGIBLE) ** 2
                count = max(1, min(count - 1, int(count * min(0.9, room / (width * height)))))
            fitted = _attempt(analysis, style, stages(top, count))
        said.append(f"every top-level block folded, and the {len(top.items) - 1} boxes merged into {count} stages")
    elif level < deepest:
        said.append(f"blocks folded as --depth {level + 1}" + (" (every top-level block one box)" if not level else ""))
    canvas, wraps, text = fitted
    if wraps > 1:
        said.append(_wraps(style, wraps))
    if said:
        more = "--fit none draws it in one" if wraps > 1 and len(said) == 1 else "--depth N or --fit none draws more"
        canvas.note = f"for a {SLIDE[0]}x{SLIDE[1]} slide: {'; '.join(said)} ({more})"
    if text < LEGIBLE:
        canvas.note = f"does not fit a {SLIDE[0]}x{SLIDE[1]} slide legibly even folded: {canvas.note}"
    return canvas


def _attempt(analysis: Analysis, style: Style, folded: Folded) -> tuple[Canvas, int, float] | None:
    """As :func:`_wrapped`; None where there are too many boxes to try."""
    return None if len(folded.items) > MOST_BOXES else _wrapped(analysis, style, folded)


def outline(canvas: Canvas) -> list[str]:
    """The figure as text, for where its labels cannot be read: a line per frame, box or volume, in
    the order drawn, a frame's boxes indented under it."""
    lines: list[str] = []

    def walk(group: Group, indent: str) -> None:
        texts = [e.text for e in group.elements if isinstance(e, Text) and e.role != "kernel"]
        if group.kind in ("frame", "box", "volume") and texts:
            lines.append(indent + " · ".join(texts))
        for child in group.children:
            walk(child, indent + "  ")

    for group in canvas.groups:
        walk(group, "")
    return lines


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
