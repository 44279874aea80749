"""Reading configuration YAML safely, with `file:line: path: message` problems."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MAX_CONFIG_BYTES = 1024 * 1024
MAX_FLOW_DEPTH = 64  # [ and { inside one another
MAX_ALIASES = 100  # YAML aliases (*name): a few are handy; thousands are an expansion bomb


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.path}: {self.message}"


class InvalidConfig(Exception):
    """A trigger set that cannot go live; it is rejected whole."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def read_config_text(path: Path) -> tuple[str, ConfigProblem | None]:
    """A configuration file's text, or a problem (too large, not UTF-8) with "" as its text."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return "", ConfigProblem(str(path), 0, "-", f"cannot be read: {exc.strerror}")
    if len(raw) > MAX_CONFIG_BYTES:
        return "", ConfigProblem(str(path), 0, "-", f"{len(raw)} bytes; a configuration file is at most 1 MiB")
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return "", ConfigProblem(str(path), line, "-", f"not UTF-8 text (byte {exc.start + 1}); save it as UTF-8")


def flow_depth(text: str) -> int:
    """The deepest nesting of `[` and `{`: PyYAML's scanner takes time quadratic in it, so text
    nested deeper than `MAX_FLOW_DEPTH` is refused before it is parsed. Brackets in quoted text or
    comments count too, which only makes the bound stricter for text no configuration needs."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}" and depth:
            depth -= 1
    return deepest


class _Loader(yaml.SafeLoader):
    """YAML's safe loader, except that a date or time that cannot exist (`2026-13-45`, year 0)
    is a YAML problem at its line, not a Python error escaping the checks."""

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> object:  # type: ignore[override]
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a date or time that exists ({exc})", node.start_mark
            ) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def parse_yaml(name: str, text: str) -> tuple[yaml.Node | None, Any, ConfigProblem | None]:
    """(node for line numbers, data, None), or a problem naming the line where the YAML breaks."""
    if flow_depth(text) > MAX_FLOW_DEPTH:
        return None, None, ConfigProblem(name, 1, "-", f"not valid YAML: nested deeper than {MAX_FLOW_DEPTH} levels")
    try:
        aliases = sum(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader))
        if aliases > MAX_ALIASES:
            return None, None, ConfigProblem(name, 1, "-", f"{aliases} aliases (*name); at most {MAX_ALIASES}")
        return yaml.compose(text, Loader=yaml.SafeLoader), yaml.load(text, Loader=_Loader), None  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        return None, None, ConfigProblem(name, line, "-", f"not valid YAML: {getattr(exc, 'problem', exc)}")
    except RecursionError:
        return None, None, ConfigProblem(name, 1, "-", "not valid YAML: nested too deeply")


def line_of(node: yaml.Node | None, loc: list[int | str]) -> int:
    """The 1-based line of the deepest YAML node that `loc` reaches."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    line = key.start_mark.line + 1
                    node = value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
