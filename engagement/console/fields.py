"""The single-line values of a YAML file, each with where it is, for the console's form view: a
marketer changes `idle` in a field, and the console writes the new value at that place in the
text, keeping the comments and the layout of the rest."""

from __future__ import annotations

from typing import Any

import yaml

from engagement.config.loader import MAX_FLOW_DEPTH, flow_depth
from engagement.console.field_schema import trigger_widgets

MAX_FIELDS = 400


def described(name: str, text: str) -> list[dict[str, Any]]:
    """The file's fields, each with its label, help and widget when the file is a trigger file of a
    known kind (see `field_schema`); other fields are plain text."""
    fields = fields_of(text)
    kind = next((f["value"] for f in fields if f["path"] == "kind"), None)
    widgets = trigger_widgets(str(kind)) if name.startswith("triggers/") and kind else {}
    for field in fields:
        widget = widgets.get(field["path"])
        if widget is not None:
            field.update(widget)
    return fields


def fields_of(text: str) -> list[dict[str, Any]]:
    """[{path, value, line (1-based), start, end (0-based columns)}]; [] for text that does not parse."""
    root = _compose(text)
    lines = text.splitlines()
    found: list[dict[str, Any]] = []
    stack: list[tuple[yaml.Node, str, int]] = [(root, "", 0)] if root is not None else []
    while stack and len(found) < MAX_FIELDS:
        node, path, depth = stack.pop()
        if depth > 12:
            continue
        if isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):
                name = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
                stack.append((value, f"{path}.{name}" if path else name, depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            whole = _list(lines, path, node)
            if whole is not None:
                found.append(whole)
                continue
            for index, value in reversed(list(enumerate(node.value))):
                stack.append((value, f"{path}[{index}]", depth + 1))
        elif isinstance(node, yaml.ScalarNode):
            start, end = node.start_mark, node.end_mark
            if start.line == end.line and node.style in (None, "'", '"'):
                found.append({"path": path, "value": node.value, "line": start.line + 1,
                              "start": start.column, "end": end.column, "quoted": node.style is not None})  # fmt: skip
            elif node.style in ("|", ">"):
                block = _block(lines, path, node)
                if block is not None:
                    found.append(block)
    return found


def _compose(text: str) -> yaml.Node | None:
    """The text's node tree; None for text that does not parse, or is nested too deep to (the check
    says why)."""
    if flow_depth(text) > MAX_FLOW_DEPTH:
        return None
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return None


def _list(lines: list[str], path: str, node: yaml.SequenceNode) -> dict[str, Any] | None:
    """A list of plain words (`[STOP, 退訂]`, or one `- word` per line) as one field, its items as
    its value, and where it is: the span of a flow list, or the lines of a block list."""
    items = node.value
    if not all(isinstance(item, yaml.ScalarNode) and item.style in (None, "'", '"') for item in items):
        return None
    words = [str(item.value) for item in items]
    start, end = node.start_mark, node.end_mark
    if node.flow_style:
        if start.line != end.line:
            return None
        return {"path": path, "value": words, "list": True, "line": start.line + 1, "start": start.column,
                "end": end.column}  # fmt: skip
    if not items:
        return None
    first, last = items[0].start_mark.line + 1, items[-1].end_mark.line + 1
    if any(item.start_mark.line != item.end_mark.line for item in items) or last - first + 1 != len(items):
        return None  # an item per line, each on one line: what the form can write back
    indent = len(lines[first - 1]) - len(lines[first - 1].lstrip(" "))
    return {"path": path, "value": words, "list": True, "block": True, "line": first, "first": first,
            "last": last, "indent": indent}  # fmt: skip


def _block(lines: list[str], path: str, node: yaml.ScalarNode) -> dict[str, Any] | None:
    """A block scalar (`text: |`): its content lines (1-based, inclusive) and their indentation.
    The end mark is the start of what follows, after any trailing blank lines."""
    first = node.start_mark.line + 2
    last = node.end_mark.line if node.end_mark.column == 0 else node.end_mark.line + 1
    while last >= first and not lines[last - 1].strip():
        last -= 1
    if last < first:
        return None
    indent = min(len(line) - len(line.lstrip(" ")) for line in lines[first - 1 : last] if line.strip())
    value = "\n".join(line[indent:] for line in lines[first - 1 : last])
    return {"path": path, "value": value, "block": True, "line": node.start_mark.line + 1, "first": first,
            "last": last, "indent": indent}  # fmt: skip
