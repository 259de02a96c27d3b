"""Arithmetic on block arguments: ``out = "planes * 4"``, ``when = "project"``.

A deliberately tiny language (numbers, booleans, names (no strings), + - * / // % **, comparisons,
``and``/``or``/``not``, ``a if c else b``) evaluated over Python's own parser, so that a
spec can say what the paper says (``"S * S * (B * 5 + C)"``) without running code.
"""

from __future__ import annotations

import ast
import functools
import operator
from collections.abc import Callable, Mapping
from typing import Any

from cnnscope.errors import SpecError, did_you_mean

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
MAX_LENGTH = 1000  # characters: a longer "expression" is no paper's formula
MAX_BITS = 128  # integers this long count nothing real, and longer ones break printing

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


def names_in(text: str) -> set[str] | None:
    """The identifiers an expression uses, or None when ``text`` is not an expression."""
    tree = _parse(text)
    if tree is None:
        return None
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def evaluate(text: str, scope: Mapping[str, Any]) -> Any:
    """Evaluate ``text`` with the names in ``scope``; raise SpecError on anything else."""
    tree = _parse(text)
    if tree is None:
        raise SpecError(f"'{_shown(text)}' is not a valid expression")
    try:
        return _eval(tree.body, scope, text)
    except (ArithmeticError, TypeError, ValueError) as exc:
        raise SpecError(f"cannot evaluate '{_shown(text)}': {exc}") from None
    except RecursionError:
        raise SpecError(f"'{_shown(text)}' nests too deeply") from None


def _shown(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."


@functools.lru_cache(maxsize=4096)  # a block's expressions repeat in every repetition; the trees are only read
def _parse(text: str) -> ast.Expression | None:
    """The syntax tree of a short expression; None when it is none (or too long to be one)."""
    if len(text) > MAX_LENGTH:
        return None
    try:
        return ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def _sane(value: Any, text: str) -> Any:
    """Refuse results that only break later arithmetic and printing (10^4000 has no place in a network)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_BITS:
        raise SpecError(f"'{_shown(text)}' gives a number of {value.bit_length()} bits: larger than any network")
    return value


def _eval(node: ast.AST, scope: Mapping[str, Any], text: str) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, bool)):
        return _sane(node.value, text)
    if isinstance(node, ast.Name):
        if node.id in scope:
            return scope[node.id]
        if node.id in ("true", "false"):
            return node.id == "true"
        raise SpecError(f"unknown name '{node.id}' in '{text}'", hint=did_you_mean(node.id, scope))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left, scope, text), _eval(node.right, scope, text)
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            raise SpecError(f"exponent too large in '{text}'")
        return _sane(_BINARY[type(node.op)](left, right), text)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
        value = _eval(node.operand, scope, text)
        if isinstance(node.op, ast.Not):
            return not value
        return _sane(-value if isinstance(node.op, ast.USub) else +value, text)
    if isinstance(node, ast.BoolOp):
        values = [_eval(v, scope, text) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        left = _eval(node.left, scope, text)
        for op, right_node in zip(node.ops, node.comparators):
            right = _eval(right_node, scope, text)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        test = _eval(node.test, scope, text)
        return _eval(node.body if test else node.orelse, scope, text)
    raise SpecError(f"'{text}' uses something other than arithmetic, comparisons and names")
