"""What a replay learns about its file besides the decisions, so that some customers can be
replayed again without the others: whose event each line is, which event types each customer
sent, and where the watermark rose.

A customer's decisions depend on their own events and on the watermark alone (see
`engagement.replay.runner`), so replaying their lines with the same rises at the same lines
gives the same decisions as the whole file did (`engagement.replay.subset`).
"""

from __future__ import annotations

import json
import os
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO

NO_CUSTOMER = -1
FORMAT = 1


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


class IndexBuilder:
    """Notes every accepted event (line, customer, type, time), in line order; with `rises`,
    also where the watermark rose (a single process sees every line)."""

    def __init__(self, rises: bool = True) -> None:
        self.part = IndexPart(array("q"), array("i"), [], [], [])
        self.rises = Rises() if rises else None
        self._customer_no: dict[str, int] = {}
        self._type_bit: dict[str, int] = {}
        self._top = float("-inf")

    def note(self, line: int, customer_id: str, event_type: str, t: float, login: bool) -> None:
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

    @classmethod
    def of(cls, parts: Sequence[IndexPart], rises: Rises) -> ReplayIndex:
        """The parts of the processes that shared a replay, numbered again as one."""
        last = max((part.lines[-1] for part in parts if part.lines), default=0)
        dense = array("i", [NO_CUSTOMER]) * (last + 1)
        customers: list[str] = []
        types: list[str] = []
        type_bit: dict[str, int] = {}
        seen: list[int] = []
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
        return cls(dense, customers, types, seen, rises)

    def touching(self, event_types: Iterable[str]) -> bytearray:
        """A flag per customer number: whether the customer sent an event of one of these types."""
        wanted = set(event_types)
        mask = sum(1 << n for n, name in enumerate(self.types) if name in wanted)
        return bytearray(bool(seen & mask) for seen in self.seen)

    def dump(self, out: IO[bytes]) -> None:
        head = {"format": FORMAT, "customers": self.customers, "types": self.types, "seen": self.seen}
        write_blob(out, json.dumps(head, ensure_ascii=False).encode())
        for blob in (self.customer_of_line, self.rises.lines, self.rises.times):
            write_blob(out, blob.tobytes())
        write_blob(out, bytes(self.rises.logins))

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
        if dense and max(dense) >= len(customers):
            raise ValueError("an index naming a customer it does not list")
        return cls(dense, head["customers"], head["types"], head["seen"], Rises(lines, times, logins))


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
