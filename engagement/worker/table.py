"""The faust state table seen as a plain mapping of customer id to state bytes, written per partition.

Faust's RocksDB store picks the partition's database from the event being processed (a context
variable). The worker writes a batch's states after the batch, so each write names its partition
and runs in the context of an event of that partition seen in the batch.
"""

from __future__ import annotations

import weakref
from typing import Any

from faust.streams import _current_event


class PartitionedTable:
    def __init__(self, table: Any) -> None:
        self._table = table
        self._events: dict[int, Any] = {}

    def processing(self, event: Any) -> None:
        """Reads and writes that follow belong to this event's partition."""
        self._events[event.message.partition] = event
        _current_event.set(weakref.ref(event))

    def get(self, key: str) -> bytes | None:
        value = self._table.get(key.encode())
        return None if value is None else bytes(value)

    def write(self, partition: int, key: str, value: bytes) -> None:
        event = self._events.get(partition)
        token = _current_event.set(None if event is None else weakref.ref(event))
        try:
            self._table[key.encode()] = value
        finally:
            _current_event.reset(token)

    def delete(self, partition: int, key: str) -> None:
        """Erase a customer's state: a tombstone in the changelog, and the row gone from the local
        RocksDB files too (a delete there only hides the old value until a compaction, so the key's
        range is flushed and compacted at once)."""
        event = self._events.get(partition)
        token = _current_event.set(None if event is None else weakref.ref(event))
        raw = key.encode()
        try:
            if raw in self._table:
                del self._table[raw]
        finally:
            _current_event.reset(token)
        # faust keeps one RocksDB database per partition and offers no compaction of its own.
        databases = getattr(getattr(self._table, "data", None), "_dbs", None)
        database = databases.get(partition) if isinstance(databases, dict) else None
        if database is not None:
            database.flush()
            database.compact_range(raw, raw + b"\xff")

    def items(self) -> list[tuple[str, bytes]]:
        return [(bytes(k).decode(), bytes(v)) for k, v in self._table.items()]
