"""Blocks as boxes, top down, branches side by side (Inception's paths, ResNet's shortcut, U-Net's skips).

Rows are the longest path from the input, so a box sits below everything it reads.
Columns ("lanes") are given in the order of the network: a box takes the lane of what it
reads when that is free, else the next free one, so parallel branches stand side by side.
An edge that skips rows runs down a lane that is free over those rows (the shortcut of a
residual block goes round its convolutions). Unfolded blocks get a dashed frame, named in
the right margin with "x N" for repetitions.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnscope.analysis import Analysis
from cnnscope.draw.canvas import Canvas, Line, Rect, Text, text_width
from cnnscope.draw.families import FAMILIES, legend, params_label, size_label
from cnnscope.draw.fold import Folded, Item, fold

TITLE_SIZE, LINE_SIZE = 13, 11.5
PAD = 8  # inside a box, around its text
ROW_GAP, LANE_GAP = 34, 46
EDGE_LANE = 0  # width of a lane that holds no box, only edges (its gaps keep edges apart)
FRAME_PAD = 7  # between a frame and what it holds, per level of nesting


@dataclass(frozen=True)
class Box:
    item: Item
    row: int
    lane: int
    x: float
    y: float
    w: float
    h: float
    lines: tuple[str, ...]  # title, kind, size and params

    @property
    def centre(self) -> float:
        return self.x + self.w / 2


def _lines(item: Item) -> tuple[str, ...]:
    size = size_label(item.out)
    if item.key == "input":
        return ("input", size)
    return (item.title, item.kind, f"{size} · {params_label(item.params)}")


def _width(lines: tuple[str, ...]) -> float:
    return max(text_width(line, TITLE_SIZE if i == 0 else LINE_SIZE, bold=i == 0) for i, line in enumerate(lines))


def layout(analysis: Analysis, depth: int | None = 1) -> tuple[Canvas, dict[str, Box]]:
    """Boxes for ``analysis`` with frames below ``depth`` folded (``fold``'s depth: 0 folds top-level blocks)."""
    folded = fold(analysis, depth)
    rows, lanes, routes = _place(folded)
    items = folded.items
    lines = {key: _lines(item) for key, item in items.items()}
    lane_width = max(_width(text) for text in lines.values()) + 2 * PAD
    box_height = TITLE_SIZE + 2 * LINE_SIZE * 1.25 + 2 * PAD
    nesting = max((level + 1 for _, level, _ in folded.frames.values()), default=0)
    row_height = box_height + ROW_GAP + 2 * FRAME_PAD * min(nesting, 2)
    # a lane of boxes is as wide as the widest box; a lane that only edges run down is narrow
    box_lanes = set(lanes.values())
    count = max([*lanes.values(), *(lane for lane in routes.values() if lane is not None)]) + 1
    middle: list[float] = []
    x = 0.0
    for lane in range(count):
        width = lane_width if lane in box_lanes else EDGE_LANE
        middle.append(x + width / 2)
        x += width + LANE_GAP

    boxes: dict[str, Box] = {}
    for key, item in items.items():
        text = lines[key]
        height = box_height if len(text) == 3 else TITLE_SIZE + LINE_SIZE * 1.25 + 2 * PAD
        w = _width(text) + 2 * PAD
        x = middle[lanes[key]] - w / 2
        boxes[key] = Box(item, rows[key], lanes[key], x, rows[key] * row_height, w, height, text)

    canvas = Canvas(title=analysis.spec.title or analysis.spec.name)
    right = max([b.x + b.w for b in boxes.values()] + [middle[lane] for lane in routes.values() if lane is not None])
    _frames(canvas, folded, boxes, right + 24)
    for (src, dst), route in routes.items():
        _edge(canvas, boxes[src], boxes[dst], None if route is None else middle[route], route)
    for box in boxes.values():
        _box(canvas, box)
    bottom = max(b.y + b.h for b in boxes.values())
    legend(canvas, {b.item.family for b in boxes.values()}, bottom + 36)
    return canvas, boxes


def _place(folded: Folded) -> tuple[dict[str, int], dict[str, int], dict[tuple[str, str], int | None]]:
    """Row and lane of every box, and for each edge the lane it runs down (None: it goes straight)."""
    sources: dict[str, list[str]] = {key: [] for key in folded.items}
    for src, dst in folded.edges:
        sources[dst].append(src)
    rows: dict[str, int] = {}
    for key in folded.items:  # the network's order is topological
        rows[key] = 1 + max((rows[s] for s in sources[key]), default=-1)

    taken: dict[int, set[int]] = {}  # lane -> rows held by a box or an edge
    lanes: dict[str, int] = {}
    inherited: set[str] = set()  # boxes whose lane a reader has taken over
    routes: dict[tuple[str, str], int | None] = {}

    def free(lane: int, first: int, last: int) -> bool:
        held = taken.get(lane, set())
        return all(row not in held for row in range(first, last + 1))

    for key in folded.items:
        row = rows[key]
        wanted = [lanes[s] for s in sources[key] if s not in inherited] + sorted(lanes[s] for s in sources[key])
        lane = next((c for c in wanted if free(c, row, row)), None)
        if lane is None:
            lane = next(c for c in range(len(taken) + 1) if free(c, row, row))  # one of them is unused
        lanes[key] = lane
        taken.setdefault(lane, set()).add(row)
        for source in sources[key]:
            if lanes[source] == lane:
                inherited.add(source)
        for source in sources[key]:
            first, last = rows[source] + 1, row - 1
            if first > last:
                routes[(source, key)] = None
                continue
            # down the source's lane if it is free, else the target's, else the first free lane
            options = [lanes[source], lane, *range(len(taken) + 1)]
            route = next(c for c in options if free(c, first, last))
            taken.setdefault(route, set()).update(range(first, last + 1))
            routes[(source, key)] = route
    return rows, lanes, routes


def _edge(canvas: Canvas, src: Box, dst: Box, x: float | None, lane: int | None) -> None:
    start, end = (src.centre, src.y + src.h), (dst.centre, dst.y)
    points: tuple[tuple[float, float], ...] = (start, end)
    if x is not None:  # down a lane over the rows it skips, then into the box
        up = end[1] - ROW_GAP / 2
        turn = () if lane == src.lane else ((x, start[1] + ROW_GAP / 2),)
        points = (start, *turn, (x, up), end)
    canvas.group("edge", f"{src.item.key}->{dst.item.key}").elements.append(Line(points, "#555", arrow=True))


def _box(canvas: Canvas, box: Box) -> None:
    group = canvas.group("box", box.item.key.split(":", 1)[-1])
    fill = FAMILIES[box.item.family][0]
    group.elements.append(Rect(box.x, box.y, box.w, box.h, fill, "#333", radius=5))
    y = box.y + PAD + TITLE_SIZE * 0.8
    group.elements.append(Text(box.centre, y, box.lines[0], TITLE_SIZE, bold=True, role="name"))
    for index, line in enumerate(box.lines[1:], start=1):
        y += LINE_SIZE * 1.25
        last = index == len(box.lines) - 1
        group.elements.append(Text(box.centre, y, line, LINE_SIZE, fill="#333", role="size" if last else "kind"))


def _frames(canvas: Canvas, folded: Folded, boxes: dict[str, Box], margin: float) -> None:
    """A dashed frame round each unfolded block, named in the right margin (no two names collide)."""
    deepest = max((level for _, level, _ in folded.frames.values()), default=0)
    next_free = float("-inf")
    for frame, level, members in sorted(folded.frames.values(), key=lambda f: (boxes[f[2][0]].y, f[1])):
        pad = FRAME_PAD * (deepest - level + 1)
        inside = [boxes[m] for m in members]
        x0, y0 = min(b.x for b in inside) - pad, min(b.y for b in inside) - pad
        x1, y1 = max(b.x + b.w for b in inside) + pad, max(b.y + b.h for b in inside) + pad
        group = canvas.group("frame", frame.name)
        group.elements.append(Rect(x0, y0, x1 - x0, y1 - y0, "none", "#999", dash=True, radius=8))
        text = f"{frame.name}: {frame.block}" + (f"  x {frame.repeat}" if frame.repeat > 1 else "")
        y = max(y0 + LINE_SIZE, next_free + LINE_SIZE * 1.3)
        group.elements.append(Line(((x1, y0 + 6), (margin - 4, y - 4)), "#bbb", dash=True))
        group.elements.append(Text(margin, y, text, LINE_SIZE, anchor="start", bold=frame.repeat > 1, role="frame"))
        next_free = y
