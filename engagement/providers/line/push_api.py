"""LINE's Messaging API as a provider: `POST {base}/v2/bot/message/push`, JSON, bearer token.

`X-Line-Retry-Key` is a UUID derived from the send's key, so a call repeated after a timeout is
executed once by LINE: a `409` then means the first was accepted (sent). A push reports no
delivery; an accepted push counts as delivered.

- 429 "monthly limit": the account's free messages are spent: pushes of that category stop until
  the first of next month (UTC) and the send moves to its next channel; any other 429 is a rate
  limit, backed off like WhatsApp's 130429.
- 400 naming `to` (no such user, or not a friend) makes LINE unreachable for the customer; any
  400/403 is permanent for that send (it moves to the next channel).
"""

from __future__ import annotations

import json
import logging
import math
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from engagement.providers.base import (
    ChannelUnavailableError,
    OutboundMessage,
    OutcomeUnknownError,
    PermanentError,
    ProviderError,
    RecipientUnreachableError,
    SendingHaltedError,
    SendReceipt,
    ThrottledError,
    TransientError,
)

log = logging.getLogger("engagement.line")

RETRY_KEYS = uuid.UUID("8d1f4a52-3c53-4c57-9b0e-6c1f3f0b2b7e")  # the namespace of our retry keys
THROTTLE_BACKOFF_SECONDS = 2.0
MONTHLY_LIMIT = "monthly limit"


def retry_key(key: str) -> str:
    """The `X-Line-Retry-Key` of a send: the same for every call of one send key."""
    return str(uuid.uuid5(RETRY_KEYS, key))


def line_message(message: OutboundMessage) -> dict[str, Any]:
    """The message object LINE takes: a Flex bubble or a text, with quick replies (postbacks)."""
    out: dict[str, Any]
    if message.flex is not None:
        out = {"type": "flex", "altText": message.body[:400], "contents": json.loads(message.flex)}
    else:
        out = {"type": "text", "text": message.body[:5000]}
    if message.replies:
        out["quickReply"] = {
            "items": [
                {
                    "type": "action",
                    "action": {"type": "postback", "label": label[:20], "data": value[:300], "displayText": label},
                }
                for value, label in message.replies[:13]
            ]
        }
    return out


def next_month(now: float) -> float:
    day = datetime.fromtimestamp(now, UTC)
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return datetime(year, month, 1, tzinfo=UTC).timestamp()


class LinePushProvider:
    name = "line"

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_connections: int = 64,
    ) -> None:
        if not token:
            raise ValueError("LINE sends need ENGAGEMENT_LINE_CHANNEL_TOKEN (the channel access token)")
        self.url = f"{base_url.rstrip('/')}/v2/bot/message/push"
        self._client = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout, pool=read_timeout),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )
        self.spent_until: dict[str, float] = {}  # category -> when the monthly quota is back

    async def send(self, message: OutboundMessage) -> SendReceipt:
        now = datetime.now(UTC).timestamp()
        if self.spent_until.get(message.category, 0.0) > now:
            raise ChannelUnavailableError("LINE: this month's messages are spent", "monthly_limit")
        body = {"to": message.to, "messages": [line_message(message)]}
        headers = {"X-Line-Retry-Key": retry_key(message.key)}
        try:
            response = await self._client.post(self.url, json=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientError(f"not sent: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise OutcomeUnknownError(f"no answer: {type(exc).__name__}") from exc
        if response.status_code == 409:  # this retry key was accepted before: the push went out once
            accepted = response.headers.get("x-line-accepted-request-id") or retry_key(message.key)
            return SendReceipt(accepted[:128], "accepted")
        if response.is_success:
            sent = _json(response).get("sentMessages")
            first = sent[0] if isinstance(sent, list) and sent and isinstance(sent[0], dict) else {}
            request_id = response.headers.get("x-line-request-id", "")
            return SendReceipt(str(first.get("id") or request_id or retry_key(message.key))[:128], "accepted")
        raise self._error(response, message, now)

    def _error(self, response: httpx.Response, message: OutboundMessage, now: float) -> ProviderError:
        body = _json(response)
        said = str(body.get("message", response.reason_phrase))[:300]
        status = response.status_code
        text = f"LINE HTTP {status}: {said}"
        if status == 429 and MONTHLY_LIMIT in said.lower():
            self.spent_until[message.category] = next_month(now)
            log.error("LINE: the monthly message limit is reached; %s pushes stop until next month", message.category)
            return ChannelUnavailableError(text, "monthly_limit")
        if status == 429:
            wait = _retry_after(response) or THROTTLE_BACKOFF_SECONDS
            return ThrottledError(text, wait * random.uniform(1.0, 1.5), "429")  # noqa: S311 (spreading retries)
        if status >= 500:
            return TransientError(text, str(status))
        if status == 401:
            log.error("LINE refuses the channel access token; LINE sends stop")
            return SendingHaltedError(text, "401")
        details = body.get("details")
        names_to = isinstance(details, list) and any(isinstance(d, dict) and d.get("property") == "to" for d in details)
        if status == 400 and names_to:
            return RecipientUnreachableError(text, "400")
        return PermanentError(text, str(status))

    async def close(self) -> None:
        await self._client.aclose()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        parsed = response.json()
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _retry_after(response: httpx.Response) -> float | None:
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return min(seconds, 3600.0) if math.isfinite(seconds) and seconds >= 0 else None
