"""Blocks as boxes, top down, branches side by side (Inception's paths, ResNet's shortcut, U-Net's skips).

Rows are the longest path from the input, so a box sits below everything it reads.
Columns ("lanes") are given in the order of the network: a box takes the lane of what it
reads when that is free, else the next free one, so parallel branches stand side by side.
An edge that skips rows runs down a lane that is free over those rows and the gaps between
them (the shortcut of a residual block goes round its convolutions), so two edges never share
a stretch of lane; edges entering one box arrive at distinct points of its top. Unfolded
blocks get a dashed frame named inside its top ("x N" for the same instances). A long chain
may be wrapped into columns, cut only where one box alone feeds what follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from cnnscope.analysis import Analysis
from cnnscope.draw.canvas import OUTPUT, Canvas, Group, Line, Rect, Text, text_width
from cnnscope.draw.families import FAMILIES, legend, params_label, size_label
from cnnscope.draw.fold import Folded, Frame, Item, fold, mark, mark_item, output_tags, returned

TITLE_SIZE, LINE_SIZE = 13, 11.5
PAD = 8  # inside a box, around its text
ROW_GAP, LANE_GAP, COLUMN_GAP = 34, 46, 80
EDGE_LANE = 0  # width of a lane that holds no box, only edges (its gaps keep edges apart)
FRAME_PAD = 7  # between a frame and what it holds, per level of nesting
LABEL_ROOM = LINE_SIZE + 9  # a frame's name, inside its top
BOX_HEIGHT = TITLE_SIZE + 2 * LINE_SIZE * 1.25 + 2 * PAD
ENTRY = "<entry>"  # where a wrapped column begins: the point its first boxes' edges come from


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
    column: int = 0

    @property
    def centre(self) -> float:
        return self.x + self.w / 2


def _lines(item: Item) -> tuple[str, ...]:
    size = size_label(item.out)
    if item.key == "input":
        return ("input", size)
    if item.frame is not None and item.into != item.out:
        size = f"{size_label(item.into)} -> {size}"  # a folded block says where it starts and ends
    return (item.title, item.kind, f"{size} · {params_label(item.params)}")


def _height(lines: tuple[str, ...]) -> float:
    """A title and its lines (an output's tag is one more line: the box that gives it says so)."""
    return TITLE_SIZE + LINE_SIZE * 1.25 * (len(lines) - 1) + 2 * PAD


def _width(lines: tuple[str, ...]) -> float:
    return max(text_width(line, TITLE_SIZE if i == 0 else LINE_SIZE, bold=i == 0) for i, line in enumerate(lines))


def layout(
    analysis: Analysis, depth: int | None = 1, columns: int = 1, folded: Folded | None = None
) -> tuple[Canvas, dict[str, Box]]:
    """Boxes for ``analysis`` with frames below ``depth`` folded (``fold``'s depth: 0 folds top-level
    blocks), or for ``folded`` as given; the chain wrapped into at most ``columns`` columns."""
    folded = folded or fold(analysis, depth)
    items = folded.items
    outputs = returned(analysis)
    lines = {key: (*_lines(item), *output_tags(item, outputs)) for key, item in items.items()}
    lane_width = max(_width(text) for text in lines.values()) + 2 * PAD
    deepest = max((level for _, level, _ in folded.frames.values()), default=0)
    canvas = Canvas(title=analysis.spec.title or analysis.spec.name)
    boxes: dict[str, Box] = {}
    entries: list[tuple[str, Box]] = []  # (the box that feeds a column, the column's entry)
    column_edges: list[tuple[str, str, float | None, int | None, tuple[float, float]]] = []
    outlines: dict[str, tuple[float, float, float, float]] = {}  # frame -> x0, y0, x1, y1
    left = 0.0
    rights: list[float] = []  # where each column ends, its lanes and frames included
    segments = _segments(folded, columns)
    for column, keys in enumerate(segments):
        keys = list(keys)
        inside = set(keys)
        edges = [(s, d) for s, d in folded.edges if d in inside and s in inside]
        if column:
            feeder = segments[column - 1][-1]
            edges = [(ENTRY, d) for s, d in folded.edges if s == feeder and d in inside] + edges
            keys.insert(0, ENTRY)
        rows, lanes, routes = _place(keys, edges)
        frames = {i: f for i, f in folded.frames.items() if f[2][0] in keys}
        top, bottom, bands = _rows(rows, frames, {key: _height(lines[key]) for key in keys if key != ENTRY})
        count = max([*lanes.values(), *(lane for lane in routes.values() if lane is not None)]) + 1
        box_lanes = {lane for key, lane in lanes.items() if key != ENTRY}
        middle: list[float] = []
        x = left
        for lane in range(count):
            width = lane_width if lane in box_lanes else EDGE_LANE
            middle.append(x + width / 2)
            x += width + LANE_GAP
        for key in keys:
            if key == ENTRY:
                entry = Box(Item(ENTRY, ""), 0, lanes[key], middle[lanes[key]], 0.0, 0.0, 0.0, (), column)
                entries.append((segments[column - 1][-1], entry))
                boxes[ENTRY + str(column)] = entry
                continue
            text = lines[key]
            w = _width(text) + 2 * PAD
            row = rows[key]
            box = Box(items[key], row, lanes[key], middle[lanes[key]] - w / 2, top[row], w, _height(text), text, column)
            boxes[key] = box
        named = {key: boxes[ENTRY + str(column) if key == ENTRY else key] for key in keys}
        outlines.update(_outlines(frames, boxes, top, bottom, deepest))
        for (src, dst), route in routes.items():
            lane_x = None if route is None else middle[route]
            band = (bands[rows[src]][0], bands[rows[dst] - 1][1])  # where it turns: leaving, entering
            column_edges.append((src if src != ENTRY else ENTRY + str(column), dst, lane_x, route, band))
        right = max(
            [b.x + b.w for k, b in named.items() if k != ENTRY]
            + [middle[lane] for lane in routes.values() if lane is not None]
            + [outline[2] for i, outline in outlines.items() if i in frames]
        )
        rights.append(right)
        left = right + COLUMN_GAP

    arrivals = _edges(canvas, boxes, column_edges, entries, rights)
    drawn = {key: box for key, box in boxes.items() if not key.startswith(ENTRY)}
    _draw_tree(canvas, folded, drawn, outlines, arrivals)
    low = max([b.y + b.h for b in drawn.values()] + [o[3] for o in outlines.values()])
    legend(canvas, {b.item.family for b in drawn.values()}, low + 36)
    return canvas, drawn


def _segments(folded: Folded, columns: int) -> list[list[str]]:
    """The boxes in order, cut into at most ``columns`` runs of about equal rows, each cut where
    one box alone feeds what follows and no frame is open."""
    order = list(folded.items)
    if columns <= 1 or len(order) < 2 * columns:
        return [order]
    position = {key: i for i, key in enumerate(order)}
    reach = list(range(len(order)))
    for src, dst in folded.edges:
        reach[position[src]] = max(reach[position[src]], position[dst])
    rows: dict[str, int] = {}
    sources: dict[str, list[str]] = {key: [] for key in order}
    for src, dst in folded.edges:
        sources[dst].append(src)
    for key in order:
        rows[key] = 1 + max((rows[s] for s in sources[key]), default=-1)
    cuts: list[int] = []  # after these positions
    furthest = -1
    for i in range(len(order) - 1):
        inside = {f.instance for f in folded.items[order[i]].enclosing} & {
            f.instance for f in folded.items[order[i + 1]].enclosing
        }
        if furthest <= i and not inside:
            cuts.append(i)
        furthest = max(furthest, reach[i])
    total = rows[order[-1]] + 1
    chosen: list[int] = []
    for k in range(1, columns):
        goal = total * k / columns
        later = [i for i in cuts if not chosen or i > chosen[-1] + 1]
        if later:
            chosen.append(min(later, key=lambda i: abs(rows[order[i]] + 1 - goal)))
    bounds = [-1, *sorted(set(chosen)), len(order) - 1]
    return [order[a + 1 : b + 1] for a, b in pairwise(bounds) if b > a]


def _place(
    keys: list[str], edges: list[tuple[str, str]]
) -> tuple[dict[str, int], dict[str, int], dict[tuple[str, str], int | None]]:
    """Row and lane of every box, and for each edge the lane it runs down (None: it goes straight).

    A lane is held in slots: ``2 * row`` by the box of that row, ``2 * row + 1`` by an edge running
    through the gap below it; an edge that skips rows holds every slot from its source's gap to its
    target's, so two edges never run down one stretch of lane (U-Net's skip and its up-conv's edge).
    """
    sources: dict[str, list[str]] = {key: [] for key in keys}
    for src, dst in edges:
        sources[dst].append(src)
    rows: dict[str, int] = {}
    for key in keys:  # the network's order is topological
        rows[key] = 1 + max((rows[s] for s in sources[key]), default=-1)

    taken: dict[int, set[int]] = {}
    lanes: dict[str, int] = {}
    inherited: set[str] = set()  # boxes whose lane a reader has taken over
    routes: dict[tuple[str, str], int | None] = {}

    def free(lane: int, first: int, last: int) -> bool:
        held = taken.get(lane, set())
        return all(slot not in held for slot in range(first, last + 1))

    for key in keys:
        row = rows[key]
        wanted = [lanes[s] for s in sources[key] if s not in inherited] + sorted(lanes[s] for s in sources[key])
        lane = next((c for c in wanted if free(c, 2 * row, 2 * row)), None)
        if lane is None:
            lane = next(c for c in range(len(taken) + 1) if free(c, 2 * row, 2 * row))  # one of them is unused
        lanes[key] = lane
        taken.setdefault(lane, set()).add(2 * row)
        for source in sources[key]:
            if lanes[source] == lane:
                inherited.add(source)
        for source in sources[key]:
            if rows[source] + 1 == row:
                routes[(source, key)] = None
                continue
            first, last = 2 * rows[source] + 1, 2 * row - 1
            # down the source's lane if it is free, else the target's, else the first free lane
            options = [lanes[source], lane, *range(len(taken) + 1)]
            route = next(c for c in options if free(c, first, last))
            taken.setdefault(route, set()).update(range(first, last + 1))
            routes[(source, key)] = route
    return rows, lanes, routes


FrameInfo = tuple[Frame, int, list[str]]  # (frame, level, member keys), as Folded.frames holds them


def _rows(
    rows: dict[str, int], frames: dict[str, FrameInfo], heights_of: dict[str, float]
) -> tuple[list[float], list[float], list[tuple[float, float]]]:
    """The top and bottom of each row (as tall as a box of three lines, or its tallest box), and the
    band of each gap where edges turn (leaving, entering): a row is lowered by the names of the
    frames that start on it, a line per level of nesting (frames side by side share one)."""
    count = max(rows.values()) + 1
    first: list[set[int]] = [set() for _ in range(count)]  # the levels of the frames starting on a row
    last: list[set[int]] = [set() for _ in range(count)]
    for _, level, members in frames.values():
        member_rows = [rows[m] for m in members]
        first[min(member_rows)].add(level)
        last[max(member_rows)].add(level)
    starts, ends = [len(levels) for levels in first], [len(levels) for levels in last]
    heights = [0.0] * count
    for key, height in heights_of.items():
        heights[rows[key]] = max(heights[rows[key]], BOX_HEIGHT, height)
    top, bottom = [0.0] * count, [0.0] * count
    y = 0.0
    for row in range(count):
        y += starts[row] * LABEL_ROOM
        top[row] = y
        bottom[row] = y + heights[row]
        y = bottom[row] + ends[row] * FRAME_PAD + ROW_GAP
    bands = []
    for row in range(count):
        leave = bottom[row] + ends[row] * FRAME_PAD + ROW_GAP * 0.3
        enter = (top[row + 1] - starts[row + 1] * LABEL_ROOM if row + 1 < count else leave + ROW_GAP) - ROW_GAP * 0.3
        bands.append((leave, max(enter, leave)))
    return top, bottom, bands


def _outlines(
    frames: dict[str, FrameInfo], boxes: dict[str, Box], top: list[float], bottom: list[float], deepest: int
) -> dict[str, tuple[float, float, float, float]]:
    """Each frame's rectangle: round its boxes, its name inside its top, nested frames inside."""
    first_row: dict[int, list[tuple[int, str]]] = {}
    last_row: dict[int, list[tuple[int, str]]] = {}
    for instance, (_, level, members) in frames.items():
        member_rows = [boxes[m].row for m in members]
        first_row.setdefault(min(member_rows), []).append((level, instance))
        last_row.setdefault(max(member_rows), []).append((level, instance))
    y0: dict[str, float] = {}
    y1: dict[str, float] = {}
    for row, starting in first_row.items():
        levels = sorted({level for level, _ in starting})  # outermost highest; side by side level
        for level, instance in starting:
            y0[instance] = top[row] - (len(levels) - levels.index(level)) * LABEL_ROOM
    for row, ending in last_row.items():
        levels = sorted({level for level, _ in ending}, reverse=True)  # innermost closest
        for level, instance in ending:
            y1[instance] = bottom[row] + (levels.index(level) + 1) * FRAME_PAD
    outlines = {}
    for instance, (frame, level, members) in frames.items():
        pad = FRAME_PAD * (deepest - level + 1)
        inside = [boxes[m] for m in members]
        x0, x1 = min(b.x for b in inside) - pad, max(b.x + b.w for b in inside) + pad
        x1 = max(x1, x0 + text_width(_frame_label(frame), LINE_SIZE, bold=frame.repeat > 1) + 12)
        outlines[instance] = (x0, y0[instance], x1, y1[instance])
    return outlines


def _frame_label(frame: Frame) -> str:
    return f"{frame.name}: {frame.kind}"


def _edges(
    canvas: Canvas,
    boxes: dict[str, Box],
    routed: list[tuple[str, str, float | None, int | None, tuple[float, float]]],
    entries: list[tuple[str, Box]],
    rights: list[float],
) -> dict[str, list[float]]:
    """Every edge; those entering one box arrive at distinct points of its top, in the order they
    come from. Returns where lines come down into each box (a frame's name keeps clear of them)."""
    arriving: dict[str, list[tuple[float, int]]] = {}
    for index, (src, dst, lane_x, _, _) in enumerate(routed):
        arriving.setdefault(dst, []).append((boxes[src].centre if lane_x is None else lane_x, index))
    ends: dict[int, float] = {}
    for dst, coming in arriving.items():
        box = boxes[dst]
        for rank, (_, index) in enumerate(sorted(coming)):
            ends[index] = box.centre if len(coming) == 1 else box.x + box.w * (rank + 1) / (len(coming) + 1)
    arrivals: dict[str, list[float]] = {}
    for index, (_, dst, _, _, _) in enumerate(routed):
        arrivals.setdefault(dst, []).append(ends[index])
    # the runs across into one box at distinct heights, the longest lowest, so that none lies on another
    heights: dict[int, float] = {}
    for coming in arriving.values():
        runs = sorted(coming, key=lambda entry: -abs(entry[0] - ends[entry[1]]))
        for rank, (_, index) in enumerate(runs):
            leave, enter = routed[index][4]
            above = boxes[routed[index][0]].y + boxes[routed[index][0]].h if routed[index][2] is None else leave
            step = min(5.0, max(0.0, enter - above - 4) / len(coming))
            heights[index] = enter - rank * step
    for index, (src, dst, lane_x, lane, (leave, _)) in enumerate(routed):
        source, target = boxes[src], boxes[dst]
        start, end = (source.centre, source.y + source.h), (ends[index], target.y)
        across = heights[index]
        points: list[tuple[float, float]] = [start]
        if lane_x is not None:  # down a lane over the rows it skips
            if lane != source.lane:
                points += [(start[0], leave), (lane_x, leave)]
            points.append((lane_x, across))
        else:
            points.append((start[0], across))
        points += [(end[0], across), end]  # into the box from straight above, clear of frame names
        group = canvas.group("edge", f"{source.item.key}->{target.item.key}")
        group.elements.append(Line(_tidy(points), "#555", arrow=True))
    for feeder, entry in entries:  # from the foot of one column to the head of the next
        source = boxes[feeder]
        gap_x = rights[source.column] + COLUMN_GAP / 2
        below = source.y + source.h + ROW_GAP * 0.3
        points = [(source.centre, source.y + source.h), (source.centre, below), (gap_x, below)]
        points += [(gap_x, entry.y - ROW_GAP * 0.4), (entry.x, entry.y - ROW_GAP * 0.4), (entry.x, entry.y)]
        canvas.group("edge", f"{source.item.key}->column {entry.column + 1}").elements.append(Line(_tidy(points)))
    return arrivals


def _tidy(points: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """Without repeated points."""
    kept = [points[0]]
    for point in points[1:]:
        if abs(point[0] - kept[-1][0]) > 0.05 or abs(point[1] - kept[-1][1]) > 0.05:
            kept.append(point)
    return tuple(kept)


def _draw_tree(
    canvas: Canvas,
    folded: Folded,
    boxes: dict[str, Box],
    outlines: dict[str, tuple[float, float, float, float]],
    arrivals: dict[str, list[float]],
) -> None:
    """Frames holding their boxes (and the frames inside them), each box once, in the network's order."""
    groups: dict[str, Group] = {}

    def parent(enclosing: tuple[Frame, ...]) -> Group | None:
        for frame in reversed(enclosing):
            if frame.instance in folded.frames:
                return frame_group(frame.instance)
        return None

    def frame_group(instance: str) -> Group:
        if instance not in groups:
            frame, level, members = folded.frames[instance]
            outer = parent(boxes[members[0]].item.enclosing[:level])
            group = groups[instance] = canvas.group("frame", frame.name, outer)
            x0, y0, x1, y1 = outlines[instance]
            label = _frame_label(frame)
            group.elements.append(Rect(x0, y0, x1 - x0, y1 - y0, "none", "#999", dash=True, radius=8))
            width = text_width(label, LINE_SIZE, bold=frame.repeat > 1)
            top_row = min(boxes[m].row for m in members)
            lines = sorted(x for m in members if boxes[m].row == top_row for x in arrivals.get(m, []))
            x = _clear_of(lines, x0 + 6, x1 - 6, width)
            if x is None:  # no room clear of the lines: written over them, hiding none
                x = x0 + 6
            else:  # on white, the frame's dashes and the lanes beside it kept out of the letters
                group.elements.append(Rect(x - 2, y0 + 2, width + 4, LABEL_ROOM - 4, "white", "none"))
            group.elements.append(
                Text(x, y0 + LINE_SIZE + 3, label, LINE_SIZE, "start", frame.repeat > 1, role="frame")
            )
            reports = folded.layers[instance]
            mark(group, frame.name, frame.kind, reports, reports[0].input_shapes[0], reports[-1].output_shape)
        return groups[instance]

    for box in boxes.values():
        _box(canvas, box, parent(box.item.enclosing))


def _clear_of(lines: list[float], left: float, right: float, width: float) -> float | None:
    """Where a frame's name of ``width`` starts, between ``left`` and ``right``, so that no line
    coming down at ``lines`` runs through it: the leftmost such place, or None."""
    for start in (left, *(x + 6 for x in lines)):
        if start >= left and start + width <= right and not any(start - 4 < x < start + width + 4 for x in lines):
            return start
    return None


def _box(canvas: Canvas, box: Box, parent: Group | None) -> None:
    group = canvas.group("box", box.item.key.split(":", 1)[-1], parent)
    mark_item(group, box.item)
    fill = FAMILIES[box.item.family][0]
    group.elements.append(Rect(box.x, box.y, box.w, box.h, fill, "#333", radius=5))
    y = box.y + PAD + TITLE_SIZE * 0.8
    group.elements.append(Text(box.centre, y, box.lines[0], TITLE_SIZE, bold=True, role="name"))
    size = len(_lines(box.item)) - 1  # the size's line; outputs' tags follow it
    for index, line in enumerate(box.lines[1:], start=1):
        y += LINE_SIZE * 1.25
        if index > size:
            group.elements.append(Text(box.centre, y, line, LINE_SIZE, bold=True, fill=OUTPUT, role="output"))
        else:
            role = "size" if index == size else "kind"
            group.elements.append(Text(box.centre, y, line, LINE_SIZE, fill="#333", role=role))
