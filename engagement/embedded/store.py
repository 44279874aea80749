"""The embedded store: customer states, wake-up times, the decision log and the send outbox in one
SQLite file (WAL, synchronous commits), so a restart, kill -9 included, loses no timer and sends nothing twice.

Everything one batch changes is written in one transaction. A send is claimed (`sending`) in its
own commit before the provider is called; after a crash a claimed send is never retried blindly,
it becomes `unknown` (the provider may have it).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from engagement.core.decisions import Decision
from engagement.core.state import CustomerState
from engagement.events import Event
from engagement.live.phone_owners import customer_of_holder, line_holder
from engagement.live.sender import HANDOFF_KEYS, IDEMPOTENT_CHANNELS, outbound_for, watch_after
from engagement.privacy import erased_line, private_directory, private_file
from engagement.providers.base import OutboundMessage
from engagement.replay.output import decision_line
from engagement.state_codec import MAX_STATE_BYTES, StateDecodeError, dump_state, load_state

log = logging.getLogger("engagement.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS states (customer_id TEXT PRIMARY KEY, state BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS wakeups (customer_id TEXT PRIMARY KEY, due REAL NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, line TEXT NOT NULL, customer_id TEXT, at REAL);
CREATE TABLE IF NOT EXISTS outbox (
    key TEXT PRIMARY KEY, message TEXT NOT NULL, send_at REAL NOT NULL, deadline REAL NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, detail TEXT, customer_id TEXT);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, send_at);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value REAL NOT NULL);
CREATE TABLE IF NOT EXISTS phones (phone TEXT PRIMARY KEY, customer_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS phones_owner ON phones (customer_id);
CREATE TABLE IF NOT EXISTS recipients (phone TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS provider_statuses (
    message_id TEXT NOT NULL, status TEXT NOT NULL, key TEXT, at REAL NOT NULL, errors TEXT NOT NULL,
    PRIMARY KEY (message_id, status));
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, customer_id TEXT NOT NULL, at REAL NOT NULL, line TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_customer ON events (customer_id);
CREATE TABLE IF NOT EXISTS source_memory (
    key TEXT PRIMARY KEY, customer_id TEXT NOT NULL, value TEXT NOT NULL, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS source_memory_customer ON source_memory (customer_id);
CREATE INDEX IF NOT EXISTS events_at ON events (at);
"""

# Columns added after the first release, with how to fill them in for rows written before.
MIGRATIONS = (
    ("decisions", "customer_id", "TEXT", "json_extract(line, '$.customer_id')"),
    ("decisions", "at", "REAL", "CAST(strftime('%s', json_extract(line, '$.at')) AS REAL)"),
    ("outbox", "customer_id", "TEXT", "json_extract(message, '$.customer_id')"),
    ("outbox", "channel", "TEXT", "coalesce(json_extract(message, '$.channel'), 'whatsapp')"),
    ("outbox", "delivered", "TEXT", "NULL"),
)
INDEXES = """
CREATE INDEX IF NOT EXISTS decisions_customer ON decisions (customer_id);
CREATE INDEX IF NOT EXISTS decisions_at ON decisions (at);
CREATE INDEX IF NOT EXISTS outbox_customer ON outbox (customer_id);
CREATE INDEX IF NOT EXISTS outbox_detail ON outbox (detail);
"""
ERASED_MESSAGE = '{"erased":true}'
SEND_MARK = '"outcome":"send"'


def with_delivery(line: str, known: dict[str, dict[str, Any]]) -> str:
    """A `send` decision's line with its `delivery` (where the send stands) at its end."""
    if SEND_MARK not in line:
        return line
    delivery = known.get(json.loads(line)["key"])
    if delivery is None:
        return line
    body = line.rstrip("\n")
    tail = line[len(body) :]
    return body.removesuffix("}") + ',"delivery":' + json.dumps(delivery, separators=(",", ":")) + "}" + tail


CACHE_LIMIT = 200_000


class StoredSources(NamedTuple):
    """What `engagement report` reads from the store (`StoreReads.report_sources`)."""

    decisions: list[str]
    events: list[str]
    statuses: list[tuple[str, str, str]]  # send key, status, error codes (a JSON list)
    deliveries: dict[str, dict[str, Any]]  # send key -> where it went (`StoreReads.deliveries`)


@dataclass
class Prepared:
    """A batch's rows, encoded ahead of the transaction that writes them (`EmbeddedStore.write`)."""

    changed: list[CustomerState] = field(default_factory=list)
    states: list[tuple[str, bytes]] = field(default_factory=list)
    asleep: list[tuple[str]] = field(default_factory=list)
    wakeups: list[tuple[str, float]] = field(default_factory=list)
    decisions: list[tuple[str, str, float]] = field(default_factory=list)
    sends: list[tuple[str, str, float, float, str]] = field(default_factory=list)
    events: list[tuple[str, float, str]] = field(default_factory=list)
    numbers: list[tuple[str, str | None]] = field(default_factory=list)  # (customer, the number their state names)

    def add_events(self, events: Iterable[Event]) -> None:
        """Accepted events, kept for `engagement events export` (erased and expired as §8 says)."""
        for event in events:
            line = event.model_dump_json(exclude_none=True)
            self.events.append((event.customer_id, event.occurred_at.timestamp(), line))

    def add_states(self, states: Iterable[CustomerState]) -> list[str]:
        """Encode the states; those over `MAX_STATE_BYTES` are left out, their customers returned (a
        state that large could not be read back: it must never be written)."""
        too_large: list[str] = []
        for state in states:
            cid = state.customer_id
            blob = dump_state(state)
            if len(blob) > MAX_STATE_BYTES:
                too_large.append(cid)
                continue
            self.changed.append(state)
            self.states.append((cid, blob))
            wake = state.wake_at()
            if wake is None:
                self.asleep.append((cid,))
            else:
                self.wakeups.append((cid, wake))
        return too_large

    def add_decisions(self, decisions: Iterable[Decision]) -> None:
        for decision in decisions:
            self.decisions.append((decision_line(decision), decision.customer_id, decision.at))
            outbound = outbound_for(decision)
            if outbound is not None:
                message = json.dumps(outbound.to_dict(), ensure_ascii=False)
                self.sends.append((decision.key, message, decision.at, decision.deadline, decision.customer_id))


@dataclass(frozen=True, slots=True)
class OutboxRow:
    key: str
    message: dict[str, Any]
    send_at: float
    deadline: float
    attempts: int


class StoreBusy(RuntimeError):
    """Another process (a running `engagement run`) has the state directory open."""


class NoState(ValueError):
    """A command that reads `run`'s state was pointed at a directory that holds none."""


def existing_store(directory: Path) -> EmbeddedStore:
    """The store of a state directory `run` has used; `NoState` (creating nothing) when it has none,
    so a mistyped ENGAGEMENT_STATE_DIR is an error, not an empty answer."""
    if not (directory / "engagement.sqlite3").is_file():
        raise NoState(f"no state at {directory}: is ENGAGEMENT_STATE_DIR right?")
    return EmbeddedStore(directory)


class StoreReads:
    """The reads of the stored decisions, events and sends: the store's own, and a `StoreReader`'s
    (a read-only connection of its own, for heavy reads in a worker thread)."""

    _db: sqlite3.Connection

    def read_decisions(self, after: int, limit: int) -> list[tuple[int, str]]:
        """Decision lines in order; a `send` decision's line ends with its `delivery` as it
        stands (see `deliveries`)."""
        rows = self._db.execute("SELECT seq, line FROM decisions WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit))
        lines = [(int(seq), str(line)) for seq, line in rows]
        sends = [json.loads(line)["key"] for _, line in lines if SEND_MARK in line]
        known = self.deliveries(sends)
        return [(seq, with_delivery(line, known)) for seq, line in lines]

    def deliveries(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """Where each send stands: `status` (pending, sending, waiting, sent, delivered, failed,
        unknown, expired), `channel` (of its latest call), `tried` (the channels before it, each
        with why the send moved on: an error code, no_report, unknown) and `delivered` (the channels
        that reported it delivered: two is a counted `delivered_twice`)."""
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            columns = "key, status, coalesce(channel, json_extract(message, '$.channel')), delivered"
            query = f"SELECT {columns}, json_extract(message, '$.tried') FROM outbox WHERE key IN ({marks})"  # noqa: S608
            rows = self._db.execute(query, chunk)
            for key, status, channel, delivered, tried in rows:
                current = channel or "whatsapp"
                before = json.loads(tried or "[]")  # a waiting send's message is already the next channel's
                cut = next((i for i, (name, _) in enumerate(before) if name == current), len(before))
                out[str(key)] = {
                    "status": status,
                    "channel": current,
                    "tried": before[:cut],
                    "delivered": json.loads(delivered or "[]"),
                }
        return out

    def report_sources(self) -> StoredSources:
        """For `engagement report`: every stored decision line; the stored events that can follow a
        decision (orders, replies) or armed one (page views); provider statuses by send key, with
        their error codes (a JSON list); where each send went (`deliveries`)."""
        db = self._db
        decisions = [str(line) for (line,) in db.execute("SELECT line FROM decisions ORDER BY seq")]
        events = [
            str(line)
            for (line,) in db.execute(
                "SELECT line FROM events WHERE line LIKE '%\"order.placed\"%' OR line LIKE '%\"message.replied\"%'"
                " OR line LIKE '%\"page.viewed\"%' ORDER BY seq"
            )
        ]
        statuses = [
            (str(k), str(s), str(e))
            for k, s, e in db.execute("SELECT key, status, errors FROM provider_statuses WHERE key IS NOT NULL")
        ]
        sends = [str(key) for (key,) in db.execute("SELECT key FROM outbox")]
        return StoredSources(decisions, events, statuses, self.deliveries(sends))

    def read_events(self, after: int, limit: int, since: float) -> list[tuple[int, str]]:
        """Accepted events in the order they were taken, from `since` (event time) on, as JSON lines."""
        rows = self._db.execute(
            "SELECT seq, line FROM events WHERE seq > ? AND at >= ? ORDER BY seq LIMIT ?", (after, since, limit)
        )
        return [(int(seq), f"{line}\n") for seq, line in rows]

    def decision_lines_since(self, since: float) -> list[str]:
        rows = self._db.execute("SELECT line FROM decisions WHERE at >= ? ORDER BY seq", (since,))
        return [str(line) for (line,) in rows]

    def events_between(self, since: float, until: float, limit: int = 2_000_000) -> list[str]:
        """Accepted events that occurred in [since, until], in the order taken, as JSON lines."""
        rows = self._db.execute(
            "SELECT line FROM events WHERE at >= ? AND at <= ? ORDER BY seq LIMIT ?", (since, until, limit)
        )
        return [f"{line}\n" for (line,) in rows]

    def customer_timeline(self, customer_id: str, limit: int = 500) -> dict[str, list[Any]]:
        """A customer's latest accepted events and decisions (as stored lines), their sends with
        their state in the outbox, and the provider statuses of those sends."""
        db = self._db
        events = [
            str(line)
            for (line,) in db.execute(
                "SELECT line FROM events WHERE customer_id = ? ORDER BY seq DESC LIMIT ?", (customer_id, limit)
            )
        ]
        decisions = [
            str(line)
            for (line,) in db.execute(
                "SELECT line FROM decisions WHERE customer_id = ? ORDER BY seq DESC LIMIT ?", (customer_id, limit)
            )
        ]
        sends = [
            {"key": key, "status": status, "attempts": attempts, "detail": detail}
            for key, status, attempts, detail in db.execute(
                "SELECT key, status, attempts, detail FROM outbox WHERE customer_id = ? LIMIT ?", (customer_id, limit)
            )
        ]
        statuses = [
            {"key": key, "status": status, "at": at, "errors": errors}
            for send in sends
            for key, status, at, errors in db.execute(
                "SELECT key, status, at, errors FROM provider_statuses WHERE key = ? ORDER BY at", (send["key"],)
            )
        ]
        deliveries = self.deliveries([send["key"] for send in sends])
        return {
            "events": events[::-1],
            "decisions": decisions[::-1],
            "sends": sends,
            "statuses": statuses,
            "deliveries": [{"key": key, **delivery} for key, delivery in deliveries.items()],
        }


class StoreReader(StoreReads):
    """A read-only connection to a store that `run` holds (WAL lets it read beside the writer), for
    one heavy read off the event loop: `with StoreReader(path) as reader: reader.events_between(...)`."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(self, *_: object) -> None:
        self._db.close()


class EmbeddedStore(StoreReads):
    def __init__(self, directory: Path) -> None:
        private_directory(directory)
        self._lock = os.open(directory / "engagement.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            raise StoreBusy(f"{directory} is in use by another engagement process") from None
        self.path = directory / "engagement.sqlite3"
        for name in ("engagement.sqlite3", "engagement.sqlite3-wal", "engagement.sqlite3-shm"):
            private_file(directory / name)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA secure_delete=ON")  # erased rows are overwritten, not left in free pages
        self._db.executescript(SCHEMA)
        self._migrate()
        self._cache: dict[str, CustomerState] = {}
        self.unreadable = 0  # stored states that did not decode (each replaced by a fresh state)

    def _migrate(self) -> None:
        db = self._db
        for table, column, kind, fill in MIGRATIONS:
            present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                with self.transaction():
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
                    db.execute(f"UPDATE {table} SET {column} = {fill}")  # noqa: S608 (constants above)
        db.executescript(INDEXES)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction (the connection is in autocommit mode, where each statement would
        otherwise commit, and wait for the disk, on its own)."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()
        os.close(self._lock)  # closing the descriptor releases the lock

    # ---- states and wake-ups ------------------------------------------------------

    def load_state(self, customer_id: str) -> CustomerState | None:
        state = self._cache.get(customer_id)
        if state is not None:
            return state
        row = self._db.execute("SELECT state FROM states WHERE customer_id = ?", (customer_id,)).fetchone()
        if row is None:
            return None
        try:
            state = load_state(row[0])
        except StateDecodeError as exc:
            self.unreadable += 1
            log.error("customer %s: %s; starting from an empty state", customer_id, exc)
            return None
        self._remember(state)
        return state

    def evict(self, customer_id: str) -> None:
        """Forget the cached state: the next load reads what is on disk."""
        self._cache.pop(customer_id, None)

    def evict_all(self) -> None:
        self._cache.clear()

    def wakeups(self) -> list[tuple[float, str]]:
        return [(due, cid) for cid, due in self._db.execute("SELECT customer_id, due FROM wakeups")]

    def set_meta(self, name: str, value: float) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))

    def max_decision_seq(self) -> int:
        row = self._db.execute("SELECT MAX(seq) FROM decisions").fetchone()
        return int(row[0] or 0)

    def decision_lines(self, after: int, limit: int) -> list[tuple[int, str]]:
        """Stored decision lines as they were made (without their delivery), in order."""
        rows = self._db.execute("SELECT seq, line FROM decisions WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit))
        return [(int(seq), str(line)) for seq, line in rows]

    def meta(self, name: str, default: float) -> float:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return float(row[0]) if row else default

    def commit(self, states: Iterable[CustomerState], decisions: list[Decision], meta: dict[str, float]) -> None:
        """Write a batch in one transaction."""
        batch = Prepared()
        batch.add_states(states)
        batch.add_decisions(decisions)
        self.write(batch, meta)

    def write(self, batch: Prepared, meta: dict[str, float]) -> None:
        """Write a prepared batch in one transaction (the encoding is done: only SQL runs here)."""
        db = self._db
        try:
            with self.transaction():
                db.executemany("INSERT OR REPLACE INTO states VALUES (?, ?)", batch.states)
                db.executemany("DELETE FROM wakeups WHERE customer_id = ?", batch.asleep)
                db.executemany("INSERT OR REPLACE INTO wakeups VALUES (?, ?)", batch.wakeups)
                db.executemany("INSERT INTO decisions (line, customer_id, at) VALUES (?, ?, ?)", batch.decisions)
                db.executemany("INSERT INTO events (customer_id, at, line) VALUES (?, ?, ?)", batch.events)
                db.executemany(
                    "INSERT OR IGNORE INTO outbox (key, message, send_at, deadline, status, customer_id) "
                    "VALUES (?, ?, ?, ?, 'pending', ?)",
                    batch.sends,
                )
                db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(meta.items()))
                self._follow_numbers(batch.numbers)
        except BaseException:
            self._cache.clear()  # the cache may hold changes that were not written
            raise
        for state in batch.changed:
            self._remember(state)

    # ---- the outbox -----------------------------------------------------------------

    def recover_claims(self) -> int:
        """Sends claimed before a crash: the provider may have them, so they are never retried. A
        hand-off is retried: its receivers drop a repeat (by its id), and it must reach people; so
        is a LINE push, which LINE executes once whatever the repeats (its retry key)."""
        channels = sorted(IDEMPOTENT_CHANNELS)  # LINE executes a repeated push once (its retry key)
        marks = ",".join("?" * len(channels))
        self._db.execute(
            f"UPDATE outbox SET status = 'pending' WHERE status = 'sending' AND (key LIKE ? OR channel IN ({marks}))",  # noqa: S608 (marks only)
            (HANDOFF_KEYS + "%", *channels),
        )
        moved = self._watch_unknown_calls()
        cursor = self._db.execute(
            "UPDATE outbox SET status = 'unknown', detail = 'claimed before a restart; not resent' "
            "WHERE status = 'sending'"
        )
        return cursor.rowcount + moved

    def _watch_unknown_calls(self) -> int:
        """Calls cut short by a crash that have a next channel: never repeated on theirs, they wait
        for a status naming them (a minute for a security alert), then go out on the next."""
        rows = self._db.execute(
            "SELECT key, message, send_at, deadline FROM outbox WHERE status = 'sending' "
            "AND json_array_length(message, '$.fallbacks') > 0"
        ).fetchall()
        moved = 0
        for key, raw, called_at, deadline in rows:
            watch = watch_after(
                OutboundMessage.from_dict(json.loads(raw)), float(called_at), float(deadline), "unknown"
            )
            if watch is not None:
                self.wait_for_report(key, watch[0].to_dict(), watch[1], "claimed before a restart; not resent")
                moved += 1
        return moved

    def due_sends(self, now: float, limit: int = 100) -> list[OutboxRow]:
        rows = self._db.execute(
            "SELECT key, message, send_at, deadline, attempts FROM outbox "
            "WHERE status IN ('pending', 'waiting') AND send_at <= ? ORDER BY "
            "CASE json_extract(message, '$.category') WHEN 'security' THEN 0 WHEN 'utility' THEN 1 ELSE 2 END, "
            "send_at LIMIT ?",
            (now, limit),
        )
        return [OutboxRow(k, json.loads(m), float(s), float(d), int(a)) for k, m, s, d, a in rows]

    def next_send_at(self) -> float | None:
        row = self._db.execute("SELECT MIN(send_at) FROM outbox WHERE status IN ('pending', 'waiting')").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def claim(self, key: str, channel: str = "whatsapp") -> bool:
        """Just before the call on `channel` (a send waiting for a delivery report is taken only
        if none came meanwhile)."""
        cursor = self._db.execute(
            "UPDATE outbox SET status = 'sending', attempts = attempts + 1, channel = ? "
            "WHERE key = ? AND status IN ('pending', 'waiting')",
            (channel, key),
        )
        return cursor.rowcount == 1

    def wait_for_report(self, key: str, message: dict[str, Any], at: float, detail: str) -> None:
        """The call went out (or may have): the send waits for a delivery report until `at`, then
        goes out on its next channel (`message`); `detail` keeps the call's provider id."""
        self._db.execute(
            "UPDATE outbox SET status = 'waiting', message = ?, send_at = ?, attempts = 0, detail = ? "
            "WHERE key = ? AND status = 'sending'",  # a report that came during the call has settled it
            (json.dumps(message, ensure_ascii=False), at, detail[:500], key),
        )

    def delivered(self, key: str, channel: str) -> str | None:
        """A delivery report of the send's call on `channel`: `delivered` (a send waiting for it
        goes no further), `twice` (the send had moved on to another channel by then: counted,
        never hidden), or None (not ours, or already known)."""
        row = self._db.execute("SELECT status, channel, delivered FROM outbox WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        status, current, known = str(row[0]), str(row[1] or "whatsapp"), json.loads(row[2] or "[]")
        if channel in known or status == "erased" or (row[1] is None and status == "pending"):
            return None  # known already, erased, or never called (so not a report of ours)
        known.append(channel)
        mark, said = json.dumps(known), "twice" if len(known) > 1 else "delivered"
        if current == channel and status in ("waiting", "sent", "unknown", "sending"):
            self._db.execute("UPDATE outbox SET status = 'delivered', delivered = ? WHERE key = ?", (mark, key))
            return said
        self._db.execute("UPDATE outbox SET delivered = ? WHERE key = ?", (mark, key))
        return said

    def settle(self, key: str, status: str, detail: str | None = None) -> None:
        """A final status; a send a delivery report named during its call stays `delivered`."""
        self._db.execute(
            "UPDATE outbox SET status = CASE status WHEN 'delivered' THEN status ELSE ? END, detail = ? WHERE key = ?",
            (status, detail, key),
        )

    def admit_recipient(self, phone: str, now: float, limit: int, window: float) -> float | None:
        """The messaging-tier budget: None when `phone` may be messaged (recorded), else when a slot frees."""
        db = self._db
        db.execute("DELETE FROM recipients WHERE at <= ?", (now - window,))
        known = db.execute("SELECT 1 FROM recipients WHERE phone = ?", (phone,)).fetchone()
        count, oldest = db.execute("SELECT COUNT(*), MIN(at) FROM recipients").fetchone()
        if known is None and count >= limit:
            return float(oldest) + window
        db.execute("INSERT OR REPLACE INTO recipients VALUES (?, ?)", (phone, now))
        return None

    def reconcile(self, key: str, outcome: str) -> bool:
        """A send left unknown or sending, settled from a status webhook."""
        cursor = self._db.execute(
            "UPDATE outbox SET status = ?, detail = 'from a status webhook' "
            "WHERE key = ? AND status IN ('unknown', 'sending')",
            (outcome, key),
        )
        return cursor.rowcount == 1

    def fail_over(self, key: str, message: dict[str, Any], at: float, detail: str) -> None:
        """The send moves to its next channel: the same key, that channel's message, due at `at`."""
        self._db.execute(
            "UPDATE outbox SET status = 'pending', message = ?, send_at = ?, attempts = 0, detail = ? WHERE key = ?",
            (json.dumps(message, ensure_ascii=False), at, detail[:500], key),
        )

    def refused_on(self, key: str, channel: str, now: float) -> bool:
        """A status that the call on `channel` failed: a send waiting for its report moves on now."""
        cursor = self._db.execute(
            "UPDATE outbox SET send_at = MIN(send_at, ?) WHERE key = ? AND status = 'waiting' AND channel = ?",
            (now, key, channel),
        )
        return cursor.rowcount == 1

    def retry_at(self, key: str, at: float, detail: str) -> None:
        self._db.execute(
            "UPDATE outbox SET status = 'pending', send_at = ?, detail = ? WHERE key = ?", (at, detail, key)
        )

    # ---- the WhatsApp webhook side ---------------------------------------------------

    def _follow_numbers(self, numbers: list[tuple[str, str | None]]) -> None:
        """The phone index takes each customer's number as their state names it (inside the batch's
        transaction); the number they held before is released. A number another customer holds is
        left to them (the batch's `PhoneBook` refused the update that would have taken it)."""
        db = self._db
        for customer_id, phone in numbers:  # every release first: one customer may take what another left
            db.execute("DELETE FROM phones WHERE customer_id = ? AND phone IS NOT ?", (customer_id, phone))
        for customer_id, phone in numbers:
            if phone is None:
                continue
            taken = db.execute("INSERT OR IGNORE INTO phones (phone, customer_id) VALUES (?, ?)", (phone, customer_id))
            if taken.rowcount == 0 and self.customer_for_phone(phone) != customer_id:
                log.error("a number held by another customer was not given to customer %s", customer_id)

    def customer_for_phone(self, phone: str) -> str | None:
        row = self._db.execute("SELECT customer_id FROM phones WHERE phone = ?", (phone,)).fetchone()
        return None if row is None else str(row[0])

    def customer_for_line(self, line_user_id: str) -> str | None:
        """The customer who holds a LINE user id (one owner per id, like numbers)."""
        return customer_of_holder(self.customer_for_phone(line_user_id))

    def send_of_message(self, message_id: str) -> str | None:
        """The key of the send the provider accepted as `message_id`."""
        row = self._db.execute(
            "SELECT key FROM outbox WHERE detail = ? AND status IN ('sent', 'delivered', 'waiting')", (message_id,)
        ).fetchone()
        if row is None:
            row = self._db.execute(
                "SELECT key FROM provider_statuses WHERE message_id = ? AND key IS NOT NULL", (message_id,)
            ).fetchone()
        return None if row is None else str(row[0])

    def customer_of_send(self, key: str) -> str | None:
        """The customer a send was decided for."""
        row = self._db.execute("SELECT customer_id FROM outbox WHERE key = ?", (key,)).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def phone_of(self, customer_id: str) -> str | None:
        """The number the phone index holds for a customer."""
        row = self._db.execute("SELECT phone FROM phones WHERE customer_id = ?", (customer_id,)).fetchone()
        return None if row is None else str(row[0])

    def phone_index(self) -> dict[str, str]:
        """The whole index, phone -> customer (for checks and tests)."""
        return {str(p): str(c) for p, c in self._db.execute("SELECT phone, customer_id FROM phones")}

    def record_status(self, message_id: str, status: str, key: str | None, at: float, errors: str) -> bool:
        """True when this (message id, status) was not recorded before."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO provider_statuses (message_id, status, key, at, errors) VALUES (?, ?, ?, ?, ?)",
            (message_id, status, key, at, errors),
        )
        return cursor.rowcount == 1

    # ---- privacy: erasure and retention --------------------------------------------------

    def forget(self, customer_id: str) -> dict[str, int]:
        """Erase a customer (CONTRACT.md §8): state and timers, phone numbers, queued sends; the
        messages of their stored decisions and past sends (outcomes and reasons stay)."""
        db = self._db
        erased: dict[str, int] = {}
        holders = (customer_id, line_holder(customer_id))
        phones = [str(p) for (p,) in db.execute("SELECT phone FROM phones WHERE customer_id IN (?, ?)", holders)]
        with self.transaction():
            erased["state"] = db.execute("DELETE FROM states WHERE customer_id = ?", (customer_id,)).rowcount
            db.execute("DELETE FROM wakeups WHERE customer_id = ?", (customer_id,))
            erased["phones"] = db.execute("DELETE FROM phones WHERE customer_id IN (?, ?)", holders).rowcount
            for phone in phones:
                db.execute("DELETE FROM recipients WHERE phone = ?", (phone,))
            erased["queued_sends"] = db.execute(
                "DELETE FROM outbox WHERE customer_id = ? AND status = 'pending'", (customer_id,)
            ).rowcount
            erased["sends"] = db.execute(
                "UPDATE outbox SET message = ?, detail = NULL WHERE customer_id = ?", (ERASED_MESSAGE, customer_id)
            ).rowcount
            erased["events"] = db.execute("DELETE FROM events WHERE customer_id = ?", (customer_id,)).rowcount
            erased["source_memory"] = db.execute(
                "DELETE FROM source_memory WHERE customer_id = ?", (customer_id,)
            ).rowcount
            erased["decisions"] = 0
            rows = db.execute("SELECT seq, line FROM decisions WHERE customer_id = ?", (customer_id,)).fetchall()
            for seq, line in rows:
                db.execute("UPDATE decisions SET line = ? WHERE seq = ?", (erased_line(line), seq))
                erased["decisions"] += 1
        self._cache.pop(customer_id, None)
        self.checkpoint()
        return erased

    # ---- what the sources remember (a Shopify order's customer, a Segment cart) ---------

    def recall(self, key: str, now: float) -> str | None:
        row = self._db.execute("SELECT value, expires FROM source_memory WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row is not None and row[1] > now else None

    def remember(self, key: str, customer_id: str, value: str, expires: float) -> None:
        self._db.execute(
            "INSERT INTO source_memory (key, customer_id, value, expires) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET customer_id = excluded.customer_id, value = excluded.value, "
            "expires = excluded.expires",
            (key, customer_id, value, expires),
        )

    def drop_memory(self, key: str) -> None:
        self._db.execute("DELETE FROM source_memory WHERE key = ?", (key,))

    def purge(self, before: float) -> dict[str, int]:
        """Retention: decisions, settled sends and provider statuses older than `before` are deleted."""
        db = self._db
        with self.transaction():
            purged = {
                "decisions": db.execute("DELETE FROM decisions WHERE at < ?", (before,)).rowcount,
                "sends": db.execute(
                    "DELETE FROM outbox WHERE deadline < ? AND status NOT IN ('pending', 'sending')", (before,)
                ).rowcount,
                "statuses": db.execute("DELETE FROM provider_statuses WHERE at < ?", (before,)).rowcount,
                "events": db.execute("DELETE FROM events WHERE at < ?", (before,)).rowcount,
                "source_memory": db.execute("DELETE FROM source_memory WHERE expires < ?", (before,)).rowcount,
            }
        if any(purged.values()):
            self.checkpoint()
        return purged

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database and empty it, so erased rows leave no copy there."""
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def outbox_counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status")
        return {str(status): int(n) for status, n in rows}

    def _remember(self, state: CustomerState) -> None:
        cache = self._cache
        cache.pop(state.customer_id, None)
        cache[state.customer_id] = state
        if len(cache) > CACHE_LIMIT:
            del cache[next(iter(cache))]  # every cached state is also on disk
