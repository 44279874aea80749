"""Twilio's callbacks (`POST /v1/webhooks/twilio`, form-encoded), for `run` and the worker.

`X-Twilio-Signature` must be Base64(HMAC-SHA1(auth token, URL + every form parameter as key and
value, sorted by key)), where URL is the public address Twilio called
(`ENGAGEMENT_TWILIO_WEBHOOK_URL` plus the query); else 401. Status callbacks (`MessageStatus`)
become the same status updates as Meta's (the send's key rides on the callback URL's `key`),
inbound messages the same replies; the provider-neutral handling is shared.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from engagement.live.whatsapp_webhook import InboundMessage, StatusUpdate, WebhookContent, WebhookPort, same_text
from engagement.providers.error_classes import feedback_for
from engagement.providers.twilio.error_table import classify
from engagement.settings import Settings

_CODE = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True, slots=True)
class TwilioWebhookSettings:
    auth_token: str
    public_url: str  # the address Twilio posts to, as Twilio sees it (behind any proxy)
    port: WebhookPort


def twilio_webhook_settings(settings: Settings, port: WebhookPort) -> TwilioWebhookSettings | None:
    """Twilio's callbacks are served once its auth token and the public webhook URL are set."""
    token = settings.twilio_auth_token.get_secret_value()
    if not token or not settings.twilio_webhook_url:
        return None
    return TwilioWebhookSettings(token, settings.twilio_webhook_url.split("?", 1)[0], port)


def signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    signed = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(auth_token.encode(), signed.encode(errors="replace"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signature_valid(auth_token: str, url: str, params: Mapping[str, str], header: str | None) -> bool:
    if not auth_token or not header:
        return False
    return same_text(signature(auth_token, url, params), header)


def parse(params: Mapping[str, str], query: Mapping[str, str]) -> WebhookContent:
    content = WebhookContent()
    sid = params.get("MessageSid") or params.get("SmsSid")
    if not sid:
        return content
    status = params.get("MessageStatus") or params.get("SmsStatus")
    if status and status != "received":
        codes = tuple(int(c) for c in (params.get("ErrorCode") or "").split(",") if _CODE.fullmatch(c.strip()))
        feedback = feedback_for(classify(c, 400) for c in codes)
        to = params.get("To", "")
        channel = "sms" if to and not to.startswith("whatsapp:") else "whatsapp"
        key = query.get("key")
        update = StatusUpdate(sid, status, time.time(), to.removeprefix("whatsapp:"), key, codes, feedback, channel)
        content.statuses.append(update)
        return content
    given = params.get("From", "")
    sender = given.removeprefix("whatsapp:")
    if sender:
        phone = sender if sender.startswith("+") else f"+{sender}"
        content.inbound.append(
            InboundMessage(
                sid,
                phone,
                time.time(),
                params.get("Body") or None,
                params.get("ButtonPayload") or None,
                params.get("OriginalRepliedMessageSid") or None,
                "whatsapp" if given.startswith("whatsapp:") else "sms",
            )
        )
    return content
