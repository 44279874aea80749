"""Creating the engagement topics before the worker subscribes (a consumer that subscribes to a
topic that does not exist yet is assigned nothing)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from engagement.worker import topics

log = logging.getLogger("engagement.worker")

CHANGELOG = "engagement-engagement-customers-changelog"


async def ensure_topics(brokers: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [name for name in (*topics.OUTPUTS_AND_INPUTS, CHANGELOG) if name not in existing]
        if wanted:
            configs = {name: {"cleanup.policy": "compact"} for name in wanted if name == CHANGELOG}
            new = [NewTopic(n, partitions, 1, topic_configs=configs.get(n, {})) for n in wanted]
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
            log.info("created topics %s with %d partitions", ", ".join(wanted), partitions)
    finally:
        await admin.close()


def ensure_topics_now(brokers: str, partitions: int) -> None:
    asyncio.run(ensure_topics(brokers, partitions))
