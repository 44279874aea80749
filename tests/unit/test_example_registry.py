"""The template registry shipped beside the message files (`messages/_templates.lock.json`, marked
as an example) lists exactly the templates the shipped messages are sent as, as `templates
submit` would submit them and WhatsApp would approve them: preview and lint show the real thing
out of the box. Regenerate it with `python -m tests.unit.test_example_registry` after changing a
shipped message."""

from __future__ import annotations

import json

from engagement.authoring.template_submission import submissions, template_payload
from engagement.config.bundle import load_configuration
from engagement.config.loader import default_triggers_dir
from engagement.config.messages import default_messages_dir
from engagement.config.template_registry import (
    EXAMPLE_SOURCE,
    REGISTRY_FILE,
    TemplateRecord,
    load_registry,
    write_registry,
)
from engagement.core.engine import Engine

SAMPLE_ID = "0"


def expected() -> list[TemplateRecord]:
    engine = Engine.of(load_configuration(default_triggers_dir(), default_messages_dir()))
    records = {}
    for trigger in sorted(engine.all_specs):  # a disabled example too: enabling it is one edit
        for locale, tier in submissions(engine, trigger):
            payload = template_payload(engine, trigger, locale, tier)
            record = TemplateRecord(status="APPROVED", id=SAMPLE_ID, quality_score="GREEN", **payload)
            records[(record.name, record.language)] = record
    return list(records.values())


def test_the_shipped_example_registry_matches_the_shipped_messages() -> None:
    registry = load_registry(default_messages_dir())
    assert registry is not None, f"{REGISTRY_FILE} is missing: python -m tests.unit.test_example_registry"
    assert registry.example
    shipped = {key: record.model_dump() for key, record in registry.records.items()}
    wanted = {(r.name, r.language): r.model_dump() for r in expected()}
    assert shipped == wanted, "regenerate it: python -m tests.unit.test_example_registry"
    assert ("cart_reminder_vip", "zh_TW") in shipped  # the VIP tier's own template


if __name__ == "__main__":
    path = write_registry(default_messages_dir(), EXAMPLE_SOURCE, "", expected())
    print(f"{path}: {len(json.loads(path.read_text(encoding='utf-8'))['templates'])} templates")
