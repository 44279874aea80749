"""A phone number belongs to one customer: the claims a batch's profile updates make, and the
rejections for the updates whose number another customer holds (both runtimes; the claim
itself is the runtime's store: SQLite for `run`, Redis for workers)."""

from __future__ import annotations

from engagement.decode import Rejection
from engagement.events import CustomerUpdated, Event

TAKEN = Rejection(
    "phone",
    "belongs to another customer; it can be given to this one once that customer's profile moves "
    "to another number or that customer is erased",
)


def phone_claims(events: list[Event]) -> list[tuple[str, str]]:
    """(phone, customer id) for every profile update that sets a phone number, in order."""
    return [(e.phone, e.customer_id) for e in events if isinstance(e, CustomerUpdated) and e.phone]


def refused_phones(events: list[Event], answers: list[bool]) -> dict[int, Rejection]:
    """The indices (into `events`) of the updates whose claim was refused, with their reason."""
    if all(answers):
        return {}
    claiming = [n for n, e in enumerate(events) if isinstance(e, CustomerUpdated) and e.phone]
    return {n: TAKEN for n, granted in zip(claiming, answers, strict=True) if not granted}
