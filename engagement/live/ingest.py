"""Parsing an HTTP ingest body (a JSON event, a JSON array of events, or JSONL) into events and rejects,
and what a runtime answers for the events it was given (`Taken`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic_core import from_json

from engagement.decode import Rejection, decode_event, decode_item
from engagement.events import Event
from engagement.live.answers import IngestAnswer, RejectedItem

FROM_PROVIDERS = frozenset({"message.replied", "message.failed", "conversation.resolved"})
"""Event types the provider webhooks and the people side make (replies, refusals, a hand-off
resolved): they opt customers out, mark numbers unreachable, open the 24 h window and resume
automatic answers, so a client posts them only with the `admin` scope (imports)."""
NEEDS_ADMIN = Rejection(
    "type",
    "message.replied and message.failed come from the providers' signed webhooks, conversation.resolved "
    "from POST /v1/conversations/{customer_id}/resolve; posting them needs a key with the admin scope",
)
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/jsonl", "application/jsonlines"})
MAX_ITEMS = 50_000  # events in one request


@dataclass
class Taken:
    """A runtime's answer for a list of events: how many repeated events already taken, and the
    events it refused (by their index in that list), such as a phone number another customer owns."""

    duplicates: int = 0
    refused: list[tuple[int, Rejection]] = field(default_factory=list)


@dataclass
class IngestBatch:
    """The events of one request, each with its index in the request, and the rejected items."""

    events: list[tuple[int, Event]] = field(default_factory=list)
    rejected: list[tuple[int, Rejection]] = field(default_factory=list)

    def take(self, taken: Taken) -> None:
        """Move the events the runtime refused over to the rejected ones."""
        if not taken.refused:
            return
        refused = dict(taken.refused)
        self.rejected.extend((self.events[i][0], reason) for i, reason in refused.items())
        self.rejected.sort(key=lambda item: item[0])
        self.events = [entry for i, entry in enumerate(self.events) if i not in refused]

    def refuse_provider_events(self) -> None:
        """For a key without the admin scope: the events only providers may send become rejections."""
        if not any(event.type in FROM_PROVIDERS for _, event in self.events):
            return
        self.rejected.extend((i, NEEDS_ADMIN) for i, event in self.events if event.type in FROM_PROVIDERS)
        self.rejected.sort(key=lambda item: item[0])
        self.events = [(i, event) for i, event in self.events if event.type not in FROM_PROVIDERS]

    def answer(self, duplicates: int = 0) -> IngestAnswer:
        return IngestAnswer(
            accepted=len(self.events) - duplicates,
            duplicates=duplicates,
            rejected=len(self.rejected),
            # 1-based, as replay numbers the lines of a file and as an editor shows them
            rejections=[RejectedItem(index=i + 1, field=r.field, reason=r.reason) for i, r in self.rejected],
        )

    def response(self, duplicates: int = 0) -> dict[str, object]:
        return self.answer(duplicates).model_dump()


def parse_body(content_type: str, body: bytes, now: float, max_future: float) -> IngestBatch:
    """Never raises for bad input: malformed, too deep or too many items become rejections. Events
    dated more than `max_future` seconds after `now` are rejected (they would move the clock)."""
    batch = IngestBatch()
    if not body.strip():
        batch.rejected.append((0, Rejection("body", "empty: send a JSON event, a JSON array of events, or JSONL")))
        return batch
    if content_type.split(";", maxsplit=1)[0].strip().lower() in NDJSON_TYPES:
        lines = [line for line in body.splitlines() if line.strip()]
        if len(lines) > MAX_ITEMS:
            return _too_many(batch, len(lines))
        for index, line in enumerate(lines):
            _add(batch, index, decode_event(line), now, max_future)
        return batch
    if not body.lstrip().startswith(b"["):
        _add(batch, 0, decode_event(body), now, max_future)
        return batch
    try:
        items = from_json(body)
    except ValueError as exc:
        batch.rejected.append((0, Rejection("body", f"malformed JSON ({_first_line(exc)})")))
        return batch
    if not isinstance(items, list):
        batch.rejected.append((0, Rejection("body", "expected a JSON array of events")))
        return batch
    if len(items) > MAX_ITEMS:
        return _too_many(batch, len(items))
    for index, item in enumerate(items):
        _add(batch, index, decode_item(item), now, max_future)
    return batch


def future_rejection(event: Event, now: float, max_future: float, t: float | None = None) -> Rejection | None:
    """Live ingest bounds event time: an event from the future would move the watermark for good.
    `t`: the event's time in epoch seconds, when the caller has it already."""
    if (event.occurred_at.timestamp() if t is None else t) > now + max_future:
        return Rejection("occurred_at", f"in the future (more than {max_future:.0f} s ahead of the server's clock)")
    return None


def _add(batch: IngestBatch, index: int, item: Event | Rejection, now: float, max_future: float) -> None:
    if not isinstance(item, Rejection):
        item = future_rejection(item, now, max_future) or item
    if isinstance(item, Rejection):
        batch.rejected.append((index, item))
    else:
        batch.events.append((index, item))


def _too_many(batch: IngestBatch, count: int) -> IngestBatch:
    batch.rejected.append((0, Rejection("body", f"{count} items; at most {MAX_ITEMS} events per request")))
    return batch


def _first_line(exc: ValueError) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else "invalid"
