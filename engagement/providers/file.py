"""The file provider: appends each message as a JSON line to `ENGAGEMENT_PROVIDER_FILE` (synced to disk),
with `sent_at`, the time of the call in seconds since the epoch."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path

from engagement.providers.base import OutboundMessage, PermanentError, SendReceipt


class FileProvider:
    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    async def send(self, message: OutboundMessage) -> SendReceipt:
        record = {**asdict(message), "sent_at": round(time.time(), 6)}
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            os.write(self._fd, line.encode())
            os.fsync(self._fd)
        except OSError as exc:
            raise PermanentError(f"cannot append to {self.path}: {exc.strerror}") from exc
        return SendReceipt(provider_message_id=f"file-{message.key}")

    async def close(self) -> None:
        os.close(self._fd)
