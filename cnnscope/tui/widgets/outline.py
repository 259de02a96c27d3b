"""The graph outline: the architecture as a foldable tree with lanes, as ``git log --graph`` draws history.

Inside each block (and at the top level) the layers and sub-blocks are drawn in order,
each on a lane: a branch that runs beside the main path (inception's four paths, ResNet's
``downsample`` shortcut) gets a lane of its own, ``●`` marks the item, ``│`` a lane that
passes by, ``┐`` a value that branches off to a new lane and ``┘`` a lane that joins the
item's lane (a concat, an add). Blocks fold; the outline follows the layer selected in the
table, opening the blocks around it. A layer the model returns (a spec with ``outputs``) is
marked with its key: ``→ 'out'``.

A line too long for the outline is shortened, never cut at its edge (a shape cut mid-number
reads as another shape, a type cut mid-word another type): closer spacing, then without its
inputs, then without its shape, then without its type, and at last, a name too long for the
outline alone, cut with "…".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from cnnscope.analysis import Analysis, LayerReport
from cnnscope.layers import fmt_shape
from cnnscope.report.rows import returned_labels
from cnnscope.spec import INPUT

LANE_STYLE = "magenta"


@dataclass
class _Item:
    """A layer, or a block instance drawn as one line until it is opened."""

    key: str  # layer name or block instance
    inputs: list[str]  # what it reads: sibling keys, or anything outside (drawn as the lane it came in on)
    report: LayerReport | None  # None for a block
    children: list[_Item]


class GraphOutline(Tree[str]):
    """Layers nested in their block instances, each line prefixed with its lanes."""

    def __init__(self, label: str, **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self._shorter: dict[int, list[Text]] = {}  # node id -> its label shortened, less and less

    def show(self, analysis: Analysis) -> None:
        self.clear()
        self._shorter = {}
        self.root.label = f"{analysis.spec.name}  ({fmt_shape(analysis.spec.input.shape)})"
        self._shorter[self.root.id] = [
            Text(f"{analysis.spec.name} ({fmt_shape(analysis.spec.input.shape)})"),
            Text(analysis.spec.name),  # the title above says the input size too
        ]
        self._by_name: dict[str, TreeNode[str]] = {}
        self._returned = returned_labels(analysis)
        top = _items(analysis, ())
        self._add(self.root, top, analysis, scope=())
        self.root.expand()  # blocks start folded: enter or a click opens one

    def follow(self, name: str) -> None:
        """Open the blocks around layer ``name`` and move the cursor to it."""
        node = getattr(self, "_by_name", {}).get(name)
        if node is None:
            return
        parent = node.parent
        while parent is not None:
            parent.expand()
            parent = parent.parent
        self.call_after_refresh(self.move_cursor, node)  # once the opened blocks have their lines

    def _add(self, parent: TreeNode[str], items: list[_Item], analysis: Analysis, scope: tuple[str, ...]) -> None:
        prefix = len(scope[-1]) + 1 if scope else 0
        for item, lanes in zip(items, _lanes(items)):
            short = item.key[prefix:]
            if item.report is None:
                kind = analysis.spec.groups.get(item.key, "block")
                label = Text.assemble((lanes, LANE_STYLE), (short, "bold"), f"  {kind}")
                branch = parent.add(label, data=item.key)
                self._shorter[branch.id] = [  # never a word cut: "bottleneck x3", "bottleneck", then the name alone
                    Text.assemble((lanes, LANE_STYLE), (short, "bold"), f" {kind}"),
                    Text.assemble((lanes, LANE_STYLE), (short, "bold"), f" {kind.partition(' x')[0]}"),
                    Text.assemble((lanes, LANE_STYLE), (short, "bold")),
                ]
                self._by_name[item.key] = branch
                self._add(branch, item.children, analysis, (*scope, item.key))
                continue
            report = item.report
            sources = ""
            if report.node.layer.merges:
                sources = "<- " + ", ".join(_short(s, item.key[:prefix]) for s in report.node.inputs)
            shape = fmt_shape(report.output_shape)
            returned = self._returned.get(item.key, "")
            labels = [  # as drawn, then shorter and shorter
                _label(lanes, short, report.type, shape, sources, gap=2, returned=returned),
                _label(lanes, short, report.type, shape, sources, gap=1, returned=returned),
                _label(lanes, short, report.type, shape, "", gap=1, returned=returned),
                _label(lanes, short, report.type, "", "", gap=1, returned=returned),
                _label(lanes, short, report.type, "", "", gap=1),
                _label(lanes, short, "", "", "", gap=1),
            ]
            leaf = parent.add_leaf(labels[0], data=item.key)
            self._shorter[leaf.id] = labels[1:]
            self._by_name[item.key] = leaf

    def render_label(self, node: TreeNode[str], base_style: Style, style: Style) -> Text:
        """The node's label, shortened to the outline's width where it would not fit."""
        label = super().render_label(node, base_style, style)
        depth, parent = 0, node.parent
        while parent is not None:
            depth, parent = depth + 1, parent.parent
        room = self.scrollable_content_region.width - depth * self.guide_depth  # the guides before it
        if room <= 0 or label.cell_len <= room:
            return label
        prefix = label[: len(label) - len(node.label)]  # the fold icon
        for shorter in self._shorter.get(node.id, []):
            label = Text.assemble(prefix, shorter)
            label.stylize(style, len(prefix))
            if label.cell_len <= room:
                return label
        label.truncate(room, overflow="ellipsis")
        return label

    def watch_show_vertical_scrollbar(self) -> None:
        self._invalidate()  # the room for the labels changed


def _label(lanes: str, name: str, kind: str, shape: str, sources: str, gap: int, returned: str = "") -> Text:
    """A layer's line: its lanes, name, type, output shape, which output of the model it is and (a
    merge) what it reads; parts left empty are left out."""
    space = " " * gap
    label = Text.assemble((lanes, LANE_STYLE), name)
    if kind:
        label.append(space)
        label.append(kind, style="cyan")
    if shape:
        label.append(f"{space}{shape}")
    if returned:
        label.append(f"{space}→ {returned}", style="green")
    if sources:
        label.append(f"{space}{sources}", style=LANE_STYLE)
    return label


def _items(analysis: Analysis, scope: tuple[str, ...]) -> list[_Item]:
    """The layers and block instances directly inside ``scope``, in order, with what each reads."""
    depth = len(scope)
    items: list[_Item] = []
    owner: dict[str, str] = {}  # layer name -> the item of this scope that holds it
    for report in analysis.layers:
        node = report.node
        if node.scope[:depth] != scope:
            continue
        if len(node.scope) == depth:
            items.append(_Item(node.name, list(node.inputs), report, []))
            owner[node.name] = node.name
            continue
        group = node.scope[depth]
        if not items or items[-1].key != group:
            items.append(_Item(group, [], None, _items(analysis, (*scope, group))))
        block = items[-1]
        owner[node.name] = group
        block.inputs += [s for s in node.inputs if owner.get(s) != group and s not in block.inputs]
    for item in items:
        item.inputs = list(dict.fromkeys(owner.get(s, s) for s in item.inputs))
    return items


def _lanes(items: list[_Item]) -> list[str]:
    """The lane glyphs in front of each item, two characters a lane."""
    last_use: dict[str, int] = {}
    for i, item in enumerate(items):
        for read in item.inputs:
            last_use[read] = i
    keys = {item.key for item in items}
    outside = next((s for item in items for s in item.inputs if s not in keys), None)
    lanes: list[str | None] = [outside] if outside is not None else []  # the value each lane carries down
    rows: list[list[str]] = []
    for i, item in enumerate(items):
        held = [lane for lane, value in enumerate(lanes) if value is not None and value in item.inputs]
        source = held[0] if held else None
        branches = source is not None and last_use.get(lanes[source] or "", -1) > i  # read again later
        if source is not None and not branches:
            mine = source
        else:
            mine = next((lane for lane, value in enumerate(lanes) if value is None), len(lanes))
        glyphs = []
        for lane in range(max(len(lanes), mine + 1)):
            value = lanes[lane] if lane < len(lanes) else None
            if lane == mine:
                glyphs.append("●")
            elif lane == source and branches:
                glyphs.append("├")
            elif lane in held:
                glyphs.append("┘" if last_use.get(value or "", -1) <= i else "┤")
            elif value is not None:
                glyphs.append("│")
            elif source is not None and min(source, mine) < lane < max(source, mine):
                glyphs.append("─")
            else:
                glyphs.append(" ")
        rows.append(glyphs)
        for lane in held:  # inputs whose last reader this is end here
            if last_use.get(lanes[lane] or "", -1) <= i:
                lanes[lane] = None
        lanes += [None] * (mine + 1 - len(lanes))
        lanes[mine] = item.key
        while lanes and lanes[-1] is None:
            lanes.pop()
    width = max((len(glyphs) for glyphs in rows), default=0)
    return ["".join(f"{g} " for g in glyphs).ljust(2 * width) for glyphs in rows]


def _short(name: str, scope: str) -> str:
    """A layer name as seen from inside ``scope`` (``in`` for the model's input)."""
    if name == INPUT:
        return "in"
    return name[len(scope) :] if scope and name.startswith(scope) else name
