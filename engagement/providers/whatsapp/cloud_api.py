"""Meta's WhatsApp Cloud API as a provider: `POST {base}/{version}/{phone_number_id}/messages`.

One `httpx.AsyncClient` with keep-alive, a bounded pool and explicit timeouts. Answers become
receipts or the typed errors of the provider port, by the error table. A request that may have
reached Meta (a read timeout, a connection lost after sending) is `OutcomeUnknownError`: the
sender never repeats it; the status webhook tells what became of it.
"""

from __future__ import annotations

import json
import logging
import random
from typing import Any

import httpx

from engagement.providers.base import (
    OutboundMessage,
    OutcomeUnknownError,
    ProviderError,
    SendReceipt,
    TransientError,
)
from engagement.providers.error_classes import ErrorClass, port_error
from engagement.providers.whatsapp.error_table import classify
from engagement.providers.whatsapp.payloads import message_body

log = logging.getLogger("engagement.whatsapp")

NUMBER_BACKOFF_SECONDS = 2.0  # 130429: the number's throughput was reached
PAIR_BACKOFF_SECONDS = 6.0  # 131056: one message per 6 s to the same user
USAGE_BACKOFF_SECONDS = 60.0  # 4, 80007 without an estimate in x-business-use-case-usage


class CloudApiProvider:
    name = "whatsapp"

    def __init__(
        self,
        base_url: str,
        version: str,
        phone_number_id: str,
        token: str,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_connections: int = 64,
        transport: httpx.AsyncBaseTransport | None = None,
        number_backoff: float = NUMBER_BACKOFF_SECONDS,
    ) -> None:
        if not phone_number_id or not token:
            raise ValueError(
                "the WhatsApp provider needs ENGAGEMENT_WHATSAPP_PHONE_NUMBER_ID and ENGAGEMENT_WHATSAPP_TOKEN"
            )
        self.url = f"{base_url.rstrip('/')}/{version}/{phone_number_id}/messages"
        self.number_backoff = number_backoff
        self._client = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout, pool=read_timeout),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
        )

    async def send(self, message: OutboundMessage) -> SendReceipt:
        body = json.dumps(message_body(message), ensure_ascii=False).encode()
        try:
            response = await self._client.post(self.url, content=body)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientError(f"not sent: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:  # read timeout, connection lost after the request went out
            raise OutcomeUnknownError(f"no answer: {type(exc).__name__}") from exc
        if response.is_success:
            return _receipt(response)
        raise _error(response, self.number_backoff)

    async def close(self) -> None:
        await self._client.aclose()


def _receipt(response: httpx.Response) -> SendReceipt:
    try:
        data = response.json()
        first = data["messages"][0]
        return SendReceipt(str(first["id"]), first.get("message_status"))
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        # Accepted (2xx) but unreadable: it may well be sent; never resend.
        raise OutcomeUnknownError(f"HTTP {response.status_code} without a message id") from exc


def _error(response: httpx.Response, number_backoff: float = NUMBER_BACKOFF_SECONDS) -> ProviderError:
    error: dict[str, Any] = {}
    try:
        parsed = response.json()
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            error = parsed["error"]
    except ValueError:
        pass
    code = error.get("code") if isinstance(error.get("code"), int) else None
    text = f"HTTP {response.status_code}, code {code}: {str(error.get('message', response.reason_phrase))[:300]}"
    kind = classify(code, response.status_code, error.get("is_transient"))
    wait = 0.0
    if kind is ErrorClass.THROTTLED_PAIR:
        wait = _jitter(PAIR_BACKOFF_SECONDS)
    elif kind is ErrorClass.THROTTLED_NUMBER:
        wait = _jitter(number_backoff if code == 130429 else _regain_seconds(response) or USAGE_BACKOFF_SECONDS)
    elif kind is ErrorClass.HALT:
        log.error("WhatsApp sending halted: %s", text)
    return port_error(kind, text, None if code is None else str(code), wait)


def _regain_seconds(response: httpx.Response) -> float | None:
    """`estimated_time_to_regain_access` (minutes) from `x-business-use-case-usage`, if present."""
    header = response.headers.get("x-business-use-case-usage")
    if not header:
        return None
    try:
        usage = json.loads(header)
        minutes = max(
            float(entry.get("estimated_time_to_regain_access", 0)) for entries in usage.values() for entry in entries
        )
    except (ValueError, TypeError, AttributeError):
        return None
    return minutes * 60 if minutes > 0 else None


def _jitter(seconds: float) -> float:
    return seconds * random.uniform(1.0, 1.5)  # noqa: S311 (spreading retries, not security)
