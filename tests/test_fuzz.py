"""No input makes the parser or the engine crash: only SpecError, never a traceback."""

from __future__ import annotations

import copy
import io
import json
import string
import tomllib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from cnnscope.analysis import analyze
from cnnscope.errors import CnnscopeError, SpecError
from cnnscope.layers import LAYER_TYPES
from cnnscope.peers import count_as
from cnnscope.report.documents import inspect_document
from cnnscope.report.explain import explain
from cnnscope.report.export import to_csv, to_markdown
from cnnscope.report.rows import rows
from cnnscope.report.table import layer_table, summary
from cnnscope.spec import parse
from tests.conftest import SPECS

KEYS = [
    "out",
    "kernel",
    "stride",
    "padding",
    "dilation",
    "groups",
    "bias",
    "p",
    "shape",
    "dim",
    "vocab",
    "axis",
    "ceil",
    "slope",
    "size",
    "from",
    "act",
    "when",
    "name",
    "repeat",
    "block",
    "args",
    "kernal",
    "type",
    "output_padding",
    "scale",
    "mode",
    "align_corners",
    "dims",
    "start",
    "stop",
    "step",
    "over",
    "approximate",
    "per_channel",
    "init",
    "functional",
    "instance",
]
WORDS = [
    *("relu", "same", "valid", "in", "a", "b", "x", "planes * 2", "1 +", "stride > 1", "1/0", "2**99999", "c1", ""),
    *("in_channels", "in_channels // 2", "index", "a{index}", "{", "bilinear", "row", "channels", "tanh", "b-{1/0}"),
]
values = st.recursive(
    st.one_of(
        st.integers(-3, 40),
        st.booleans(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(WORDS + list(LAYER_TYPES)),
    ),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=6,
)
layers = st.lists(
    st.dictionaries(st.sampled_from(KEYS), values, max_size=6).map(
        lambda d: d if "type" in d or "block" in d else {**d, "type": "conv2d"}
    ),
    min_size=0,
    max_size=6,
)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return {float("inf"): "inf", float("-inf"): "-inf"}.get(value, "nan" if value != value else repr(value))
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_value(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def survives(text: str) -> None:
    try:
        analyze(parse(text, path="fuzz.toml"))
    except SpecError as exc:
        assert str(exc) and "\n" not in str(exc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=string.printable, max_size=200))
def test_random_text(text):
    survives(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.lists(st.integers(-1, 40), min_size=0, max_size=4),
    entries=layers,
    block=layers,
    args=st.dictionaries(st.sampled_from(["planes", "stride", "x"]), st.integers(-2, 8), max_size=3),
)
def test_random_structures(shape, entries, block, args):
    text = (
        f"input = {toml_value(shape)}\n"
        f"vars = {toml_value(args)}\n"
        f"layers = {toml_value(entries)}\n"
        f"[blocks.b]\nargs = {toml_value(args)}\nlayers = {toml_value(block)}\n"
    )
    survives(text)


ZOO_TEXTS = [path.read_text() for path in sorted(SPECS.glob("*.toml"))]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(0, len(ZOO_TEXTS) - 1),
    cuts=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 30), st.text(string.printable, max_size=5)), max_size=3),
)
def test_mutated_zoo_specs(index, cuts):
    text = ZOO_TEXTS[index]
    for where, length, insert in cuts:
        at = int(where * len(text))
        text = text[:at] + insert + text[at + length :]
    survives(text)


def test_huge_numbers_stay_fast():
    for text in (
        "input = [3, 1000000000, 1000000000]\nlayers = [{type = 'adaptive_avgpool', out = 999999937}]",
        "input = [3, 8, 8]\nvars = {n = 2}\nlayers = [{type = 'conv2d', out = 'n ** 99999', kernel = 1}]",
        "input = [3, 8, 8]\nlayers = [{type = 'conv2d', out = \"'x' * 999999999\", kernel = 1}]",
        "input = [3, 8, 8]\nlayers = [{name = 'r', block = 'b', repeat = 100000000}]\n[blocks.b]\nlayers = [{type = 'relu'}]",
    ):
        survives(text)


# Mutations of the zoo's parsed specs, closer to a user's edits than cut text: a key or a layer
# deleted, a layer duplicated, a `from` retargeted, a value retyped. Every renderer then runs
# (table, JSON, CSV, Markdown, explain, a peer count): only the project's own errors may come out.
ZOO_TABLES = [tomllib.loads(text) for text in ZOO_TEXTS]
RETYPED = st.one_of(
    st.integers(-5, 5),
    st.sampled_from([0, 2**40, 10**30, -(2**70)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(["", "[/]", "[red]x", ":x:", "in", "conv1", "relu", "1e309", "a" * 300]),
    st.lists(st.integers(0, 4), max_size=3),
)


ACTIONS = ("delete-key", "retype", "delete-layer", "duplicate", "retarget")


def _layer_lists(table: dict) -> list[list]:
    """Every list of layers: the model's and each block's."""
    found = [table["layers"]] if isinstance(table.get("layers"), list) else []
    blocks = table.get("blocks")
    for block in blocks.values() if isinstance(blocks, dict) else []:
        if isinstance(block, dict) and isinstance(block.get("layers"), list):
            found.append(block["layers"])
    return found


def mutate(table: dict, data: st.DataObject) -> dict:
    table = copy.deepcopy(table)
    for _ in range(data.draw(st.integers(1, 2))):
        lists = _layer_lists(table)
        action = data.draw(st.sampled_from([*ACTIONS, *ACTIONS, "top"]))  # the top level less often
        if action == "top":
            key = data.draw(st.sampled_from(sorted(table)))
            if data.draw(st.booleans()):
                del table[key]
            else:
                table[key] = data.draw(RETYPED)
            continue
        if not lists or not any(lists):
            continue
        layers = data.draw(st.sampled_from([layer_list for layer_list in lists if layer_list]))
        at = data.draw(st.integers(0, len(layers) - 1))
        layer = layers[at]
        if action == "delete-layer":
            del layers[at]
        elif action == "duplicate":
            layers.insert(at, copy.deepcopy(layer))
        elif not isinstance(layer, dict) or not layer:
            continue
        elif action == "delete-key":
            del layer[data.draw(st.sampled_from(sorted(layer)))]
        elif action == "retype":
            layer[data.draw(st.sampled_from(sorted(layer)))] = data.draw(RETYPED)
        else:
            names = [other.get("name") for other in layers if isinstance(other, dict) and other.get("name")]
            layer["from"] = data.draw(st.sampled_from([*names, "in", "nowhere"]))
    return table


def as_toml(table: dict) -> str:
    return "".join(f"{toml_value(key)} = {toml_value(value)}\n" for key, value in table.items())


def renders(text: str, depth: int | None) -> None:
    """Parse, analyse and draw every output a user can ask for; only CnnscopeError may stop it."""
    try:
        analysis = analyze(parse(text, path="fuzz.toml"))
        table_rows = rows(analysis, depth)
        Console(file=io.StringIO(), width=100).print(layer_table(analysis, table_rows), summary(analysis))
        json.dumps(inspect_document(analysis), allow_nan=False)
        to_csv(table_rows)
        to_markdown(analysis, table_rows)
        for report in analysis.layers[:3]:
            explain(analysis, report.name)
        count_as(analysis, "torchinfo")
    except CnnscopeError as exc:
        assert str(exc) and "\n" not in str(exc)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(ZOO_TABLES) - 1), depth=st.sampled_from([None, 1, 2]), data=st.data())
def test_mutated_zoo_specs_through_every_renderer(index, depth, data):
    renders(as_toml(mutate(ZOO_TABLES[index], data)), depth)


# The spec language at its most expensive: blocks calling blocks (themselves too) with large repeats, layers
# skipped by `when`, sizes grown by huge scales and strides, and padding that keeps them small while the
# receptive field grows. Each example must end in seconds with a result or the project's own error.
HOSTILE_LAYER = st.one_of(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["conv2d", "conv_transpose2d", "maxpool"]), "kernel": st.sampled_from([1, 2, 3])},
        optional={"stride": st.sampled_from([1, 2, 2**20, 2**61, 2**62]), "padding": st.sampled_from([0, 1, 2**61])},
    ).map(lambda d: d if d["type"] == "maxpool" else {"out": 2, **d}),
    st.fixed_dictionaries({"type": st.just("upsample"), "scale": st.sampled_from([0.5, 2, 1e10, 1e300, 1.7e308])}),
    st.fixed_dictionaries({"type": st.sampled_from(["relu", "flatten", "batchnorm"])}),
    st.fixed_dictionaries(
        {"block": st.sampled_from(["b0", "b1", "b2"])},
        optional={"repeat": st.sampled_from([1, 3, 1000, 10**5]), "args": st.just({"n": "n + 1"})},
    ),
)
HOSTILE_ENTRY = st.tuples(
    HOSTILE_LAYER, st.sampled_from([None, True, False, "index > 0", "n < 3", "in_channels > 1", "index % 2 == 1"])
).map(lambda pair: pair[0] if pair[1] is None else {**pair[0], "when": pair[1]})
HOSTILE_LIST = st.lists(HOSTILE_ENTRY, min_size=1, max_size=4)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(top=HOSTILE_LIST, blocks=st.lists(HOSTILE_LIST, min_size=3, max_size=3))
def test_nested_repeats_huge_sizes_and_when_end_quickly(top, blocks):
    import time

    text = f"input = [2, 16, 16]\nvars = {{n = 0, index = 0}}\nlayers = {toml_value(top)}\n" + "".join(
        f"[blocks.b{i}]\nargs = {{n = 0}}\nlayers = {toml_value(layers)}\n" for i, layers in enumerate(blocks)
    )
    start = time.monotonic()
    try:
        analysis = analyze(parse(text, path="fuzz.toml"))
        json.dumps(inspect_document(analysis), allow_nan=False)
        Console(file=io.StringIO(), width=100).print(summary(analysis))
    except SpecError as exc:
        assert str(exc) and "\n" not in str(exc)
    assert time.monotonic() - start < 15, text
