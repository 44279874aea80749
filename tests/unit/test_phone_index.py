"""The phone index says what the customers' states say, in `run`, whatever order profile updates
arrive in: STOP from a customer's current number always reaches them.

(The workers use the same `PhoneBook` over Redis: tests/integration/test_worker_phone_index.py.)
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engagement.config.loader import default_triggers_dir
from engagement.core.profile import latest_phone
from engagement.decode import Rejection, decode_event
from engagement.embedded.service import EmbeddedService
from engagement.embedded.store import EmbeddedStore
from engagement.events import Event
from engagement.live.metrics import standard_metrics
from engagement.live.phone_owners import TAKEN, PhoneBook
from engagement.providers.console import ConsoleProvider
from engagement.state_codec import TOO_LARGE
from tests.scenario import Events, custom_triggers, engine_for, only, replay

NOW = 1.8e9  # the wall clock of the service; events occur just before it
LATENESS = 30.0
CUSTOMERS = ("alice", "bob", "carol")
NUMBERS = ("+886912000001", "+886912000002", "+886912000003", "+886912000004")


def event(**fields: Any) -> Event:
    return decoded({"type": "customer.updated", "occurred_at": _iso(fields.pop("t")), **fields})


def decoded(fields: dict[str, Any]) -> Event:
    item = decode_event(json.dumps(fields).encode())
    assert not isinstance(item, Rejection), item
    return item


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def service_in(directory: Path, clock: list[float]) -> EmbeddedService:
    engine = engine_for(allowed_lateness=LATENESS)
    return EmbeddedService(
        engine, EmbeddedStore(directory), ConsoleProvider(), standard_metrics(), clock=lambda: clock[0]
    )


def index_matches_states(service: EmbeddedService) -> None:
    """Every customer's latest number is indexed to them, and every index entry is a customer's
    latest number."""
    store = service.store
    index = store.phone_index()
    states = {cid: store.load_state(cid) for cid in CUSTOMERS}
    latest = {cid: latest_phone(s) for cid, s in states.items() if s is not None}
    for cid, phone in latest.items():
        if phone is not None:
            assert index.get(phone) == cid, (cid, phone, index)
    for phone, cid in index.items():
        assert latest.get(cid) == phone, (phone, cid, latest)


# A stream: profile updates of three customers drawn from four numbers, at event times within a
# few lateness spans, delivered in batches in a shuffled order with some delivered twice.
updates = st.lists(
    st.tuples(
        st.sampled_from(CUSTOMERS),
        st.sampled_from(NUMBERS),
        st.floats(0, 3 * LATENESS, allow_nan=False),
        st.booleans(),  # repeated (the same event id delivered again later)
    ),
    min_size=1,
    max_size=24,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(updates, st.randoms(use_true_random=False), st.integers(1, 5))
def test_the_index_follows_the_states_through_reorderings_and_repeats(
    drawn: list[tuple[str, str, float, bool]], rng: Any, batch_size: int
) -> None:
    base = NOW - 4 * LATENESS
    sent = []
    for n, (cid, phone, offset, repeat) in enumerate(drawn):
        item = event(event_id=f"u{n}", customer_id=cid, phone=phone, whatsapp_opt_in=True, t=base + offset)
        sent.append(item)
        if repeat:
            sent.append(item)
    rng.shuffle(sent)
    with tempfile.TemporaryDirectory() as scratch:
        clock = [NOW]
        service = service_in(Path(scratch), clock)
        try:
            for start in range(0, len(sent), batch_size):
                asyncio.run(service.ingest(sent[start : start + batch_size]))
                index_matches_states(service)
            clock[0] += 10 * LATENESS  # every update applied: the states' profiles are final
            asyncio.run(service.tick())
            index_matches_states(service)
            for cid in CUSTOMERS:
                state = service.store.load_state(cid)
                number = None if state is None or state.profile is None else state.profile.phone
                if number is None:
                    continue
                asyncio.run(stop_from(service, number, clock[0]))
                clock[0] += 2 * LATENESS  # the reply applied once the watermark passes it
                asyncio.run(service.tick())
                after = service.store.load_state(cid)
                assert after is not None
                assert after.profile is not None
                assert after.profile.opt_out, cid
        finally:
            service.store.close()


async def stop_from(service: EmbeddedService, phone: str, now: float) -> None:
    """What the WhatsApp webhook does with a STOP: find the number's customer, and ingest the reply."""
    customer = await service.customer_for_phone(phone)
    assert customer is not None, f"STOP from {phone} found no customer"
    reply = decoded({
        "event_id": f"stop-{phone}", "type": "message.replied", "customer_id": customer,
        "occurred_at": _iso(now - 1), "text": " stop ",
    })  # fmt: skip
    await service.ingest([reply])


def test_a_redelivered_older_update_does_not_move_the_number_back(tmp_path: Path) -> None:
    """Found by an attack: the index was claimed in arrival order before duplicate detection, so an
    older profile update delivered again left STOP from the real number `unknown_sender`."""
    clock = [NOW]
    service = service_in(tmp_path, clock)
    old = event(event_id="u1", customer_id="alice", phone=NUMBERS[0], whatsapp_opt_in=True, t=NOW - 600)
    new = event(event_id="u2", customer_id="alice", phone=NUMBERS[1], t=NOW - 300)
    try:
        for batch in ([old], [new], [old]):
            asyncio.run(service.ingest(batch))
        assert service.store.phone_index() == {NUMBERS[1]: "alice"}
        # reordered within the lateness: the newer number arrives first
        newer = event(event_id="u3", customer_id="alice", phone=NUMBERS[2], t=NOW - 5)
        older = event(event_id="u4", customer_id="alice", phone=NUMBERS[3], t=NOW - 10)
        asyncio.run(service.ingest([newer]))
        asyncio.run(service.ingest([older]))
        assert service.store.phone_index() == {NUMBERS[2]: "alice"}
        assert asyncio.run(service.customer_for_phone(NUMBERS[1])) is None  # released by its owner
    finally:
        service.store.close()


def test_a_number_another_customer_holds_is_refused_and_released_numbers_can_be_taken(tmp_path: Path) -> None:
    clock = [NOW]
    service = service_in(tmp_path, clock)
    try:
        alice = event(event_id="a1", customer_id="alice", phone=NUMBERS[0], t=NOW - 60)
        mallory = event(event_id="m1", customer_id="mallory", phone=NUMBERS[0], t=NOW - 50)
        taken = asyncio.run(service.ingest([alice, mallory]))
        assert taken.refused == [(1, TAKEN)]
        moved = event(event_id="a2", customer_id="alice", phone=NUMBERS[1], t=NOW - 40)
        bob = event(event_id="b1", customer_id="bob", phone=NUMBERS[0], t=NOW - 30)
        assert asyncio.run(service.ingest([moved, bob])).refused == []
        assert service.store.phone_index() == {NUMBERS[1]: "alice", NUMBERS[0]: "bob"}
        asyncio.run(service.forget("bob"))
        assert service.store.phone_index() == {NUMBERS[1]: "alice"}
        carol = event(event_id="c1", customer_id="carol", phone=NUMBERS[0], t=NOW - 20)
        assert asyncio.run(service.ingest([carol])).refused == []
    finally:
        service.store.close()


def test_an_older_opt_out_or_consent_arriving_late_does_not_undo_a_newer_one(tmp_path: Path) -> None:
    clock = [NOW]
    service = service_in(tmp_path, clock)
    try:
        asyncio.run(service.ingest([event(event_id="p", customer_id="alice", phone=NUMBERS[0], t=NOW - 900)]))
        asyncio.run(stop_from(service, NUMBERS[0], NOW - 300))
        late = event(event_id="late", customer_id="alice", marketing_opt_out=False, whatsapp_opt_in=True, t=NOW - 600)
        revoked = event(event_id="revoked", customer_id="alice", whatsapp_opt_in=False, t=NOW - 200)
        asyncio.run(service.ingest([revoked]))
        asyncio.run(service.ingest([late]))  # behind the watermark: applied at once, and older
        clock[0] += 100
        asyncio.run(service.tick())
        state = service.store.load_state("alice")
        assert state is not None
        assert state.profile is not None
        assert state.profile.opt_out is True
        assert state.profile.opt_in is False
    finally:
        service.store.close()


def test_the_phone_book_sees_a_batch_s_own_changes() -> None:
    store = {"+886912000001": "alice"}
    numbers = {"alice": "+886912000001"}
    book = PhoneBook(store.get, numbers.get)
    assert book.refuses(event(event_id="x", customer_id="bob", phone="+886912000001", t=NOW))
    book.follow("alice", "+886912000002")
    assert not book.refuses(event(event_id="y", customer_id="bob", phone="+886912000001", t=NOW))
    book.follow("bob", "+886912000001")
    assert book.refuses(event(event_id="z", customer_id="carol", phone="+886912000001", t=NOW))
    assert book.owner("+886912000002") == "alice"


def test_stop_and_its_translations_always_opt_out_whatever_a_trigger_lists(tmp_path: Path) -> None:
    cart_idle = (default_triggers_dir() / "cart_idle.yaml").read_text(encoding="utf-8")
    no_keywords = cart_idle.replace("policies:", "policies:\n  opt_out_keywords: []", 1)
    assert no_keywords != cart_idle
    engine = engine_for(custom_triggers(tmp_path, {"cart_idle.yaml": no_keywords}))
    for word in ("STOP", "stop", "退訂", "取消訂閱"):
        stream = Events()
        stream.profile()
        stream.add(1, "message.replied", text=f" {word} ")
        stream.cart(5)
        stream.add(120, "page.left")  # the clock runs past the cart's idle hour
        cart = only(replay(stream, engine), "cart_idle")
        assert [(d.outcome, d.reason) for d in cart] == [("suppress", "marketing_opt_out")], word


def test_a_number_one_customer_leaves_another_takes_in_the_same_batch_whatever_the_order(tmp_path: Path) -> None:
    """Found by an attack: the index took the claims in the order customers first appeared in the
    batch, so bob's claim on alice's old number came before alice released it and was lost."""
    clock = [NOW]
    service = service_in(tmp_path, clock)
    try:
        first = [
            event(event_id="a1", customer_id="alice", phone=NUMBERS[0], t=NOW - 600),
            event(event_id="b1", customer_id="bob", phone=NUMBERS[3], t=NOW - 600),
        ]
        assert asyncio.run(service.ingest(first)).refused == []
        swap = [
            event(event_id="b2", customer_id="bob", phone=NUMBERS[3], t=NOW - 300),  # bob's profile sent again
            event(event_id="a2", customer_id="alice", phone=NUMBERS[1], t=NOW - 290),
            event(event_id="b3", customer_id="bob", phone=NUMBERS[0], t=NOW - 280),
        ]
        assert asyncio.run(service.ingest(swap)).refused == []
        assert service.store.phone_index() == {NUMBERS[1]: "alice", NUMBERS[0]: "bob"}
        index_matches_states_of(service, ("alice", "bob"))
    finally:
        service.store.close()


def index_matches_states_of(service: EmbeddedService, customers: tuple[str, ...]) -> None:
    index = service.store.phone_index()
    for cid in customers:
        state = service.store.load_state(cid)
        phone = latest_phone(state) if state is not None else None
        assert phone is None or index.get(phone) == cid, (cid, phone, index)


def test_a_profile_update_dated_ahead_of_the_clock_does_not_outrank_a_later_stop(tmp_path: Path) -> None:
    """Found by an attack: an update dated a minute ahead (inside MAX_FUTURE_SKEW, as a backend
    whose clock runs fast sends it) saying marketing_opt_out false cancelled a STOP that came after
    it. Live, an event from the future counts as occurring when it arrives."""
    clock = [NOW]
    service = service_in(tmp_path, clock)
    try:
        profile = event(event_id="p", customer_id="alice", phone=NUMBERS[0], whatsapp_opt_in=True, t=NOW - 900)
        asyncio.run(service.ingest([profile]))
        ahead = event(event_id="ahead", customer_id="alice", marketing_opt_out=False, t=NOW + 60)
        asyncio.run(service.ingest([ahead]))
        clock[0] += 5
        asyncio.run(stop_from(service, NUMBERS[0], clock[0]))  # the customer's STOP, after the update
        clock[0] += 120
        asyncio.run(service.tick())
        state = service.store.load_state("alice")
        assert state is not None
        assert state.profile is not None
        assert state.profile.opt_out is True
    finally:
        service.store.close()


def test_an_event_taken_before_is_a_duplicate_even_after_its_number_changed_hands(tmp_path: Path) -> None:
    clock = [NOW]
    service = service_in(tmp_path, clock)
    try:
        alice = event(event_id="a1", customer_id="alice", phone=NUMBERS[0], t=NOW - 600)
        asyncio.run(service.ingest([alice]))
        moved = event(event_id="a2", customer_id="alice", phone=NUMBERS[1], t=NOW - 500)
        bob = event(event_id="b1", customer_id="bob", phone=NUMBERS[0], t=NOW - 400)
        asyncio.run(service.ingest([moved, bob]))
        again = asyncio.run(service.ingest([alice]))  # delivered again by an at-least-once producer
        assert again.refused == []
        assert again.duplicates == 1
    finally:
        service.store.close()


def test_a_state_that_would_grow_past_the_limit_is_never_written_and_keeps_the_opt_out(tmp_path: Path) -> None:
    """Found by an attack: events waiting for the watermark grew a state past what is read back, so
    the customer started afresh, opt-out and all. Such a batch is refused for that customer."""
    clock = [NOW]
    service = service_in(tmp_path, clock)
    name = "x" * 500
    try:
        asyncio.run(service.ingest([event(event_id="p", customer_id="v", phone=NUMBERS[0], t=NOW - 900)]))
        asyncio.run(stop_from(service, NUMBERS[0], NOW - 800))
        carts = [
            decoded({"event_id": f"c{n}", "type": "cart.updated", "customer_id": "v", "occurred_at": _iso(NOW - 5),
                     "cart_id": f"k{n}", "items": [{"product_id": f"p{i}", "name": name, "quantity": 1}
                                                   for i in range(110)]})
            for n in range(80)
        ]  # fmt: skip
        taken = asyncio.run(service.ingest(carts))
        assert [r.reason for _, r in taken.refused] == [TOO_LARGE.reason] * 80
        clock[0] += 60
        asyncio.run(service.tick())
        service.store.evict_all()
        state = service.store.load_state("v")  # what is on disk reads back
        assert state is not None
        assert state.profile is not None
        assert state.profile.opt_out is True
        assert state.pending is None
    finally:
        service.store.close()
