"""The console's backend on a worker: the live engine of this worker, and the records the workers
keep in Kafka (decisions, statuses and the input topics) for its pages, read when asked."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from engagement.config.loader import default_triggers_dir
from engagement.config.messages import default_messages_dir
from engagement.console.routes import ConsoleBackend
from engagement.console.templates_page import SendTest, graph_account
from engagement.console.workspace import Workspace
from engagement.core.engine import Engine
from engagement.core.state import CustomerState
from engagement.live.heavy_reads import HeavyReads
from engagement.outcomes.deliveries import FAILOVER, deliveries_from_statuses
from engagement.outcomes.records import decided_from_line
from engagement.settings import Settings
from engagement.timefmt import parse_rfc3339
from engagement.worker.reports import events_from_topics, from_topics
from engagement.worker.topic_reader import read_topics
from engagement.worker.topics import TopicNames

TIMELINE_DAYS = 30


def worker_console(
    settings: Settings,
    live: Callable[[], Engine],
    gate: HeavyReads,
    state_of: Callable[[str], Awaitable[CustomerState | None]],
    owner_of: Callable[[str], Awaitable[str | None]],
    send_test: SendTest | None,
    erasures_elsewhere: Callable[[], Awaitable[object]],
) -> ConsoleBackend:
    """Every read goes through `gate` (a few at once; the CPU-bound part in a worker thread).
    `state_of`: a customer's state when this worker holds their partition (else None)."""
    names = TopicNames(settings.topic_prefix)
    brokers = settings.kafka_brokers
    workspace = Workspace(
        settings.triggers_dir or default_triggers_dir(),
        settings.messages_dir or default_messages_dir(),
        live().settings,
    )

    async def report(since: float | None) -> list[dict[str, Any]]:
        async with gate.slot():
            return await from_topics(live(), settings, since)

    async def decisions_since(since: float) -> list[str]:
        async with gate.slot():
            found = await read_topics(brokers, (names.decisions,), since)
        return [value.decode() for _, value in found[names.decisions]]

    async def archive(since: float, until: float) -> list[str]:
        async with gate.slot():
            lines = await events_from_topics(settings, since)
            return await asyncio.to_thread(lambda: [line for line in lines if _occurred(line) <= until])

    async def timeline(customer_id: str) -> dict[str, list[Any]]:
        """The last `TIMELINE_DAYS` of the topics, filtered for one customer."""
        topics = (*names.inputs, names.decisions, names.statuses)
        async with gate.slot():
            found = await read_topics(brokers, topics, time.time() - TIMELINE_DAYS * 86_400)
            return await asyncio.to_thread(_of_customer, found, names, customer_id)

    return ConsoleBackend(
        workspace,
        Path(settings.state_dir),
        live,
        report,
        decisions_since,
        archive,
        timeline,
        state_of=state_of,
        owner_of=owner_of,
        send_test=send_test,
        graph=graph_account(settings),
        test_numbers=settings.allowed_test_numbers(),
        require_approval=settings.console_require_approval,
        erasures_elsewhere=erasures_elsewhere,
    )


def _of_customer(
    found: dict[str, list[tuple[Any, bytes]]], names: TopicNames, customer_id: str
) -> dict[str, list[Any]]:
    """One customer's events, decisions and statuses among the records read."""
    mine = f'"customer_id":"{customer_id}"'.encode()
    mine_spaced = f'"customer_id": "{customer_id}"'.encode()

    def of_customer(value: bytes) -> bool:
        return mine in value or mine_spaced in value

    events = [v.decode() for t in names.inputs for _, v in found[t] if of_customer(v)]
    decisions = list({json.loads(v)["key"]: v.decode() for _, v in found[names.decisions] if of_customer(v)}.values())
    sent = [d for d in map(decided_from_line, decisions) if d is not None and d.outcome == "send"]
    keys = {json.loads(line)["key"] for line in decisions}
    statuses = [s for s in (json.loads(v) for _, v in found[names.statuses]) if s.get("key") in keys]
    deliveries = deliveries_from_statuses(statuses, {d.key: d.channel for d in sent})
    return {
        "events": events,
        "decisions": decisions,
        "sends": [],
        "statuses": [s for s in statuses if s.get("status") != FAILOVER],
        "deliveries": [{"key": key, **delivery.as_json()} for key, delivery in deliveries.items()],
    }


def _occurred(line: str) -> float:
    try:
        return parse_rfc3339(json.loads(line)["occurred_at"])
    except (ValueError, KeyError):
        return float("inf")
