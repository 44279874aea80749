"""What the docs say is checked: every JSON example of an event on the shop developer's page is an
event ingest takes, each contract type has one, and the docs' session checker can tell a wrong
output from a right one."""

from __future__ import annotations

import json
import re
from pathlib import Path

from engagement.config.loader import load_triggers
from engagement.decode import Rejection, decode_event
from engagement.events import EVENT_TYPES
from tests.docs_sessions import blocks, matches

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "shop-developer.md"
SHIPPED = load_triggers(ROOT / "triggers")


def examples() -> list[dict[str, object]]:
    text = PAGE.read_text(encoding="utf-8")
    reference = text[text.index("## Event reference") : text.index("## Your platform's webhooks")]
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)\n```", reference, re.S)]


def test_every_event_example_is_one_ingest_takes_and_every_type_has_one() -> None:
    found = examples()
    for example in found:
        event = decode_event(json.dumps(example), SHIPPED.catalogue)
        assert not isinstance(event, Rejection), (example["type"], event)
        # no field the docs show is dropped: each is one the type has
        assert set(example) <= set(event.model_dump()) | {"type"}, example["type"]
    assert {e["type"] for e in found} >= set(EVENT_TYPES)


def test_the_session_checker_tells_right_from_wrong() -> None:
    assert matches(["events: 28 read, ... rejected"], ["events: 28 read, 25 accepted, 3 rejected"])
    assert matches(["first", "...", "last"], ["first", "a", "b", "last"])
    assert not matches(["events: 28 read"], ["events: 29 read"])
    assert not matches(["first", "last"], ["first", "middle", "last"])


def test_the_pages_have_sessions_with_commands() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    commands = [c for page in pages for block in blocks(page) for c in block.commands]
    assert len(commands) >= 20
    assert all(c.shown or c.text.startswith(("cp ", "A=")) for c in commands)
