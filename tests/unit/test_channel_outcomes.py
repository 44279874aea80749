"""Outcomes per channel: where each send went, from `run`'s outbox or the workers' statuses topic,
and how the report counts it (sends per channel, fail-overs with their reasons, deliveries, the
sends delivered twice)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engagement.config.loader import default_triggers_dir, load_triggers
from engagement.config.messages import default_messages_dir, load_messages
from engagement.console.customers import timeline_of
from engagement.core.engine import Engine, EngineSettings
from engagement.embedded.store import EmbeddedStore, Prepared
from engagement.events import Event
from engagement.live.metrics import standard_metrics
from engagement.live.rate_limit import UNLIMITED, Unlimited, limiter_of
from engagement.live.sender import deliver, follow_up
from engagement.outcomes.attribution import report
from engagement.outcomes.deliveries import Delivery, deliveries_from_statuses, delivery_of
from engagement.outcomes.page import render
from engagement.outcomes.records import Decided, Followed, StatusSeen, decided_from_line
from engagement.outcomes.table import describe
from engagement.providers.base import OutboundMessage, SendReceipt, ThrottledError
from engagement.providers.console import ConsoleProvider

T = 1_790_000_000.0


def engine() -> Engine:
    return Engine(load_triggers(default_triggers_dir()), load_messages(default_messages_dir()), EngineSettings())


def alert(n: int, channel: str = "whatsapp") -> Decided:
    return Decided(f"k{n}", "anomalous_login", f"c{n}", "send", None, T + n, "v1", f"e{n}", T + n, channel)


def test_statuses_topic_lines_tell_where_each_send_went() -> None:
    lines: list[dict[str, Any]] = [
        {"key": "k1", "status": "failed", "channel": "whatsapp", "errors": [131026]},
        {"key": "k1", "status": "failover", "channel": "line", "tried": [["whatsapp", "131026"]]},
        {"key": "k1", "status": "delivered", "channel": "line"},
        {"key": "k2", "status": "failover", "channel": "sms", "tried": [["whatsapp", "no_report"], ["line", "400"]]},
        {"key": "k2", "status": "failover", "channel": "line", "tried": [["whatsapp", "no_report"]]},  # late: not last
        {"key": "k2", "status": "delivered", "message_id": "wamid.x"},  # no channel: a WhatsApp status
        {"key": "k2", "status": "delivered", "channel": "sms"},
        {"key": "k2", "status": "read", "channel": "sms"},
        {"status": "delivered"},  # no key: nobody's
    ]
    found = deliveries_from_statuses(lines, {"k1": "whatsapp", "k2": "whatsapp", "k3": "line"})
    assert found["k1"] == Delivery("line", (("whatsapp", "131026"),), ("line",))
    assert found["k2"] == Delivery("sms", (("whatsapp", "no_report"), ("line", "400")), ("whatsapp", "sms"))
    assert found["k2"].twice
    assert not found["k1"].twice
    assert found["k3"] == Delivery("line")  # chosen first, nothing heard since
    stored = {"status": "delivered", "channel": "line", "tried": [["whatsapp", "131026"]], "delivered": ["line"]}
    assert delivery_of(stored) == found["k1"]


def test_the_report_counts_each_channel_its_fail_overs_and_double_deliveries() -> None:
    decisions = [alert(n) for n in range(6)] + [alert(6, "line")]
    deliveries = {
        "k0": Delivery("whatsapp", (), ("whatsapp",)),
        "k1": Delivery("line", (("whatsapp", "131026"),), ("line",)),
        "k2": Delivery("line", (("whatsapp", "no_report"),), ("line", "whatsapp")),  # a late report: twice
        "k3": Delivery("sms", (("whatsapp", "131026"), ("line", "400")), ()),
        "k4": Delivery("line", (("whatsapp", "unknown"),), ("line",)),
        # k5: nothing known beyond the decision: on WhatsApp, not delivered; k6 chose LINE first
        "k6": Delivery("line", (), ("line",)),
    }
    statuses = [StatusSeen("k0", "delivered"), StatusSeen("k3", "failed", "21614")]
    (row,) = report(engine(), decisions, Followed(), statuses, None, deliveries)
    assert row["channels"] == [
        {"channel": "whatsapp", "tried": 6, "moved_on": {"131026": 2, "no_report": 1, "unknown": 1}, "delivered": 2},
        {"channel": "line", "tried": 5, "moved_on": {"400": 1}, "delivered": 4},
        {"channel": "sms", "tried": 1, "moved_on": {}, "delivered": 0},
    ]
    assert row["delivered_twice"] == 1
    assert row["delivered"] == 5  # k0, k1, k2 (once), k4, k6
    assert row["failed"] == 1
    text = "\n".join(describe([row]))
    assert "channels: trigger / channel" in text
    assert "1 delivered twice" in text
    assert "131026: 2, no report in time: 1, outcome unknown: 1" in text
    page = render([row])
    assert "<h2>Channels</h2>" in page
    assert "no report in time: 1" in page


def test_a_replay_knows_only_the_channel_chosen_first() -> None:
    (row,) = report(engine(), [alert(0), alert(1, "line")], Followed(), None)
    assert row["channels"] == [
        {"channel": "whatsapp", "tried": 1, "moved_on": None, "delivered": None},
        {"channel": "line", "tried": 1, "moved_on": None, "delivered": None},
    ]
    assert row["delivered_twice"] is None
    assert "channels: trigger" in "\n".join(describe([row]))


def test_whatsapp_alone_shows_no_channels_table() -> None:
    deliveries = {"k0": Delivery("whatsapp", (), ("whatsapp",))}
    (row,) = report(engine(), [alert(0)], Followed(), [StatusSeen("k0", "delivered")], None, deliveries)
    assert row["channels"] == [{"channel": "whatsapp", "tried": 1, "moved_on": {}, "delivered": 1}]
    assert "channels:" not in "\n".join(describe([row]))
    assert "<h2>Channels</h2>" not in render([row])


def test_a_decision_line_names_the_channel_its_message_chose() -> None:
    line = ('{"key":"k","trigger":"anomalous_login","customer_id":"c","outcome":"send","reason":null,'
            '"at":"2026-12-04T10:00:00Z","message":{"channel":"line","to":"U0"}}')  # fmt: skip
    decided = decided_from_line(line)
    assert decided is not None
    assert decided.channel == "line"
    plain = decided_from_line(line.replace(',"message":{"channel":"line","to":"U0"}', ""))
    assert plain is not None
    assert plain.channel == "whatsapp"


def test_the_console_timeline_shows_where_a_send_went_beyond_whatsapp() -> None:
    decision = ('{"key":"k1","trigger":"anomalous_login","customer_id":"c","outcome":"send","reason":null,'
                '"at":"2026-12-04T10:00:00Z"}')  # fmt: skip
    moved = {"key": "k1", "status": "delivered", "channel": "line", "tried": [["whatsapp", "131026"]],
             "delivered": ["line"]}  # fmt: skip
    (item,) = timeline_of({"decisions": [decision], "deliveries": [moved]})
    assert item["delivery"] == {"channel": "line", "tried": [["whatsapp", "131026"]], "delivered": ["line"]}
    plain = {"key": "k1", "status": "delivered", "channel": "whatsapp", "tried": [], "delivered": ["whatsapp"]}
    (item,) = timeline_of({"decisions": [decision], "deliveries": [plain]})
    assert item["delivery"] is None  # nothing to say beyond the statuses shown already


class Counting(Unlimited):
    def __init__(self) -> None:
        super().__init__()
        self.slowed = 0

    async def slow_down(self) -> None:
        self.slowed += 1


class ThrottlingLine(ConsoleProvider):
    async def send(self, message: OutboundMessage) -> SendReceipt:
        if message.channel == "line":
            raise ThrottledError("The API rate limit has been exceeded. Try again later.", 1.0, "429")
        return await super().send(message)


async def test_a_throttled_channel_slows_only_itself() -> None:
    """LINE's 429 cuts LINE's rate; WhatsApp's limiter (and its queue of marketing) is untouched."""
    whatsapp, line = Counting(), Counting()
    message = OutboundMessage("k1", "anomalous_login", "c1", "U" + "0" * 32, "en", "security", "hi", channel="line")
    outcome = await deliver(ThrottlingLine(), message, T, T + 60, 1, standard_metrics())
    assert outcome.status == "retry"
    await follow_up(outcome, message, limiter_of(message.channel, whatsapp, {"line": line}), _ignore, T)
    assert (line.slowed, whatsapp.slowed) == (1, 0)
    assert limiter_of("sms", whatsapp, {"line": line}) is UNLIMITED  # a channel without a limiter


async def _ignore(events: list[Event]) -> None:
    raise AssertionError(events)


def test_a_sender_delivered_line_names_its_path_and_every_delivering_channel_is_listed() -> None:
    lines: list[dict[str, Any]] = [  # the fail-over line was lost; LINE's own delivered line says the path
        {"key": "k1", "status": "delivered", "channel": "line", "tried": [["whatsapp", "131026"]]},
    ]
    found = deliveries_from_statuses(lines, {"k1": "whatsapp"})
    assert found["k1"] == Delivery("line", (("whatsapp", "131026"),), ("line",))
    # a delivery reported on a channel no claim was recorded for still shows in the table
    (row,) = report(engine(), [alert(0)], Followed(), [], None, {"k0": Delivery("whatsapp", (), ("sms",))})
    assert [c["channel"] for c in row["channels"]] == ["whatsapp", "sms"]


def test_run_keeps_the_channel_of_a_send_not_yet_called_and_a_late_report_while_it_waits(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    try:
        line_first = OutboundMessage("k1", "anomalous_login", "c1", "U" + "a" * 32, "en", "security", "hi",
                                     channel="line")  # fmt: skip
        sms = OutboundMessage("k2", "anomalous_login", "c2", "+886912000002", "en", "security", "hi", channel="sms")
        wa = OutboundMessage("k2", "anomalous_login", "c2", "+886912000002", "en", "security", "hi",
                             fallbacks=(sms,), fallback_after=6.0)  # fmt: skip
        sends = [(m.key, json.dumps(m.to_dict()), T, T + 600, m.customer_id) for m in (line_first, wa)]
        store.write(Prepared(sends=sends), {})
        assert store.deliveries(["k1"])["k1"]["channel"] == "line"  # decided for LINE, not called yet
        assert store.delivered("k1", "line") is None  # never called: no report is ours
        assert store.claim("k2", "whatsapp")
        following = wa.next_channel("no_report")
        assert following is not None
        store.wait_for_report("k2", following.to_dict(), T + 6, "wamid.1")
        assert store.claim("k2", "sms")  # no report in time: on SMS, which is throttled and retried
        store.retry_at("k2", T + 10, "throttled")
        assert store.delivered("k2", "whatsapp") == "delivered"  # WhatsApp's late report, while SMS waits
        assert store.deliveries(["k2"])["k2"]["delivered"] == ["whatsapp"]
        assert store.delivered("k2", "sms") == "twice"
    finally:
        store.close()
