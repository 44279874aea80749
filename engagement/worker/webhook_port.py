"""The WhatsApp webhook's port in the worker: statuses deduplicated and the phone index in Redis
(shared by all workers), replies produced to the input topics like any ingested event."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable

from engagement.events import Event
from engagement.live.http import Ingest
from engagement.live.ingest import Taken
from engagement.live.security_reports import SecurityReport
from engagement.live.whatsapp_webhook import StatusUpdate
from engagement.worker.outbox import RedisOutbox

STATUS_TTL_SECONDS = 7 * 86_400  # Meta retries a webhook for up to 7 days


Publish = Callable[[SecurityReport], Awaitable[None]]
PublishStatus = Callable[[str, bytes], Awaitable[None]]  # (send key, the status as a JSON line)


class RedisWebhookPort:
    """`publish_status`: each new status of a send, to the statuses topic that `engagement report`
    reads (the other workers' webhooks publish theirs there too)."""

    def __init__(
        self,
        outbox: RedisOutbox,
        producer: Ingest,
        publish: Publish,
        publish_status: PublishStatus | None = None,
        not_me: Callable[[], frozenset[str]] = lambda: frozenset({"not_me"}),
    ) -> None:
        self.outbox, self.producer, self.publish = outbox, producer, publish
        self.publish_status = publish_status
        self._not_me = not_me

    def not_me_words(self) -> frozenset[str]:
        return self._not_me()

    async def record_statuses(self, statuses: list[StatusUpdate]) -> list[StatusUpdate]:
        new: list[StatusUpdate] = []
        for status in statuses:
            name = f"{self.outbox.namespace}:status:{status.message_id}:{status.status}"
            record = json.dumps({"key": status.key, "at": status.timestamp, "errors": status.error_codes})
            if status.key is not None and self.publish_status is not None:
                # published before it is marked seen: a failed publish fails the webhook, which Meta
                # retries; a status published twice counts once in the report
                line = {"key": status.key, "message_id": status.message_id, "status": status.status,
                        "channel": status.channel, "at": status.timestamp,
                        "errors": list(status.error_codes)}  # fmt: skip
                await self.publish_status(status.key, json.dumps(line).encode())
            if await self.outbox.set_once(name, record, STATUS_TTL_SECONDS):
                new.append(status)
        return new

    async def customer_for_phone(self, phone: str) -> str | None:
        return await self.outbox.customer_for_phone(phone)

    async def customer_for_line(self, line_user_id: str) -> str | None:
        return await self.outbox.customer_for_line(line_user_id)

    async def send_of_message(self, message_id: str) -> str | None:
        return await self.outbox.send_of_message(message_id)

    async def customer_of_send(self, key: str) -> str | None:
        return await self.outbox.customer_of_send(key)

    async def ingest(self, events: list[Event]) -> Taken:
        return await self.producer.ingest(events)

    async def report_security(self, report: SecurityReport) -> None:
        await self.publish(report)

    async def reconcile(self, key: str, outcome: str) -> bool:
        return await self.outbox.reconcile(key, outcome)

    async def delivered(self, key: str, channel: str) -> str | None:
        return await self.outbox.delivered(key, channel)

    async def refused_on(self, key: str, channel: str) -> bool:
        return await self.outbox.refused_on(key, channel, time.time())
