"""One POST of a batch of decisions to the shop's receiver, signed (CONTRACT.md §5, outbound
webhooks): `X-Engagement-Timestamp` and `X-Engagement-Signature: sha256=<hex HMAC-SHA256 of
"<timestamp>.<body>">` with `ENGAGEMENT_DECISIONS_WEBHOOK_SECRET`.

The body: `{"id": ..., "decisions": [{"id": ..., <the decision as /v1/decisions gives it>}, ...]}`.
A decision's `id` is a digest of its line: the same decision posted again has the same id.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import httpx

from engagement.handoff.record import encoded, signed
from engagement.providers.base import PermanentError, TransientError

REFUSED = frozenset({400, 413, 422})  # the receiver refuses the batch itself: retrying cannot help


def decision_id(line: str) -> str:
    return "d-" + hashlib.sha256(line.encode()).hexdigest()[:32]


def _decision(line: str) -> dict[str, Any] | None:
    try:
        found = json.loads(line)
    except ValueError:
        return None
    return {"id": decision_id(line), **found} if isinstance(found, dict) else None


def batch_body(lines: list[str]) -> dict[str, Any]:
    """The body of a POST; a line that is no decision (never written by engagement) is left out."""
    decisions = [d for d in map(_decision, lines) if d is not None]
    digest = hashlib.sha256("".join(d["id"] for d in decisions).encode()).hexdigest()[:32]
    return {"id": f"b-{digest}", "decisions": decisions}


class DecisionsWebhook:
    def __init__(self, url: str, secret: str, timeout: float = 10.0) -> None:
        self.url, self._secret = url, secret
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(timeout), follow_redirects=False)

    def __repr__(self) -> str:
        return f"DecisionsWebhook({self.url!r})"

    async def post(self, lines: list[str]) -> None:
        """Raises `PermanentError` when the receiver refuses this batch itself (400, 413, 422), else
        `TransientError` for any other answer but a 2xx (a fault, a timeout, 5xx, 429, but also a
        redirect, 401, 403 or 404: a receiver being deployed or its secret rotated), retried."""
        content = encoded(batch_body(lines))
        try:
            response = await self.client.post(
                self.url, content=content, headers=signed(content, self._secret, int(time.time()))
            )
        except httpx.HTTPError as exc:
            raise TransientError(f"decisions webhook: {type(exc).__name__}") from exc
        status = response.status_code
        if status < 300:
            return
        if status in REFUSED:
            raise PermanentError(f"decisions webhook refused a batch: {status}", code=str(status))
        raise TransientError(f"decisions webhook answered {status}")

    async def close(self) -> None:
        await self.client.aclose()
