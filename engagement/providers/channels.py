"""One provider per channel behind the provider port: a send goes to its channel's provider; a
channel with none set up refuses it (`ChannelUnavailableError`), which moves it to its next."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from engagement.providers.base import ChannelUnavailableError, OutboundMessage, Provider, SendReceipt


class ChannelRouter:
    name = "channels"

    def __init__(self, providers: Mapping[str, Provider]) -> None:
        self.providers = dict(providers)

    def provider_for(self, channel: str) -> Provider | None:
        return self.providers.get(channel)

    async def send(self, message: OutboundMessage) -> SendReceipt:
        provider = self.providers.get(message.channel)
        if provider is None:
            raise ChannelUnavailableError(f"no provider is set up for {message.channel}", "no_provider")
        return await provider.send(message)

    async def close(self) -> None:
        unique = {id(p): p for p in self.providers.values()}
        await asyncio.gather(*(p.close() for p in unique.values()))
