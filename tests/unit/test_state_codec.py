"""Customer states as the live stores keep them: what is loaded is what was dumped, in the compact
form, and states stored in the default dataclass form before it still load."""

from __future__ import annotations

import copyreg
import io
import pickle
from pathlib import Path
from typing import Any

from engagement.cli import build_engine
from engagement.core import state as records
from engagement.core.state import CustomerState, Profile
from engagement.decode import Rejection, decode_event
from engagement.live.state_codec import dump_state, load_state
from engagement.replay.runner import Replayer
from engagement.settings import Settings
from engagement.timefmt import parse_rfc3339

SAMPLE = Path(__file__).parents[2] / "engagement" / "samples" / "events.jsonl"
RECORDS = tuple(cls for cls in vars(records).values() if isinstance(cls, type) and cls.__module__ == records.__name__)


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
    return list(replayer.states.values())


class _DefaultForm(pickle.Pickler):
    """Pickles the state records the way dataclasses do without `pickled_as_fields`."""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) in RECORDS:
            return copyreg.__newobj__, (type(obj),), obj.__getstate__()  # type: ignore[attr-defined]
        return NotImplemented


def default_form(state: CustomerState) -> bytes:
    out = io.BytesIO()
    _DefaultForm(out, protocol=5).dump(state)
    return out.getvalue()


def test_every_state_of_the_sample_loads_as_it_was_dumped() -> None:
    states = [s for upto in ("2026-11-20T01:45:00Z", "2026-11-20T02:05:00Z", None) for s in sample_states(upto)]
    held = {name for s in states for name in CustomerState.__slots__ if getattr(s, name) not in (None, b"", (), 0.0)}
    assert held == set(CustomerState.__slots__)
    for state in states:
        assert load_state(dump_state(state)) == state


def test_the_compact_form_is_smaller_and_old_stores_still_load() -> None:
    states = sample_states()
    compact = sum(len(dump_state(s)) for s in states)
    default = sum(len(default_form(s)) for s in states)
    assert compact < 0.7 * default
    for state in states:
        assert load_state(default_form(state)) == state


class _ProfileOfAnOlderRelease:
    """Pickles as a `Profile` stored before its last four fields existed."""

    def __reduce__(self) -> tuple[type[Profile], tuple[str, int, str]]:
        return Profile, ("Mei", 886912345678, "zh-TW")


def test_a_record_stored_before_a_field_was_added_loads_with_its_default() -> None:
    profile = pickle.loads(pickle.dumps(_ProfileOfAnOlderRelease(), protocol=5))  # noqa: S301
    assert profile == Profile("Mei", 886912345678, "zh-TW")
