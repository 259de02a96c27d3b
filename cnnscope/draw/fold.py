"""Which boxes a figure draws: layers, or block instances folded to a depth, repeats shown once.

A node's ``scope`` lists the block instances around it, outermost first; ``spec.groups``
says what each one is (``"basic"``, or ``"basic x2"`` for the group of repetitions). A
repetition group and its instance make one *frame*: folded, the frame is one box
("layer1: basic x2"); unfolded, its first instance is drawn and the others are not, the
frame saying "x 2". Pointwise layers (activations, batch norm, dropout) that follow a layer
alone join its box, as figures write "conv + BN + ReLU".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cnnscope.analysis import Analysis, LayerReport
from cnnscope.draw.families import family, kernel_label
from cnnscope.layers import Shape
from cnnscope.spec import INPUT

_REPEAT = re.compile(r"(.+) x(\d+)")


@dataclass(frozen=True)
class Frame:
    """A block instance, or a repetition group with its instance; ``name`` is what a folded box shows."""

    name: str  # the group for a repetition ("layer1"), else the instance
    instance: str  # the scope entry of the instance ("layer1.0")
    block: str  # the block type: "basic"
    repeat: int  # N of "x N"; 1 for a plain instance

    @property
    def kind(self) -> str:
        return f"{self.block} x{self.repeat}" if self.repeat > 1 else self.block


@dataclass
class Item:
    """One box: a layer (with the pointwise layers it absorbed), a folded block, or the input."""

    key: str
    title: str
    reports: list[LayerReport] = field(default_factory=list)
    frame: Frame | None = None  # set for a folded block
    enclosing: tuple[Frame, ...] = ()  # the unfolded frames around it, outermost first
    input_shape: Shape = ()

    @property
    def out(self) -> Shape:
        return self.reports[-1].output_shape if self.reports else self.input_shape

    @property
    def params(self) -> int:
        return sum(r.cost.params for r in self.reports)

    @property
    def family(self) -> str:
        if not self.reports:
            return "input"
        return "block" if self.frame is not None else family(self.reports[0])

    @property
    def kind(self) -> str:
        """What it is: ``conv2d 3x3 /2 + batchnorm + relu``, ``basic x2``, ``input``."""
        if self.frame is not None:
            return self.frame.kind
        if not self.reports:
            return "input"
        parts = []
        for report in self.reports:
            kernel = kernel_label(report)
            parts.append(f"{report.type} {kernel}" if kernel else report.type)
            if report.node.act is not None:
                parts.append(report.node.act.type_name)
        return " + ".join(parts)


@dataclass
class Folded:
    items: dict[str, Item]  # in the order of the network
    edges: list[tuple[str, str]]  # (from key, to key), each once
    frames: dict[str, tuple[Frame, int, list[str]]]  # unfolded frames: (frame, level, member keys)


def _frames(scope: tuple[str, ...], groups: dict[str, str]) -> list[Frame]:
    frames, i = [], 0
    while i < len(scope):
        match = _REPEAT.fullmatch(groups.get(scope[i], ""))
        if match and i + 1 < len(scope):
            frames.append(Frame(scope[i], scope[i + 1], match[1], int(match[2])))
            i += 2
        else:
            frames.append(Frame(scope[i], scope[i], groups.get(scope[i], "block"), 1))
            i += 1
    return frames


def _relative(name: str, enclosing: list[Frame]) -> str:
    """``layer1.0.conv1`` inside the frame of ``layer1.0`` reads ``conv1``."""
    prefix = enclosing[-1].instance + "." if enclosing else ""
    return name[len(prefix) :] if prefix and name.startswith(prefix) else name


def _pointwise(report: LayerReport) -> bool:
    """Changes values only, one input, same shape: drawn inside the box of the layer before it."""
    return family(report) in ("activation", "normalisation") and report.input_shapes == (report.output_shape,)


def fold(analysis: Analysis, depth: int | None = None, once: bool = True) -> Folded:
    """The boxes of ``analysis``: frames at level ``depth`` and below folded (None: none), and with
    ``once`` only the first instance of each repetition group drawn."""
    spec = analysis.spec
    consumers: dict[str, int] = {}
    for report in analysis.layers:
        for name in report.node.inputs:
            consumers[name] = consumers.get(name, 0) + 1

    items: dict[str, Item] = {"input": Item("input", "input", input_shape=spec.input.shape)}
    key_of: dict[str, str] = {INPUT: "input"}
    first_instance: dict[str, str] = {}
    last_key: dict[str, str] = {}  # instance -> key of its last visible box
    frames: dict[str, tuple[Frame, int, list[str]]] = {}
    edges: dict[tuple[str, str], None] = {}

    for report in analysis.layers:
        node = report.node
        enclosing: list[Frame] = []
        key: str | None = None
        hidden = False
        folded: Frame | None = None
        for level, frame in enumerate(_frames(node.scope, spec.groups)):
            if frame.name != frame.instance:
                first_instance.setdefault(frame.name, frame.instance)
            if depth is not None and level >= depth:
                folded = frame
                key = "block:" + frame.name
                break
            if once and frame.name != frame.instance and first_instance[frame.name] != frame.instance:
                hidden = True  # a later repetition: drawn once, as its first instance
                key = last_key[first_instance[frame.name]]
                break
            enclosing.append(frame)
        if hidden:
            assert key is not None
            key_of[node.name] = key
            continue
        if key is None:
            key = "layer:" + node.name
            if len(node.inputs) == 1 and _pointwise(report):
                before = key_of[node.inputs[0]]
                if (
                    before.startswith("layer:")
                    and consumers.get(node.inputs[0], 0) == 1
                    and items[before].enclosing == tuple(enclosing)
                ):
                    key = before
        if key not in items:
            title = _relative(folded.name if folded else node.name, enclosing)
            items[key] = Item(key, title, frame=folded, enclosing=tuple(enclosing))
        items[key].reports.append(report)
        key_of[node.name] = key
        for frame in (*enclosing, *([folded] if folded else [])):
            last_key[frame.instance] = key
        for level, frame in enumerate(enclosing):
            members = frames.setdefault(frame.instance, (frame, level, []))[2]
            if key not in members:
                members.append(key)
        for source in node.inputs:
            if key_of[source] != key:
                edges[(key_of[source], key)] = None
    # a block that shows as one box is that box, under the block's name, without a frame
    for instance, (frame, level, members) in sorted(frames.items(), key=lambda entry: -entry[1][1]):
        if len(members) == 1 and frame.repeat == 1:
            item = items[members[0]]
            item.title = _relative(frame.name, list(item.enclosing[:level]))
            del frames[instance]
    return Folded(items, list(edges), frames)
