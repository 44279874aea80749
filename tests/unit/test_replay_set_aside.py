"""A replay keeps idle customers' states as bytes and reads them back: decisions do not change."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from engagement.core import state as records
from engagement.core.decisions import Decision
from engagement.core.state import Cart, CustomerState, Episode, Profile, Shipment
from engagement.decode import Rejection, decode_event
from engagement.replay.runner import Replayer
from engagement.replay.set_aside import FIELD_NAMES, set_aside, stored_form, taken_back
from engagement.state_codec import dump_state
from engagement.timefmt import rfc3339
from tests.benchmarks.shop_day import generate
from tests.scenario import engine_for
from tests.unit.test_sharded_replay import event_files

SAMPLE = Path(__file__).parents[2] / "engagement" / "samples" / "events.jsonl"
NEVER = 10**12  # events between rounds that set states aside: none in these replays


def replay(lines: list[str], idle_after: float, set_aside_every: int) -> tuple[list[Decision], Replayer]:
    out: list[Decision] = []
    replayer = Replayer(engine_for(), out.append, idle_after=idle_after, set_aside_every=set_aside_every)
    for line in lines:
        event = decode_event(line)
        if not isinstance(event, Rejection):
            replayer.feed(event)
    replayer.finish()
    return out, replayer


def by_customer(replayer: Replayer) -> dict[str, CustomerState]:
    return {state.customer_id: state for state in replayer.customer_states()}


@settings(max_examples=60, deadline=None)
@given(event_files())
def test_setting_states_aside_before_every_event_changes_no_decision(lines: list[str]) -> None:
    kept, kept_replayer = replay(lines, idle_after=NEVER, set_aside_every=NEVER)
    aside, aside_replayer = replay(lines, idle_after=0.0, set_aside_every=1)
    assert aside == kept
    assert by_customer(aside_replayer) == by_customer(kept_replayer)
    assert aside_replayer.pending_timers() == kept_replayer.pending_timers()


def test_a_shop_day_sets_idle_customers_aside_and_reads_them_back(tmp_path: Path) -> None:
    day = tmp_path / "day.jsonl"
    generate(day, customers=400, seed=3)
    lines = day.read_text(encoding="utf-8").splitlines()
    kept, kept_replayer = replay(lines, idle_after=NEVER, set_aside_every=NEVER)
    aside, aside_replayer = replay(lines, idle_after=1_800.0, set_aside_every=50)
    assert len(kept) > 300, "the day must make decisions for the comparison to mean something"
    assert aside == kept
    set_aside = [cid for cid, state in aside_replayer.states.items() if isinstance(state, bytes)]
    assert len(set_aside) > 200, "most customers of the day are idle for half an hour at its end"
    assert all(not isinstance(state, bytes) for state in kept_replayer.states.values())
    blobs = [state for state in aside_replayer.states.values() if isinstance(state, bytes)]
    packed = sum(len(blob) for blob in blobs)
    stored = sum(len(stored_form(blob)) for blob in blobs)
    assert packed < 0.8 * stored, "field names one byte each: a fifth smaller at least"
    assert by_customer(aside_replayer) == by_customer(kept_replayer)


def test_states_are_set_aside_only_once_more_than_so_many_are_in_use(tmp_path: Path) -> None:
    """`keep_up_to`: a replay of few customers (a backtest's edit side) keeps them as objects, and
    one of many still sets the idle ones aside, so that no more than about that many stay in use."""
    day = tmp_path / "day.jsonl"
    generate(day, customers=400, seed=3)
    lines = [line for line in day.read_text(encoding="utf-8").splitlines()]
    events = [event for event in map(decode_event, lines) if not isinstance(event, Rejection)]
    customers = len({event.customer_id for event in events})
    counts = {}
    for cap in (0, 60, customers):
        out: list[Decision] = []
        replayer = Replayer(engine_for(), out.append, idle_after=60.0, set_aside_every=50, keep_up_to=cap)
        most = 0
        for event in events:
            replayer.feed(event)
            most = max(most, len(replayer._in_use))
        replayer.finish()
        counts[cap] = (sum(isinstance(state, bytes) for state in replayer.states.values()), most, out)
    assert counts[customers][0] == 0  # all of them kept as objects
    assert counts[0][0] > 200  # set aside as soon as idle
    assert counts[60][0] > 200
    assert counts[60][1] < counts[customers][1]
    assert counts[60][1] <= 60 + 50  # the cap, and the customers one round between two looks can add
    assert counts[0][2] == counts[60][2] == counts[customers][2]  # the same decisions


def test_the_cap_counts_the_states_in_use_not_every_customer_seen() -> None:
    """A hundred customers come and go, then thirty more, each alone: past the cap the idle ones
    are set aside, and then, with few in use, no round sets the newcomers aside."""
    lines = []
    for n in range(130):
        t = n if n < 100 else 10_000 + (n - 100) * 100  # the thirty later ones a hundred seconds apart
        lines.append(json.dumps({"event_id": f"u{n}", "type": "customer.updated", "customer_id": f"c{n}",
                                 "occurred_at": rfc3339(1_795_000_000 + t), "name": f"N{n}"}))  # fmt: skip
    made: list[Decision] = []
    replayer = Replayer(engine_for(), made.append, idle_after=60.0, set_aside_every=10, keep_up_to=60)
    for line in lines:
        event = decode_event(line)
        assert not isinstance(event, Rejection)
        replayer.feed(event)
    early = [isinstance(replayer.states[f"c{n}"], bytes) for n in range(100)]
    late = [isinstance(replayer.states[f"c{n}"], bytes) for n in range(100, 130)]
    assert sum(early) > 30  # set aside while more than 60 were in use
    assert sum(late) <= 10  # past the first round of their time, the newcomers stay objects


def test_a_customer_with_a_timer_or_a_buffered_event_stays_in_use() -> None:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    _, replayer = replay(lines, idle_after=0.0, set_aside_every=NEVER)
    replayer.set_aside_idle()
    for state in replayer.states.values():
        if not isinstance(state, bytes):
            assert state.timers or state.pending is not None or state.cursor >= replayer.watermark


# text that looks like the JSON the field names are replaced in, and any other text, control
# characters included
tricky = st.sampled_from([f'"{name}":' for name in FIELD_NAMES] + [*FIELD_NAMES, '\\"cart":', "\x01", "\x1f"])
texts = tricky | st.text(max_size=12) | st.lists(tricky | st.text(max_size=4), max_size=4).map("".join)


@st.composite
def odd_states(draw: st.DrawFn) -> CustomerState:
    state = CustomerState(draw(texts), recent_ids=draw(st.binary(max_size=40)))
    state.profile = Profile(name=draw(texts), locale=draw(texts), tier=draw(st.none() | texts))
    names = tuple(draw(st.lists(texts, max_size=3)))
    state.cart = Cart(draw(texts), draw(texts), 1.5, len(names), 9.0, draw(st.none() | texts), names, url=draw(texts))
    keys = draw(st.lists(texts, max_size=3, unique=True))
    state.shipments = {key: Shipment(draw(texts), draw(texts), 2.0, carrier=draw(texts)) for key in keys}
    state.episodes = {
        draw(texts): Episode(draw(texts), 3.0, {draw(texts): draw(texts | st.floats(0, 9) | st.booleans())})
    }
    state.done_shipments = tuple(draw(st.lists(texts, max_size=2)))
    return state


@settings(max_examples=300, deadline=None)
@given(odd_states())
def test_a_state_set_aside_reads_back_exactly_whatever_its_text_holds(state: CustomerState) -> None:
    blob = set_aside(state)
    assert stored_form(blob) == dump_state(state)
    assert taken_back(blob) == state
    assert len(blob) < len(dump_state(state))


def test_the_names_replaced_are_the_states_own_one_byte_each() -> None:
    names = {
        f.name
        for record in vars(records).values()
        if dataclasses.is_dataclass(record)
        for f in dataclasses.fields(record)
    }
    assert set(FIELD_NAMES) <= names
    assert len(set(FIELD_NAMES)) == len(FIELD_NAMES) == 31  # the bytes 0x01 to 0x1f
