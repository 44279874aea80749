"""The report and the recent events from the workers' topics (`engagement report --worker`,
`engagement events export --worker`, the worker's `/v1/report` and console)."""

from __future__ import annotations

import asyncio
import heapq
import json

from engagement.core.engine import Engine
from engagement.decode import Rejection, decode_event
from engagement.outcomes.deliveries import deliveries_from_statuses
from engagement.outcomes.records import decided_from_line, status_seen
from engagement.outcomes.sources import ReportUnavailable, Rows, from_lines
from engagement.settings import Settings
from engagement.worker.topic_reader import partition_counts, read_topics
from engagement.worker.topics import TopicNames


class NoTopics(ReportUnavailable):
    """The topics to read are not there: no worker has run on these brokers."""


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


async def events_from_topics(settings: Settings, since: float) -> list[str]:
    """Every input partition from the first offset at or after `since` to its end at the start."""
    names = TopicNames(settings.topic_prefix)
    if not await partition_counts(settings.kafka_brokers, names.inputs):
        raise NoTopics(f"no input topics {', '.join(names.inputs)} at {settings.kafka_brokers}")
    found = await read_topics(settings.kafka_brokers, names.inputs, since)
    lines = []
    for _, value in heapq.merge(*found.values()):
        event = decode_event(value)
        if not isinstance(event, Rejection) and event.occurred_at.timestamp() >= since:
            lines.append(event.model_dump_json(exclude_none=True) + "\n")
    return lines
