"""Small arithmetic formulas marketers write in configuration, such as the delay voucher
`shipping_fee + 0.05 * order_total`: numbers, named values, + - * /, parentheses, and the
functions min, max, round, floor and ceil. Parsed once; evaluated without `eval`."""

from __future__ import annotations

import ast
import itertools
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


# (fewest, most) arguments of each function
_ARITY: dict[str, tuple[int, int]] = {"min": (2, 8), "max": (2, 8), "round": (1, 2), "floor": (1, 1), "ceil": (1, 1)}
MAX_SOURCE = 500  # characters of a formula
MAX_NODES = 200
MAX_RESULT = 1e12  # an amount above this is a mistake, not a voucher
# Values a formula is tried with when it is parsed: every combination must give a finite
# amount no larger than MAX_RESULT.
SAMPLES = (0.0, 1.0, 60.0, 1_000.0, 100_000.0)


class MissingValue(Exception):
    """The formula needs a value the customer's state does not have."""


@dataclass(frozen=True, slots=True)
class Formula:
    source: str
    tree: ast.expr
    names: frozenset[str]

    @classmethod
    def parse(cls, source: str, allowed: frozenset[str]) -> Formula:
        """Raises ValueError naming what is not allowed: syntax, names, functions and their number of
        arguments, size, a division by a constant zero, and results that are not a finite amount
        of at most 10^12 for sample values (an amount of 0 or less offers nothing)."""
        if len(source) > MAX_SOURCE:
            raise ValueError(f"a formula is at most {MAX_SOURCE} characters")
        try:
            tree = ast.parse(source.strip(), mode="eval").body
            nodes = list(ast.walk(tree))
        except SyntaxError as exc:
            raise ValueError(f"not a formula: {exc.msg}") from None
        except (RecursionError, MemoryError):
            raise ValueError("the formula is nested too deeply") from None
        if len(nodes) > MAX_NODES:
            raise ValueError(f"the formula has {len(nodes)} parts; at most {MAX_NODES}")
        names: set[str] = set()
        for node in nodes:
            _check(node, allowed, names)
        formula = cls(source, tree, frozenset(names))
        formula._try_samples()
        return formula

    def _try_samples(self) -> None:
        names = sorted(self.names)
        for combination in itertools.product(SAMPLES, repeat=len(names)):
            values = dict(zip(names, combination, strict=True))
            try:
                result = self.evaluate(values)
            except (OverflowError, ValueError, TypeError, ZeroDivisionError) as exc:
                raise ValueError(f"cannot be evaluated for {_shown(values)}: {exc}") from None
            if not math.isfinite(result) or abs(result) > MAX_RESULT:
                raise ValueError(f"gives {result:g} for {_shown(values)}; an amount is at most 10^12")

    def evaluate(self, values: Mapping[str, float | None]) -> float:
        return _evaluate(self.tree, values)


def _shown(values: Mapping[str, float]) -> str:
    return ", ".join(f"{name} = {value:g}" for name, value in values.items()) or "no values"


def _check(node: ast.AST, allowed: frozenset[str], names: set[str]) -> None:
    """Raises ValueError for anything but numbers, known names, + - * / and the listed functions."""
    if isinstance(node, ast.Call):
        _check_call(node)
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        divisor = node.right
        if isinstance(divisor, ast.Constant) and isinstance(divisor.value, int | float) and divisor.value == 0:
            raise ValueError("division by zero")
    elif isinstance(node, ast.Name):
        if node.id in _FUNCTIONS:
            return
        if node.id not in allowed:
            raise ValueError(f"unknown value {node.id!r}; known: {', '.join(sorted(allowed))}")
        names.add(node.id)
    elif isinstance(node, ast.Constant):
        _check_number(node.value)
    elif isinstance(node, ast.BinOp | ast.UnaryOp):
        if type(node.op) not in _OPERATORS and not isinstance(node.op, ast.USub | ast.UAdd):
            raise ValueError("only + - * / are allowed")
    elif not isinstance(node, ast.operator | ast.unaryop | ast.expr_context):
        raise ValueError(f"{type(node).__name__.lower()} is not allowed in a formula")


def _check_number(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("only numbers may appear as constants")
    if not math.isfinite(value) or abs(value) > MAX_RESULT:
        raise ValueError(f"the number {value:g} is out of range (at most 10^12)")


def _check_call(node: ast.Call) -> None:
    if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS or node.keywords:
        raise ValueError(f"only the functions {', '.join(sorted(_FUNCTIONS))} may be called")
    fewest, most = _ARITY[node.func.id]
    if not fewest <= len(node.args) <= most:
        wanted = f"{fewest}" if fewest == most else f"{fewest} to {most}"
        raise ValueError(f"{node.func.id}() takes {wanted} argument{'s' if most > 1 else ''}, not {len(node.args)}")
    if any(isinstance(arg, ast.Starred) for arg in node.args):
        raise ValueError("arguments are written out one by one")
    if node.func.id == "round" and len(node.args) == 2:
        digits = node.args[1]
        if not (isinstance(digits, ast.Constant) and type(digits.value) is int and 0 <= digits.value <= 4):
            raise ValueError("round(x, digits): digits is a whole number from 0 to 4")


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
