"""Repeated submodules -> blocks with arguments and ``repeat``, so an imported spec reads like a written one.

The instances of one module class (ResNet's ``Bottleneck``s, MobileNet's ``InvertedResidual``s)
are compared layer by layer. Instances whose layers line up become one block: a value that
differs between them becomes a block argument (shared where two keys always agree, written
``"width * 4"`` where one is a multiple of another, ``"in_channels"`` where it is the input's
channels), a layer that only some instances have gets ``when`` on a flag (ResNet's
``downsample``). Consecutive instances under one parent become one call with ``repeat``,
``first`` for a first instance that differs, and ``instance`` for their names
(``denselayer{index + 1}``). Classes are folded largest first, so an inner class repeated
inside an outer one stays inside the outer block.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from cnnscope.importer.records import Imported, parents
from cnnscope.importer.write import changed_keys, layer_line, toml_value
from cnnscope.spec import INPUT

CONTAINERS = frozenset({"Sequential", "ModuleList", "ModuleDict"})
MOST_GUARDED = 6  # lines one flag may switch on or off (a squeeze-and-excitation); more: not one block


@dataclass
class Instance:
    """One module instance whose layers may become a block call."""

    path: str
    cls: str
    layers: list[Imported]
    source: str  # the one layer (or INPUT) outside that feeds it

    @cached_property
    def entries(self) -> list[Entry]:
        """Its layers as block lines, names and sources relative to the instance."""
        entries = []
        previous = self.source
        for layer in self.layers:
            relative = ["in" if s == self.source else s[len(self.path) + 1 :] for s in layer.sources]
            sources = None if layer.sources == [previous] else tuple(relative)
            act = (layer.act[0].type_name, dict(layer.act[1])) if layer.act else None
            name = layer.name[len(self.path) + 1 :]
            entries.append(Entry(name, layer.layer.type_name, sources, dict(layer.keys), act, layer.functional, layer))
            previous = layer.name
        return entries

    @cached_property
    def signatures(self) -> tuple[tuple[Any, ...], ...]:
        """Each entry's signature (instances are compared several times while clustering and folding)."""
        return tuple(e.signature() for e in self.entries)


@dataclass
class Entry:
    """One line of a block: a layer at a relative name, with what differs between instances."""

    name: str
    type_name: str
    sources: tuple[str, ...] | None  # relative names or "in"; None: the previous layer
    keys: dict[str, Any]
    act: tuple[str, dict[str, Any]] | None
    functional: bool
    layer: Imported  # one instance's layer, for the key types

    def signature(self) -> tuple[Any, ...]:
        """What must agree for two instances' layers to share a line: all but the numbers."""
        fixed = tuple(sorted((k, _freeze(v)) for k, v in self.keys.items() if not _is_number(v)))
        act = (self.act[0], tuple(sorted(self.act[1]))) if self.act else None
        return (self.name, tuple(sorted(self.keys)), fixed, self.sources, act, self.functional, self._kind())

    def _kind(self) -> str:
        """Activations may differ in type between instances (an argument); other types may not."""
        from cnnscope.layers import Activation

        return "activation" if isinstance(self.layer.layer, Activation) and not self.keys else self.type_name


class Spans:
    """Where each module's layers lie in the imported list, found once (the scans it replaces, one per
    instance and per class, made folding quadratic in the layer count)."""

    def __init__(self, layers: list[Imported]) -> None:
        self.layers = layers
        self.index = {layer.name: i for i, layer in enumerate(layers)}
        self.inside: dict[str, list[int]] = {}  # module path -> indices of the layers under it, in order
        self.last_reader: dict[str, int] = {}  # layer name -> index of the last layer that reads it
        for i, layer in enumerate(layers):
            for path in parents(layer.name):
                self.inside.setdefault(path, []).append(i)
            for source in layer.sources:
                self.last_reader[source] = i

    def of(self, path: str) -> list[int]:
        return self.inside.get(path, [])

    def end(self, path: str) -> int:
        """The index after the last layer under ``path``."""
        return self.inside[path][-1] + 1


@dataclass
class Block:
    name: str
    args: dict[str, Any]  # defaults
    lines: list[str]
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)  # instance path -> its arguments


def into_blocks(
    layers: list[Imported], classes: dict[str, str]
) -> tuple[list[str], dict[str, tuple[dict[str, Any], list[str]]]]:
    """The spec's layer lines and its blocks, from the imported layers and the module classes (path -> class).

    Where the instances of a class are not one block, sets of identical instances among them may be
    (Xception's middle blocks); but folding those can keep an inner class from folding across all of
    them (BiT's stages and their bottlenecks). Where some class is not one block, both ways are written,
    and the shorter spec is kept."""
    spans = Spans(layers)
    whole, all_one_block = _fold(spans, classes, identical_sets=False)
    if all_one_block:  # identical sets would change nothing
        return whole
    split, _ = _fold(spans, classes, identical_sets=True)
    return min(whole, split, key=lambda f: len(f[0]) + sum(len(lines) + 2 for _, lines in f[1].values()))


def _fold(
    spans: Spans, classes: dict[str, str], identical_sets: bool
) -> tuple[tuple[list[str], dict[str, tuple[dict[str, Any], list[str]]]], bool]:
    """The folded spec (layer lines, blocks), and whether every cluster of instances folded as one block."""
    folded: dict[str, Block] = {}  # instance path -> its block
    blocks: dict[str, Block] = {}
    taken: set[str] = set()  # paths inside a folded instance
    all_one_block = True
    for cls in _by_size(spans, classes):
        instances = [
            i
            for i in _instances(spans, classes, cls)
            if i.path not in taken and not any(p in taken for p in parents(i.path))
        ]
        if len(instances) < 2:
            continue
        for cluster in _clusters(instances):
            found = _folded(cluster, identical_sets)
            all_one_block &= len(cluster) < 2 or (len(found) == 1 and found[0][0] is cluster)
            for group, block in found:
                block.name = _block_name(cls, blocks)
                blocks[block.name] = block
                for instance in group:
                    folded[instance.path] = block
                    taken.add(instance.path)
    return (_top_level(spans, folded), {b.name: (b.args, b.lines) for b in blocks.values()}), all_one_block


# --- instances ------------------------------------------------------------------------------
def _by_size(spans: Spans, classes: dict[str, str]) -> list[str]:
    """Candidate classes, those whose instances hold most layers first."""
    sizes: Counter[str] = Counter()
    for path, cls in classes.items():
        if path and cls not in CONTAINERS:
            sizes[cls] = max(sizes[cls], len(spans.of(path)))
    return [cls for cls, size in sizes.most_common() if size > 1]


def _instances(spans: Spans, classes: dict[str, str], cls: str) -> list[Instance]:
    """The instances of ``cls`` that run as one unit: consecutive layers, one input from outside,
    and only the last layer read from outside."""
    found = []
    index = spans.index
    for path, kind in classes.items():
        if kind != cls or not path:
            continue
        inside = spans.of(path)
        if not inside or inside[-1] - inside[0] + 1 != len(inside):
            continue
        members = [spans.layers[i] for i in inside]
        names = {layer.name for layer in members}
        outside = {s for layer in members for s in layer.sources if s not in names}
        read_later = any(spans.last_reader.get(layer.name, -1) > inside[-1] for layer in members[:-1])
        if len(outside) != 1 or read_later:
            continue
        source = next(iter(outside))
        if source != INPUT and index[source] >= inside[0]:
            continue
        found.append(Instance(path, cls, members, source))
    return sorted(found, key=lambda i: index[i.layers[0].name])


def _clusters(instances: list[Instance]) -> list[list[Instance]]:
    """Instances whose layers line up, in order; a cluster that only adds or drops a few layers joins."""
    groups: list[tuple[list[tuple[Any, ...]], list[Instance]]] = []
    for instance in instances:
        signature = list(instance.signatures)
        for known, members in groups:
            if _close(known, signature):
                members.append(instance)
                break
        else:
            groups.append((signature, [instance]))
    return [members for _, members in groups]


def _folded(cluster: list[Instance], identical_sets: bool) -> list[tuple[list[Instance], Block]]:
    """The blocks a cluster becomes: one for all of it where its instances fold together; else, if
    ``identical_sets``, one for each set of identical instances."""
    if len(cluster) < 2:
        return []
    block = _block(cluster)
    if block is not None:
        return [(cluster, block)]
    if not identical_sets:
        return []
    identical: dict[tuple[Any, ...], list[Instance]] = {}
    for instance in cluster:
        identical.setdefault(instance.signatures, []).append(instance)
    found = []
    for group in identical.values() if len(identical) > 1 else ():
        block = _block(group) if len(group) > 1 else None
        if block is not None:
            found.append((group, block))
    return found


def _close(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> bool:
    """Same lines in the same order, but for a few (at most 40 %) that only one of them has."""
    if a == b:  # most instances: no table needed
        return True
    if min(len(a), len(b)) < 0.6 * max(len(a), len(b)):  # the common lines cannot be enough
        return False
    return len(_common(a, b)) >= 0.6 * max(len(a), len(b))


def _common(a: list[Any], b: list[Any]) -> list[Any]:
    """Longest common subsequence. Instances mostly differ in a few lines: the common start and end are
    taken as they are, and the table is made for what lies between them, compared as numbers."""
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    ids: dict[Any, int] = {}
    x = [ids.setdefault(item, len(ids)) for item in a[start : len(a) - end]]
    y = [ids.setdefault(item, len(ids)) for item in b[start : len(b) - end]]
    table = [[0] * (len(y) + 1) for _ in range(len(x) + 1)]
    for i in range(len(x) - 1, -1, -1):
        row, below = table[i], table[i + 1]
        for j in range(len(y) - 1, -1, -1):
            if x[i] == y[j]:
                row[j] = below[j + 1] + 1
            else:
                row[j] = below[j] if below[j] >= row[j + 1] else row[j + 1]
    middle, i, j = [], 0, 0
    while i < len(x) and j < len(y):
        if x[i] == y[j]:
            middle.append(a[start + i])
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return [*a[:start], *middle, *a[len(a) - end :]]


# --- one block ------------------------------------------------------------------------------
def _block(group: list[Instance]) -> Block | None:
    """The block the instances of ``group`` are calls of (named by the caller), or None if they are not one."""
    slots = _union([list(i.signatures) for i in group])
    if slots is None:
        return None
    present: list[dict[tuple[Any, ...], Entry]] = [dict(zip(i.signatures, i.entries)) for i in group]
    args = _Arguments(len(group))
    flags = _flags(slots, present, args)
    guarded = Counter(condition.removeprefix("not ") for condition in flags.values())
    if guarded and max(guarded.values()) > MOST_GUARDED:  # instances of different length (DenseNet's dense blocks)
        return None
    rendered = []
    for slot in slots:
        seen = [(k, p[slot]) for k, p in enumerate(present) if slot in p]
        sample = seen[0][1]
        keys: dict[str, Any] = {}
        for key in sample.keys:
            values = {k: entry.keys[key] for k, entry in seen}
            channels = {
                k: entry.layer.inputs[0][0] for k, entry in seen if entry.layer.inputs and entry.layer.inputs[0]
            }
            keys[key] = args.value(key, sample.name, values, channels)
        types = {k: entry.type_name for k, entry in seen}
        type_value = args.value("act" if sample._kind() == "activation" else "type", sample.name, types, {})
        extra: dict[str, Any] = {}
        if slot in flags:
            extra["when"] = toml_value(flags[slot])
        rendered.append((sample, type_value, keys, extra))
    if not args.consistent:
        return None
    progressing = args.progressions([i.path.rpartition(".")[0] for i in group])
    lines = []
    for sample, type_value, keys, extra in rendered:
        for key, value in keys.items():
            if isinstance(value, _Expr) and value.text in progressing:  # EfficientNet's growing drop rate
                keys[key] = _Expr(f"{value.text} + {value.text}_step * index")
        lines.append(_line(sample, type_value, keys, extra))
    block = Block("", args.defaults(), lines)
    for k, instance in enumerate(group):
        block.calls[instance.path] = args.of(k)
    return block


def _line(sample: Entry, type_value: Any, keys: dict[str, Any], extra: dict[str, Any]) -> str:
    from cnnscope.layers import LAYER_TYPES

    cls = LAYER_TYPES[sample.type_name]
    literal = {k: v for k, v in keys.items() if not isinstance(v, _Expr)}
    shown = changed_keys(cls, literal)
    ordered = {
        k: (keys[k].text if isinstance(keys[k], _Expr) else shown[k])
        for k in keys
        if k in shown or isinstance(keys[k], _Expr)
    }
    parts = [f"name = {toml_value(sample.name)}"]
    parts.append(f"type = {toml_value(type_value.text if isinstance(type_value, _Expr) else type_value)}")
    parts += [f"{k} = {toml_value(v)}" for k, v in ordered.items()]
    if sample.sources is not None:
        parts.append(f"from = {toml_value(sample.sources[0] if len(sample.sources) == 1 else list(sample.sources))}")
    if sample.act is not None:
        act_cls = LAYER_TYPES[sample.act[0]]
        act_keys = changed_keys(act_cls, sample.act[1])
        inner = "".join(f", {k} = {toml_value(v)}" for k, v in act_keys.items())
        parts.append(f'act = {{type = "{sample.act[0]}"{inner}}}' if inner else f"act = {toml_value(sample.act[0])}")
    if sample.functional:
        parts.append("functional = true")
    parts += [f"{k} = {v}" for k, v in extra.items()]
    return "{" + ", ".join(parts) + "}"


def _union(sequences: list[list[Any]]) -> list[Any] | None:
    """All lines of all instances, in an order that keeps each instance's order (None if there is none:
    then they are not one block). The longest instance goes first: it fixes the order of most lines."""
    ordered = sorted(sequences, key=len, reverse=True)
    union = list(ordered[0])
    for sequence in ordered[1:]:
        common = _common(union, sequence)
        merged, i, j = [], 0, 0
        for item in common:
            while union[i] != item:
                merged.append(union[i])
                i += 1
            while sequence[j] != item:
                merged.append(sequence[j])
                j += 1
            merged.append(item)
            i, j = i + 1, j + 1
        union = merged + union[i:] + sequence[j:]
    if len(set(union)) != len(union) or any(_common(union, s) != s for s in sequences):
        return None
    return union


def _flags(slots: list[Any], present: list[dict[Any, Entry]], args: _Arguments) -> dict[Any, str]:
    """``when`` conditions for lines that only some instances have: one flag per pattern of presence,
    named after the first layer with that pattern, ``not flag`` for its complement. Of a pattern and
    its complement, the one that adds a layer (ResNet's ``downsample``) names the flag, not the one
    that only joins differently (its ``add`` from ``in``)."""
    everyone = frozenset(range(len(present)))
    first_slot: dict[frozenset[int], Any] = {}
    for slot in slots:
        having = frozenset(k for k, p in enumerate(present) if slot in p)
        if having != everyone:
            first_slot.setdefault(having, slot)
    names: dict[frozenset[int], str] = {}
    for having, slot in first_slot.items():
        other = everyone - having
        if having in names or other in names:
            continue
        if other in first_slot and _merges(present, slot) and not _merges(present, first_slot[other]):
            having, slot = other, first_slot[other]
        names[having] = args.flag(_identifier(slot[0].split(".")[0]), [k in having for k in range(len(present))])
    conditions: dict[Any, str] = {}
    for slot in slots:
        having = frozenset(k for k, p in enumerate(present) if slot in p)
        if having in names:
            conditions[slot] = names[having]
        elif everyone - having in names:
            conditions[slot] = f"not {names[everyone - having]}"
    return conditions


def _merges(present: list[dict[Any, Entry]], slot: Any) -> bool:
    entry = next(p[slot] for p in present if slot in p)
    return entry.layer.layer.merges


class _Expr:
    """A key written as an expression over block arguments: ``"width"``, ``"width * 4"``, ``"in_channels"``."""

    def __init__(self, text: str) -> None:
        self.text = text


class _Arguments:
    """The arguments of one block: what differs between its instances."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.values: dict[str, list[Any]] = {}  # argument -> value per instance
        self.consistent = True

    def value(self, key: str, layer: str, values: dict[int, Any], channels: dict[int, int]) -> Any:
        distinct = {_freeze(v) for v in values.values()}
        if len(distinct) == 1:
            return next(iter(values.values()))
        if not all(_is_number(v) or isinstance(v, str) for v in values.values()):
            self.consistent = False  # lists that differ: not one block
            return next(iter(values.values()))
        input_channels = bool(channels) and all(values[k] == channels.get(k) for k in values)
        if input_channels and key == "groups":  # the depthwise idiom
            return _Expr("in_channels")
        vector = [values.get(k) for k in range(self.count)]
        for name, known in self.values.items():
            if _agrees(known, vector):
                return _Expr(name)
        if input_channels:
            return _Expr("in_channels")
        for name, known in self.values.items():
            factor = _factor(known, vector)
            if factor is not None:
                return _Expr(f"{name} * {factor}")
        name = _identifier(key) if _identifier(key) not in self.values else _identifier(f"{layer}_{key}")
        while name in self.values:
            name += "_"
        self.values[name] = vector
        return _Expr(name)

    def flag(self, base: str, vector: list[bool]) -> str:
        name = base
        while name in self.values:
            name += "_"
        self.values[name] = list(vector)
        return name

    def progressions(self, parents: list[str]) -> set[str]:
        """Real-valued arguments that grow by a fixed step from one instance to the next under each
        parent (a stochastic-depth rate): replaced by the parent's first value and the step, so that
        one call with ``repeat`` covers them (the block writes ``p + p_step * index``)."""
        found = set()
        for name, vector in list(self.values.items()):
            if not vector or not all(isinstance(v, float) for v in vector):
                continue
            groups: dict[str, list[int]] = {}
            for k, parent in enumerate(parents):
                groups.setdefault(parent, []).append(k)
            starts, steps = list(vector), [0.0] * len(vector)
            for members in groups.values():
                values = [vector[k] for k in members]
                step = values[1] - values[0] if len(values) > 1 else 0.0
                if any(abs(v - (values[0] + i * step)) > 1e-9 * max(1.0, abs(v)) for i, v in enumerate(values)):
                    break
                for k in members:
                    starts[k], steps[k] = values[0], step
            else:
                if any(steps):
                    self.values[name], self.values[f"{name}_step"] = starts, steps
                    found.add(name)
        return found

    def defaults(self) -> dict[str, Any]:
        return {
            name: Counter(_freeze(v) for v in vector if v is not None).most_common(1)[0][0]
            for name, vector in self.values.items()
        }

    def of(self, k: int) -> dict[str, Any]:
        return {name: vector[k] for name, vector in self.values.items() if vector[k] is not None}


def _agrees(known: list[Any], vector: list[Any]) -> bool:
    """``known`` has the value of ``vector`` in every instance that uses it."""
    return all(b is None or (type(a) is type(b) and a == b) for a, b in zip(known, vector))  # True is not 1


def _factor(known: list[Any], vector: list[Any]) -> int | None:
    """``vector`` is ``known`` times one whole number in every instance that uses it."""
    if any(b is not None and a is None for a, b in zip(known, vector)):
        return None
    pairs = [(a, b) for a, b in zip(known, vector) if b is not None]
    if not pairs or not all(type(a) is int and type(b) is int and a > 0 for a, b in pairs):  # not bools
        return None
    factors = {b // a if b % a == 0 else None for a, b in pairs}
    if len(factors) != 1:
        return None
    factor = factors.pop()
    return factor if factor and factor > 1 else None


# --- the top level ------------------------------------------------------------------------------
def _top_level(spans: Spans, folded: dict[str, Block]) -> list[str]:
    """The spec's own layer list: layers outside blocks one per line, folded instances as calls."""
    layers = spans.layers
    lines: list[str] = []
    previous, i = INPUT, 0
    while i < len(layers):
        layer = layers[i]
        owner = _owner(layer.name, folded)
        if owner is None:
            sources = None if layer.sources == [previous] else layer.sources
            act = (type(layer.act[0]), layer.act[1]) if layer.act else None
            lines.append(layer_line(layer.name, type(layer.layer), layer.keys, sources, act, layer.functional))
            previous, i = layer.name, i + 1
            continue
        run = _run(spans, owner, folded)
        source = next(s for s in layer.sources if not s.startswith(owner + "."))
        lines.append(_call(run, folded[owner], "in" if source == INPUT else source, source != previous))
        i = spans.end(run[-1])
        previous = layers[i - 1].name
    return lines


def _owner(name: str, folded: dict[str, Block]) -> str | None:
    """The folded instance a layer lies in (instances never nest), or None."""
    return next((path for path in parents(name) if path in folded), None)


def _run(spans: Spans, first: str, folded: dict[str, Block]) -> list[str]:
    """Instances of one block that follow each other under one parent, numbered one after another
    (``layer1.0``, ``layer1.1``; ``denselayer1``, ``denselayer2``), each fed by the one before, all
    but the first with the same arguments: one call with ``repeat``."""
    parent, _, child = first.rpartition(".")
    prefix, number = _split_number(child)
    run = [first]
    if not parent or number is None:
        return run
    layers = spans.layers
    block, i = folded[first], spans.end(first)
    while i < len(layers):
        following = _owner(layers[i].name, folded)
        if following is None or folded[following] is not block:
            break
        its_parent, _, its_child = following.rpartition(".")
        if its_parent != parent or _split_number(its_child) != (prefix, number + len(run)):
            break
        if layers[i].sources != [layers[i - 1].name]:
            break
        if len(run) >= 2 and block.calls[following] != block.calls[run[1]]:
            break
        run.append(following)
        i = spans.end(following)
    return run


def _call(run: list[str], block: Block, source: str, explicit_source: bool) -> str:
    """``{name = "layer1", block = "bottleneck", repeat = 3, args = {...}, first = {...}}``."""
    defaults = block.args

    def differing(values: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if _freeze(v) != _freeze(base.get(k))}

    if len(run) == 1:
        parts = [f"name = {toml_value(run[0])}", f"block = {toml_value(block.name)}"]
        args, first = differing(block.calls[run[0]], defaults), {}
    else:
        parent, _, child = run[0].rpartition(".")
        prefix, number = _split_number(child)
        template = f"{prefix}{{index + {number}}}" if number else f"{prefix}{{index}}"
        parts = [f"name = {toml_value(parent)}", f"block = {toml_value(block.name)}", f"repeat = {len(run)}"]
        if template != "{index}":
            parts.append(f"instance = {toml_value(template)}")
        args = differing(block.calls[run[1]], defaults)
        first = differing(block.calls[run[0]], {**defaults, **args})
    if explicit_source:
        parts.append(f"from = {toml_value(source)}")
    for key, values in (("args", args), ("first", first)):
        if values:
            parts.append(f"{key} = {{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in values.items()) + "}")
    return "{" + ", ".join(parts) + "}"


# --- small helpers --------------------------------------------------------------------------------
def _split_number(name: str) -> tuple[str, int | None]:
    match = re.fullmatch(r"(.*?)(\d+)", name)
    return (match.group(1), int(match.group(2))) if match else (name, None)


def _identifier(text: str) -> str:
    name = re.sub(r"\W+", "_", text).strip("_").lower() or "arg"
    return f"_{name}" if name[0].isdigit() else name


def _block_name(cls: str, blocks: dict[str, Block]) -> str:
    base = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", cls.strip("_")).lower()
    name, k = base, 2
    while name in blocks:
        name, k = f"{base}_{k}", k + 1
    return name


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
