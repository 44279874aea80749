"""Loading a directory of trigger YAML files into a validated `TriggerSet`, with `file:line: path: message` errors."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from engagement.config.triggers import TRIGGER_KINDS, TriggerSpec

_SPEC_ADAPTER: TypeAdapter[TriggerSpec] = TypeAdapter(TriggerSpec)


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


@dataclass(frozen=True, slots=True)
class TriggerSet:
    """Every trigger of one configuration, and a version that names its exact content."""

    triggers: tuple[TriggerSpec, ...]
    version: str

    def by_id(self, trigger_id: str) -> TriggerSpec:
        for spec in self.triggers:
            if spec.id == trigger_id:
                return spec
        raise KeyError(trigger_id)


def default_triggers_dir() -> Path:
    """`triggers/` of the project checkout, else the copy shipped inside the package."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here.parent / "triggers", here / "defaults" / "triggers"):
        if candidate.is_dir():
            return candidate
    return here.parent / "triggers"


def load_triggers(directory: Path, allowed_lateness: float = 0.0) -> TriggerSet:
    """Validate every `*.yaml`/`*.yml` file in `directory`; raise `InvalidConfig` listing every problem.
    `allowed_lateness` (seconds): a live timer is decided that long after it falls due at the
    earliest, so a send window no longer than it could never send."""
    if not directory.is_dir():
        raise InvalidConfig([ConfigProblem(str(directory), 0, "-", "not a directory")])
    files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    problems: list[ConfigProblem] = []
    specs: list[TriggerSpec] = []
    digest = hashlib.sha256()
    seen: dict[str, str] = {}
    for path in files:
        text, unreadable = read_config_text(path)
        digest.update(path.name.encode() + b"\0" + text.encode() + b"\0")
        if unreadable is not None:
            problems.append(unreadable)
            continue
        spec, file_problems = _load_one(path, text)
        problems.extend(file_problems)
        if spec is None:
            continue
        if spec.enabled and spec.send_within.total_seconds() <= allowed_lateness:
            node, _, _ = parse_yaml(str(path), text)
            problems.append(
                ConfigProblem(
                    str(path),
                    line_of(node, ["send_within"]),
                    "send_within",
                    f"must be longer than the allowed lateness ({allowed_lateness:g}s, "
                    "ENGAGEMENT_ALLOWED_LATENESS): timers are decided that late, so every send would miss its window",
                )
            )
            continue
        if spec.id in seen:
            problems.append(
                ConfigProblem(str(path), 1, "id", f"duplicate trigger id {spec.id!r} (also in {seen[spec.id]})")
            )
            continue
        seen[spec.id] = str(path)
        specs.append(spec)
    if not files:
        problems.append(ConfigProblem(str(directory), 0, "-", "no trigger files (*.yaml) found"))
    if problems:
        raise InvalidConfig(problems)
    return TriggerSet(tuple(specs), digest.hexdigest()[:12])


MAX_CONFIG_BYTES = 1024 * 1024
MAX_FLOW_DEPTH = 64  # [ and { inside one another
MAX_ALIASES = 100  # YAML aliases (*name): a few are handy; thousands are an expansion bomb


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


def plain_message(err: ErrorDetails) -> str:
    """A validation error in words a marketer reads."""
    if err["type"] == "extra_forbidden":
        return "unknown key (check its spelling and indentation)"
    if err["type"] == "missing":
        return "required key is missing"
    return err["msg"].removeprefix("Value error, ")


def _load_one(path: Path, text: str) -> tuple[TriggerSpec | None, list[ConfigProblem]]:
    name = str(path)
    node, data, broken = parse_yaml(name, text)
    if broken is not None:
        return None, [broken]
    if not isinstance(data, dict):
        return None, [ConfigProblem(name, 1, "-", "a trigger file must be a mapping of keys to values")]
    try:
        return _SPEC_ADAPTER.validate_python(data), []
    except ValidationError as exc:
        out = []
        for err in exc.errors(include_url=False):
            loc = [p for p in err["loc"] if not (isinstance(p, str) and p in _KIND_TAGS)]
            if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
                loc = ["kind"]
            path_text = ".".join(str(p) for p in loc) or "-"
            message = plain_message(err)
            if err["type"] == "union_tag_not_found":
                message = f"required key is missing; one of {', '.join(sorted(_KIND_TAGS))}"
            out.append(ConfigProblem(name, line_of(node, loc), path_text, message))
        return None, out


_KIND_TAGS = frozenset(TRIGGER_KINDS)


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
