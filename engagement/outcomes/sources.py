"""Where the report's records come from.

- a replay of recorded events (`engagement report EVENTS.jsonl`): decisions from the engine,
  orders and replies from the file; no provider statuses, so delivery is not known;
- `run`'s store (its state directory), or, while `run` holds it, its `GET /v1/report` (`--url`,
  or its own port);
- the workers' topics (`--worker`): `engagement.decisions`, `engagement.statuses` and the input
  topics (orders, replies, page views).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

from engagement.core.engine import Engine
from engagement.embedded.store import EmbeddedStore, StoreBusy, StoredSources, existing_store
from engagement.outcomes.attribution import browse_arming_ids, report
from engagement.outcomes.deliveries import Delivery, deliveries_from_statuses, delivery_of
from engagement.outcomes.records import Decided, StatusSeen, decided, decided_from_line, followed_in, status_seen
from engagement.replay.command import replay_file
from engagement.settings import Settings
from engagement.worker.topic_reader import partition_counts, read_topics
from engagement.worker.topics import TopicNames

Rows = list[dict[str, Any]]


class ReportUnavailable(RuntimeError):
    """The records cannot be read; the message says why."""


def from_replay(
    engine: Engine, events: Path, jobs: int = 1, since: float | None = None, since_ago: float | None = None
) -> Rows:
    """`since_ago`: decisions from that many seconds before the replay's last decision on."""
    decisions: list[Decided] = []
    replay_file(engine, events, decided, decisions.append, None, jobs=jobs)
    if since_ago is not None and decisions:
        since = max(d.at for d in decisions) - since_ago
    with events.open("rb") as handle:
        followed = followed_in(handle, browse_arming_ids(engine, decisions))
    return report(engine, decisions, followed, None, since)


def from_lines(
    engine: Engine,
    decision_lines: Iterable[str | bytes],
    event_lines: Iterable[str | bytes],
    statuses: Iterable[StatusSeen],
    since: float | None = None,
    deliveries: dict[str, Delivery] | None = None,
) -> Rows:
    """From what a runtime kept: its decision lines, its events, the provider's statuses, where
    each send went (None: from the statuses, as the workers publish them)."""
    decisions = [d for d in map(decided_from_line, decision_lines) if d is not None]
    followed = followed_in(event_lines, browse_arming_ids(engine, decisions))
    return report(engine, decisions, followed, list(statuses), since, deliveries)


def from_stored(engine: Engine, sources: StoredSources, since: float | None = None) -> Rows:
    """From what `run` stored (`StoreReads.report_sources`)."""
    statuses = [StatusSeen(key, status, first_code(errors)) for key, status, errors in sources.statuses]
    deliveries = {key: delivery_of(stored) for key, stored in sources.deliveries.items()}
    return from_lines(engine, sources.decisions, sources.events, statuses, since, deliveries)


def from_store(engine: Engine, store: EmbeddedStore, since: float | None = None) -> Rows:
    return from_stored(engine, store.report_sources(), since)


async def from_topics(engine: Engine, settings: Settings, since: float | None = None) -> Rows:
    names = TopicNames(settings.topic_prefix)
    topics = (names.decisions, names.statuses, *names.inputs)
    if not await partition_counts(settings.kafka_brokers, (names.decisions,)):
        raise ReportUnavailable(f"no topic {names.decisions} at {settings.kafka_brokers}: no worker has run there")
    found = await read_topics(settings.kafka_brokers, topics)
    status_lines = [json.loads(v) for _, v in found[names.statuses]]
    statuses = [s for s in map(status_seen, status_lines) if s is not None]
    events = [value for topic in names.inputs for _, value in found[topic]]
    decisions = [v for _, v in found[names.decisions]]
    first = {d.key: d.channel for d in map(decided_from_line, decisions) if d is not None and d.outcome == "send"}
    deliveries = deliveries_from_statuses(status_lines, first)
    return await asyncio.to_thread(from_lines, engine, decisions, events, statuses, since, deliveries)  # CPU-bound


def stored(engine: Engine, settings: Settings, url: str | None, since: float | None = None) -> Rows:
    """`engagement report` without an events file: `run`'s store, or its API when `run` holds it."""
    if url is None:
        try:
            store = existing_store(settings.state_dir)
        except StoreBusy:
            url = f"http://127.0.0.1:{settings.http_port}"
        else:
            try:
                return from_store(engine, store, since)
            finally:
                store.close()
    return from_api(url, since)


def from_api(url: str, since: float | None = None) -> Rows:
    key = os.environ.get("ENGAGEMENT_API_KEY", "")
    if not key:
        raise ReportUnavailable(f"{url}: set ENGAGEMENT_API_KEY to a key with the read scope to ask for the report")
    params = {} if since is None else {"since": str(int(since))}
    try:
        response = httpx.get(
            f"{url.rstrip('/')}/v1/report", params=params, headers={"Authorization": f"Bearer {key}"}, timeout=300
        )
    except httpx.HTTPError as exc:
        raise ReportUnavailable(f"{url}: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise ReportUnavailable(f"{url}: {response.status_code} {response.text[:200]}")
    rows = response.json()
    if not isinstance(rows, list):
        raise ReportUnavailable(f"{url}: not a report")
    return rows


def first_code(errors: str) -> str | None:
    try:
        codes = json.loads(errors)
    except ValueError:
        return None
    return str(codes[0]) if isinstance(codes, list) and codes else None
