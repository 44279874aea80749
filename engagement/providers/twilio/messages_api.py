"""Twilio's WhatsApp Messages API as a provider:
`POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, HTTP Basic auth.

A template send names its approved Content template (`ContentSid`, looked up from the
provider-neutral template name and language in the content map) with `ContentVariables`, a
JSON string of the parameters ({"1": ..., "2": ...}, or by name). A free-form send carries
`Body`. The send's idempotency key rides on the status callback URL (`?key=...`), so status
callbacks settle sends whose outcome was unknown, as `biz_opaque_callback_data` does for Meta.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import yaml

from engagement.providers.base import (
    ChannelUnavailableError,
    OutboundMessage,
    OutcomeUnknownError,
    PermanentError,
    ProviderError,
    SendReceipt,
    TransientError,
)
from engagement.providers.error_classes import ErrorClass, port_error
from engagement.providers.twilio.error_table import classify

log = logging.getLogger("engagement.twilio")

THROTTLE_BACKOFF_SECONDS = 2.0

ContentMap = Mapping[str, Mapping[str, str]]  # template name -> language -> ContentSid


def load_content_map(path: Path | None) -> ContentMap:
    """`{template name: {language: HX...}}` from a YAML or JSON file (empty without one)."""
    if path is None:
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"{path}: expected {{template name: {{language: ContentSid}}}}")
    return {str(name): {str(lang): str(sid) for lang, sid in sids.items()} for name, sids in data.items()}


class TwilioProvider:
    name = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        sender: str,
        *,
        base_url: str = "https://api.twilio.com",
        content: ContentMap | None = None,
        status_callback: str | None = None,
        sms_sender: str = "",
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_connections: int = 64,
    ) -> None:
        if not account_sid or not auth_token or not (sender or sms_sender):
            raise ValueError(
                "the Twilio provider needs ENGAGEMENT_TWILIO_ACCOUNT_SID, ENGAGEMENT_TWILIO_AUTH_TOKEN "
                "and ENGAGEMENT_TWILIO_FROM (whatsapp:+... or a Messaging Service MG...) or, for SMS, "
                "ENGAGEMENT_TWILIO_SMS_FROM"
            )
        self.sms_sender = sms_sender
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.sender, self.content, self.status_callback = sender, content or {}, status_callback
        self._client = httpx.AsyncClient(
            auth=(account_sid, auth_token),
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout, pool=read_timeout),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    def form(self, message: OutboundMessage) -> dict[str, str]:
        """The form fields of a send (raises PermanentError for a template without a ContentSid)."""
        if message.channel == "sms":
            return self.sms_form(message)
        if not self.sender:
            raise ChannelUnavailableError("no Twilio WhatsApp sender (ENGAGEMENT_TWILIO_FROM)", "no_sender")
        fields = {"To": f"whatsapp:{message.to}"}
        if self.sender.startswith("MG"):
            fields["MessagingServiceSid"] = self.sender
        else:
            fields["From"] = self.sender if self.sender.startswith("whatsapp:") else f"whatsapp:{self.sender}"
        template = message.template
        if template is not None:
            sid = self.content.get(template.name, {}).get(template.language)
            if sid is None:
                raise PermanentError(f"no ContentSid for template {template.name!r} ({template.language})")
            fields["ContentSid"] = sid
            variables = {p.name or str(n): p.text for n, p in enumerate(template.body, 1)}
            if variables:
                fields["ContentVariables"] = json.dumps(variables, ensure_ascii=False, separators=(",", ":"))
        else:
            fields["Body"] = message.body
        self._callback(fields, message)
        return fields

    def sms_form(self, message: OutboundMessage) -> dict[str, str]:
        """An SMS: the text alone, from the SMS number or Messaging Service."""
        if not self.sms_sender:
            raise ChannelUnavailableError("no SMS sender (ENGAGEMENT_TWILIO_SMS_FROM)", "no_sender")
        fields = {"To": message.to, "Body": message.body}
        if self.sms_sender.startswith("MG"):
            fields["MessagingServiceSid"] = self.sms_sender
        else:
            fields["From"] = self.sms_sender
        self._callback(fields, message)
        return fields

    def _callback(self, fields: dict[str, str], message: OutboundMessage) -> None:
        """The send's key (and channel) ride on the status callback's URL."""
        if self.status_callback:
            joiner = "&" if "?" in self.status_callback else "?"
            query = {"key": message.key, **({"channel": message.channel} if message.channel != "whatsapp" else {})}
            fields["StatusCallback"] = f"{self.status_callback}{joiner}{urlencode(query)}"

    async def send(self, message: OutboundMessage) -> SendReceipt:
        fields = self.form(message)
        try:
            response = await self._client.post(self.url, data=fields)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientError(f"not sent: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise OutcomeUnknownError(f"no answer: {type(exc).__name__}") from exc
        if response.is_success:
            try:
                data = response.json()
                return SendReceipt(str(data["sid"]), data.get("status"))
            except (ValueError, KeyError, TypeError) as exc:
                raise OutcomeUnknownError(f"HTTP {response.status_code} without a message sid") from exc
        raise _error(response)

    async def close(self) -> None:
        await self._client.aclose()


def _error(response: httpx.Response) -> ProviderError:
    body: dict[str, Any] = {}
    try:
        parsed = response.json()
        body = parsed if isinstance(parsed, dict) else {}
    except ValueError:
        pass
    code = body.get("code") if isinstance(body.get("code"), int) else None
    text = f"HTTP {response.status_code}, code {code}: {str(body.get('message', response.reason_phrase))[:300]}"
    kind = classify(code, response.status_code)
    wait = 0.0
    if kind is ErrorClass.THROTTLED_NUMBER:
        wait = (_retry_after(response) or THROTTLE_BACKOFF_SECONDS) * random.uniform(1.0, 1.5)  # noqa: S311
    elif kind is ErrorClass.HALT:
        log.error("Twilio sending halted: %s", text)
    return port_error(kind, text, None if code is None else str(code), wait)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
