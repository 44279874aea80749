"""Customer states as the live stores keep them: what is loaded is what was dumped, and a forged or
damaged blob fails with a typed error without running anything."""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import pytest

from engagement.cli import build_engine
from engagement.core.state import CustomerState
from engagement.decode import Rejection, decode_event
from engagement.replay.runner import Replayer
from engagement.settings import Settings
from engagement.state_codec import FORMAT, StateDecodeError, dump_state, load_state
from engagement.timefmt import parse_rfc3339
from tests.scenario import Events
from tests.unit.test_sequences import arrival, enabled

SAMPLE = Path(__file__).parents[2] / "engagement" / "samples" / "events.jsonl"


def sample_states(upto: str | None = None) -> list[CustomerState]:
    """The customers of the shipped sample after its events up to `upto` (all by default). Cut
    early, states still buffer events and hold timers: between them, profiles, pending events,
    timers, visits, carts, shipments, orders, logins and ledgers all appear."""
    replayer = Replayer(build_engine(None, None, Settings()), lambda _: None)
    cut = parse_rfc3339(upto) if upto is not None else float("inf")
    for raw in SAMPLE.read_bytes().splitlines():
        event = decode_event(raw)
        if not isinstance(event, Rejection) and event.occurred_at.timestamp() <= cut:
            replayer.feed(event)
    if upto is None:
        replayer.finish()
    return list(replayer.customer_states())


def sequence_state(tmp: Path) -> CustomerState:
    """A customer with a sequence episode open and one closed (the sample enables no sequence)."""
    engine = enabled(tmp, "store_pickup_reminder")
    replayer = Replayer(engine, lambda _: None)
    ev = Events()
    ev.profile(-60)
    arrival(ev, 0)
    arrival(ev, 5, shipment="s2")
    ev.add(10, "shipment.picked_up", order_id="o1", shipment_id="s2")
    for raw in ev.lines():
        event = decode_event(raw, engine.event_catalogue)
        assert not isinstance(event, Rejection)
        replayer.feed(event)
    replayer.finish()
    (state,) = replayer.customer_states()
    return state


def test_every_state_of_the_sample_loads_as_it_was_dumped(tmp_path: Path) -> None:
    states = [s for upto in ("2026-11-20T01:45:00Z", "2026-11-20T02:05:00Z", None) for s in sample_states(upto)]
    states.append(sequence_state(tmp_path))
    held = {name for s in states for name in CustomerState.__slots__ if getattr(s, name) not in (None, b"", (), 0.0)}
    assert held == set(CustomerState.__slots__)
    for state in states:
        assert load_state(dump_state(state)) == state


class _Payload:
    """A pickle that would create a file when unpickled: what a writer of the store could plant."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_a_pickled_blob_is_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    blob = pickle.dumps(_Payload(marker), protocol=5)
    with pytest.raises(StateDecodeError, match="unknown format"):
        load_state(blob)
    with pytest.raises(StateDecodeError):
        load_state(FORMAT + blob)
    assert not marker.exists()


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"1;",
        b"1;{}",
        b"1;[1, 2]",
        b"1;" + b"[" * 100_000,
        b'1;{"customer_id": 7}',
        b'1;{"customer_id": "c", "recent_ids": "not base64!"}',
        b'1;{"customer_id": "c", "pending": [[1.0, "e", {"type": "os.system"}]]}',
        b'1;{"customer_id": "c", "timers": [{"trigger_id": "t"}]}',
        b"2;{}",
    ],
)
def test_a_forged_or_damaged_blob_fails_with_a_typed_error(blob: bytes) -> None:
    with pytest.raises(StateDecodeError):
        load_state(blob)


def test_the_engine_package_never_imports_pickle() -> None:
    sources = Path(__file__).parents[2] / "engagement"
    users = [
        p
        for p in sources.rglob("*.py")
        if re.search(r"^\s*(import|from)\s+(c?pickle|marshal|shelve)\b", p.read_text(encoding="utf-8"), re.M)
    ]
    assert users == []
