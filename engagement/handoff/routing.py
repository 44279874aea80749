"""The provider the senders call: messages go to the messaging provider, hand-offs to the
people side (the webhook and/or Chatwoot). With no receiver set, a hand-off stays in the
decision log and on the customer's console page, and a warning says so once."""

from __future__ import annotations

import logging
from typing import Any, Protocol

import httpx

from engagement.handoff.chatwoot import Chatwoot
from engagement.handoff.record import handoff_body
from engagement.handoff.webhook import HandoffWebhook
from engagement.providers.base import OutboundMessage, PermanentError, Provider, SendReceipt, TransientError
from engagement.providers.factory import build_provider
from engagement.settings import Settings

log = logging.getLogger("engagement.handoff")


class Receiver(Protocol):
    name: str

    async def deliver(self, body: dict[str, Any]) -> None: ...

    async def close(self) -> None: ...


class HandoffSettingsError(ValueError):
    """The hand-off settings cannot work; the runtime does not start (its message says why)."""


MIN_SECRET = 16


def _checked_url(name: str, value: str) -> str:
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise HandoffSettingsError(f"ENGAGEMENT_{name}: not a URL ({exc})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise HandoffSettingsError(f"ENGAGEMENT_{name}: an http(s) URL with a host is expected")
    return value


def receivers_from(settings: Settings) -> list[Receiver]:
    """The receivers the settings name; raises `HandoffSettingsError` for settings that cannot
    work (a URL that is not one, a webhook without a secret anyone could forge it without)."""
    out: list[Receiver] = []
    if settings.console_url:
        _checked_url("CONSOLE_URL", settings.console_url)
    if settings.handoff_url:
        _checked_url("HANDOFF_URL", settings.handoff_url)
        if len(settings.handoff_secret.get_secret_value()) < MIN_SECRET:
            raise HandoffSettingsError(
                f"ENGAGEMENT_HANDOFF_SECRET: at least {MIN_SECRET} characters, so that receivers can tell a "
                "hand-off from a forgery"
            )
        out.append(HandoffWebhook(settings.handoff_url, settings.handoff_secret.get_secret_value()))
    if settings.chatwoot_url:
        _checked_url("CHATWOOT_URL", settings.chatwoot_url)
        if settings.chatwoot_account_id <= 0 or settings.chatwoot_inbox_id <= 0:
            raise HandoffSettingsError("ENGAGEMENT_CHATWOOT_ACCOUNT_ID and ENGAGEMENT_CHATWOOT_INBOX_ID are needed")
        if not settings.chatwoot_api_token.get_secret_value():
            raise HandoffSettingsError("ENGAGEMENT_CHATWOOT_API_TOKEN is needed (an agent's or a bot's access token)")
        out.append(
            Chatwoot(
                settings.chatwoot_url,
                settings.chatwoot_account_id,
                settings.chatwoot_inbox_id,
                settings.chatwoot_api_token.get_secret_value(),
            )
        )
    return out


def sending_provider(settings: Settings) -> WithHandoff:
    """What the runtimes' senders call: the configured provider, and the hand-off receivers."""
    return WithHandoff(build_provider(settings), receivers_from(settings), settings.console_url)


class WithHandoff:
    """A provider that also carries hand-offs. Each receiver is called on every attempt: a
    repeat is harmless (the webhook's receiver drops it by `id`)."""

    def __init__(self, provider: Provider, receivers: list[Receiver], console_url: str = "") -> None:
        self.provider, self.receivers, self.console_url = provider, receivers, console_url
        self.name = provider.name
        self._warned = False

    async def send(self, message: OutboundMessage) -> SendReceipt:
        if message.handoff is None:
            return await self.provider.send(message)
        body = handoff_body(message, self.console_url)
        if not self.receivers:
            if not self._warned:
                self._warned = True
                log.warning(
                    "replies are handed to people, but no receiver is set (ENGAGEMENT_HANDOFF_URL or "
                    "ENGAGEMENT_CHATWOOT_URL): they wait on the customers' console pages"
                )
            return SendReceipt(f"handoff-{body['id']}", "kept")
        refused: list[str] = []
        retry: list[str] = []
        for receiver in self.receivers:  # each one, whatever the others answered
            try:
                await receiver.deliver(body)
            except TransientError as exc:
                retry.append(f"{receiver.name}: {exc}")
            except PermanentError as exc:
                refused.append(f"{receiver.name}: {exc}")
            except Exception as exc:  # a receiver's own bug must not stop the sender
                log.exception("hand-off receiver %s failed", receiver.name)
                refused.append(f"{receiver.name}: {type(exc).__name__}")
        if retry:  # all again later: the webhook's receiver drops a repeat by id, Chatwoot looks for it
            raise TransientError("; ".join(retry + refused))
        if refused:
            raise PermanentError("; ".join(refused))
        return SendReceipt(f"handoff-{body['id']}", "delivered")

    async def close(self) -> None:
        for receiver in self.receivers:
            await receiver.close()
        close = getattr(self.provider, "close", None)
        if close is not None:
            await close()
