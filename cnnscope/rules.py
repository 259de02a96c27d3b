"""Rule codes for what ``cnnscope check`` reports, as ruff and mypy have them.

Every error and warning carries a stable code (``CS003``) and a short name (``invalid-spec``):
in the text, in ``--json`` and in GitHub annotation titles. Errors (``CS0xx``) are always on: a spec
with one cannot be analysed or contradicts its own ``[expect]``. Warnings (``CS1xx``) are chosen with
``--select``/``--extend-select``/``--ignore`` or the same keys under ``[tool.cnnscope]`` in the
nearest ``pyproject.toml`` above the checked files. Pure Python: the layers import :class:`Finding`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cnnscope.errors import CnnscopeError, did_you_mean


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    summary: str
    example: str  # a spec line (or command) that breaks it
    error: bool = False  # always on: the spec cannot be analysed, or its [expect] does not hold
    default: bool = True  # a warning that is on unless ignored


@dataclass(frozen=True)
class Finding:
    """One warning of a layer: the rule it breaks and what to do about it."""

    code: str
    message: str

    def __str__(self) -> str:
        return self.message


UNREADABLE = "CS001"
TOML_SYNTAX = "CS002"
INVALID_SPEC = "CS003"
IMPOSSIBLE_SHAPE = "CS004"
RESIDUAL_MISMATCH = "CS005"
EXPECT_MISMATCH = "CS006"
LINEAR_ON_MAP = "CS101"
FLOOR_DROPS_PIXELS = "CS102"

RULES = {
    rule.code: rule
    for rule in (
        Rule(
            UNREADABLE, "unreadable", "not a spec file, a folder of specs or a zoo name", "cnnscope check lenet", True
        ),
        Rule(TOML_SYNTAX, "toml-syntax", "the file is not valid TOML", 'layers = [{type = "conv2d"', True),
        Rule(
            INVALID_SPEC,
            "invalid-spec",
            "a key, value, layer type, block or variable the spec language does not take",
            '{type = "conv2e", out = 8, kernel = 3}',
            True,
        ),
        Rule(
            IMPOSSIBLE_SHAPE,
            "impossible-shape",
            "a layer cannot take the shape it receives",
            'input = [3, 5, 5] then {type = "conv2d", out = 8, kernel = 7}',
            True,
        ),
        Rule(
            RESIDUAL_MISMATCH,
            "residual-mismatch",
            "an add joins tensors of different shapes (a shortcut whose path changes the shape)",
            '{type = "add", from = ["stride2_conv", "block_input"]}',
            True,
        ),
        Rule(EXPECT_MISMATCH, "expect-mismatch", "an [expect] figure differs from the analysis", "params = 21", True),
        Rule(
            LINEAR_ON_MAP,
            "linear-on-map",
            "a linear layer on a C x H x W map acts on the last axis only: a forgotten flatten",
            'conv2d then {type = "linear", out = 10} with no flatten between',
        ),
        Rule(
            FLOOR_DROPS_PIXELS,
            "floor-drops-pixels",
            "the floor in O = (I - K + 2P)/S + 1 leaves the last pixels of the input unused",
            '224 x 224 input, {type = "conv2d", out = 64, kernel = 3, stride = 2, padding = 1}',
            default=False,
        ),
    )
}
WARNINGS = frozenset(code for code, rule in RULES.items() if not rule.error)
DEFAULT = frozenset(code for code in WARNINGS if RULES[code].default)
CONFIG_KEYS = ("select", "extend-select", "ignore")


def rule(code_or_name: str, where: str) -> Rule:
    """The rule of a code (``CS101``, any case) or name (``linear-on-map``); ``where`` names the option or file."""
    key = code_or_name.strip()
    for candidate in RULES.values():
        if key.upper() == candidate.code or key.lower() == candidate.name:
            return candidate
    known = [*RULES, *(r.name for r in RULES.values())]
    hint = did_you_mean(key, known) or f"known: {', '.join(RULES)}; see cnnscope check --list-rules"
    raise CnnscopeError(f"unknown rule '{key}' in {where}", hint=hint)


@dataclass(frozen=True)
class Selection:
    """One layer of rule choices (a pyproject table, or the command line); None: not given there."""

    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    origin: str = ""  # a pyproject.toml; "": the command line

    def where(self, key: str) -> str:
        return f"{self.origin} [tool.cnnscope] {key}" if self.origin else f"--{key}"

    def applied(self, enabled: frozenset[str]) -> frozenset[str]:
        """``enabled`` after this layer: select replaces it, extend-select adds, ignore removes (as in ruff)."""
        if self.select is not None:
            enabled = _codes(self.select, self.where("select"))
        enabled |= _codes(self.extend_select, self.where("extend-select"))
        return enabled - _codes(self.ignore, self.where("ignore"), ignoring=True)


def _codes(values: Iterable[str], where: str, ignoring: bool = False) -> frozenset[str]:
    codes: set[str] = set()
    for value in values:
        prefix = value.strip().upper()  # ALL, or a prefix of codes as in ruff: CS1 is every CS1xx warning
        group = {code for code in WARNINGS if prefix == "ALL" or (len(prefix) >= 3 and code.startswith(prefix))}
        if group and prefix not in RULES:
            codes |= group
            continue
        found = rule(value, where)
        if found.error and ignoring:
            raise CnnscopeError(
                f"{found.code} ({found.name}) in {where} is an error, which cannot be ignored",
                hint="a spec with it cannot be analysed or contradicts its [expect]: fix the spec",
            )
        if not found.error:
            codes.add(found.code)
    return frozenset(codes)


def enabled_rules(layers: Iterable[Selection]) -> frozenset[str]:
    """The warnings switched on by the defaults, then each selection in turn."""
    enabled = DEFAULT
    for selection in layers:
        enabled = selection.applied(enabled)
    return enabled


def project_config(start: Path) -> Selection | None:
    """``[tool.cnnscope]`` of the nearest ``pyproject.toml`` at or above ``start`` that has one (as ruff
    looks for ``[tool.ruff]``); None where there is none. A malformed table names the file and key."""
    for folder in (start, *start.parents):
        path = folder / "pyproject.toml"
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise CnnscopeError(f"cannot read it: {exc}", path=str(path)) from None
        tool = data.get("tool", {})
        if not isinstance(tool, dict) or "cnnscope" not in tool:
            continue
        return _selection(tool["cnnscope"], path)
    return None


def _selection(table: object, path: Path) -> Selection:
    if not isinstance(table, dict):
        raise CnnscopeError("[tool.cnnscope] must be a table", path=str(path))
    values: dict[str, tuple[str, ...]] = {}
    for key, value in table.items():
        if key not in CONFIG_KEYS:
            hint = did_you_mean(key, CONFIG_KEYS) or f"its keys: {', '.join(CONFIG_KEYS)}"
            raise CnnscopeError(f"[tool.cnnscope] has no key '{key}'", path=str(path), hint=hint)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise CnnscopeError(
                f"[tool.cnnscope] {key} must be a list of rule codes", path=str(path), hint=f'e.g. {key} = ["CS101"]'
            )
        values[key] = tuple(value)
    selection = Selection(values.get("select"), values.get("extend-select", ()), values.get("ignore", ()), str(path))
    selection.applied(DEFAULT)  # unknown codes are reported now, naming the file
    return selection
