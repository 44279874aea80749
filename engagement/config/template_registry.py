"""The WhatsApp templates the business account has, as `engagement templates sync` last read them.

Kept in the message directory as `_templates.lock.json`, committed with the messages, so that
lint (and anything else that checks a message against what WhatsApp will render) works
offline and gives the same answer on every machine. One record per (name, language):

    {"name": "cart_reminder", "language": "zh_TW", "status": "APPROVED", "category": "MARKETING",
     "quality_score": "GREEN", "parameter_format": "POSITIONAL", "components": [...]}

`components` are Meta's: HEADER, BODY (its `text` with `{{1}}` or `{{name}}` placeholders),
FOOTER and BUTTONS.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

REGISTRY_FILE = "_templates.lock.json"
MAX_REGISTRY_BYTES = 16 * 2**20
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


class TemplateRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(max_length=512)
    language: str = Field(max_length=16)
    status: str = Field(max_length=64)
    category: str = Field(default="", max_length=64)
    id: str = Field(default="", max_length=64)
    quality_score: str | None = Field(default=None, max_length=64)
    parameter_format: str | None = Field(default=None, max_length=32)
    components: list[dict[str, Any]] = Field(default_factory=list, max_length=16)

    def component(self, kind: str) -> dict[str, Any] | None:
        for component in self.components:
            if str(component.get("type", "")).upper() == kind:
                return component
        return None

    def body_placeholders(self) -> list[str]:
        """The BODY's placeholders in order of first appearance: `1`, `2`, ... or names."""
        body = self.component("BODY")
        seen: list[str] = []
        for name in _PLACEHOLDER.findall(str(body.get("text", "")) if body else ""):
            if name not in seen:
                seen.append(name)
        return seen

    def named(self) -> bool:
        if self.parameter_format is not None:
            return self.parameter_format.upper() == "NAMED"
        return any(not p.isdigit() for p in self.body_placeholders())

    def button_types(self) -> list[str]:
        """`quick_reply` and `url` as a message file writes them; other kinds by their own name."""
        buttons = self.component("BUTTONS")
        return [str(b.get("type", "")).lower() for b in (buttons or {}).get("buttons", [])]


class _RegistryFile(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    source: str = ""
    synced_at: str = ""
    templates: list[TemplateRecord] = Field(max_length=100_000)


@dataclass(frozen=True)
class TemplateRegistry:
    source: str
    synced_at: str
    records: Mapping[tuple[str, str], TemplateRecord]

    def find(self, name: str, language: str) -> TemplateRecord | None:
        return self.records.get((name, language))

    def languages_of(self, name: str) -> list[str]:
        return sorted(language for (n, language) in self.records if n == name)

    @property
    def example(self) -> bool:
        """The registry shipped with the message files (what they need, as WhatsApp would approve
        it), not one synced from a WhatsApp Business Account: it shows the templates in preview and
        lint, but proves nothing about the shop's own account."""
        return self.source == EXAMPLE_SOURCE


EXAMPLE_SOURCE = "example"


class RegistryError(ValueError):
    """The registry file cannot be read; the message says why and where."""


def load_registry(messages_dir: Path) -> TemplateRegistry | None:
    """The directory's registry, or None when it has none."""
    path = messages_dir / REGISTRY_FILE
    if not path.is_file():
        return None
    if path.stat().st_size > MAX_REGISTRY_BYTES:
        raise RegistryError(f"{path}: larger than {MAX_REGISTRY_BYTES // 2**20} MiB")
    try:
        data = _RegistryFile.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        raise RegistryError(f"{path}: {where}: {first['msg']}") from None
    return TemplateRegistry(data.source, data.synced_at, {(t.name, t.language): t for t in data.templates})


def write_registry(messages_dir: Path, source: str, synced_at: str, records: Iterable[TemplateRecord]) -> Path:
    """The registry as stable JSON (sorted by name and language), so that a sync without changes
    at WhatsApp leaves the file as it was but for `synced_at`."""
    ordered = sorted(records, key=lambda r: (r.name, r.language))
    document = {
        "source": source,
        "synced_at": synced_at,
        "templates": [r.model_dump(exclude_none=True) for r in ordered],
    }
    path = messages_dir / REGISTRY_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    temporary.replace(path)
    return path


@dataclass(frozen=True)
class Rendered:
    """An approved template as WhatsApp shows it, its placeholders filled."""

    header: str | None
    body: str
    footer: str | None
    buttons: tuple[str, ...]


def render(record: TemplateRecord, parameters: Iterable[tuple[str | None, str]]) -> Rendered:
    """`parameters` as a send carries them: (name or None, text), positional ones in order."""
    given = list(parameters)
    by_key = {name if name is not None else str(n): text for n, (name, text) in enumerate(given, 1)}

    def fill(text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: by_key.get(m.group(1), m.group(0)), text)

    header = record.component("HEADER")
    footer = record.component("FOOTER")
    body = record.component("BODY")
    buttons = (record.component("BUTTONS") or {}).get("buttons", [])
    return Rendered(
        str(header.get("text")) if header and header.get("text") else None,
        fill(str(body.get("text", ""))) if body else "",
        str(footer.get("text")) if footer and footer.get("text") else None,
        tuple(str(b.get("text", "")) for b in buttons),
    )


HELD = frozenset({"PAUSED", "DISABLED"})
"""Statuses under which WhatsApp refuses a template: a send with one is suppressed (`template_paused`)."""


@dataclass(frozen=True)
class TemplateUpdate:
    """What a template webhook says changed (Meta's `message_template_status_update`,
    `template_category_update` and `message_template_quality_update`)."""

    name: str
    language: str
    status: str | None = None
    category: str | None = None
    quality_score: str | None = None
    template_id: str = ""


_UPDATING = threading.Lock()  # webhook updates arrive concurrently; each reads, changes and rewrites the file


def apply_update(messages_dir: Path, update: TemplateUpdate) -> TemplateRecord | None:
    """The registry file with the update applied (a template it did not list yet is added); None,
    changing nothing, when the directory has no synced registry (none, or the shipped example): a
    registry made of webhooks alone would list one template and make every other look unknown
    (`templates sync` makes the first)."""
    with _UPDATING:
        return _apply(messages_dir, update)


def _apply(messages_dir: Path, update: TemplateUpdate) -> TemplateRecord | None:
    registry = load_registry(messages_dir)
    if registry is None or registry.example:
        return None
    records = dict(registry.records)
    key = (update.name, update.language)
    current = records.get(key) or TemplateRecord(
        name=update.name, language=update.language, status="UNKNOWN", id=update.template_id
    )
    changes: dict[str, str] = {}
    if update.status is not None:
        changes["status"] = update.status
    if update.category is not None:
        changes["category"] = update.category
    if update.quality_score is not None:
        changes["quality_score"] = update.quality_score
    records[key] = current.model_copy(update=changes)
    write_registry(messages_dir, registry.source, registry.synced_at, records.values())
    return records[key]
