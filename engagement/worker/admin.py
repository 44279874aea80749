"""Creating the engagement topics before the worker subscribes (a consumer that subscribes to a
topic that does not exist yet is assigned nothing)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from engagement.worker.topics import TopicNames

log = logging.getLogger("engagement.worker")

TABLE = "engagement-customers"


def changelog_topic(app_id: str) -> str:
    """The name faust gives the state table's changelog."""
    return f"{app_id}-{TABLE}-changelog"


async def ensure_topics(
    brokers: str, partitions: int, names: TopicNames, app_id: str, retention_days: int = 90
) -> None:
    """Missing topics created. The decisions, dead-letter, security and statuses topics keep their records
    `retention_days` (they carry numbers and texts); the changelog is compacted, so an erased
    customer's tombstone replaces their state."""
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        changelog = changelog_topic(app_id)
        wanted = [name for name in (*names.all, changelog) if name not in existing]
        if wanted:
            kept = {"retention.ms": str(retention_days * 86_400_000)}
            configs = {
                # an erased customer's old values are compacted away within a day of the tombstone
                changelog: {"cleanup.policy": "compact", "max.compaction.lag.ms": str(86_400_000)},
                names.decisions: kept,
                names.dead_letter: kept,
                names.security: kept,
                names.statuses: kept,
            }
            new = [NewTopic(n, partitions, 1, topic_configs=configs.get(n, {})) for n in wanted]
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
            log.info("created topics %s with %d partitions", ", ".join(wanted), partitions)
    finally:
        await admin.close()


def ensure_topics_now(brokers: str, partitions: int, names: TopicNames, app_id: str, retention_days: int = 90) -> None:
    asyncio.run(ensure_topics(brokers, partitions, names, app_id, retention_days))


async def committed_offsets(brokers: str, group: str, topics: tuple[str, ...]) -> dict[tuple[str, int], int]:
    """The group's committed offsets (the next offset to read) for these topics. A worker that takes
    over a partition starts from them, and they tell it that the messages before were processed."""
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {
        (tp.topic, tp.partition): meta.offset for tp, meta in offsets.items() if tp.topic in topics and meta.offset >= 0
    }
