"""Sequence triggers (`kind: sequence`): the shipped examples decided exactly, start and stop
events in every order, late and repeated events, and the catalogue and trigger files that must be
refused, each with its line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engagement.config.loader import InvalidConfig, default_triggers_dir, load_triggers
from engagement.config.messages import default_messages_dir, load_messages
from engagement.core.decisions import Decision
from engagement.core.engine import Engine, EngineSettings
from engagement.decode import Rejection, decode_event
from engagement.replay.runner import Replayer
from engagement.state_codec import dump_state, load_state
from tests.scenario import T0, Events, custom_triggers, minutes_after_t0, only, replay

DAY = 24 * 60
LATER = T0.timestamp() + 30 * DAY * 60  # every reminder decided by then
EXAMPLES = ("cod_confirmation", "atm_payment_reminder", "store_pickup_reminder", "review_request")


def enabled(tmp: Path, *names: str, edit: dict[str, tuple[str, str]] | None = None) -> Engine:
    """The shipped configuration with the named examples switched on (`edit`: file -> (old, new))."""
    tmp.mkdir(parents=True, exist_ok=True)
    overrides = {}
    for name in names:
        text = (default_triggers_dir() / f"{name}.yaml").read_text(encoding="utf-8")
        old, new = (edit or {}).get(name, ("", ""))
        overrides[f"{name}.yaml"] = text.replace("enabled: false", "enabled: true").replace(old, new)
    (tmp / "_events.yaml").write_text((default_triggers_dir() / "_events.yaml").read_text(encoding="utf-8"))
    triggers = custom_triggers(tmp, overrides)
    return Engine(triggers, load_messages(default_messages_dir()), EngineSettings(default_timezone="Asia/Taipei"))


def seen(decisions: list[Decision]) -> list[tuple[str, str | None, float, str]]:
    """(outcome, reason, minutes after T0, key) in order."""
    return [(d.outcome, d.reason, round(minutes_after_t0(d.at), 3), d.key) for d in decisions]


def arrival(
    ev: Events, minutes: float, shipment: str = "s1", deadline_days: float = 7, customer: str = "c1", **extra: Any
) -> None:
    ev.add(minutes, "shipment.arrived_at_store", customer, order_id="o1", shipment_id=shipment,
           store_name="7-ELEVEN 北車", pickup_deadline=_at(minutes + deadline_days * DAY), **extra)  # fmt: skip


def _at(minutes: float) -> str:
    from tests.scenario import at  # noqa: PLC0415

    return at(minutes)


# ---- the shipped examples, exactly ---------------------------------------------------------


def test_store_pickup_reminds_on_day_one_and_the_day_before_it_goes_back(tmp_path: Path) -> None:
    ev = Events()
    ev.profile(-60)
    arrival(ev, 0)
    got = only(replay(ev, enabled(tmp_path, "store_pickup_reminder"), until=LATER), "store_pickup_reminder")
    assert [(o, r, m) for o, r, m, _ in seen(got)] == [("send", None, DAY), ("send", None, 6 * DAY)]
    assert len({d.key for d in got}) == 2  # one key per (trigger, shipment, reminder)
    assert got[0].message is not None
    assert "7-ELEVEN 北車" in got[0].message.body
    assert "11月27日 10:00" in got[0].message.body  # the deadline, in the customer's zone and locale


def test_a_pickup_stops_the_reminders_still_pending_and_one_after_the_due_time_stops_only_the_rest(
    tmp_path: Path,
) -> None:
    engine = enabled(tmp_path, "store_pickup_reminder")
    ev = Events()
    ev.profile(-60)
    arrival(ev, 0)
    ev.add(2 * 60, "shipment.picked_up", order_id="o1", shipment_id="s1")  # before the first reminder
    got = seen(only(replay(ev, engine, until=LATER), "store_pickup_reminder"))
    assert [(o, r, m) for o, r, m, _ in got] == [("cancel", "stopped", 120), ("cancel", "stopped", 120)]

    late = Events()
    late.profile(-60)
    arrival(late, 0)
    late.add(DAY + 60, "shipment.picked_up", order_id="o1", shipment_id="s1")  # after the first one went
    got = seen(only(replay(late, engine, until=LATER), "store_pickup_reminder"))
    assert [(o, r, m) for o, r, m, _ in got] == [("send", None, DAY), ("cancel", "stopped", DAY + 60)]

    other = Events()  # a stop for another parcel stops nothing of this one
    other.profile(-60)
    arrival(other, 0)
    other.add(60, "shipment.returned", order_id="o1", shipment_id="s2")
    assert [o for o, *_ in seen(only(replay(other, engine, until=LATER), "store_pickup_reminder"))] == ["send", "send"]


def test_a_repeated_start_changes_nothing_and_each_parcel_is_its_own_episode(tmp_path: Path) -> None:
    ev = Events()
    ev.profile(-60)
    arrival(ev, 0)
    arrival(ev, 30, deadline_days=3)  # the same parcel again (a new event id): the first counts
    arrival(ev, 60, shipment="s2")
    got = only(replay(ev, enabled(tmp_path, "store_pickup_reminder"), until=LATER), "store_pickup_reminder")
    assert [(o, r, m) for o, r, m, _ in seen(got)] == [
        ("send", None, DAY), ("send", None, DAY + 60), ("send", None, 6 * DAY),
        ("suppress", "frequency_cap", 6 * DAY + 60),  # three business messages since the last reply: capped
    ]  # fmt: skip
    assert len({d.key for d in got}) == 4


def test_a_reminder_already_due_is_decided_at_once_and_one_past_its_window_is_deadline_missed(tmp_path: Path) -> None:
    engine = enabled(tmp_path, "store_pickup_reminder")
    ev = Events()
    ev.profile(-60)
    arrival(ev, 0, deadline_days=22 / 24)  # the day before it goes back was 2 h ago: within its 4 h window
    got = seen(only(replay(ev, engine, until=LATER), "store_pickup_reminder"))
    assert [(o, r, m) for o, r, m, _ in got] == [("send", None, 0), ("send", None, DAY)]

    old = Events()
    old.profile(-60)
    arrival(old, 0, deadline_days=18 / 24)  # 6 h past: beyond its 4 h window
    got = seen(only(replay(old, engine, until=LATER), "store_pickup_reminder"))
    assert [(o, r) for o, r, _, _ in got] == [("suppress", "deadline_missed"), ("send", None)]


def test_where_leaves_out_a_parcel_whose_deadline_is_already_gone(tmp_path: Path) -> None:
    ev = Events()
    ev.profile(-60)
    arrival(ev, 0, deadline_days=-1)
    assert only(replay(ev, enabled(tmp_path, "store_pickup_reminder"), until=LATER), "store_pickup_reminder") == []


def test_cash_on_delivery_is_asked_after_30_minutes_unless_confirmed(tmp_path: Path) -> None:
    engine = enabled(tmp_path, "cod_confirmation")

    def order(ev: Events, minutes: float, order_id: str, **payment: Any) -> None:
        ev.add(minutes, "order.placed", order_id=order_id, items=[{"product_id": "p", "quantity": 1, "unit_price": 9}],
               total=990.0, currency="TWD", **payment)  # fmt: skip

    ev = Events()
    ev.profile(-60)
    order(ev, 0, "o1", payment_method="cod")
    order(ev, 1, "o2", payment_method="cod")
    order(ev, 2, "o3", payment_method="card")  # not cash on delivery
    order(ev, 3, "o4")  # no payment method: not known to be one
    ev.add(20, "order.confirmed", order_id="o2")
    got = seen(only(replay(ev, engine, until=LATER), "cod_confirmation"))
    assert [(o, r, m) for o, r, m, _ in got] == [("cancel", "stopped", 20), ("send", None, 30)]


def test_an_atm_transfer_is_reminded_six_hours_before_its_deadline_outside_the_night(tmp_path: Path) -> None:
    engine = enabled(tmp_path, "atm_payment_reminder")
    ev = Events()
    ev.profile(-60)
    line = [{"product_id": "p", "quantity": 1, "unit_price": 9}]
    ev.add(0, "order.placed", order_id="o1", items=line, total=2060.0, currency="TWD", payment_method="atm",
           payment_deadline=_at(DAY))  # due 10:00 Taipei tomorrow: reminded 04:00, held until 08:00  # fmt: skip
    ev.add(1, "order.placed", order_id="o2", items=line, total=99.0, currency="TWD", payment_method="atm",
           payment_deadline=_at(DAY))  # fmt: skip
    ev.add(60, "payment.received", order_id="o2", amount=99.0)
    got = seen(only(replay(ev, engine, until=LATER), "atm_payment_reminder"))
    assert [(o, r, m) for o, r, m, _ in got] == [("cancel", "stopped", 60), ("send", None, DAY - 2 * 60)]


def test_a_review_is_asked_three_days_after_delivery_with_marketing_consent_rules(tmp_path: Path) -> None:
    engine = enabled(tmp_path, "review_request")
    ev = Events()
    ev.profile(-60)
    ev.profile(-60, customer="c2", whatsapp_opt_in=False)  # no consent: suppressed, not sent
    ev.profile(-60, customer="c3")
    for customer in ("c1", "c2", "c3"):
        ev.add(0, "shipment.delivered", customer, order_id="o1", shipment_id="s1")
    ev.add(DAY, "review.submitted", "c3", order_id="o1", rating=5)
    got = replay(ev, engine, until=LATER)
    assert [(d.customer_id, d.outcome, d.reason, minutes_after_t0(d.at)) for d in only(got, "review_request")] == [
        ("c3", "cancel", "stopped", DAY),
        ("c1", "send", None, 3 * DAY),
        ("c2", "suppress", "no_consent", 3 * DAY),
    ]


def test_restart_true_starts_an_open_episode_again_under_new_keys(tmp_path: Path) -> None:
    engine = enabled(tmp_path, "store_pickup_reminder", edit={"store_pickup_reminder": ("restart", "restart")})
    ev = Events()
    ev.profile(-60)
    arrival(ev, 0)
    assert len(only(replay(ev, engine, until=LATER), "store_pickup_reminder")) == 2
    again = enabled(tmp_path, "store_pickup_reminder",
                    edit={"store_pickup_reminder": ("send_within: 4h", "send_within: 4h\nrestart: true")})  # fmt: skip
    ev.items.clear()
    ev.profile(-60)
    arrival(ev, 0)
    arrival(ev, 60, deadline_days=3)  # moved to another store: the episode starts again
    got = seen(only(replay(ev, again, until=LATER), "store_pickup_reminder"))
    assert [(o, r, m) for o, r, m, _ in got] == [("cancel", "restarted", 60), ("cancel", "restarted", 60),
                                                 ("send", None, DAY + 60), ("send", None, 2 * DAY + 60)]  # fmt: skip
    assert len({k for *_, k in got}) == 4  # the new episode's keys are its own


def test_an_open_episode_survives_the_state_codec(tmp_path: Path) -> None:
    engine = enabled(tmp_path, "store_pickup_reminder")
    ev = Events()
    ev.profile(-60)
    arrival(ev, 0)
    arrival(ev, 5, shipment="s2")
    ev.add(10, "shipment.picked_up", order_id="o1", shipment_id="s2")
    replayer = Replayer(engine, lambda _: None)
    for raw in ev.lines():
        item = decode_event(raw, engine.event_catalogue)
        assert not isinstance(item, Rejection)
        replayer.feed(item)
    replayer.finish(T0.timestamp() + 60 * 60)
    (state,) = replayer.customer_states()
    assert state.episodes is not None
    assert list(state.episodes) == ["store_pickup_reminder\x1fs1"]  # s2's closed when it was picked up
    assert load_state(dump_state(state)) == state


# ---- the catalogue at ingest --------------------------------------------------------------


def test_declared_events_are_checked_like_contract_events(tmp_path: Path) -> None:
    catalogue = enabled(tmp_path, "store_pickup_reminder").event_catalogue

    def decode(**fields: Any) -> object:
        event = {"event_id": "e1", "customer_id": "c1", "occurred_at": "2026-11-20T10:00:00+08:00", **fields}
        return decode_event(json.dumps(event), catalogue)

    good = decode(type="shipment.arrived_at_store", order_id="o1", shipment_id="s1",
                  pickup_deadline="2026-11-27T10:00:00+08:00", unknown="dropped")  # fmt: skip
    assert not isinstance(good, Rejection)
    assert good.__pydantic_extra__ == {"order_id": "o1", "shipment_id": "s1",  # type: ignore[attr-defined]
                                       "pickup_deadline": "2026-11-27T10:00:00+08:00"}  # fmt: skip
    bad: dict[str, tuple[dict[str, Any], str, str]] = {
        "missing": ({"order_id": "o1", "pickup_deadline": "2026-11-27T10:00:00Z"}, "shipment_id", "missing"),
        "mistyped": ({"order_id": 7, "shipment_id": "s1", "pickup_deadline": "2026-11-27T10:00:00Z"}, "order_id",
                     "string"),
        "far": ({"order_id": "o1", "shipment_id": "s1", "pickup_deadline": "9999-01-01T00:00:00Z"}, "pickup_deadline",
                "between 1970 and 2100"),
        "naive": ({"order_id": "o1", "shipment_id": "s1", "pickup_deadline": "2026-11-27T10:00:00"}, "pickup_deadline",
                  "offset"),
    }  # fmt: skip
    for fields, field, words in bad.values():
        refused = decode(type="shipment.arrived_at_store", **fields)
        assert isinstance(refused, Rejection), fields
        assert refused.field == field
        assert words in refused.reason
    unknown = decode(type="parcel.lost", order_id="o1")
    assert isinstance(unknown, Rejection)
    assert "unknown event type 'parcel.lost'" in unknown.reason
    assert "shipment.arrived_at_store" in unknown.reason  # the declared types are named among the known
    added = decode(type="login.failed", payment_method="cod")  # a field added to another type is not kept
    assert not isinstance(added, Rejection)
    assert not added.__pydantic_extra__  # type: ignore[attr-defined]
    order = {"type": "order.placed", "order_id": "o1", "items": [], "total": 1.0, "currency": "TWD"}
    kept = decode(**order, payment_method="atm", payment_deadline="2026-11-21T10:00:00Z", coupon="X")
    assert not isinstance(kept, Rejection)
    assert kept.__pydantic_extra__ == {"payment_method": "atm",  # type: ignore[attr-defined]
                                       "payment_deadline": "2026-11-21T10:00:00Z"}  # fmt: skip
    wrong = decode(**order, payment_method=3)
    assert isinstance(wrong, Rejection)
    assert wrong.field == "payment_method"


# ---- files refused when they are edited -------------------------------------------------


TRIGGER = """id: t
kind: sequence
start: shipment.arrived_at_store
key: shipment_id
stop: [shipment.picked_up]
remind:
  - after: 1d
send_within: 4h
"""


@pytest.mark.parametrize(
    ("catalogue", "trigger", "where", "words"),
    [
        ("order.placed:\n  fields: {total: string?}\n", TRIGGER, "_events.yaml:2: order.placed.fields.total",
         "does not redefine"),
        ("order.placed:\n  fields: {coupon: string}\n", TRIGGER, "order.placed.fields.coupon", "is optional"),
        ("parcel:\n  fields: {a: string}\n", TRIGGER, "_events.yaml:1: parcel", "lowercase words joined by dots"),
        ("x.y:\n  fields: {a: date}\n", TRIGGER, "x.y.fields.a", "unknown type 'date'"),
        (None, TRIGGER.replace("stop: [shipment.picked_up]", "stop: [shipment.arrived_at_store]"), "t.yaml",
         "both starts and stops"),
        (None, TRIGGER.replace("- after: 1d", "- at: store_name - 1d"), "t.yaml:7: remind.0.at", "cannot subtract"),
        (None, TRIGGER.replace("key: shipment_id", "key: shipment_id\nwhere: pickup_deadline > 3"),
         "t.yaml:5: where", "cannot compare a time with a number"),
        (None, TRIGGER.replace("- after: 1d", "\n  ".join(["- after: 1d"] * 10_000)), "t.yaml:6: remind",
         "at most 10 items"),
        (None, TRIGGER.replace("key: shipment_id", "key: store_name"), "t.yaml:5: stop.0",
         "no string field 'store_name'"),
        (None, TRIGGER.replace("key: shipment_id", "key: pickup_deadline"), "t.yaml:4: key", "no string field"),
        (None, TRIGGER.replace("start: shipment.arrived_at_store", "start: shipment.teleported"), "t.yaml:3: start",
         "unknown event type"),
        (None, TRIGGER.replace("key: shipment_id", "key: shipment_id\nwhere: pickup_deadline > " + "9" * 320),
         "t.yaml:5: where", "at most 10^12"),
        ("order.placed:\n  fields: {items: string?}\n", TRIGGER, "order.placed.fields.items", "does not redefine"),
    ],
)  # fmt: skip
def test_a_catalogue_or_sequence_that_cannot_work_is_refused_with_its_line(
    tmp_path: Path, catalogue: str | None, trigger: str, where: str, words: str
) -> None:
    shipped = (default_triggers_dir() / "_events.yaml").read_text(encoding="utf-8")
    (tmp_path / "_events.yaml").write_text(catalogue if catalogue is not None else shipped, encoding="utf-8")
    if catalogue is not None:
        trigger = TRIGGER.replace("shipment.arrived_at_store", "order.placed").replace("shipment_id", "order_id")
        trigger = trigger.replace("stop: [shipment.picked_up]", "stop: []")
    (tmp_path / "t.yaml").write_text(trigger, encoding="utf-8")
    with pytest.raises(InvalidConfig) as refused:
        load_triggers(tmp_path)
    text = str(refused.value)
    assert where in text, text
    assert words in text, text


# ---- every send has its start, no stop before it, and a key of its own ------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["arrived", "picked_up", "returned"]),
            st.sampled_from(["s1", "s2", "s3"]),
            st.integers(min_value=0, max_value=9 * DAY),
            st.integers(min_value=-2 * DAY, max_value=8 * DAY),
        ),
        max_size=12,
    )
)
def test_every_send_follows_a_start_and_no_stop_of_its_key(stream: list[tuple[str, str, int, int]]) -> None:
    engine = _property_engine()
    ev = Events()
    ev.profile(-60)
    for kind, shipment, minutes, deadline in sorted(stream, key=lambda item: item[2]):  # in time order
        if kind == "arrived":
            ev.add(minutes, "shipment.arrived_at_store", order_id="o1", shipment_id=shipment,
                   pickup_deadline=_at(minutes + deadline))  # fmt: skip
        else:
            ev.add(minutes, f"shipment.{kind}", order_id="o1", shipment_id=shipment)
    starts = {e["event_id"]: (e["shipment_id"], (_epoch(e), e["event_id"])) for e in ev.items
              if e["type"].endswith("at_store")}  # fmt: skip
    stopping = ("shipment.picked_up", "shipment.returned")
    stops = [(e["shipment_id"], (_epoch(e), e["event_id"])) for e in ev.items if e["type"] in stopping]
    got = only(replay(ev, engine, until=LATER), "store_pickup_reminder")
    assert len({d.key for d in got}) == len(got)  # a key of its own
    for send in (d for d in got if d.outcome == "send"):
        shipment, started = starts[send.event_id]  # a start event of the parcel came first
        assert started[0] <= send.at
        # and no stop of the parcel since (in the engine's order: time, then event id) up to the send
        assert not any(s == shipment and started < stop and stop[0] <= send.at for s, stop in stops)


def _epoch(event: dict[str, Any]) -> float:
    from engagement.timefmt import parse_rfc3339  # noqa: PLC0415

    return parse_rfc3339(event["occurred_at"])


_ENGINE: list[Engine] = []


def _property_engine() -> Engine:
    if not _ENGINE:
        import tempfile  # noqa: PLC0415

        _ENGINE.append(enabled(Path(tempfile.mkdtemp()), "store_pickup_reminder"))
    return _ENGINE[0]


# ---- replay in shards ---------------------------------------------------------------------


def moments_day(customers: int, seed: int) -> list[str]:
    """Every example's events for many customers, some late, repeated or stopped, in time order."""
    import random  # noqa: PLC0415

    rng = random.Random(seed)
    ev = Events()
    line = [{"product_id": "p", "quantity": 1, "unit_price": 99}]
    for n in range(customers):
        c = f"m{n}"
        ev.profile(-60, customer=c, phone=f"+88691{n:07d}")
        base = rng.randrange(0, 6 * 60)
        pay = rng.choice(["cod", "atm", "card"])
        ev.add(base, "order.placed", c, order_id=f"o{n}", items=line, total=990.0, currency="TWD",
               payment_method=pay, payment_deadline=_at(base + rng.randrange(60, 2 * DAY)))  # fmt: skip
        if rng.random() < 0.4:
            ev.add(base + rng.randrange(1, 60), "order.confirmed", c, order_id=f"o{n}")
        if rng.random() < 0.4:
            ev.add(base + rng.randrange(1, DAY), "payment.received", c, order_id=f"o{n}")
        arrival(ev, base + 60, shipment=f"s{n}", deadline_days=rng.choice([0.5, 1, 7]), customer=c)
        if rng.random() < 0.5:
            ev.add(base + rng.randrange(61, 3 * DAY), "shipment.picked_up", c, order_id=f"o{n}", shipment_id=f"s{n}")
        ev.add(base + 2 * DAY, "shipment.delivered", c, order_id=f"o{n}", shipment_id=f"s{n}")
        if rng.random() < 0.3:
            ev.add(base + 3 * DAY, "review.submitted", c, order_id=f"o{n}", rating=4)
    ev.items.sort(key=lambda e: str(e["occurred_at"]))
    return [json.dumps(e, ensure_ascii=False) for e in ev.items]


def test_replay_in_shards_writes_the_same_bytes_for_sequences(tmp_path: Path) -> None:
    import io  # noqa: PLC0415
    from contextlib import redirect_stdout  # noqa: PLC0415

    from engagement.cli import main  # noqa: PLC0415

    triggers = tmp_path / "triggers"
    triggers.mkdir()
    enabled(triggers, *EXAMPLES)
    events = tmp_path / "e.jsonl"
    events.write_text("\n".join(moments_day(300, 11)) + "\n", encoding="utf-8")

    def replayed(jobs: int) -> tuple[bytes, str]:
        out = tmp_path / f"d{jobs}.jsonl"
        summary = io.StringIO()
        with redirect_stdout(summary):
            assert main(["replay", str(events), "--triggers", str(triggers), "--decisions", str(out),
                         "--jobs", str(jobs), "--until", "2026-12-10T00:00:00Z"]) == 0  # fmt: skip
        return out.read_bytes(), summary.getvalue()

    one = replayed(1)
    decided = [json.loads(line) for line in one[0].splitlines()]
    sequences = {d["trigger"] for d in decided if d["trigger"] in EXAMPLES}
    assert sequences == set(EXAMPLES), sequences  # every example decided something
    assert {d["reason"] for d in decided if d["outcome"] == "cancel"} >= {"stopped"}
    assert sum(1 for d in decided if d["trigger"] in EXAMPLES and d["outcome"] == "send") > 100
    assert replayed(3) == one


def test_a_backtest_shows_what_switching_an_example_on_would_do(tmp_path: Path) -> None:
    import io  # noqa: PLC0415
    from contextlib import redirect_stdout  # noqa: PLC0415

    from engagement.cli import main  # noqa: PLC0415

    edited = tmp_path / "triggers"
    edited.mkdir()
    enabled(edited, "store_pickup_reminder")
    events = tmp_path / "e.jsonl"
    events.write_text("\n".join(moments_day(50, 3)) + "\n", encoding="utf-8")
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["replay", str(events), "--triggers", str(edited), "--baseline", str(default_triggers_dir()),
                     "--until", "2026-12-10T00:00:00Z", "--jobs", "2"]) == 0  # fmt: skip
    text = out.getvalue()
    row = next(line for line in text.splitlines() if line.startswith("store_pickup_reminder "))
    sends_before, sends_after = (int(n) for n in row.split()[1:3])
    assert sends_before == 0
    assert sends_after > 20
    assert "-> cancel:stopped" in text
    assert "-> suppress:deadline_missed" in text


# ---- what a review found --------------------------------------------------------------------


def test_hostile_values_are_rejections_not_crashes(tmp_path: Path) -> None:
    catalogue = enabled(tmp_path, "atm_payment_reminder").event_catalogue
    base = {"event_id": "e1", "customer_id": "c1", "occurred_at": "2026-11-20T10:00:00Z"}
    huge = json.dumps({**base, "type": "payment.received", "order_id": "o1"})[:-1] + ', "amount": ' + "9" * 400 + "}"
    refused = decode_event(huge, catalogue)
    assert isinstance(refused, Rejection)
    assert refused.field == "amount"
    week = json.dumps({**base, "type": "shipment.arrived_at_store", "order_id": "o", "shipment_id": "s",
                       "pickup_deadline": "2026-W47-5T10:00:00Z"})  # fmt: skip
    refused = decode_event(week, catalogue)
    assert isinstance(refused, Rejection)
    assert refused.field == "pickup_deadline"


def test_each_restart_keys_its_reminders_apart(tmp_path: Path) -> None:
    engine = enabled(
        tmp_path, "cod_confirmation", edit={"cod_confirmation": ("send_within: 2h", "send_within: 2h\nrestart: true")}
    )
    ev = Events()
    ev.profile(-60)
    line = [{"product_id": "p", "quantity": 1, "unit_price": 9}]
    for minutes in (0, 60, 120):  # the same order placed again, after each reminder went
        ev.add(minutes, "order.placed", order_id="o1", items=line, total=9.0, currency="TWD", payment_method="cod")
    got = only(replay(ev, engine, until=LATER), "cod_confirmation")
    assert [d.outcome for d in got] == ["send", "send", "send"]
    assert len({d.key for d in got}) == 3


def test_an_episode_whose_reminders_a_new_configuration_cancelled_does_not_block_the_key(tmp_path: Path) -> None:
    on = enabled(tmp_path / "on", "store_pickup_reminder")
    off = enabled(tmp_path / "off")
    again = enabled(tmp_path / "again", "store_pickup_reminder", edit={"store_pickup_reminder": ("4h", "5h")})
    replayer = Replayer(on, lambda _: None)
    out: list[Decision] = []
    ev = Events()
    ev.profile(-60)
    arrival(ev, 0)
    for raw in ev.lines():
        item = decode_event(raw, on.event_catalogue)
        assert not isinstance(item, Rejection)
        replayer.feed(item)
    replayer.finish(T0.timestamp() + 60)  # armed under the first configuration
    (state,) = replayer.customer_states()
    assert state.episodes is not None
    later = T0.timestamp() + 7 * DAY * 60  # past both reminders' times
    off = on.succeeded_by(off)
    off.run_until(state, later, None, out)  # the trigger is gone: its reminders are cancelled
    assert [d.reason for d in out] == ["trigger_removed", "trigger_removed"]
    again = off.succeeded_by(again)
    second = Events()
    second.items = [dict(ev.items[1], event_id="e9", occurred_at=_at(8 * DAY), pickup_deadline=_at(15 * DAY))]
    item = decode_event(second.lines()[0], again.event_catalogue)
    assert not isinstance(item, Rejection)
    out.clear()
    again.admit(state, item, None, T0.timestamp() + 8 * DAY * 60, out, T0.timestamp() + 8 * DAY * 60)
    # the old episode, left without reminders, was closed: the parcel's new arrival opens one
    assert list(state.episodes or ()) == ["store_pickup_reminder\x1fs1"]
    assert state.episodes is not None
    assert state.episodes["store_pickup_reminder\x1fs1"].event_id == "e9"
    assert len([t for t in state.timers or () if t.trigger_id == "store_pickup_reminder"]) == 2


def test_open_episodes_per_customer_are_bounded(tmp_path: Path) -> None:
    engine = enabled(tmp_path, "store_pickup_reminder")
    ev = Events()
    ev.profile(-60)
    for n in range(40):
        arrival(ev, n, shipment=f"s{n}")
    replayer = Replayer(engine, lambda _: None)
    for raw in ev.lines():
        item = decode_event(raw, engine.event_catalogue)
        assert not isinstance(item, Rejection)
        replayer.feed(item)
    replayer.finish(T0.timestamp() + 3600)
    (state,) = replayer.customer_states()
    assert len(state.episodes or {}) == 16
    assert len(state.timers or []) == 32


def test_earlier_configurations_event_types_stay_accepted_while_they_are_kept(tmp_path: Path) -> None:
    on = enabled(tmp_path / "on", "store_pickup_reminder")
    demo = Path(__file__).parents[2] / "engagement" / "demo" / "triggers"  # no catalogue there
    bare = Engine(load_triggers(demo), load_messages(default_messages_dir()), EngineSettings())
    assert "shipment.arrived_at_store" not in bare.event_catalogue.declared
    live = on.succeeded_by(bare)
    assert "shipment.arrived_at_store" in live.accepted_events.declared


def test_the_report_counts_a_sequence_like_any_trigger(tmp_path: Path) -> None:
    from engagement.outcomes.sources import from_replay  # noqa: PLC0415

    engine = enabled(tmp_path / "triggers", *EXAMPLES)
    events = tmp_path / "e.jsonl"
    events.write_text("\n".join(moments_day(60, 5)) + "\n", encoding="utf-8")
    rows = {row["trigger"]: row for row in from_replay(engine, events)}
    for name in EXAMPLES:
        assert rows[name]["kind"] == "sequence"
    assert rows["review_request"]["category"] == "marketing"
    assert sum(rows[name]["sent"] for name in EXAMPLES) > 50
    assert rows["store_pickup_reminder"]["channels"][0]["channel"] == "whatsapp"


def test_a_start_event_delivered_again_after_its_episode_closed_opens_nothing(tmp_path: Path) -> None:
    engine = enabled(tmp_path, "store_pickup_reminder")
    ev = Events()
    ev.profile(-60)
    arrival(ev, 0)
    first = dict(ev.items[-1])
    ev.add(120, "shipment.picked_up", order_id="o1", shipment_id="s1")
    for n in range(40):  # past the engine's ring of recent event ids
        ev.add(130 + n, "page.viewed", product_id=f"p{n}")
    ev.items.append(dict(first, occurred_at=_at(200)))  # the arrival delivered again, late
    got = seen(only(replay(ev, engine, until=LATER), "store_pickup_reminder"))
    assert [(o, r) for o, r, _, _ in got] == [("cancel", "stopped"), ("cancel", "stopped")]


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("amount", "NaN", "finite number"),
        ("amount", "Infinity", "finite number"),
        ("amount", '{"a": {"b": [1, [2, [3]]]}}', "a number is expected"),
        ("order_id", '["o1"]', "a string"),
        ("order_id", '"' + "訂" * 2000 + '"', "at most 1,000 characters"),
    ],
)
def test_hostile_declared_values_are_refused_naming_the_field(
    tmp_path: Path, field: str, value: str, words: str
) -> None:
    catalogue = enabled(tmp_path, "atm_payment_reminder").event_catalogue
    fields = {"order_id": '"o1"', "amount": "1", field: value}
    body = ", ".join(f'"{k}": {v}' for k, v in fields.items())
    raw = ('{"event_id": "e1", "customer_id": "c1", "occurred_at": "2026-11-20T10:00:00Z", '
           f'"type": "payment.received", {body}}}')  # fmt: skip
    refused = decode_event(raw, catalogue)
    assert isinstance(refused, Rejection), refused
    assert refused.field == field
    assert words in refused.reason


def test_a_time_in_unicode_digits_is_refused(tmp_path: Path) -> None:
    catalogue = enabled(tmp_path, "store_pickup_reminder").event_catalogue
    raw = json.dumps({"event_id": "e1", "customer_id": "c1", "occurred_at": "2026-11-20T10:00:00Z",
                      "type": "shipment.arrived_at_store", "order_id": "o", "shipment_id": "s",
                      "pickup_deadline": "２０２６-11-27T10:00:00Z"}, ensure_ascii=False)  # fmt: skip
    refused = decode_event(raw, catalogue)
    assert isinstance(refused, Rejection)
    assert refused.field == "pickup_deadline"


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False), st.lists(st.integers(0, 5), min_size=4, max_size=14))
def test_reordered_within_lateness_and_redelivered_the_decisions_and_episodes_are_the_same(
    rng: Any, plan: list[int]
) -> None:
    """Events shuffled by up to 25 s (the lateness is 30 s) and some delivered twice decide as the
    ordered stream does, and leave the same episodes in the customer's state."""
    engine = _property_engine()
    ev = Events()
    ev.profile(-60)
    for n, step in enumerate(plan):
        minutes = n * 0.5  # 30 s apart
        shipment = f"s{step % 3}"
        if step < 3:
            arrival(ev, minutes, shipment=shipment, deadline_days=1 + step)
        else:
            ev.add(minutes, "shipment.picked_up", order_id="o1", shipment_id=shipment)
    ordered = ev.lines()
    shaken = sorted(ordered, key=lambda raw: _epoch(json.loads(raw)) + rng.uniform(0, 25))
    shaken += [raw for raw in ordered if rng.random() < 0.3]  # delivered again, late

    def run(lines: list[bytes]) -> tuple[list[tuple[str, str | None, float, str]], object]:
        out: list[Decision] = []
        replayer = Replayer(engine, out.append)
        for raw in lines:
            item = decode_event(raw, engine.event_catalogue)
            assert not isinstance(item, Rejection)
            replayer.feed(item)
        replayer.finish(LATER)
        (state,) = replayer.customer_states()
        return seen(only(out, "store_pickup_reminder")), state.episodes

    assert run(shaken) == run(ordered)
