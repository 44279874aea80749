"""A replay keeps idle customers' states as bytes and reads them back: decisions do not change."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings

from engagement.core.decisions import Decision
from engagement.core.state import CustomerState
from engagement.decode import Rejection, decode_event
from engagement.replay.runner import Replayer
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
    assert by_customer(aside_replayer) == by_customer(kept_replayer)


def test_a_customer_with_a_timer_or_a_buffered_event_stays_in_use() -> None:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    _, replayer = replay(lines, idle_after=0.0, set_aside_every=NEVER)
    replayer.set_aside_idle()
    for state in replayer.states.values():
        if not isinstance(state, bytes):
            assert state.timers or state.pending is not None or state.cursor >= replayer.watermark
