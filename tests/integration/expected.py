"""What the decisions of a scenario must be: replay's answer, compared field by field."""

from __future__ import annotations

import json

from engagement.config.loader import load_triggers
from engagement.config.messages import default_messages_dir, load_messages
from engagement.core.engine import Engine, EngineSettings
from engagement.decode import Rejection, decode_event
from engagement.replay.output import decision_record
from engagement.replay.runner import Replayer
from tests.integration.processes import DEMO_TRIGGERS

COMPARED = ("trigger", "customer_id", "outcome", "reason", "key", "event_id", "due_at", "deadline", "message")


def replayed(lines: list[str], until: float) -> list[dict[str, object]]:
    engine = Engine(
        load_triggers(DEMO_TRIGGERS), load_messages(default_messages_dir()), EngineSettings(allowed_lateness=1.0)
    )
    out: list[dict[str, object]] = []
    replayer = Replayer(engine, lambda d: out.append(decision_record(d)))
    for line in lines:
        event = decode_event(line)
        assert not isinstance(event, Rejection), event
        replayer.feed(event)
    replayer.finish(until)
    return out


def comparable(decisions: list[dict[str, object]]) -> list[tuple[object, ...]]:
    """Decisions as sorted tuples of the compared fields (as JSON, so tuples and lists compare equal)."""
    return sorted(tuple(json.dumps(d[k], ensure_ascii=False) for k in COMPARED) for d in decisions)


def distinct(decisions: list[dict[str, object]]) -> list[tuple[object, ...]]:
    """As `comparable`, with a decision reprocessed after a crash (at-least-once output) counted once."""
    return sorted(set(comparable(decisions)))


def sent_keys(decisions: list[dict[str, object]]) -> list[str]:
    return sorted(str(d["key"]) for d in decisions if d["outcome"] == "send")
