"""Loading a directory of trigger YAML files into a validated `TriggerSet`, with `file:line: path: message` errors."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from engagement.config.event_catalogue import CATALOGUE_FILE, EventCatalogue, load_catalogue
from engagement.config.sequence_checks import sequence_problems
from engagement.config.source_options import SOURCES_FILE, SourceOptions, load_source_options
from engagement.config.yaml_files import (
    MAX_CONFIG_BYTES,
    MAX_FLOW_DEPTH,
    ConfigProblem,
    InvalidConfig,
    flow_depth,
    line_of,
    parse_yaml,
    read_config_text,
)
from engagement.core.configured import TriggerSet
from engagement.core.specs import TRIGGER_KINDS, SequenceTrigger, TriggerSpec

_SPEC_ADAPTER: TypeAdapter[TriggerSpec] = TypeAdapter(TriggerSpec)


def default_triggers_dir() -> Path:
    """`triggers/` of the project checkout, else the copy shipped inside the package."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here.parent / "triggers", here / "defaults" / "triggers"):
        if candidate.is_dir():
            return candidate
    return here.parent / "triggers"


def _shared_files(directory: Path, digest: Any) -> tuple[EventCatalogue, SourceOptions, list[ConfigProblem]]:
    """The event catalogue and the sources' mapping file, their problems; their text joins the digest."""
    catalogue, problems, catalogue_text = load_catalogue(directory)
    if catalogue_text:
        digest.update(CATALOGUE_FILE.encode() + b"\0" + catalogue_text.encode() + b"\0")
    sources, source_problems, sources_text = load_source_options(directory)
    problems.extend(source_problems)
    if sources_text:
        digest.update(SOURCES_FILE.encode() + b"\0" + sources_text.encode() + b"\0")
    return catalogue, sources, problems


def load_triggers(directory: Path, allowed_lateness: float = 0.0) -> TriggerSet:
    """Validate every `*.yaml`/`*.yml` file in `directory`; raise `InvalidConfig` listing every problem.
    `allowed_lateness` (seconds): a live timer is decided that long after it falls due at the
    earliest, so a send window no longer than it could never send."""
    if not directory.is_dir():
        raise InvalidConfig([ConfigProblem(str(directory), 0, "-", "not a directory")])
    files = sorted(
        p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file() and not p.name.startswith("_")
    )
    digest = hashlib.sha256()
    catalogue, sources, problems = _shared_files(directory, digest)
    specs: list[TriggerSpec] = []
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
        if isinstance(spec, SequenceTrigger):
            found = sequence_problems(spec, catalogue, str(path), parse_yaml(str(path), text)[0])
            if found:
                problems.extend(found)
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
    return TriggerSet(tuple(specs), digest.hexdigest()[:12], catalogue, sources)


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


__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_FLOW_DEPTH",
    "ConfigProblem",
    "InvalidConfig",
    "TriggerSet",
    "flow_depth",
    "line_of",
    "load_triggers",
    "parse_yaml",
    "read_config_text",
]
