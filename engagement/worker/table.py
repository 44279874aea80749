"""The faust state table seen as a plain mapping of customer id to state bytes, written per partition.

Faust's RocksDB store picks the partition's database from the event being processed (a context
variable). The worker writes a batch's states after the batch, so each write names its partition
and runs in the context of an event of that partition seen in the batch; the changelog messages
go out through the app's producer, and the batch waits until the broker has them.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

from faust.streams import _current_event
from faust.types import TP


class PartitionedTable:
    def __init__(self, table: Any) -> None:
        self._table = table
        self._events: dict[int, Any] = {}

    def processing(self, event: Any) -> None:
        """Reads and writes that follow belong to this event's partition."""
        self._events[event.message.partition] = event
        _current_event.set(weakref.ref(event))

    @contextlib.contextmanager
    def _in_partition(self, partition: int) -> Iterator[None]:
        """Store reads and writes in the block go to `partition`'s database."""
        event = self._events.get(partition)
        token = _current_event.set(None if event is None else weakref.ref(event))
        try:
            yield
        finally:
            _current_event.reset(token)

    def get(self, partition: int, key: str) -> bytes | None:
        """The key's value in its partition's store (faust's RocksDB store looks only in the
        database of the current event's partition, which may be another's)."""
        with self._in_partition(partition):
            value = self._table.get(key.encode())
        return None if value is None else bytes(value)

    async def write_all(self, rows: list[tuple[int, str, bytes]]) -> None:
        """A batch's states, each (partition, key, value): into the partition's store and its
        changelog, and back only when the broker has every changelog message. This is what faust's
        table does for each write, done once for the batch: faust's per-write topic bookkeeping and
        its per-message offset record cost more than the write itself; here the store records the
        last changelog offset of each partition once the batch is on the broker."""
        if not rows:
            return
        data, send = self._table.data, self._table.app.producer.send
        topic = self._table.changelog_topic.get_topic_name()
        deliveries = []
        for partition, key, value in rows:
            raw = key.encode()
            with self._in_partition(partition):
                data[raw] = value
            deliveries.append(await send(topic, raw, value, partition, None, None))
        written = await asyncio.gather(*deliveries)
        last: dict[int, int] = {}
        for record in written:
            if record.offset > last.get(record.partition, -1):
                last[record.partition] = record.offset
        for partition, offset in last.items():
            data.set_persisted_offset(TP(topic, partition), offset)

    def delete(self, partition: int, key: str) -> None:
        """Erase a customer's state: a tombstone in the changelog, and the row gone from the local
        RocksDB files too (a delete there only hides the old value until a compaction, so the key's
        range is flushed and compacted at once)."""
        raw = key.encode()
        with self._in_partition(partition):
            if raw in self._table:
                del self._table[raw]
        # faust keeps one RocksDB database per partition and offers no compaction of its own.
        databases = getattr(getattr(self._table, "data", None), "_dbs", None)
        database = databases.get(partition) if isinstance(databases, dict) else None
        if database is not None:
            database.flush()
            database.compact_range(raw, raw + b"\xff")

    def items(self) -> list[tuple[str, bytes]]:
        return [(bytes(k).decode(), bytes(v)) for k, v in self._table.items()]
