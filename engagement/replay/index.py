"""What a replay learns about its file besides the decisions, so that some customers can be
replayed again without the others: whose event each line is, which event types each customer
sent, where the watermark rose, and each customer's state just before their first event of
each type that starts a trigger.

A customer's decisions depend on their own events and on the watermark alone (see
`engagement.replay.runner`), so replaying their lines with the same rises at the same lines
gives the same decisions as the whole file did (`engagement.replay.subset`); and a replay of a
customer under a configuration whose changes only their first `cart.updated` can set going may
start there, from the state the whole replay had at that line.
"""

from __future__ import annotations

import json
import os
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO

from engagement.core.engine import Engine
from engagement.core.kinds.registry import KINDS
from engagement.core.state import CustomerState
from engagement.replay.set_aside import stored_form
from engagement.state_codec import dump_state

NO_CUSTOMER = -1
FORMAT = 3


@dataclass
class Rises:
    """The lines at which the watermark rose (the largest event time read so far grew), the time
    it rose to, and whether the line was a login (decided on arrival, after the rise)."""

    lines: array[int] = field(default_factory=lambda: array("q"))
    times: array[float] = field(default_factory=lambda: array("d"))
    logins: bytearray = field(default_factory=bytearray)

    def extend(self, other: Rises) -> None:
        self.lines.extend(other.lines)
        self.times.extend(other.times)
        self.logins.extend(other.logins)


@dataclass
class IndexPart:
    """What one process replaying some customers noted (line numbers and customer numbers of its own)."""

    lines: array[int]
    customer_of_line: array[int]
    customers: list[str]
    types: list[str]
    seen: list[int]  # per customer: a bit per event type number
    firsts: list[tuple[int, str, int, bytes]] = field(default_factory=list)
    """(customer number, event type, line, state before it as `dump_state` bytes, b"" for none):
    the customer's first event of a type that starts a trigger."""
    decided: dict[str, list[int]] = field(default_factory=dict)
    """Decision key -> [customer number, the line read when the first decision of the key was
    made, the line read when its last was]."""


EARLY = frozenset({"page.viewed", "page.left"})
"""Types nearly every customer sends first: starting there would save nothing, and keeping the
state before them would cost a state per customer."""


def snapshot_types(engine: Engine) -> frozenset[str]:
    """The event types that can start a trigger of `engine`, or of any edit of it that keeps its
    event catalogue (the kinds' fixed ones, its sequences' starts), and replies."""
    types: set[str] = {"message.replied"}
    for kind in KINDS:
        types |= kind.started_by([plan for k, plan in engine.plans.values() if k is kind])
    return frozenset(types - EARLY)


class IndexBuilder:
    """Notes every accepted event (line, customer, type, time), in line order; with `rises`,
    also where the watermark rose (a single process sees every line)."""

    def __init__(self, starting: frozenset[str], rises: bool = True) -> None:
        self.part = IndexPart(array("q"), array("i"), [], [], [])
        self.rises = Rises() if rises else None
        self.starting = starting  # the event types whose first per customer keeps the state before it
        self._customer_no: dict[str, int] = {}
        self._type_bit: dict[str, int] = {}
        self._top = float("-inf")
        self.line = 0  # the line being replayed (for `decided`)

    def decided(self, customer_id: str, key: str, line: int | None = None) -> None:
        """A decision about the customer, of `key`, was made while `line` (by default `self.line`) was read."""
        number = self._customer_no.get(customer_id)
        if number is None:
            return
        at = self.line if line is None else line
        span = self.part.decided.get(key)
        if span is None:
            self.part.decided[key] = [number, at, at]
        else:
            span[2] = at

    def note(
        self,
        line: int,
        customer_id: str,
        event_type: str,
        t: float,
        login: bool,
        states: Mapping[str, CustomerState | bytes],
    ) -> None:
        """Called before the replay takes the event (after the rises of the lines before it); the
        decisions made until the next note are made while this line is read."""
        self.line = line
        part = self.part
        number = self._customer_no.get(customer_id)
        if number is None:
            number = self._customer_no[customer_id] = len(part.customers)
            part.customers.append(customer_id)
            part.seen.append(0)
        bit = self._type_bit.get(event_type)
        if bit is None:
            bit = self._type_bit[event_type] = 1 << len(part.types)
            part.types.append(event_type)
        if not part.seen[number] & bit and event_type in self.starting:
            state = states.get(customer_id)
            blob = b"" if state is None else stored_form(state) if isinstance(state, bytes) else dump_state(state)
            part.firsts.append((number, event_type, line, blob))
        part.seen[number] |= bit
        part.lines.append(line)
        part.customer_of_line.append(number)
        rises = self.rises
        if rises is not None and t > self._top:
            self._top = t
            rises.lines.append(line)
            rises.times.append(t)
            rises.logins.append(login)


@dataclass
class ReplayIndex:
    customer_of_line: array[int]  # by line number (line 0 unused): a customer number, or NO_CUSTOMER
    customers: list[str]
    types: list[str]
    seen: list[int]
    rises: Rises
    firsts: dict[int, dict[str, tuple[int, bytes]]] = field(default_factory=dict)
    """Customer number -> event type -> (line of their first such event, their state before it)."""
    decided: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    """Decision key -> (customer number, the line read when the key's first decision was made,
    the line read when its last was)."""
    _spans: dict[int, list[tuple[int, int]]] | None = field(default=None, init=False, repr=False, compare=False)

    def start_of(self, customer: int, event_types: frozenset[str]) -> tuple[int, bytes] | None:
        """Where a replay of `customer` may start when only `event_types` can change what is
        decided for them: their first event of one of those types, and the state before it.
        None: from their first line (a type they sent has no state kept, or a key of theirs was
        decided both before it and after: its outcome up to there is not kept apart)."""
        kept = self.firsts.get(customer, {})
        mask = self.seen[customer]
        best: tuple[int, bytes] | None = None
        for n, name in enumerate(self.types):
            if mask >> n & 1 and name in event_types:
                found = kept.get(name)
                if found is None:
                    return None
                if best is None or found[0] < best[0]:
                    best = found
        if best is not None and self.decided_across(customer, best[0]):
            return None
        return best

    def decided_across(self, customer: int, line: int) -> bool:
        """Whether a key of the customer was decided both before `line` and while it or a later
        line was read (the decisions made while a line is read are made after its state was kept)."""
        if self._spans is None:
            spans: dict[int, list[tuple[int, int]]] = {}
            for number, first, last in self.decided.values():
                spans.setdefault(number, []).append((first, last))
            self._spans = spans
        return any(first < line <= last for first, last in self._spans.get(customer, ()))

    def decided_before(self, key: str, line: int) -> bool:
        """Whether the key's last decision was made before `line` was read."""
        span = self.decided.get(key)
        return span is not None and span[2] < line

    @classmethod
    def of(cls, parts: Sequence[IndexPart], rises: Rises) -> ReplayIndex:
        """The parts of the processes that shared a replay, numbered again as one."""
        last = max((part.lines[-1] for part in parts if part.lines), default=0)
        dense = array("i", [NO_CUSTOMER]) * (last + 1)
        customers: list[str] = []
        types: list[str] = []
        type_bit: dict[str, int] = {}
        seen: list[int] = []
        firsts: dict[int, dict[str, tuple[int, bytes]]] = {}
        decided: dict[str, tuple[int, int, int]] = {}
        for part in parts:
            offset = len(customers)
            customers.extend(part.customers)
            bits = []
            for name in part.types:
                if name not in type_bit:
                    type_bit[name] = 1 << len(types)
                    types.append(name)
                bits.append(type_bit[name])
            for mask in part.seen:
                seen.append(sum(bit for n, bit in enumerate(bits) if mask >> n & 1))
            for line, number in zip(part.lines, part.customer_of_line, strict=True):
                dense[line] = number + offset
            for number, name, line, blob in part.firsts:
                firsts.setdefault(number + offset, {})[name] = (line, blob)
            for key, (number, first, last) in part.decided.items():
                decided[key] = (number + offset, first, last)
        return cls(dense, customers, types, seen, rises, firsts, decided)

    def touching(self, event_types: Iterable[str]) -> bytearray:
        """A flag per customer number: whether the customer sent an event of one of these types."""
        wanted = set(event_types)
        mask = sum(1 << n for n, name in enumerate(self.types) if name in wanted)
        return bytearray(bool(seen & mask) for seen in self.seen)

    def dump(self, out: IO[bytes]) -> None:
        kept = [
            (number, name, line, blob) for number, types in self.firsts.items() for name, (line, blob) in types.items()
        ]
        head = {"format": FORMAT, "customers": self.customers, "types": self.types, "seen": self.seen,
                "firsts": [[number, name, line, len(blob)] for number, name, line, blob in kept],
                "decided": [[key, *span] for key, span in self.decided.items()]}  # fmt: skip
        write_blob(out, json.dumps(head, ensure_ascii=False).encode())
        for blob in (self.customer_of_line, self.rises.lines, self.rises.times):
            write_blob(out, blob.tobytes())
        write_blob(out, bytes(self.rises.logins))
        write_blob(out, b"".join(blob for *_, blob in kept))

    @classmethod
    def load(cls, source: IO[bytes]) -> ReplayIndex:
        head = json.loads(read_blob(source))
        if head.get("format") != FORMAT:
            raise ValueError("an index written by another version")
        dense, lines, times = array("i"), array("q"), array("d")
        for blob in (dense, lines, times):
            blob.frombytes(read_blob(source))
        logins = bytearray(read_blob(source))
        customers, seen = head["customers"], head["seen"]
        if not len(lines) == len(times) == len(logins) or len(seen) != len(customers):
            raise ValueError("an index whose parts disagree")
        if dense and (max(dense) >= len(customers) or min(dense) < NO_CUSTOMER):
            raise ValueError("an index naming a customer it does not list")
        states = read_blob(source)
        firsts: dict[int, dict[str, tuple[int, bytes]]] = {}
        at = 0
        for number, name, line, size in head["firsts"]:
            if not 0 <= number < len(customers) or size < 0 or at + size > len(states):
                raise ValueError("an index whose kept states disagree")
            firsts.setdefault(number, {})[name] = (line, states[at : at + size])
            at += size
        decided: dict[str, tuple[int, int, int]] = {}
        for key, number, first, last in head["decided"]:
            if not (isinstance(key, str) and all(type(n) is int for n in (number, first, last))):
                raise ValueError("an index whose decisions disagree")
            if not (0 <= number < len(customers) and 0 <= first <= last):
                raise ValueError("an index whose decisions disagree")
            decided[key] = (int(number), int(first), int(last))
        return cls(dense, customers, head["types"], seen, Rises(lines, times, logins), firsts, decided)


def write_blob(out: IO[bytes], blob: bytes) -> None:
    """`blob` with its length before it."""
    out.write(len(blob).to_bytes(8, "little"))
    out.write(blob)


def read_blob(source: IO[bytes]) -> bytes:
    """The next blob `write_blob` wrote; ValueError for one cut short (or a length past the end
    of the file: nothing is allocated for it)."""
    size = int.from_bytes(source.read(8), "little")
    left = os.fstat(source.fileno()).st_size - source.tell()
    if size > left:
        raise ValueError("cut short")
    blob = source.read(size)
    if len(blob) != size:
        raise ValueError("cut short")
    return blob
