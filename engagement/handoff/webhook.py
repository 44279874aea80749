"""Hand-offs POSTed to `ENGAGEMENT_HANDOFF_URL`, signed with `ENGAGEMENT_HANDOFF_SECRET`."""

from __future__ import annotations

import time
from typing import Any

import httpx

from engagement.handoff.record import encoded, signed
from engagement.providers.base import PermanentError, TransientError


class HandoffWebhook:
    name = "webhook"

    def __init__(self, url: str, secret: str, timeout: float = 10.0) -> None:
        self.url, self._secret = url, secret
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(timeout), follow_redirects=False)

    def __repr__(self) -> str:
        return f"HandoffWebhook({self.url!r})"

    async def deliver(self, body: dict[str, Any]) -> None:
        """Raises `TransientError` (retried: a fault, a timeout, 429 or 5xx) or `PermanentError`
        (the receiver refused it: any other 4xx). A repeat is safe: the receiver drops it by `id`."""
        content = encoded(body)
        try:
            response = await self.client.post(
                self.url, content=content, headers=signed(content, self._secret, int(time.time()))
            )
        except httpx.HTTPError as exc:
            raise TransientError(f"hand-off webhook: {type(exc).__name__}") from exc
        status = response.status_code
        if status < 300:
            return
        if status == 429 or status >= 500 or status in (408, 409, 425):
            raise TransientError(f"hand-off webhook answered {status}")
        raise PermanentError(f"hand-off webhook refused it: {status}", code=str(status))

    async def close(self) -> None:
        await self.client.aclose()
