"""Arithmetic on block arguments: ``out = "planes * 4"``, ``when = "project"``.

A deliberately tiny language (numbers, booleans, names (no strings), + - * / // % **, comparisons,
``and``/``or``/``not``, ``a if c else b``) evaluated over Python's own parser, so that a
spec can say what the paper says (``"S * S * (B * 5 + C)"``) without running code.
"""

from __future__ import annotations

import ast
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
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError):
        return None
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def evaluate(text: str, scope: Mapping[str, Any]) -> Any:
    """Evaluate ``text`` with the names in ``scope``; raise SpecError on anything else."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError):
        raise SpecError(f"'{text}' is not a valid expression") from None
    try:
        return _eval(tree.body, scope, text)
    except (ArithmeticError, TypeError, ValueError) as exc:
        raise SpecError(f"cannot evaluate '{text}': {exc}") from None


def _eval(node: ast.AST, scope: Mapping[str, Any], text: str) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, bool)):
        return node.value
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
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
        value = _eval(node.operand, scope, text)
        if isinstance(node.op, ast.Not):
            return not value
        return -value if isinstance(node.op, ast.USub) else +value
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
