"""Conditions and times marketers write in a sequence trigger, over an event's fields:

    pickup_deadline > occurred_at
    payment_method == "cod" and total >= 1000
    pickup_deadline - 1d

Numbers, strings in quotes, `true`/`false`, durations (`30s`, `15m`, `6h`, `1d`, `1w`), the
event's fields by name; `+ - * /`, comparisons, `and`, `or`, `not`, parentheses. Every expression
is typed when the trigger is loaded (a `time` minus a `time` is a `duration`, a `time` plus a
`duration` a `time`, a string compares only for (in)equality), bounded in size, and evaluated
without `eval`. Times are seconds since the epoch, durations seconds.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from engagement.core.formula import MissingValue

Type = str  # number, string, bool, time, duration
TYPES = ("number", "string", "bool", "time", "duration")
MAX_SOURCE = 500
MAX_NODES = 200
MAX_NUMBER = 1e12
MAX_STRING = 200
_DURATION_CALL = "__duration"
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)([smhdw])(?!\w)")
_STRING = re.compile(r"\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'")
_CONSTANTS = {"true": True, "false": False}
_COMPARE = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_ORDERED = frozenset({"number", "time", "duration"})
Value = float | str | bool


def _rewrite(source: str) -> str:
    """Durations as calls Python can parse (`1d` -> `__duration(86400.0)`), outside string literals."""
    out, at = [], 0
    for literal in _STRING.finditer(source):
        out.append(_durations(source[at : literal.start()]))
        out.append(literal.group())
        at = literal.end()
    out.append(_durations(source[at:]))
    return "".join(out)


def _durations(code: str) -> str:
    def call(match: re.Match[str]) -> str:
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
        return f"{_DURATION_CALL}({seconds if math.isfinite(seconds) else 1e15!r})"

    return _DURATION.sub(call, code)


@dataclass(frozen=True, slots=True)
class Expression:
    source: str
    tree: ast.expr
    type: Type
    names: frozenset[str]

    @classmethod
    def parse(cls, source: str, fields: Mapping[str, Type], want: Type | None = None) -> Expression:
        """`fields`: the names it may use and their types. Raises ValueError naming what is wrong."""
        if len(source) > MAX_SOURCE:
            raise ValueError(f"an expression is at most {MAX_SOURCE} characters")
        try:
            tree = ast.parse(_rewrite(source.strip()), mode="eval").body
            count = sum(1 for _ in ast.walk(tree))
        except SyntaxError as exc:
            raise ValueError(f"not an expression: {exc.msg}") from None
        except (RecursionError, MemoryError):
            raise ValueError("the expression is nested too deeply") from None
        if count > MAX_NODES:
            raise ValueError(f"the expression has {count} parts; at most {MAX_NODES}")
        names: set[str] = set()
        found = _type_of(tree, fields, names)
        if want is not None and found != want:
            raise ValueError(f"is a {found}; a {want} is wanted here")
        return cls(source, tree, found, frozenset(names))

    def evaluate(self, values: Mapping[str, Value | None]) -> Value:
        """Raises `MissingValue` for a field the event does not have (an optional one left out)."""
        return _evaluate(self.tree, values)


def _type_of(node: ast.expr, fields: Mapping[str, Type], names: set[str]) -> Type:  # noqa: C901
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):
            return "bool"
        if isinstance(value, int | float):
            if abs(value) > MAX_NUMBER or not math.isfinite(value):  # compared exactly before any float
                raise ValueError("a number here is at most 10^12")
            return "number"
        if isinstance(value, str):
            if len(value) > MAX_STRING:
                raise ValueError(f"a string is at most {MAX_STRING} characters")
            return "string"
        raise ValueError("only numbers, strings, true and false may appear as constants")
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return "bool"
        if node.id not in fields:
            known = ", ".join(sorted(fields)) or "none"
            raise ValueError(f"unknown field {node.id!r}; the event's fields: {known}")
        names.add(node.id)
        return fields[node.id]
    if isinstance(node, ast.Call):
        if (
            isinstance(node.func, ast.Name)
            and node.func.id == _DURATION_CALL
            and len(node.args) == 1
            and not node.keywords
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, float)
        ):
            if node.args[0].value > 100 * 365 * 86400:
                raise ValueError("a duration is at most 100 years")
            return "duration"
        raise ValueError("no functions here: write fields, numbers, strings, durations (1d, 6h) and operators")
    if isinstance(node, ast.BoolOp):
        for part in node.values:
            if _type_of(part, fields, names) != "bool":
                raise ValueError(f"{_word(node.op)} joins conditions (true or false), not {ast.unparse(part)!r}")
        return "bool"
    if isinstance(node, ast.UnaryOp):
        operand = _type_of(node.operand, fields, names)
        if isinstance(node.op, ast.Not):
            if operand != "bool":
                raise ValueError(f"not applies to a condition, not to a {operand}")
            return "bool"
        if isinstance(node.op, ast.USub | ast.UAdd) and operand in ("number", "duration"):
            return operand
        raise ValueError(f"a sign applies to a number or a duration, not to a {operand}")
    if isinstance(node, ast.BinOp):
        return _arithmetic(node, _type_of(node.left, fields, names), _type_of(node.right, fields, names))
    if isinstance(node, ast.Compare):
        if len(node.ops) != 1:
            raise ValueError("one comparison at a time: join them with and")
        left, right = _type_of(node.left, fields, names), _type_of(node.comparators[0], fields, names)
        op = node.ops[0]
        if not isinstance(op, _COMPARE):
            raise ValueError("compare with == != < <= > >=")
        if left != right:
            raise ValueError(f"cannot compare a {left} with a {right}")
        if left not in _ORDERED and not isinstance(op, ast.Eq | ast.NotEq):
            raise ValueError(f"a {left} is compared with == or != only")
        return "bool"
    raise ValueError(f"{type(node).__name__.lower()} is not allowed in an expression")


def _arithmetic(node: ast.BinOp, left: Type, right: Type) -> Type:
    op = node.op
    if isinstance(op, ast.Add | ast.Sub):
        plus = isinstance(op, ast.Add)
        if left == right == "number" or left == right == "duration":
            return left
        if left == "time" and right == "duration":
            return "time"
        if plus and left == "duration" and right == "time":
            return "time"
        if not plus and left == right == "time":
            return "duration"
    elif isinstance(op, ast.Mult | ast.Div):
        if left == right == "number":
            return "number"
        if left == "duration" and right == "number":
            return "duration"
    else:
        raise ValueError("only + - * / are allowed")
    raise ValueError(f"cannot {_word(op)} a {left} and a {right}")


def _word(op: ast.AST) -> str:
    return {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide", ast.And: "and",
            ast.Or: "or"}.get(type(op), type(op).__name__.lower())  # fmt: skip


def _evaluate(node: ast.expr, values: Mapping[str, Value | None]) -> Value:  # noqa: C901
    if isinstance(node, ast.Constant):
        constant = node.value
        if isinstance(constant, bool | int | float | str):
            return constant
        raise ValueError("not a constant an expression holds")
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        value = values.get(node.id)
        if value is None:
            raise MissingValue(node.id)
        return value
    if isinstance(node, ast.Call):
        return float(node.args[0].value)  # type: ignore[attr-defined]  # a duration, checked at parse
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(_evaluate(v, values) for v in node.values)
        return any(_evaluate(v, values) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, values)
        if isinstance(node.op, ast.Not):
            return not operand
        return -operand if isinstance(node.op, ast.USub) else operand  # type: ignore[operator]
    if isinstance(node, ast.BinOp):
        left, right = float(_evaluate(node.left, values)), float(_evaluate(node.right, values))
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        return left / right if right else 0.0
    if isinstance(node, ast.Compare):
        first, second = _evaluate(node.left, values), _evaluate(node.comparators[0], values)
        op = node.ops[0]
        if isinstance(op, ast.Eq):
            return first == second
        if isinstance(op, ast.NotEq):
            return first != second
        a, b = float(first), float(second)
        return (
            a < b
            if isinstance(op, ast.Lt)
            else a <= b
            if isinstance(op, ast.LtE)
            else a > b
            if isinstance(op, ast.Gt)
            else a >= b
        )
    raise ValueError(f"cannot evaluate {type(node).__name__}")
