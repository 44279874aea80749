"""The provider the senders call: messages go to the messaging provider, hand-offs to the
people side (the webhook and/or Chatwoot). With no receiver set, a hand-off stays in the
decision log and on the customer's console page, and a warning says so once."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from engagement.handoff.chatwoot import Chatwoot
from engagement.handoff.record import handoff_body
from engagement.handoff.webhook import HandoffWebhook
from engagement.providers.base import OutboundMessage, Provider, SendReceipt
from engagement.providers.factory import build_provider
from engagement.settings import Settings

log = logging.getLogger("engagement.handoff")


class Receiver(Protocol):
    name: str

    async def deliver(self, body: dict[str, Any]) -> None: ...

    async def close(self) -> None: ...


def receivers_from(settings: Settings) -> list[Receiver]:
    out: list[Receiver] = []
    if settings.handoff_url:
        out.append(HandoffWebhook(settings.handoff_url, settings.handoff_secret.get_secret_value()))
    if settings.chatwoot_url:
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
        for receiver in self.receivers:
            await receiver.deliver(body)
        return SendReceipt(f"handoff-{body['id']}", "delivered")

    async def close(self) -> None:
        for receiver in self.receivers:
            await receiver.close()
        close = getattr(self.provider, "close", None)
        if close is not None:
            await close()
