"""A customer answered "not me" to a login alert (the alert's NOT_ME button): a security report
for the shop's security team, published to the `engagement.security` topic (workers) and, when
`ENGAGEMENT_SECURITY_WEBHOOK_URL` is set, POSTed there as JSON (both runtimes), with retries."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

import httpx

from engagement.live.metrics import Metrics
from engagement.live.supervisor import Supervisor
from engagement.timefmt import rfc3339

log = logging.getLogger("engagement.security")

NOT_ME_PAYLOADS = frozenset({"NOT_ME"})
ATTEMPTS = 4


@dataclass(frozen=True, slots=True)
class SecurityReport:
    customer_id: str
    phone: str
    message_id: str  # the customer's answer
    replied_to: str | None  # the provider's id of the login alert answered
    at: float
    kind: str = "login_not_me"

    def to_json(self) -> bytes:
        record = {**asdict(self), "at": rfc3339(self.at)}
        return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()


class SecurityWebhook:
    """POSTs each report to the configured URL; retries with backoff, then logs it as lost."""

    def __init__(self, url: str, metrics: Metrics, backoff: float = 1.0) -> None:
        self.url, self.metrics, self.backoff = url, metrics, backoff
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(5.0))

    async def post(self, report: SecurityReport) -> bool:
        body = report.to_json()
        for attempt in range(ATTEMPTS):
            try:
                response = await self.client.post(self.url, content=body, headers={"Content-Type": "application/json"})
                if response.status_code < 300:
                    self.metrics.inc("engagement_security_reports_total", result="webhook_delivered")
                    return True
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    break
            except httpx.HTTPError as exc:
                log.warning("security webhook: %s", exc)
            await asyncio.sleep(self.backoff * 2**attempt)
        self.metrics.inc("engagement_security_reports_total", result="webhook_failed")
        log.error(
            "security webhook: the report of customer %s on message %s was not delivered",
            report.customer_id,
            report.message_id,
        )
        return False

    async def close(self) -> None:
        await self.client.aclose()


class SecurityReports:
    """Where "not me" reports go: the log, `publish` (the workers' security topic) when given, and
    the webhook URL when one is set, posted in the background so the provider's webhook call
    does not wait for the shop's endpoint."""

    def __init__(
        self,
        webhook_url: str,
        metrics: Metrics,
        publish: Callable[[SecurityReport], Awaitable[None]] | None = None,
        supervisor: Supervisor | None = None,
    ) -> None:
        self.webhook = SecurityWebhook(webhook_url, metrics) if webhook_url else None
        self.publish = publish
        self.supervisor = supervisor or Supervisor(metrics)
        self._background: set[asyncio.Task[None]] = set()

    async def report(self, report: SecurityReport) -> None:
        log.warning("customer %s answered 'not me' to a login alert", report.customer_id)
        if self.publish is not None:
            await self.publish(report)
        if self.webhook is not None:
            webhook = self.webhook

            async def post() -> None:
                await webhook.post(report)

            task = asyncio.create_task(self.supervisor.once("security_reports", post))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        if self.webhook is not None:
            await self.webhook.close()
