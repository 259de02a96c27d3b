"""The classic figure: every feature map a box, left to right, sized by its shape.

A C x H x W map is a cuboid whose front face is H high and C wide, W going into the
page; sizes follow a log scale so that 3 and 4096 channels both fit. A layer with a
sliding window draws its kernel as a small box on its input, with lines to the output.
A C x D x H x W map (a video's D frames: conv3d) is drawn as one of its frames, H x W x C,
with the window's H x W; its label and the kernel's give every axis (16x56x56x64, 3x7x7).
Vectors (the dense layers) are thin bars. Labels: the layer's name above, its computed
size below (227x227x3, 55x55x96, ..., 4096, 4096, 1000). A long chain may be wrapped into
rows of about equal width, a line leading from the end of one row to the start of the next.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cnnscope.analysis import Analysis
from cnnscope.draw.canvas import OUTPUT, Canvas, Line, Polygon, Rect, Text, text_width
from cnnscope.draw.families import FAMILIES, kernel_label, legend, size_label
from cnnscope.draw.fold import Folded, Item, fold, mark_item, output_tags, returned
from cnnscope.layers import Window, numel

SLANT = 0.45  # how far the depth axis goes right and up, per pixel of depth
BAR = 10  # thickness of a vector's bar
GAP = 22  # between one volume's slot and the next
ROW_GAP = 34  # between one row's sizes and the next row's names: the line that links them runs there
NAME_SIZE, SIZE_SIZE, KERNEL_SIZE = 13, 13, 11


def spatial(n: int) -> float:
    """Pixels for a height, width or vector length: log scale, 1 -> 8 px, 227 -> 118 px."""
    return 8 + 14 * math.log2(n)


def channels(n: int) -> float:
    """Pixels for a channel count: log scale, 1 -> 6 px, 96 -> 39 px, 4096 -> 66 px."""
    return 6 + 5 * math.log2(n)


@dataclass(frozen=True)
class Volume:
    """One drawn feature map: its front face (x, y top-left, w x h) and its depth d."""

    item: Item
    x: float
    y: float
    w: float
    h: float
    d: float
    slot: tuple[float, float]  # the stretch of x that its labels may use
    row: int = 0

    @property
    def right(self) -> float:
        return self.x + self.w + self.d * SLANT


def _dims(item: Item) -> tuple[float, float, float]:
    """(front width, height, depth) in pixels for the item's output shape."""
    shape = item.out
    if len(shape) <= 1:
        return BAR, spatial(max(numel(shape), 1)), BAR
    if len(shape) == 2:  # C x L: a flat box
        return channels(shape[0]), spatial(shape[1]), 0.0
    return channels(shape[0]), spatial(shape[-2]), spatial(shape[-1])  # a 3-D map: one frame


def _drawn(item: Item) -> bool:
    """Leave out what only reshapes (flatten): its size equals its input's, it has no window nor weights."""
    if not item.reports or item.frame is not None or item.params:
        return True
    first = item.reports[0]
    if isinstance(first.node.layer.window(list(first.input_shapes)), Window):
        return True
    return numel(item.out) != numel(first.input_shapes[0]) if first.input_shapes else True


def layout(
    analysis: Analysis, depth: int | None = None, rows: int = 1, folded: Folded | None = None
) -> tuple[Canvas, list[Volume]]:
    """Volumes for ``analysis`` (``fold``'s depth: None unfolds all, 0 folds top-level blocks), or
    for ``folded`` as given, in at most ``rows`` rows."""
    folded = folded or fold(analysis, depth, once=False)  # every repetition: the figure shows the whole chain
    outputs = returned(analysis)
    tags = {key: output_tags(item, outputs) for key, item in folded.items.items()}
    items = [item for item in folded.items.values() if tags[item.key] or _drawn(item)]
    drawn = {item.key for item in items}
    # the drawn box each box reads from, skipping what is not drawn (for the kernel's lines)
    source: dict[str, str] = {}
    for src, dst in folded.edges:
        if dst not in source:
            source[dst] = src if src in drawn else source.get(src, src)

    canvas = Canvas(title=analysis.spec.title or analysis.spec.name)
    if not items:
        return canvas, []
    dims = [_dims(item) for item in items]
    slots: list[float] = []
    for index, (item, (w, _, d)) in enumerate(zip(items, dims, strict=True)):
        size = size_label(item.out)
        slot = max(w + d * SLANT, text_width(_name(item), NAME_SIZE, bold=True), text_width(size, SIZE_SIZE))
        slot = max([slot] + [text_width(tag, SIZE_SIZE, bold=True) for tag in tags[item.key]])
        after = items[index + 1] if index + 1 < len(items) else None
        kernel = _kernel_text(after) if after is not None else None
        if kernel:  # drawn on this volume, under the kernel box
            slot = max(slot, text_width(kernel, KERNEL_SIZE) + 4)
        slots.append(slot)
    top = min(-h / 2 + d * SLANT / 2 - d * SLANT for _, h, d in dims)
    bottom = max(h / 2 + d * SLANT / 2 for _, h, d in dims)
    below = max(len(tags[item.key]) for item in items) * SIZE_SIZE * 1.3  # outputs' tags under the sizes
    pitch = bottom - top + NAME_SIZE + 10 + 8 + SIZE_SIZE * 1.3 + below + ROW_GAP  # from one row to the next
    breaks = _breaks(slots, rows)
    volumes: list[Volume] = []
    x, row = 0.0, 0
    for index, (item, (w, h, d), slot) in enumerate(zip(items, dims, slots, strict=True)):
        if index in breaks:
            x, row = 0.0, row + 1
        left = x + (slot - (w + d * SLANT)) / 2
        volumes.append(Volume(item, left, -h / 2 + d * SLANT / 2 + row * pitch, w, h, d, (x, x + slot), row))
        x += slot + GAP

    for index, volume in enumerate(volumes):
        item = volume.item
        shift = volume.row * pitch
        group = canvas.group("volume", item.key.split(":", 1)[-1])
        mark_item(group, item)
        group.elements += _cuboid(volume.x, volume.y, volume.w, volume.h, volume.d, FAMILIES[item.family][0])
        centre = volume.x + (volume.w + volume.d * SLANT) / 2
        group.elements.append(Text(centre, shift + top - 10, _name(item), NAME_SIZE, bold=True, role="name"))
        size_y = bottom + 8 + SIZE_SIZE  # below the row's tallest volume
        group.elements.append(Text(centre, shift + size_y, size_label(item.out), SIZE_SIZE, role="size"))
        for line, tag in enumerate(tags[item.key], start=1):
            y = shift + size_y + line * SIZE_SIZE * 1.3
            group.elements.append(Text(centre, y, tag, SIZE_SIZE, bold=True, fill=OUTPUT, role="output"))
        before = volumes[index - 1] if index else None
        if before is not None and before.row != volume.row:
            _wrap(canvas, before, volume, before.row * pitch + size_y + SIZE_SIZE * 0.3 + below + ROW_GAP / 2)
        elif before is not None and not (source.get(item.key) == before.item.key and _kernel(canvas, before, volume)):
            _arrow(canvas, before, volume)
    legend(canvas, {v.item.family for v in volumes}, volumes[-1].row * pitch + bottom + 2 * SIZE_SIZE + below + 26)
    return canvas, volumes


def _breaks(slots: list[float], rows: int) -> set[int]:
    """Where rows begin (indices of slots) so that ``rows`` rows are about equally wide."""
    if rows <= 1:
        return set()
    total = sum(slot + GAP for slot in slots)
    breaks: set[int] = set()
    x = 0.0
    for index, slot in enumerate(slots):
        if index and x + slot / 2 > total * (len(breaks) + 1) / rows and len(breaks) < rows - 1:
            breaks.add(index)
        x += slot + GAP
    return breaks


def _wrap(canvas: Canvas, before: Volume, after: Volume, y: float) -> None:
    """The line from the end of one row, under its sizes, to the start of the next."""
    start, end = (before.right + 2, before.y + before.h / 2), (after.x - 2, after.y + after.h / 2)
    out, back = before.slot[1] + GAP / 2, after.slot[0] - GAP / 2  # beside the labels, in the gaps
    points = (start, (out, start[1]), (out, y), (back, y), (back, end[1]), end)
    canvas.group("link", after.item.key.split(":", 1)[-1]).elements.append(Line(points, "#777", arrow=True))


def _name(item: Item) -> str:
    """The full name (repetitions of a block are all drawn: ``layer1.0.conv1``, ``layer1.1.conv1``);
    a folded block says what it spans and is: ``layer1 (basic x 2)``, ``features.1-15 (15 bneck blocks)``."""
    if item.frame is not None:
        return f"{item.frame.name} ({item.kind})"
    return item.key.split(":", 1)[-1]


def _kernel_text(item: Item) -> str | None:
    return kernel_label(item.reports[0]) if item.reports and item.frame is None else None


def _cuboid(x: float, y: float, w: float, h: float, d: float, fill: str) -> list[Rect | Polygon | Line | Text]:
    """Front face, top and right side of a box whose front face is (x, y, w, h)."""
    dx, dy = d * SLANT, -d * SLANT
    front = Polygon(((x, y), (x + w, y), (x + w, y + h), (x, y + h)), fill)
    if not d:
        return [front]
    top = Polygon(((x, y), (x + dx, y + dy), (x + w + dx, y + dy), (x + w, y)), _shade(fill, 1.12))
    side = Polygon(((x + w, y), (x + w + dx, y + dy), (x + w + dx, y + h + dy), (x + w, y + h)), _shade(fill, 0.85))
    return [side, top, front]


def _shade(colour: str, factor: float) -> str:
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{min(255, round(c * factor)):02x}" for c in rgb)


def _arrow(canvas: Canvas, before: Volume, after: Volume) -> None:
    """An arrow between two volumes where no kernel links them (into a dense layer, say)."""
    start = (before.x + before.w + before.d * SLANT / 2, before.y + before.h / 2 - before.d * SLANT / 2)
    end = (after.x - 2, after.y + after.h / 2)
    if end[0] - start[0] > 6:
        canvas.group("link", after.item.key.split(":", 1)[-1]).elements.append(Line((start, end), "#777", arrow=True))


def _kernel(canvas: Canvas, before: Volume, after: Volume) -> bool:
    """The window on the input volume, with lines to the point of the output it makes; False if it has none."""
    item = after.item
    text = _kernel_text(item)
    if text is None:
        return False
    report = item.reports[0]
    window = report.node.layer.window(list(report.input_shapes))
    if not isinstance(window, Window):
        return False
    face = window.kernel[-2:]  # height and width (a 3-D window is drawn on one frame, as its map is)
    kh = min(spatial(face[0]), before.h * 0.5)
    kd = min(spatial(face[1]), before.d * 0.5) if len(face) > 1 and before.d else 0.0
    kw = max(3.0, before.w * (0.6 if report.cost.params else 0.25))  # a filter spans the channels
    kx = before.x + (before.w - kw) / 2
    ky = before.y + before.h * 0.12 + kd * SLANT / 2
    group = canvas.group("kernel", item.key.split(":", 1)[-1])
    group.elements += _cuboid(kx, ky, kw, kh, kd, "#fff7d6")
    apex = (after.x + after.w * 0.5 + after.d * SLANT * 0.5, after.y + after.h * 0.45 - after.d * SLANT * 0.5)
    group.elements.append(Line(((kx + kw + kd * SLANT, ky - kd * SLANT), apex), "#777"))
    group.elements.append(Line(((kx + kw, ky + kh), apex), "#777"))
    half = text_width(text, KERNEL_SIZE) / 2  # kept inside the input's slot, clear of its neighbours
    centre = min(max(kx + kw / 2 + kd * SLANT / 2, before.slot[0] + half), before.slot[1] - half)
    group.elements.append(Text(centre, ky + kh + KERNEL_SIZE + 1, text, KERNEL_SIZE, role="kernel"))
    return True
