"""The console provider: prints each message as one readable line (the default, and the demo's)."""

from __future__ import annotations

import sys
from typing import IO

from engagement.privacy import mask_phone
from engagement.providers.base import OutboundMessage, SendReceipt


class ConsoleProvider:
    name = "console"

    def __init__(self, out: IO[str] | None = None) -> None:
        self._out = out

    async def send(self, message: OutboundMessage) -> SendReceipt:
        out = self._out or sys.stdout
        test = "TEST " if message.customer_id == "test" and message.key.startswith("test-") else ""
        on = "" if message.channel == "whatsapp" else f", {message.channel}"
        out.write(f"→ {test}{mask_phone(message.to)} [{message.trigger}, {message.locale}{on}] {message.body}\n")
        out.flush()
        return SendReceipt(provider_message_id=f"console-{message.key}")

    async def close(self) -> None:
        return None
