"""`engagement events export --since 7d > last-week.jsonl`: recent real traffic, replayable, for a backtest.

- `run` keeps every accepted event in its store (erased with the customer, and deleted after
  `RETENTION_DAYS` like the decisions: CONTRACT.md §8). Read from its state directory, or, while
  `run` has it open, through its API (`GET /v1/events`, an `admin` key in `ENGAGEMENT_API_KEY`:
  the events carry numbers in clear).
- `--url URL`: through that API of a running `run`.
- `--worker`: the workers' input topics, from the first message at or after the start of the
  window (Kafka keeps them for `RETENTION_DAYS` too), merged in the order the broker took them.

Events are written as JSON lines in the order they were taken, `occurred_at` at or after the
start of the window: what `engagement replay` reads.

May import: the runtimes (`embedded`, `worker`) and everything below.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import IO

import httpx

from engagement.embedded.store import EmbeddedStore, StoreBusy, existing_store
from engagement.settings import Settings
from engagement.worker.reports import NoTopics, events_from_topics

PAGE = 5_000


class ExportError(RuntimeError):
    """The events cannot be read; the message says why."""


def export_events(settings: Settings, since: float, out: IO[str], url: str | None, worker: bool) -> int:
    """Write the window's events to `out`; how many."""
    if worker:
        try:
            lines: Iterator[str] = iter(asyncio.run(events_from_topics(settings, since)))
        except NoTopics as exc:
            raise ExportError(str(exc)) from None
    elif url is not None:
        lines = _from_api(url, since)
    else:
        try:
            store = existing_store(settings.state_dir)
        except StoreBusy:
            lines = _from_api(f"http://127.0.0.1:{settings.http_port}", since)
        else:
            lines = _from_store(store, since)
    count = 0
    for line in lines:
        out.write(line)
        count += 1
    return count


def _from_store(store: EmbeddedStore, since: float) -> Iterator[str]:
    try:
        after = 0
        while True:
            rows = store.read_events(after, PAGE, since)
            if not rows:
                return
            yield from (line for _, line in rows)
            after = rows[-1][0]
    finally:
        store.close()


def _from_api(url: str, since: float) -> Iterator[str]:
    key = os.environ.get("ENGAGEMENT_API_KEY", "")
    if not key:
        raise ExportError(f"{url}: set ENGAGEMENT_API_KEY to a key with the admin scope to export through the API")
    after = 0
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        while True:
            try:
                response = client.get(
                    f"{url.rstrip('/')}/v1/events", params={"after": after, "limit": PAGE, "since": int(since)}
                )
            except httpx.HTTPError as exc:
                raise ExportError(f"{url}: {type(exc).__name__}") from None
            if response.status_code != 200:
                raise ExportError(f"{url}: {response.status_code} {response.text[:200]}")
            if not response.text:
                return
            yield from response.text.splitlines(keepends=True)
            after = int(response.headers["X-Last-Seq"])
