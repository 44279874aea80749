"""A phone number belongs to one customer, and the phone index says what the customers' states say.

The index (phone -> customer, customer -> phone) routes replies, STOP and "not me" taps to a
customer, so it must follow each customer's number exactly as their state does: in event-time
order, after duplicate detection, with every update still waiting in the ordering buffer counted
(`core.profile.latest_phone`). Both runtimes therefore use it in two steps around the engine:

1. While a batch is applied, a `PhoneBook` (the index as the batch has changed it so far) refuses
   a profile update that gives a customer a number another customer holds (`TAKEN`).
2. When the batch is written, each customer whose profile changed gets, in the index, the number
   their state now names, and the number they held before is released (`desired_numbers`).

The claim itself is the runtime's store: SQLite for `run` (in the batch's transaction), Redis for
the workers (one atomic script; a number another worker's customer took meanwhile fails the batch,
which is then applied again and refuses the update).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from engagement.core.profile import latest_line_id, latest_phone
from engagement.core.state import CustomerState
from engagement.decode import Rejection
from engagement.events import CustomerUpdated, Event

TAKEN = Rejection(
    "phone",
    "belongs to another customer; it can be given to this one once that customer's profile moves "
    "to another number or that customer is erased",
)

LINE_TAKEN = Rejection(
    "line_user_id",
    "belongs to another customer; it can be given to this one once that customer's profile moves "
    "to another LINE user id or that customer is erased",
)

LINE_HOLDER = "\x1fline:"
"""A LINE user id is held in the same index as the numbers, by `line_holder(customer)`: an id
starts with `U` and a number with `+`, and no customer id holds a control character, so neither
can be taken for the other."""

Lookup = Callable[[str], str | None]


def line_holder(customer_id: str) -> str:
    """Who holds a customer's LINE user id in the index."""
    return LINE_HOLDER + customer_id


def customer_of_holder(holder: str | None) -> str | None:
    """The customer a LINE user id's holder stands for (None for a number's holder)."""
    return holder[len(LINE_HOLDER) :] if holder is not None and holder.startswith(LINE_HOLDER) else None


class PhoneBook:
    """The phone index as one batch sees it: the store's answers, overlaid with the batch's own
    changes. `owner_of(phone)` and `number_of(customer)` read the store (or what was read of it
    for the batch in advance)."""

    def __init__(self, owner_of: Lookup, number_of: Lookup) -> None:
        self._owner_of, self._number_of = owner_of, number_of
        self._owners: dict[str, str | None] = {}
        self._numbers: dict[str, str | None] = {}

    def owner(self, phone: str) -> str | None:
        if phone in self._owners:
            return self._owners[phone]
        return self._owner_of(phone)

    def number(self, customer_id: str) -> str | None:
        if customer_id in self._numbers:
            return self._numbers[customer_id]
        return self._number_of(customer_id)

    def refuses(self, event: Event) -> bool:
        """Whether `event` gives its customer a number or LINE user id another customer holds."""
        return self.refusal(event) is not None

    def refusal(self, event: Event) -> Rejection | None:
        """Why `event` is refused: its number, or its LINE user id, is another customer's."""
        if not isinstance(event, CustomerUpdated):
            return None
        if event.phone is not None and self.owner(event.phone) not in (None, event.customer_id):
            return TAKEN
        holder = line_holder(event.customer_id)
        if event.line_user_id is not None and self.owner(event.line_user_id) not in (None, holder):
            return LINE_TAKEN
        return None

    def take(self, event: Event) -> None:
        """What `event` names is its customer's for the rest of the batch's view (a request's
        second customer asking for it is refused)."""
        if isinstance(event, CustomerUpdated):
            if event.phone is not None:
                self.follow(event.customer_id, event.phone)
            if event.line_user_id is not None:
                self.follow(line_holder(event.customer_id), event.line_user_id)

    def follow_state(self, customer_id: str, state: CustomerState) -> None:
        """The view follows what the customer's state names: their number and their LINE user id."""
        self.follow(customer_id, latest_phone(state))
        self.follow(line_holder(customer_id), latest_line_id(state))

    def follow(self, customer_id: str, phone: str | None) -> None:
        """The customer's state now names `phone` (None: no number): the view follows it."""
        held = self.number(customer_id)
        if held == phone:
            return
        if held is not None and self.owner(held) == customer_id:
            self._owners[held] = None
        if phone is not None:
            self._owners[phone] = customer_id
        self._numbers[customer_id] = phone


def updates_phone(event: Event) -> bool:
    """Whether `event` may move the customer's number or LINE user id."""
    return isinstance(event, CustomerUpdated) and (event.phone is not None or event.line_user_id is not None)


def phones_and_customers(events: Iterable[Event]) -> tuple[list[str], list[str]]:
    """The numbers a batch's profile updates name and their customers, each once (what a store
    reads in advance for a `PhoneBook`)."""
    phones: dict[str, None] = {}
    customers: dict[str, None] = {}
    for event in events:
        if isinstance(event, CustomerUpdated) and event.phone is not None:
            phones[event.phone] = None
            customers[event.customer_id] = None
        if isinstance(event, CustomerUpdated) and event.line_user_id is not None:
            phones[event.line_user_id] = None
            customers[line_holder(event.customer_id)] = None
    return list(phones), list(customers)


def desired_numbers(states: Mapping[str, CustomerState], customers: Iterable[str]) -> list[tuple[str, str | None]]:
    """(holder, what their state names) for the customers whose profile a batch changed: the
    customer and their number, and their LINE holder and LINE user id."""
    out: list[tuple[str, str | None]] = []
    for cid in customers:
        state = states.get(cid)
        if state is not None:
            out.append((cid, latest_phone(state)))
            out.append((line_holder(cid), latest_line_id(state)))
    return out
