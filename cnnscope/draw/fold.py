"""Which boxes a figure draws: layers, or block instances folded to a depth, repetitions shown once.

A node's ``scope`` lists the block instances around it, outermost first; ``spec.groups``
says what each one is (``"basic"``, or ``"basic x2"`` for the group of repetitions).

Folding never says more than is true. Consecutive instances of a group are drawn once, in a
frame saying "x N", only where they are the same: the same layers with the same settings,
shapes, parameters and wiring (ResNet's first block of a stage, with its downsample, is not
the same as the second). Folded to one box, a group of the same instances reads
"layer1: basic x 2"; a group of different ones is a stage box that says what it spans
("features.1-15: 15 bneck blocks, 112x112x16 -> 7x7x160"). Pointwise layers (activations,
batch norm, dropout) that follow a layer alone join its box, as figures write "conv + BN + ReLU".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from cnnscope.analysis import Analysis, LayerReport, ModelOutput
from cnnscope.draw.canvas import Group
from cnnscope.draw.families import family, kernel_label, size_label
from cnnscope.layers import Shape
from cnnscope.report.numbers import count
from cnnscope.spec import INPUT

_REPEAT = re.compile(r"(.+) x(\d+)")


@dataclass(frozen=True)
class Frame:
    """Block instances drawn as one: a frame round the first one's boxes, or one folded box."""

    name: str  # what it shows: "layer1" (all of a group), "layer3.1-5" (some), "layer2.0" (one)
    instance: str  # the scope entry of the first instance
    block: str  # the block type: "basic"
    members: tuple[str, ...]  # the instances it stands for
    same: bool = True  # the members are the same: "x N" is the truth
    what: str = ""  # for a stage of top-level boxes: "12 layers"

    @property
    def repeat(self) -> int:
        return len(self.members)

    @property
    def kind(self) -> str:
        if self.what:
            return self.what
        if self.repeat == 1:
            return self.block
        return f"{self.block} x {self.repeat}" if self.same else f"{self.repeat} {self.block} blocks"


@dataclass
class Item:
    """One box: a layer (with the pointwise layers it absorbed), a folded block or stage, or the input."""

    key: str
    title: str
    reports: list[LayerReport] = field(default_factory=list)
    frame: Frame | None = None  # set for a folded block or a stage
    enclosing: tuple[Frame, ...] = ()  # the unfolded frames around it, outermost first
    input_shape: Shape = ()

    @property
    def out(self) -> Shape:
        return self.reports[-1].output_shape if self.reports else self.input_shape

    @property
    def into(self) -> Shape:
        """The shape it reads (its first input's)."""
        return self.reports[0].input_shapes[0] if self.reports and self.reports[0].input_shapes else self.input_shape

    @cached_property
    def params(self) -> int:
        return sum(r.cost.params for r in self.reports)

    @property
    def family(self) -> str:
        if not self.reports:
            return "input"
        return "block" if self.frame is not None else family(self.reports[0])

    @cached_property  # asked for by every layout of a fit, once its reports are all in
    def kind(self) -> str:
        """What it is: ``conv2d 3x3 /2 + batchnorm + relu``, ``basic x 2``, ``15 bneck blocks``, ``input``."""
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
    layers: dict[str, list[LayerReport]]  # every layer each frame stands for (hidden instances too)


def span(instances: list[str] | tuple[str, ...], group: str = "", whole: bool = False) -> str:
    """The name of some instances: the group's where they are all of it (``layer1`` for
    ``layer1.0``, ``layer1.1``; ``features.denseblock1``), but a part of a numbered run says which
    (``layer3.1-5``; ``features.1-15``, where ``features.0`` is another block); else the one instance."""
    first, last = instances[0], instances[-1]
    tails = [name[len(group) + 1 :] if name.startswith(group + ".") else "" for name in instances]
    numbered = all(tail.isdigit() for tail in tails)
    if whole and group and (not numbered or tails == [str(i) for i in range(len(tails))]):
        return group
    if len(instances) == 1:
        return first
    head, dot, tail = last.rpartition(".")
    return f"{first}-{tail}" if dot and first.startswith(head + ".") else f"{first} to {last}"


class Groups:
    """Each repetition group's instances, split into runs of the same instance."""

    def __init__(self, analysis: Analysis) -> None:
        self.kinds = analysis.spec.groups
        self.seen: dict[tuple[str, ...], list[tuple[str | None, str]]] = {}  # made once per scope
        self.frames: dict[tuple[str | None, str, bool | None], Frame] = {}
        self.instances: dict[str, dict[str, None]] = {}  # group -> its instances, in order
        layers: dict[str, list[LayerReport]] = {}
        for report in analysis.layers:
            scope = report.node.scope
            for i, entry in enumerate(scope[:-1]):
                if self.repeated(entry):
                    self.instances.setdefault(entry, {})[scope[i + 1]] = None
                    layers.setdefault(scope[i + 1], []).append(report)
        self.run: dict[str, tuple[str, ...]] = {}  # instance -> the run of the same instances it is in
        self.same: dict[str, bool] = {}  # group -> all its instances are the same
        for group, members in self.instances.items():
            runs: list[list[str]] = []
            previous: object = None
            for instance in members:
                signature = _signature(instance, layers[instance])
                if runs and signature == previous:
                    runs[-1].append(instance)
                else:
                    runs.append([instance])
                previous = signature
            for run in runs:
                for instance in run:
                    self.run[instance] = tuple(run)
            self.same[group] = len(runs) == 1

    def repeated(self, entry: str) -> re.Match[str] | None:
        return _REPEAT.fullmatch(self.kinds.get(entry, ""))

    def block(self, entry: str) -> str:
        match = self.repeated(entry)
        return match[1] if match else self.kinds.get(entry, "block")

    def levels(self, scope: tuple[str, ...]) -> list[tuple[str | None, str]]:
        """(repetition group or None, instance) for each level of nesting in ``scope``."""
        if scope not in self.seen:
            self.seen[scope] = self._levels(scope)
        return self.seen[scope]

    def _levels(self, scope: tuple[str, ...]) -> list[tuple[str | None, str]]:
        levels: list[tuple[str | None, str]] = []
        i = 0
        while i < len(scope):
            if self.repeated(scope[i]) and i + 1 < len(scope):
                levels.append((scope[i], scope[i + 1]))
                i += 2
            else:
                levels.append((None, scope[i]))
                i += 1
        return levels

    def folded(self, group: str | None, instance: str) -> Frame:
        """The frame of one box for the whole group (or the instance)."""
        key = (group, instance if group is None else "", None)  # one frame per group
        if key not in self.frames:
            self.frames[key] = self._folded(group, instance)
        return self.frames[key]

    def drawn(self, group: str | None, instance: str, once: bool) -> Frame:
        """The frame of an unfolded instance: with ``once``, of the run of the same instances."""
        first = self.run[instance][0] if group is not None and once else instance  # one frame per run
        key = (group, first, once)
        if key not in self.frames:
            self.frames[key] = self._drawn(group, instance, once)
        return self.frames[key]

    def _folded(self, group: str | None, instance: str) -> Frame:
        if group is None:
            return Frame(instance, instance, self.block(instance), (instance,))
        members = tuple(self.instances[group])
        same = self.same[group]
        return Frame(span(members, group, whole=True), instance, self.block(group), members, same)

    def _drawn(self, group: str | None, instance: str, once: bool) -> Frame:
        if group is None or not once:
            return Frame(instance, instance, self.block(group or instance), (instance,))
        run = self.run[instance]
        return Frame(span(run, group, whole=self.same[group]), run[0], self.block(group), run)


def _signature(instance: str, reports: list[LayerReport]) -> tuple[object, ...]:
    """What makes two instances the same: each layer's place, settings, shapes, parameters and inputs."""
    prefix = instance + "."

    def local(name: str) -> str:
        return name[len(prefix) :] if name.startswith(prefix) else "<outside>"

    return tuple(
        (
            local(r.node.name),
            repr(r.node.layer),
            repr(r.node.act),
            r.input_shapes,
            r.output_shape,
            r.cost.params,
            tuple(local(source) for source in r.node.inputs),
        )
        for r in reports
    )


def _relative(name: str, enclosing: list[Frame]) -> str:
    """``layer1.0.conv1`` inside the frame of ``layer1.0`` reads ``conv1``."""
    prefix = enclosing[-1].instance + "." if enclosing else ""
    return name[len(prefix) :] if prefix and name.startswith(prefix) else name


def _pointwise(report: LayerReport) -> bool:
    """Changes values only, one input, same shape: drawn inside the box of the layer before it."""
    return family(report) in ("activation", "normalisation") and report.input_shapes == (report.output_shape,)


def levels(analysis: Analysis, groups: Groups | None = None) -> int:
    """How deep blocks nest (a repetition group and its instance count as one level)."""
    groups = groups or Groups(analysis)
    return max((len(groups.levels(r.node.scope)) for r in analysis.layers), default=0)


def fold(analysis: Analysis, depth: int | None = None, once: bool = True, groups: Groups | None = None) -> Folded:
    """The boxes of ``analysis``: frames at level ``depth`` and below folded (None: none), and with
    ``once`` each run of the same instances drawn as its first (``groups``: of ``analysis``, if known)."""
    spec = analysis.spec
    groups = groups or Groups(analysis)
    consumers: dict[str, int] = {}
    for report in analysis.layers:
        for name in report.node.inputs:
            consumers[name] = consumers.get(name, 0) + 1

    items: dict[str, Item] = {"input": Item("input", "input", input_shape=spec.input.shape)}
    key_of: dict[str, str] = {INPUT: "input"}
    last_key: dict[str, str] = {}  # instance -> key of its last visible box
    frames: dict[str, tuple[Frame, int, list[str]]] = {}
    layers: dict[str, list[LayerReport]] = {}
    edges: dict[tuple[str, str], None] = {}

    for report in analysis.layers:
        node = report.node
        enclosing: list[Frame] = []
        key: str | None = None
        hidden = False
        folded: Frame | None = None
        for level, (group, instance) in enumerate(groups.levels(node.scope)):
            if depth is not None and level >= depth:
                folded = groups.folded(group, instance)
                key = "block:" + (group or instance)
                break
            frame = groups.drawn(group, instance, once)
            if frame.instance != instance:  # a later one of a run: drawn as the run's first
                hidden = True
                key = last_key[frame.instance]
                for outer in (*enclosing, frame):
                    layers.setdefault(outer.instance, []).append(report)
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
            layers.setdefault(frame.instance, []).append(report)
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
            del layers[instance]
    return Folded(items, list(edges), frames, layers)


def stages(folded: Folded, count: int) -> Folded:
    """``folded`` (with no frames: every top-level block one box) in at most ``count`` boxes after
    the input: runs of boxes merged into stage boxes of about equal numbers of layers, cut where
    one box alone feeds what follows where the network allows."""
    assert not folded.frames, "stages merge top-level boxes"
    order = [key for key in folded.items if key != "input"]
    if len(order) <= count:
        return folded
    position = {key: i for i, key in enumerate(order)}
    position["input"] = -1
    reach = [-1] * len(order)  # the furthest box read from each box
    for src, dst in folded.edges:
        if src != "input":
            reach[position[src]] = max(reach[position[src]], position[dst])
    total = sum(len(folded.items[key].reports) for key in order)
    target = total / count
    chunks: list[list[str]] = [[]]
    held, furthest = 0, -1
    for i, key in enumerate(order):
        chunks[-1].append(key)
        held += len(folded.items[key].reports)
        clean = furthest <= i  # nothing before this box is read after it
        furthest = max(furthest, reach[i])
        remaining = len(order) - i - 1
        if remaining and len(chunks) < count and held >= target and (clean or held >= 2 * target):
            chunks.append([])
            held = 0
    items: dict[str, Item] = {"input": folded.items["input"]}
    key_of = {"input": "input"}
    for chunk in chunks:
        if len(chunk) == 1:
            items[chunk[0]] = folded.items[chunk[0]]
            key_of[chunk[0]] = chunk[0]
            continue
        first, last = folded.items[chunk[0]], folded.items[chunk[-1]]
        reports = [r for key in chunk for r in folded.items[key].reports]
        name = f"{first.title} to {last.title}"
        frame = Frame(name, "", "stage", tuple(chunk), same=False, what=f"{len(reports)} layers")
        stage = Item("stage:" + chunk[0].split(":", 1)[-1], name, reports, frame)
        items[stage.key] = stage
        for key in chunk:
            key_of[key] = stage.key
    edges = {(key_of[s], key_of[d]): None for s, d in folded.edges if key_of[s] != key_of[d]}
    return Folded(items, list(edges), {}, {})


def mark(
    group: Group, title: str, kind: str, reports: list[LayerReport], into: Shape, out: Shape, params: int | None = None
) -> None:
    """What a box or frame stands for, for machines and for hovering: ``data-params`` (the exact
    parameters of every layer it stands for), ``data-layers`` (how many) and a ``<title>``."""
    params = sum(r.cost.params for r in reports) if params is None else params
    group.data.update(params=str(params), layers=str(len(reports)))
    shapes = size_label(out) if into == out else f"{size_label(into)} -> {size_label(out)}"
    layers = f"{len(reports)} layer{'s' if len(reports) != 1 else ''}"
    group.tip = f"{title}: {kind}\n{shapes}\n{count(params)} parameters in {layers}"


def mark_item(group: Group, item: Item) -> None:
    mark(group, item.title, item.kind, item.reports, item.into, item.out, item.params)


def returned(analysis: Analysis) -> dict[str, list[ModelOutput]]:
    """The outputs each layer gives, by layer name, where the model returns more or other than its
    last layer's tensor (nothing to mark otherwise: that is what every figure ends with)."""
    outputs = analysis.outputs
    last = analysis.layers[-1].name if analysis.layers else INPUT
    if len(outputs) == 1 and outputs[0].layer == last:
        return {}
    found: dict[str, list[ModelOutput]] = {}
    for output in outputs:
        found.setdefault(output.layer, []).append(output)
    return found


def output_tags(item: Item, outputs: dict[str, list[ModelOutput]]) -> list[str]:
    """The tag of every output the box gives ("output 'aux' · 4"); where the box is more than that layer (a
    folded block, a layer before the pointwise layers it absorbed) the layer is named."""
    names = [r.name for r in item.reports] if item.reports else [INPUT] if item.key == "input" else []
    tags = []
    for name in names:
        for output in outputs.get(name, []):
            inside = item.frame is not None or name != names[-1]
            said = "output" if output.key is None else f"output {output.label}"  # the model's one tensor
            tags.append(f"{said}{f' ({name})' if inside else ''} · {size_label(output.shape)}")
    return tags
