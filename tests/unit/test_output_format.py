"""Decision lines and RFC 3339 times are written by hand for speed; they must equal the generic forms."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from engagement.core.decisions import Decision, Message, TemplateUse
from engagement.replay.output import decision_line, decision_record
from engagement.timefmt import parse_rfc3339, rfc3339


def isoformat_of(at: float) -> str:
    moment = datetime.fromtimestamp(at, UTC)
    spec = "milliseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


LAST_SECOND_OF_9999 = 253_402_300_799.0


@given(st.floats(min_value=-62_135_596_800 + 86_400, max_value=LAST_SECOND_OF_9999))
def test_rfc3339_is_datetimes_isoformat(at: float) -> None:
    assert rfc3339(at) == isoformat_of(at)


def test_rfc3339_at_the_edges_of_rounding_and_of_days() -> None:
    edges = [0.0, 0.0000005, 0.0000015, 0.9995, 0.9999995, 86_399.9999996, 86_400.0, -1.0, -0.25, 1_763_600_000.406]
    for at in edges:
        assert rfc3339(at) == isoformat_of(at), at
    assert rfc3339(86_399.9999996) == "1970-01-02T00:00:00Z"  # rounds up into the next day
    assert rfc3339(1_763_600_000.406) == "2025-11-20T00:53:20.406Z"
    assert parse_rfc3339(rfc3339(1_763_600_000.0)) == 1_763_600_000.0


def decision(reason: str | None, message: Message | None, customer_id: str = "c-1") -> Decision:
    return Decision(
        trigger="cart_idle",
        customer_id=customer_id,
        outcome="send" if message else "suppress",
        reason=reason,
        at=1_763_600_000.0,
        due_at=1_763_599_700.519,
        key="cart_idle-f9d47aa305cad0c49e977ba5",
        event_id='e"1\n',
        deadline=1_763_600_000.5,
        config_version="cce04391de2d",
        message=message,
    )


def test_decision_line_is_the_compact_json_of_its_record() -> None:
    template = TemplateUse(
        "cart_reminder", "zh_TW", ((None, "王小明"), ("product", 'a "b" \\ c')), (("url", 0, "x?y=1"),)
    )
    cases = [
        decision("quiet_hours", None),
        decision(None, Message("+886912345678", "zh-TW", "marketing", "為您保留的商品還需要嗎?\u2028", template)),
        decision(
            None, Message("+886912345678", "en", "utility", "Still want it?", None, (("yes", "Yes"),)), "c\u0000\t"
        ),
    ]
    for item in cases:
        line = decision_line(item)
        assert line == json.dumps(decision_record(item), ensure_ascii=False, separators=(",", ":")) + "\n"
        assert json.loads(line)["event_id"] == 'e"1\n'
