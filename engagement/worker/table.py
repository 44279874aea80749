"""The faust state table seen as a plain mapping of customer id to state bytes, written per partition.

Faust's RocksDB store picks the partition's database from the event being processed (a context
variable). The worker writes a batch's states after the batch, so each write names its partition
and runs in the context of an event of that partition seen in the batch.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from faust.streams import _current_event
from faust.types import TP


class PartitionedTable:
    def __init__(self, table: Any) -> None:
        self._table = table
        self._events: dict[int, Any] = {}

    def _producer(self) -> Any:
        return self._table.app.producer

    def processing(self, event: Any) -> None:
        """Reads and writes that follow belong to this event's partition."""
        self._events[event.message.partition] = event
        _current_event.set(weakref.ref(event))

    def use_partition(self, partition: int) -> None:
        """Reads and writes that follow belong to this partition (one of whose events was seen)."""
        event = self._events.get(partition)
        _current_event.set(None if event is None else weakref.ref(event))

    def get(self, key: str) -> bytes | None:
        value = self._table.get(key.encode())
        return None if value is None else bytes(value)

    async def write_all(self, rows: list[tuple[int, str, bytes]]) -> None:
        """A batch's states, each (partition, key, value): into the partition's store and its
        changelog, and back only when the broker has every changelog message. What faust's table
        does for each write, done for the batch: the per-write bookkeeping of a faust topic costs
        more than the write; the last changelog offset is recorded per partition, not per message."""
        data, send = self._table.data, self._producer().send
        topic = self._table.changelog_topic.get_topic_name()
        deliveries = []
        for partition, key, value in rows:
            raw = key.encode()
            event = self._events.get(partition)
            token = _current_event.set(None if event is None else weakref.ref(event))
            try:
                data[raw] = value
            finally:
                _current_event.reset(token)
            deliveries.append(await send(topic, raw, value, partition, None, None))
        written = await asyncio.gather(*deliveries)
        last: dict[int, int] = {}
        for (partition, _, _), record in zip(rows, written, strict=True):
            if record.offset > last.get(partition, -1):
                last[partition] = record.offset
        for partition, offset in last.items():
            data.set_persisted_offset(TP(topic, partition), offset)

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
