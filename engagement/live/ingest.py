"""Parsing an HTTP ingest body (a JSON event, a JSON array of events, or JSONL) into events and rejects."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from engagement.decode import Rejection, decode_event, decode_item
from engagement.events import MAX_EVENT_BYTES, Event

NDJSON_TYPES = frozenset({"application/x-ndjson", "application/jsonl", "application/jsonlines"})


@dataclass
class IngestBatch:
    events: list[Event] = field(default_factory=list)
    rejected: list[tuple[int, Rejection]] = field(default_factory=list)

    def response(self, duplicates: int = 0) -> dict[str, object]:
        return {
            "accepted": len(self.events) - duplicates,
            "duplicates": duplicates,
            "rejected": len(self.rejected),
            "rejections": [{"index": i, "field": r.field, "reason": r.reason} for i, r in self.rejected],
        }


def parse_body(content_type: str, body: bytes) -> IngestBatch:
    batch = IngestBatch()
    if content_type.split(";", maxsplit=1)[0].strip().lower() in NDJSON_TYPES:
        for index, line in enumerate(line for line in body.splitlines() if line.strip()):
            _add(batch, index, decode_event(line))
        return batch
    stripped = body.lstrip()
    if not stripped.startswith(b"["):
        _add(batch, 0, decode_event(body))
        return batch
    try:
        items = json.loads(body)
    except json.JSONDecodeError as exc:
        batch.rejected.append((0, Rejection("body", f"malformed JSON ({exc.msg})")))
        return batch
    except UnicodeDecodeError:
        batch.rejected.append((0, Rejection("body", "malformed JSON (not UTF-8)")))
        return batch
    if not isinstance(items, list):
        batch.rejected.append((0, Rejection("body", "expected a JSON array of events")))
        return batch
    for index, item in enumerate(items):
        _add(batch, index, decode_item(item))
    return batch


def _add(batch: IngestBatch, index: int, item: Event | Rejection) -> None:
    if isinstance(item, Rejection):
        batch.rejected.append((index, item))
    else:
        batch.events.append(item)


MAX_BODY_BYTES = 1000 * MAX_EVENT_BYTES
