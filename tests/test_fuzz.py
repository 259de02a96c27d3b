"""No input makes the parser or the engine crash: only SpecError, never a traceback."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnscope.analysis import analyze
from cnnscope.errors import SpecError
from cnnscope.layers import LAYER_TYPES
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
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
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


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
