"""TOML text -> :class:`Spec`: validation, block expansion, reference resolution.

The spec language in brief (README has the full tour)::

    name = "resnet18"
    input = [3, 224, 224]                   # or {tokens = 56, vocab = 18765}
    vars = {classes = 1000}                 # names usable in expressions
    outputs = {out = "fc", aux = "aux.fc"}  # optional: several outputs, a dict (a list: a tuple)
    layers = [
      {name = "conv1", type = "conv2d", out = 64, kernel = 7, stride = 2, padding = 3},
      {name = "layer1", block = "basic", repeat = 2, args = {planes = 64}},
      {name = "fc", type = "linear", out = "classes", from = "avgpool"},
    ]
    [blocks.basic]                          # reusable, parameterised
    args = {planes = 64, stride = 1}
    layers = [ ... {from = ["bn2", "in"], type = "add"} ... ]

Layers run in the order written; ``from`` names earlier layers ("in" is the input of
the enclosing block or model), so every spec is a DAG by construction. Expressions may
also read ``in_channels`` (the channels of the layer's input, for depthwise convolutions)
and, inside a block, ``index`` (which repetition this is, from 0); names may hold
expressions in braces (``"denselayer{index + 1}"``), and a repeated call's ``instance``
names its repetitions (default ``"{index}"``).
"""

from __future__ import annotations

import math
import re
import sys
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnscope.errors import SpecError, SpecErrors, did_you_mean, did_you_mean_type
from cnnscope.layers import LAYER_TYPES, Activation, Layer, Shape, activation_types, bounded
from cnnscope.layers.base import NotANumber
from cnnscope.rules import INVALID_SPEC, TOML_SYNTAX, UNREADABLE
from cnnscope.spec.expr import evaluate, names_in
from cnnscope.spec.model import INPUT, Expectations, InputSpec, Node, Outputs, Preprocess, Spec
from cnnscope.text import visible

NAME = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")  # always fullmatch: "$" would admit a final newline
TEMPLATE = re.compile(r"\{([^{}]*)\}")  # an expression inside a name: "denselayer{index + 1}"
TOP_KEYS = (
    "name", "title", "paper", "input", "vars", "outputs", "layers", "blocks", "expect", "checkpoint", "preprocess",
)  # fmt: skip
LAYER_KEYS = ("name", "type", "from", "act", "when", "functional")
CALL_KEYS = ("name", "block", "from", "args", "repeat", "instance", "first", "when")
INPUT_CHANNELS = "in_channels"  # expressions' name for the channels of the layer's input
INDEX = "index"  # expressions' name for the repetition of a repeated block, from 0
BLOCK_KEYS = ("args", "layers")
EXPECT_KEYS = ("params", "trainable_params", "macs", "output", "shapes")
MAX_KEY = 100  # characters of an output's key: torchvision's are "out", "aux", "0", "pool"
NAME_RULE = "use letters, digits, _, - and dots; 'in' and 'input' are reserved"
MAX_NODES = 50_000  # 15 times ResNet-1001's layers; larger expansions are mistakes or attacks, and take seconds
# Expansion work: every layer entry visited counts one step, whether it adds a layer, is skipped by its
# 'when' or calls a block, so nested repeats that add nothing (or blocks calling blocks) end in seconds.
MAX_STEPS = 2 * MAX_NODES
MAX_INT = 2**62  # no count, size or expectation comes near; larger numbers only break arithmetic and printing
MAX_DEPTH = 64  # tables and arrays nested deeper are no spec


def load(path: str | Path, all_errors: bool = False) -> Spec:
    """Read and parse a spec file (``all_errors``: see :func:`parse`)."""
    from cnnscope.files import read_text

    path = Path(path)
    try:
        text = read_text(path, "a spec", SpecError)
    except SpecError as exc:
        raise exc.located(code=UNREADABLE) from None
    return parse(text, path=str(path), default_name=visible(path.stem), all_errors=all_errors)


def parse(
    text: str,
    path: str | None = None,
    default_name: str = "model",
    input_shape: Shape | None = None,
    all_errors: bool = False,
) -> Spec:
    """Parse spec text; every problem raises SpecError naming the file and line.

    ``input_shape`` replaces the spec's input (``--input``) before expressions are evaluated.
    ``all_errors``: a layer that fails is recorded and skipped (its input passes through), so
    that the independent errors of other layers are found too; several raise :class:`SpecErrors`.
    """
    try:
        return _parse(text, path, default_name, input_shape, all_errors)
    except SpecError as exc:
        for inner in getattr(exc, "errors", ()):
            inner.located(path=path, code=INVALID_SPEC)
        raise exc.located(path=path, code=INVALID_SPEC) from None
    except RecursionError:
        raise SpecError("blocks nest too deeply (a block that uses itself?)", path=path, code=INVALID_SPEC) from None


def _parse(text: str, path: str | None, default_name: str, input_shape: Shape | None, all_errors: bool) -> Spec:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        line = int(match.group(1)) if match else None
        raise SpecError(f"not valid TOML: {message}", line=line, code=TOML_SYNTAX) from None
    except RecursionError:
        raise SpecError("not valid TOML: arrays or tables nested too deeply", code=TOML_SYNTAX) from None
    except ValueError:  # tomllib's int() of a literal over Python's limit on digits (4,300)
        digits = re.search(rf"\d{{{sys.get_int_max_str_digits() + 1},}}", text)
        line = text.count("\n", 0, digits.start()) + 1 if digits else None
        raise SpecError(
            f"a number of more than {sys.get_int_max_str_digits():,} digits: larger than any network", line=line
        ) from None
    if isinstance(raw.get("layers"), list) and len(raw["layers"]) > MAX_NODES:
        raise SpecError(f"the spec lists {len(raw['layers']):,} layers: more than the {MAX_NODES:,} allowed")
    _check_values(raw, text)
    if not raw:
        raise SpecError("the spec is empty", hint="a spec needs at least 'input' and 'layers'")
    _check_keys(raw, TOP_KEYS, "the spec")
    lines = _Lines(text)
    if "input" not in raw:
        raise SpecError("the spec has no 'input'", hint="e.g. input = [3, 224, 224]")
    model_input = _parse_input(raw["input"])
    if input_shape is not None:
        model_input = InputSpec(input_shape, model_input.vocab)
    variables = _parse_vars(raw.get("vars", {}), "vars")
    layers = raw.get("layers")
    if not isinstance(layers, list) or not layers:
        raise SpecError("the spec has no layers", hint='layers = [{type = "conv2d", out = 64, kernel = 3}, ...]')
    blocks = raw.get("blocks", {})
    if not isinstance(blocks, dict):
        raise SpecError("'blocks' must be a table of [blocks.NAME] sections")
    expander = _Expander(blocks, lines, model_input, collect=all_errors)
    expander.run(layers, variables, prefix="", scope=(), block_input=INPUT, block=None)
    if expander.errors:
        _raise_all(expander.errors, raw, lines)
    outputs = _parse_outputs(raw["outputs"], expander, lines) if "outputs" in raw else None
    expect = _parse_expect(raw.get("expect", {}), lines)
    _check_expected_outputs(expect, outputs, lines)
    name = raw.get("name", default_name)
    for key in ("name", "title", "paper"):
        value = raw.get(key, "")
        if not isinstance(value, str):
            raise SpecError(f"'{key}' must be a string", line=lines.key(key))
        if not value.isprintable():
            raise SpecError(
                f"'{key}' holds a control character or line break: '{value}'",
                line=lines.key(key),
                hint="write it on one line, in printable characters",
            )
    return Spec(
        name=name,
        input=model_input,
        nodes=tuple(expander.nodes),
        title=raw.get("title", ""),
        paper=raw.get("paper", ""),
        path=path,
        expect=expect,
        groups=expander.groups,
        checkpoint_keys=_parse_checkpoint(raw.get("checkpoint", {}), expander.names, lines),
        preprocess=_parse_preprocess(raw.get("preprocess", {}), model_input, lines),
        source=text,
        reads_input=expander.reads_input,
        outputs=outputs,
    )


def _raise_all(errors: list[SpecError], raw: dict[str, Any], lines: _Lines) -> None:
    """Layers failed: add the errors of the sections that do not depend on layers, raise them all."""
    for check in (lambda: _parse_expect(raw.get("expect", {}), lines),):
        try:
            check()
        except SpecError as exc:
            errors.append(exc)
    errors.sort(key=lambda error: error.line or len(lines.lines) + 1)  # in the order of the file, as compilers do
    raise errors[0] if len(errors) == 1 else SpecErrors(errors)


class _Lines:
    """Finds the TOML line that defines a layer, for error messages (indexed in one linear pass)."""

    LAYER_NAME = re.compile(r"""\bname\s*=\s*["']([^"']+)["']""")
    BLOCK_HEADER = re.compile(r"^\s*\[\s*blocks\.([A-Za-z0-9_]+)\s*\]")
    OTHER_TABLE = re.compile(r"^\s*\[\s*[A-Za-z_]")

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")  # TOML's lines: numbered as tomllib numbers them
        self.blocks: dict[str, int] = {}
        self.layers: dict[tuple[str | None, str], int] = {}
        self.sections: list[str | None] = []  # the [blocks.NAME] each line is in ("": another table)
        section: str | None = None
        for number, line in enumerate(self.lines, 1):
            header = self.BLOCK_HEADER.match(line)
            if header:
                section = header.group(1)
                self.blocks.setdefault(section, number)
            else:
                if self.OTHER_TABLE.match(line):  # [expect], [preprocess], ...: no longer in a block
                    section = ""
                for name in self.LAYER_NAME.findall(line):
                    self.layers.setdefault((section, name), number)
            self.sections.append(section)
        self.entries = self._entries(text)

    # What the scan of layer lists needs to see: the start of a list, strings and comments (whose
    # brackets do not count), brackets and newlines. The text is valid TOML (tomllib read it first).
    TOKEN = re.compile(
        r"(?P<layers>^[ \t]*layers[ \t]*=[ \t]*\[)"
        r'|"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*|[\[\]{}\n]',
        re.MULTILINE,
    )

    def _entries(self, text: str) -> dict[tuple[str | None, int], int]:
        """(section, index) -> line of each layer's ``{`` in every ``layers = [...]``: unnamed layers' lines.

        One pass over the tokens, counting lines as it goes: time linear in the size of the text.
        """
        found: dict[tuple[str | None, int], int] = {}
        line, depth, index, section = 1, 0, 0, None
        for match in self.TOKEN.finditer(text):
            token = match.group()
            if match.lastgroup == "layers" and not depth:
                section, depth, index = self.sections[line - 1], 1, 0
            elif depth:
                if token == "{" and depth == 1:
                    found[(section, index)] = line
                    index += 1
                if token in ("[", "{") or match.lastgroup == "layers":
                    depth += 1
                elif token in ("]", "}"):
                    depth -= 1
            line += token.count("\n")
        return found

    def find(self, pattern: str, start: int = 0) -> int | None:
        regex = re.compile(pattern)
        for number in range(start, len(self.lines)):
            if regex.search(self.lines[number]):
                return number + 1
        return None

    def key(self, key: str) -> int | None:
        return self.find(rf"^\s*{re.escape(key)}\s*=")

    def layer(self, name: str | None, block: str | None, index: int | None = None) -> int | None:
        if name is None:
            unnamed = self.entries.get((block, index)) if index is not None else None
            return unnamed or (self.blocks.get(block) if block else None)
        return self.layers.get((block, name))


def _value_line(lines: _Lines, where: str) -> int | None:
    """The line of a value named like ``layers[3].out`` or ``blocks.b.layers[0].kernel``, where known."""
    layer = re.match(r"(?:blocks\.([A-Za-z0-9_]+)\.)?layers\[(\d+)\]", where)
    if layer:
        return lines.entries.get((layer.group(1), int(layer.group(2))))
    return lines.key(where.rsplit(".", 1)[-1].split("[")[0])


def _check_values(raw: dict[str, Any], text: str) -> None:
    """Every number in the spec is finite and of a sane size, every table shallow enough.

    Checked once, up front, so that no later step (arithmetic, formatting, an error message)
    meets a 10^309-sized integer, an ``inf`` or a ``nan``.
    """
    pending: list[tuple[Any, str, int]] = [(raw, "", 0)]
    while pending:
        value, where, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise SpecError(f"'{where}' nests tables or arrays more than {MAX_DEPTH} deep")
        if isinstance(value, dict):
            pending.extend((item, f"{where}.{key}" if where else str(key), depth + 1) for key, item in value.items())
        elif isinstance(value, list):
            pending.extend((item, f"{where}[{index}]", depth + 1) for index, item in enumerate(value))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int) and abs(value) > MAX_INT:
            line = _value_line(_Lines(text), where)
            raise SpecError(f"'{where}' is a number of {value.bit_length()} bits: larger than any network", line=line)
        elif isinstance(value, float) and not math.isfinite(value):
            line = _value_line(_Lines(text), where)
            raise SpecError(f"'{where}' is {value}, not a finite number", line=line)


def _check_keys(table: dict[str, Any], allowed: tuple[str, ...], what: str) -> None:
    for key in table:
        if key not in allowed:
            raise SpecError(
                f"unknown key '{key}' in {what}",
                hint=did_you_mean(key, allowed) or f"allowed: {', '.join(allowed)}",
            )


def _positive_ints(value: Any, what: str) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        raise SpecError(f"{what} must be a list of positive whole numbers, e.g. [3, 224, 224]")
    return tuple(value)


def _positive_int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise SpecError(f"{what} must be a positive whole number")
    return value


def _parse_input(value: Any) -> InputSpec:
    if isinstance(value, list):
        shape = _positive_ints(value, "input")
    elif isinstance(value, dict) and "tokens" in value:
        _check_keys(value, ("tokens", "vocab"), "input")
        tokens = _positive_int(value.get("tokens"), "input tokens")
        vocab = _positive_int(value.get("vocab"), "input vocab")
        return InputSpec((tokens,), vocab=vocab)
    elif isinstance(value, dict):
        _check_keys(value, ("shape",), "input")
        shape = _positive_ints(value.get("shape"), "input shape")
    else:
        raise SpecError("input must be a shape such as [3, 224, 224] or {tokens = 56, vocab = 18765}")
    if len(shape) > 4:
        raise SpecError(
            "input has more than 4 axes: give channels x height x width (or channels x frames x height x width)"
            " per sample, no batch axis"
        )
    return InputSpec(shape)


def _parse_vars(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SpecError(f"'{what}' must be a table such as {{planes = 64, stride = 1}}")
    for key, item in value.items():
        if not isinstance(item, (int, float, bool, str)):
            raise SpecError(f"{what}.{key} must be a number, true/false or a name (such as an activation)")
    return dict(value)


def _parse_expect(value: Any, lines: _Lines) -> Expectations:
    if not isinstance(value, dict):
        raise SpecError("'expect' must be a table")
    _check_keys(value, EXPECT_KEYS, "[expect]")
    line = lines.find(r"^\s*\[expect")
    counts = {}
    for key in ("params", "trainable_params", "macs"):
        if key in value:
            count = value[key]
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                key_line = lines.find(rf"^\s*{key}\s*=", line or 0)  # the key's own line, below [expect]
                raise SpecError(f"expect.{key} must be a whole number", line=key_line or line)
            counts[key] = count
    output, outputs = _expected_output(value.get("output"), line)
    shapes = value.get("shapes", {})
    if not isinstance(shapes, dict):
        raise SpecError("expect.shapes must be a table of layer = [shape]", line=line)
    return Expectations(
        output=output,
        outputs=outputs,
        shapes={name: _positive_ints(shape, f"expect.shapes.{name}") for name, shape in shapes.items()},
        **counts,
    )


def _expected_output(value: Any, line: int | None) -> tuple[Shape | None, dict[str | int, Shape]]:
    """``expect.output``: a shape (one output), a list of shapes (a tuple) or a table of them (a dict)."""
    if value is None:
        return None, {}
    if isinstance(value, dict):
        for key in value:
            _check_output_key(key, "expect.output", line)
        return None, {key: _positive_ints(shape, f"expect.output.{key}") for key, shape in value.items()}
    if isinstance(value, list) and value and all(isinstance(shape, list) for shape in value):
        return None, {i: _positive_ints(shape, f"expect.output[{i}]") for i, shape in enumerate(value)}
    try:
        return _positive_ints(value, "expect.output"), {}
    except SpecError as exc:
        exc.hint = "several outputs: a list of shapes [[64, 56, 56], [128, 28, 28]] or a table {out = [21, 64, 64]}"
        raise exc.located(line=line) from None


def _check_output_key(key: str, what: str, line: int | None) -> None:
    """A dict output's key is shown in tables and JSON: printable text of a sane length."""
    if not key or not key.isprintable() or len(key) > MAX_KEY:
        raise SpecError(
            f"{what} has the key {key!r}: not a usable output key",
            line=line,
            hint=f'printable text on one line, 1 to {MAX_KEY} characters, such as "out" or "aux"',
        )


def _parse_outputs(value: Any, expander: _Expander, lines: _Lines) -> Outputs:
    """``outputs``: a layer name (a tensor), a list of them (a tuple) or a table of them (a dict).

    A name is one of the model's own layers or block calls (a block's output is its last layer's),
    or the full dotted name of any layer, as ``from`` reads them.
    """
    line = lines.key("outputs")
    usage = 'a layer name, a list of them (a tuple) or a table such as {out = "fc", aux = "aux.fc"} (a dict)'

    def layer(ref: Any, what: str) -> str:
        if not isinstance(ref, str):
            raise SpecError(f"{what} must be a layer name", line=line, hint=usage)
        if ref in expander.top_level and ref != "in":
            return expander.top_level[ref]
        if ref in expander.names:
            return ref
        hint = did_you_mean(ref, [*expander.top_level.keys() - {"in"}, *expander.names])
        raise SpecError(f"{what} names '{ref}', which is not a layer", line=line, hint=hint)

    if isinstance(value, str):
        return Outputs("tensor", (layer(value, "outputs"),))
    if isinstance(value, list) and value:
        return Outputs("tuple", tuple(layer(ref, f"outputs[{i}]") for i, ref in enumerate(value)))
    if isinstance(value, dict) and value:
        for key in value:
            _check_output_key(key, "outputs", line)
        return Outputs("dict", tuple(layer(ref, f"outputs.{key}") for key, ref in value.items()), tuple(value))
    raise SpecError(f"outputs must be {usage}", line=line)


def _check_expected_outputs(expect: Expectations, outputs: Outputs | None, lines: _Lines) -> None:
    """``expect.output`` in the form of ``outputs``: a shape for one tensor, a list per tuple, a table per dict."""
    line = lines.find(r"^\s*\[expect")
    kind = outputs.kind if outputs is not None else "tensor"
    if expect.output is not None and kind != "tensor":
        form = "a list of shapes, one per output" if kind == "tuple" else "a table of shapes by output key"
        count = len(outputs.layers) if outputs else 1
        raise SpecError(
            f"the model returns a {kind} of {count} output{'s' if count > 1 else ''}: expect.output must be {form}",
            line=line,
            hint="[[64, 56, 56], [128, 28, 28]]" if kind == "tuple" else "output = {out = [21, 64, 64]}",
        )
    if not expect.outputs:
        return
    if kind == "tensor":
        raise SpecError(
            "the model returns one tensor: expect.output must be one shape", line=line, hint="e.g. output = [10]"
        )
    assert outputs is not None
    if kind == "tuple" and list(expect.outputs) != list(range(len(outputs.layers))):
        raise SpecError(
            f"the model returns a tuple of {len(outputs.layers)} outputs, expect.output lists {len(expect.outputs)}",
            line=line,
            hint="one shape per output, in the order of 'outputs'",
        )
    if kind == "dict":
        for key in expect.outputs:
            if key not in outputs.keys:
                hint = did_you_mean(str(key), outputs.keys) or f"the keys of 'outputs': {', '.join(outputs.keys)}"
                raise SpecError(f"expect.output has the key '{key}', which 'outputs' does not", line=line, hint=hint)


def _parse_checkpoint(value: Any, layers: set[str], lines: _Lines) -> dict[str, str]:
    """``[checkpoint] keys = {"features.0" = "conv1"}``: checkpoint prefixes -> layer names."""
    line = lines.find(r"^\s*\[checkpoint")
    if not isinstance(value, dict):
        raise SpecError("'checkpoint' must be a table", line=line)
    _check_keys(value, ("keys",), "[checkpoint]")
    keys = value.get("keys", {})
    if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
        raise SpecError(
            'checkpoint.keys must map checkpoint prefixes to layer names: {"features.0" = "conv1"}', line=line
        )
    for target in keys.values():
        if target not in layers and not any(name.startswith(target + ".") for name in layers):
            raise SpecError(
                f"checkpoint.keys names '{target}', which is not a layer", line=line, hint=did_you_mean(target, layers)
            )
    return dict(keys)


def _parse_preprocess(value: Any, model_input: InputSpec, lines: _Lines) -> Preprocess:
    line = lines.find(r"^\s*\[preprocess")
    if not isinstance(value, dict):
        raise SpecError("'preprocess' must be a table", line=line)
    _check_keys(value, ("resize", "mean", "std", "invert", "labels"), "[preprocess]")
    resize = value.get("resize")
    if resize is not None and (not isinstance(resize, int) or isinstance(resize, bool) or resize < 1):
        raise SpecError("preprocess.resize must be a positive whole number", line=line)
    channels = model_input.shape[0] if len(model_input.shape) == 3 else None
    stats = {}
    for key in ("mean", "std"):
        if key not in value:
            continue
        numbers = value[key]
        if (
            not isinstance(numbers, list)
            or len(numbers) != channels
            or not all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in numbers)
        ):
            raise SpecError(f"preprocess.{key} must list one number per input channel ({channels})", line=line)
        if key == "std" and any(n <= 0 for n in numbers):
            raise SpecError("preprocess.std must be positive", line=line)
        stats[key] = tuple(float(n) for n in numbers)
    invert, labels = value.get("invert", False), value.get("labels")
    if not isinstance(invert, bool) and invert != "auto":
        raise SpecError('preprocess.invert must be true, false or "auto" (invert light backgrounds only)', line=line)
    if labels is not None and not isinstance(labels, str):
        raise SpecError('preprocess.labels must be "imagenet", "digits" or a file name', line=line)
    if labels is not None and not _beside_the_spec(labels):
        raise SpecError(
            f"preprocess.labels '{labels}' is not a file beside the spec",
            line=line,
            hint="a spec names a labels file in its own folder or below it; --labels PATH reads any file",
        )
    return Preprocess(resize=resize, invert=invert, labels=labels, **stats)


def _beside_the_spec(labels: str) -> bool:
    """Whether a spec's labels file lies in the spec's folder or below: a downloaded spec must not
    make ``run`` print the lines of a file elsewhere (``/etc/passwd``, ``../../.ssh/...``) as class names."""
    path = Path(labels)
    return bool(labels) and labels.isprintable() and not path.is_absolute() and ".." not in path.parts


class _Names(Mapping[str, Any]):
    """The names an expression of one layer can use: variables, plus ``in_channels``,
    computed only when asked for (it needs the shapes of the layers before)."""

    def __init__(self, variables: dict[str, Any], channels: Any) -> None:
        self.variables, self.channels = variables, channels

    def __getitem__(self, name: str) -> Any:
        if name == INPUT_CHANNELS and name not in self.variables:
            return self.channels()
        return self.variables[name]

    def __contains__(self, name: object) -> bool:
        return name == INPUT_CHANNELS or name in self.variables

    def __iter__(self) -> Iterator[str]:
        yield from self.variables
        if INPUT_CHANNELS not in self.variables:
            yield INPUT_CHANNELS

    def __len__(self) -> int:
        return len(self.variables) + (INPUT_CHANNELS not in self.variables)


@dataclass
class _Scope:
    """Names visible inside one list of layers."""

    variables: dict[str, Any]
    local: dict[str, str]  # local layer name -> full node name of its output
    later: set[str]  # names defined further down the same list


class _Cascade(SpecError):
    """An error that follows from an earlier one (collect mode): never reported."""


class _OverBudget(SpecError):
    """The expansion is too large: it stops the whole parse, collect mode too (no layer error is worth the wait)."""


class _Expander:
    """Unrolls blocks and repeats into a flat list of nodes in execution order."""

    def __init__(self, blocks: dict[str, Any], lines: _Lines, model_input: InputSpec, collect: bool = False) -> None:
        self.blocks = blocks
        self.collect = collect  # record a failing layer's error and go on (see parse's all_errors)
        self.errors: list[SpecError] = []
        self.seen: set[tuple[int | None, str, str | None]] = set()  # (line, message, hint) of the errors
        self.steps = 0  # layer entries visited (see MAX_STEPS)
        self.lines = lines
        self.model_input = model_input
        self.nodes: list[Node] = []
        self.names: set[str] = set()
        self.groups: dict[str, str] = {}
        self.shapes: dict[str, Shape] = {INPUT: model_input.shape}
        self.reads_input = False  # some expression used in_channels: a new input size means a new parse
        self.top_level: dict[str, str] = {}  # the model's own layers and block calls -> full output names

    def _record(self, error: SpecError) -> None:
        """Keep one error per line and message: a block repeated 3 times fails 3 times alike."""
        if isinstance(error, _Cascade):
            return
        if (error.line, error.message, error.hint) not in self.seen:
            self.seen.add((error.line, error.message, error.hint))
            self.errors.append(error)

    def names_for(self, variables: dict[str, Any], source: str) -> _Names:
        return _Names(variables, lambda: self._channels(source))

    def _channels(self, source: str) -> int:
        """The channel count of ``source``, inferring the shapes of the layers so far."""
        self.reads_input = True
        if self.errors:  # shapes after a skipped layer are guesses: no error of this layer can be trusted
            raise _Cascade("in_channels after an earlier error")
        for node in self.nodes[len(self.shapes) - 1 :]:
            try:
                self.shapes[node.name] = bounded(node.layer.infer([self.shapes[i] for i in node.inputs], node.inputs))
            except SpecError as exc:
                raise SpecError(
                    f"in_channels is unknown: layer '{node.name}' before it fails ({exc.message})"
                ) from None
        shape = self.shapes[source]
        if not shape:
            raise SpecError(f"in_channels: the input '{source}' is a scalar")
        return shape[0]

    def run(
        self,
        entries: list[Any],
        variables: dict[str, Any],
        prefix: str,
        scope: tuple[str, ...],
        block_input: str,
        block: str | None,
    ) -> str:
        """Expand one layer list; return the full name of its output."""
        names = [entry.get("name") if isinstance(entry, dict) else None for entry in entries]
        here = _Scope(variables, {"in": block_input}, {n for n in names if isinstance(n, str)})
        if not scope:  # the model's own list: the names that ``outputs`` may use
            self.top_level = here.local
        last = block_input
        for index, entry in enumerate(entries):
            raw = names[index] if isinstance(names[index], str) else None
            line = self.lines.layer(raw, block, index)
            try:
                self.steps += 1
                if self.steps > MAX_STEPS:
                    raise _OverBudget(
                        f"blocks and repeats expand past {MAX_STEPS:,} steps (a step: a layer, a skipped layer"
                        " or a block call): nested repeats multiply",
                        hint="repeat fewer times or nest fewer repeated blocks",
                    )
                name = _fill_in(raw, variables) if raw is not None else str(index)
                output = self._entry(entry, name, index, here, prefix, scope, last, block)
            except _OverBudget as exc:
                if not prefix:  # named at the top-level layer or call that expands too far
                    exc.located(line=line, layer=raw or str(index))
                raise
            except SpecError as exc:
                exc.located(line=line, layer=prefix + (raw or str(index)))
                if not self.collect:
                    raise exc from None
                self._record(exc)
                if raw is not None:  # later layers that read it read its input instead: no cascade of errors
                    here.local[raw] = last
                continue
            if output is not None:  # None: skipped by its 'when'
                here.local[name] = last = output
        return last

    def _entry(
        self,
        entry: Any,
        name: str,
        index: int,
        here: _Scope,
        prefix: str,
        scope: tuple[str, ...],
        previous: str,
        block: str | None,
    ) -> str | None:
        if not isinstance(entry, dict):
            raise SpecError(f'layer {index + 1} must be an inline table such as {{type = "relu"}}')
        if not isinstance(entry.get("name", ""), str):
            raise SpecError("'name' must be a string")
        if "when" in entry:  # may read in_channels: the channels of the input it would take
            lazy = _Names(
                here.variables, lambda: self._channels(self._sources(entry.get("from"), here, previous, name)[0])
            )
            if not self._condition(entry["when"], lazy):
                return None
        if not NAME.fullmatch(name) or name in ("in", INPUT):
            made = f" (made by the template '{entry['name']}')" if entry.get("name") != name else ""
            raise SpecError(f"'{name}'{made} is not a usable layer name", hint=NAME_RULE)
        full = prefix + name
        sources = self._sources(entry.get("from"), here, previous, name)
        names = self.names_for(here.variables, sources[0])
        if "block" in entry:
            return self._call(entry, full, here, names, scope, sources, block)
        if "type" not in entry:
            raise SpecError("has no 'type' (or 'block')", hint='e.g. type = "conv2d"')
        layer = self._layer(entry, names)
        fewest, most = layer.arity
        if not fewest <= len(sources) <= (most or len(sources)):
            raise SpecError(
                f"{layer.type_name} takes {_how_many(fewest, most)}, got {len(sources)}",
                hint="give 'from' a list of layer names" if most != 1 else "use concat, add or mul to join inputs",
            )
        act = self._activation(entry["act"], names) if "act" in entry else None
        functional = entry.get("functional", False)
        if not isinstance(functional, bool):
            raise SpecError("'functional' must be true or false (true: the reference model calls it as a function)")
        line = self.lines.layer(entry.get("name") if isinstance(entry.get("name"), str) else None, block, index)
        self._add(Node(full, layer, sources, act, functional, scope, line))
        return full

    def _add(self, node: Node) -> None:
        if node.name in self.names:
            raise SpecError(f"the name '{node.name}' is used twice", hint="every layer needs its own name")
        if len(self.nodes) >= MAX_NODES:
            raise _OverBudget(f"the spec expands to more than {MAX_NODES:,} layers")
        self.names.add(node.name)
        self.nodes.append(node)

    def _condition(self, when: Any, variables: Mapping[str, Any]) -> bool:
        if isinstance(when, bool):
            return when
        if not isinstance(when, str):
            raise SpecError('\'when\' must be an expression such as "project" or "stride > 1"')
        return bool(evaluate(when, variables))

    def _sources(self, value: Any, here: _Scope, previous: str, own: str) -> tuple[str, ...]:
        if value is None:
            return (previous,)
        refs = [value] if isinstance(value, str) else value
        if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
            raise SpecError("'from' must be a layer name or a list of layer names")
        refs = [_fill_in(ref, here.variables) for ref in refs]  # "enc{level}"
        if own in refs:
            raise SpecError("takes input from itself: that would make a cycle", hint="point 'from' at an earlier layer")
        return tuple(self._resolve(ref, here) for ref in refs)

    def _resolve(self, ref: str, here: _Scope) -> str:
        if ref in here.local:
            return here.local[ref]
        if ref in here.later:
            raise SpecError(
                f"takes input from '{ref}', which comes after it: that would make a cycle",
                hint="layers run in the order written; move it or point 'from' at an earlier layer",
            )
        if ref in self.names:  # a full dotted name of any earlier layer
            return ref
        raise SpecError(f"unknown layer '{ref}' in 'from'", hint=did_you_mean(ref, [*here.local, *self.names]))

    def _layer(self, entry: dict[str, Any], names: _Names) -> Layer:
        kind = _type_name(entry["type"], names)
        if kind not in LAYER_TYPES:
            hint = did_you_mean_type(str(kind), LAYER_TYPES) or "see `cnnscope types` for the list"
            raise SpecError(f"unknown layer type '{kind}'", hint=hint)
        config = {k: _substitute(v, names) for k, v in entry.items() if k not in LAYER_KEYS}
        if kind == "embedding" and "vocab" not in config and self.model_input.vocab:
            config["vocab"] = self.model_input.vocab
        try:
            return LAYER_TYPES[kind].from_config(config)
        except SpecError:
            _unknown_variable(LAYER_TYPES[kind], config, names)
            raise

    def _activation(self, value: Any, names: _Names) -> Activation:
        if isinstance(value, str):
            value = {"type": value}
        if not isinstance(value, dict) or not isinstance(value.get("type"), str):
            raise SpecError(
                '\'act\' must be a name such as "relu" or a table such as {type = "leaky_relu", slope = 0.1}'
            )
        kind, activations = _type_name(value["type"], names), activation_types()
        if kind not in activations:
            hint = did_you_mean_type(kind, activations) or f"one of: {', '.join(activations)}"
            raise SpecError(f"unknown activation '{kind}'", hint=hint)
        config = {k: _substitute(v, names) for k, v in value.items() if k != "type"}
        layer = activations[kind].from_config(config)
        assert isinstance(layer, Activation)
        return layer

    def _call(
        self,
        entry: dict[str, Any],
        full: str,
        here: _Scope,
        names: _Names,
        scope: tuple[str, ...],
        sources: tuple[str, ...],
        caller: str | None,
    ) -> str:
        """Expand ``{block = "bottleneck", repeat = 3, args = {...}, first = {...}}``."""
        _check_keys(entry, CALL_KEYS, "a block call")
        block = entry["block"]
        if isinstance(block, str) and block in self.blocks and not NAME.fullmatch(block):
            raise SpecError(f"'{block}' is not a usable block name", hint=NAME_RULE)
        if not isinstance(block, str) or block not in self.blocks:
            raise SpecError(f"unknown block '{block}'", hint=did_you_mean(str(block), self.blocks))
        if block == caller:
            raise SpecError(f"block '{block}' uses itself")
        definition = self.blocks[block]
        if not isinstance(definition, dict):
            raise SpecError(f"[blocks.{block}] must be a table with 'args' and 'layers'")
        _check_keys(definition, BLOCK_KEYS, f"[blocks.{block}]")
        layers = definition.get("layers")
        if not isinstance(layers, list) or not layers:
            raise SpecError(f"block '{block}' has no layers")
        if len(sources) != 1:
            raise SpecError("a block takes one input")
        defaults = _parse_vars(definition.get("args", {}), f"blocks.{block}.args")
        args = self._args(entry.get("args", {}), defaults, names, block, "args")
        repeat = entry.get("repeat")
        if repeat is not None and (not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1):
            raise SpecError("repeat must be a whole number of at least 1")
        if (repeat or 1) * len(layers) + len(self.nodes) > MAX_NODES:
            raise SpecError(f"repeat = {repeat} would expand to more than {MAX_NODES:,} layers")
        first = self._args(entry.get("first", {}), defaults, names, block, "first")
        template = entry.get("instance", "{index}")
        if not isinstance(template, str) or (repeat is None and "instance" in entry):
            raise SpecError("'instance' names the repetitions of a repeated block, e.g. \"denselayer{index + 1}\"")
        output = sources[0]
        group = (*scope, full) if repeat is not None else scope
        if repeat is not None:  # several calls may share a name (MobileNet's features): count them all
            earlier = self.groups.get(full, "").rpartition(" x")
            done = int(earlier[2]) if earlier[0] == block and earlier[2].isdigit() else 0
            self.groups[full] = f"{block} x{done + repeat}"
        for i in range(repeat or 1):
            variables = {**here.variables, **defaults, **args, **(first if i == 0 else {}), INDEX: i}
            instance = f"{full}.{_instance_name(template, variables)}" if repeat is not None else full
            self.groups[instance] = block
            output = self.run(layers, variables, f"{instance}.", (*group, instance), output, block)
        return output

    def _args(
        self, value: Any, defaults: dict[str, Any], variables: Mapping[str, Any], block: str, what: str
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise SpecError(f"'{what}' must be a table such as {{planes = 64}}")
        for key in value:
            if key not in defaults:
                raise SpecError(
                    f"block '{block}' has no argument '{key}'",
                    hint=did_you_mean(key, defaults) or f"its arguments: {', '.join(defaults) or 'none'}",
                )
        return {key: _substitute(item, variables) for key, item in value.items()}


def check_spec_name(name: str) -> str:
    """A spec's ``name``: one printable line (it is shown in titles and, mapped, names the trained weights)."""
    if not name or not name.isprintable():
        raise SpecError(f"the name '{name}' is empty or holds a control character or line break")
    return name


def _instance_name(template: str, variables: Mapping[str, Any]) -> str:
    """The name of one repetition: the ``instance`` template filled in, held to the rule of layer names."""
    name = _fill_in(template, variables)
    if not NAME.fullmatch(name):
        raise SpecError(
            f"the instance template '{template}' gives '{name}', which is not a usable name", hint=NAME_RULE
        )
    return name


def _unknown_variable(cls: type[Layer], config: dict[str, Any], names: Mapping[str, Any]) -> None:
    """A bare word where the key takes none (``out = "width"``) is a variable that does not exist:
    raise that, naming it, rather than the key's "expected a whole number"."""
    keys = {k.name: k for k in cls.keys}
    for name, value in config.items():
        if not (isinstance(value, str) and value.isidentifier() and name in keys):
            continue
        try:
            keys[name].parse(value, cls)
        except NotANumber as exc:
            known = list(names)
            hint = did_you_mean(value, known) or f"the names an expression can use here: {', '.join(known)}"
            wanted = str(exc).partition(", got")[0]  # "expected a whole number"
            raise SpecError(f"{name} = \"{value}\": {wanted}, and there is no variable '{value}'", hint=hint) from None
        except ValueError:  # a word the key takes, misspelt ("sme"): the key's own error says which
            continue


def _fill_in(name: str, variables: Mapping[str, Any]) -> str:
    """A layer or instance name with its ``{expressions}`` evaluated."""
    return TEMPLATE.sub(lambda match: str(evaluate(match.group(1), variables)), name)


def _type_name(value: Any, names: Mapping[str, Any]) -> str:
    """A layer type, or a block argument that names one (``type = "act"``)."""
    if isinstance(value, str) and value in names and value != INPUT_CHANNELS and isinstance(names[value], str):
        return str(names[value])
    return str(value)


def _substitute(value: Any, variables: Mapping[str, Any]) -> Any:
    """Evaluate expressions over ``variables`` inside a layer's values.

    A string is an expression when it uses a known name or an operator ("planes * 4");
    a bare unknown word stays a literal ("same", "relu"); an expression that uses an
    unknown name is an error with a suggestion.
    """
    if isinstance(value, list):
        return [_substitute(item, variables) for item in value]
    if isinstance(value, dict):
        return {key: _substitute(item, variables) for key, item in value.items()}
    if not isinstance(value, str):
        return value
    used = names_in(value)
    if used is None or (value.strip().isidentifier() and value.strip() not in variables):
        return value
    return evaluate(value, variables)


def _how_many(fewest: int, most: int | None) -> str:
    """ "one input", "two or more inputs", "three inputs", "one or two inputs": a layer type's arity in words."""
    words = {1: "one", 2: "two", 3: "three"}
    first = words.get(fewest, str(fewest))
    if most == fewest:
        return f"{first} input{'s' if fewest > 1 else ''}"
    if most is None:
        return f"{first} or more inputs"
    return f"{first} {'or' if most == fewest + 1 else 'to'} {words.get(most, str(most))} inputs"
