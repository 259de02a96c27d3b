"""Imported layers -> TOML text a person can read: defaults left out, one line per layer, and
repeated submodules written once as a block (see :mod:`cnnscope.importer.fold`)."""

from __future__ import annotations

from typing import Any

from cnnscope.layers import Layer, Shape
from cnnscope.layers.base import REQUIRED
from cnnscope.spec import INPUT


def toml_value(value: Any) -> str:
    """A value as TOML writes it (numbers, booleans, strings, lists)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        return repr(float(f"{value:.12g}"))  # 0.0058823529411764705 -> 0.00588235294118
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table, every key quoted ("0", "out")
        return "{" + ", ".join(f"{toml_value(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def changed_keys(cls: type[Layer], keys: dict[str, Any]) -> dict[str, Any]:
    """``keys`` without those that equal the type's defaults (once both are parsed)."""
    fields = {f.name: f for f in cls.keys}
    kept = {}
    for name, value in keys.items():
        f = fields[name]
        parse = f.parse
        has_default = f.default is not REQUIRED and f.default is not None
        if has_default and isinstance(value, (int, float, str, list)) and parse(value, cls) == parse(f.default, cls):
            continue
        if f.default is None and value is None:
            continue
        kept[name] = value
    return kept


def layer_line(
    name: str,
    cls: type[Layer],
    keys: dict[str, Any],
    sources: list[str] | None,
    act: tuple[type[Layer], dict[str, Any]] | None = None,
    functional: bool = False,
    extra: dict[str, Any] | None = None,
) -> str:
    """``{name = "conv1", type = "conv2d", out = 64, ...}`` with ``from`` only where it is not the previous layer."""
    parts = [f"name = {toml_value(name)}", f"type = {toml_value(cls.type_name)}"]
    parts += [f"{k} = {toml_value(v)}" for k, v in changed_keys(cls, keys).items()]
    if sources is not None:
        shown = ["in" if s == INPUT else s for s in sources]
        parts.append(f"from = {toml_value(shown[0] if len(shown) == 1 else shown)}")
    if act is not None:
        act_cls, act_keys = act
        act_keys = changed_keys(act_cls, act_keys)
        if act_keys:
            inner = ", ".join(f"{k} = {toml_value(v)}" for k, v in act_keys.items())
            parts.append(f'act = {{type = "{act_cls.type_name}", {inner}}}')
        else:
            parts.append(f"act = {toml_value(act_cls.type_name)}")
    if functional:
        parts.append("functional = true")
    for key, value in (extra or {}).items():
        parts.append(f"{key} = {value}")
    return "{" + ", ".join(parts) + "}"


def document(
    *,
    header: list[str],
    name: str,
    title: str,
    input_shape: Shape,
    layer_lines: list[str],
    blocks: dict[str, tuple[dict[str, Any], list[str]]],
    params: int,
    output: Shape | list[Shape] | dict[str, Shape],
    outputs: str | list[str] | dict[str, str] | None = None,
    counted: str = "by torch on the original model",
) -> str:
    """The whole spec: header comments, metadata, ``outputs`` (where the model does not return its
    last layer alone), layers, blocks and [expect] (``output`` in the form of ``outputs``; ``params`` as
    ``counted`` says)."""
    lines = [f"# {line}" if line else "#" for line in header]
    lines += [
        f"name = {toml_value(name)}",
        f"title = {toml_value(title)}",
        f"input = {toml_value(list(input_shape))}",
        *([f"outputs = {toml_value(outputs)}"] if outputs is not None else []),
        "",
        "layers = [",
        *(f"  {line}," for line in layer_lines),
        "]",
    ]
    for block, (args, body) in blocks.items():
        lines += ["", f"[blocks.{block}]"]
        if args:
            lines.append("args = {" + ", ".join(f"{k} = {toml_value(v)}" for k, v in args.items()) + "}")
        lines += ["layers = [", *(f"  {line}," for line in body), "]"]
    lines += [
        "",
        f"[expect]  # counted {counted}",
        f"params = {params:_}",
        f"output = {toml_value(output)}",
    ]
    return "\n".join(lines) + "\n"
