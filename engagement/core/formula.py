"""Small arithmetic formulas marketers write in configuration, such as the delay voucher
`shipping_fee + 0.05 * order_total`: numbers, named values, + - * /, parentheses, and the
functions min, max, round, floor and ceil. Parsed once; evaluated without `eval`."""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_FUNCTIONS: dict[str, Callable[..., float]] = {
    "min": min,
    "max": max,
    "round": lambda x, digits=0: float(round(x, int(digits))),
    "floor": lambda x: float(math.floor(x)),
    "ceil": lambda x: float(math.ceil(x)),
}
_OPERATORS: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b if b else 0.0,
}


class MissingValue(Exception):
    """The formula needs a value the customer's state does not have."""


@dataclass(frozen=True, slots=True)
class Formula:
    source: str
    tree: ast.expr
    names: frozenset[str]

    @classmethod
    def parse(cls, source: str, allowed: frozenset[str]) -> Formula:
        """Raises ValueError naming what is not allowed."""
        try:
            tree = ast.parse(source.strip(), mode="eval").body
        except SyntaxError as exc:
            raise ValueError(f"not a formula: {exc.msg}") from None
        names: set[str] = set()
        for node in ast.walk(tree):
            _check(node, allowed, names)
        return cls(source, tree, frozenset(names))

    def evaluate(self, values: Mapping[str, float | None]) -> float:
        return _evaluate(self.tree, values)


def _check(node: ast.AST, allowed: frozenset[str], names: set[str]) -> None:
    """Raises ValueError for anything but numbers, known names, + - * / and the listed functions."""
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS or node.keywords:
            raise ValueError(f"only the functions {', '.join(sorted(_FUNCTIONS))} may be called")
    elif isinstance(node, ast.Name):
        if node.id in _FUNCTIONS:
            return
        if node.id not in allowed:
            raise ValueError(f"unknown value {node.id!r}; known: {', '.join(sorted(allowed))}")
        names.add(node.id)
    elif isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ValueError("only numbers may appear as constants")
    elif isinstance(node, ast.BinOp | ast.UnaryOp):
        if type(node.op) not in _OPERATORS and not isinstance(node.op, ast.USub | ast.UAdd):
            raise ValueError("only + - * / are allowed")
    elif not isinstance(node, ast.operator | ast.unaryop | ast.expr_context):
        raise ValueError(f"{type(node).__name__.lower()} is not allowed in a formula")


def _evaluate(node: ast.expr, values: Mapping[str, float | None]) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.Name):
        value = values.get(node.id)
        if value is None:
            raise MissingValue(node.id)
        return float(value)
    if isinstance(node, ast.BinOp):
        return _OPERATORS[type(node.op)](_evaluate(node.left, values), _evaluate(node.right, values))
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, values)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return float(_FUNCTIONS[node.func.id](*(_evaluate(arg, values) for arg in node.args)))
    raise ValueError(f"cannot evaluate {type(node).__name__}")
