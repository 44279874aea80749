"""Feeding the shipped demo stream into a running service at live pace, re-timed to start now."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from engagement.decode import Rejection, decode_event
from engagement.events import Event
from engagement.live.http import Ingest
from engagement.timefmt import parse_rfc3339, rfc3339

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo"
TIME_FIELDS = ("occurred_at", "promised_delivery_at", "new_eta")


def retimed_lines(lines: list[str], start: float, run_id: str) -> list[str]:
    """The stream moved so that its first event happens at `start`; event ids made unique to this run."""
    records = [json.loads(line) for line in lines if line.strip()]
    first = min(parse_rfc3339(r["occurred_at"]) for r in records)
    for record in records:
        for name in TIME_FIELDS:
            if name in record:
                record[name] = rfc3339(parse_rfc3339(record[name]) - first + start)
        record["event_id"] = f"{run_id}-{record['event_id']}"
    return [json.dumps(record, ensure_ascii=False) for record in records]


def retimed(lines: list[str], start: float, run_id: str) -> list[tuple[float, Event]]:
    out: list[tuple[float, Event]] = []
    for line in retimed_lines(lines, start, run_id):
        event = decode_event(line)
        if isinstance(event, Rejection):
            raise ValueError(f"the demo stream has a bad line: {event}")
        out.append((event.occurred_at.timestamp(), event))
    return out


async def feed_demo(service: Ingest, stream: Path) -> int:
    start = time.time() + 1.0
    events = retimed(stream.read_text(encoding="utf-8").splitlines(), start, f"demo{int(start)}")
    for at, event in events:
        delay = at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await service.ingest([event])
    return len(events)
