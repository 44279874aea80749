"""The file provider: appends each message as a JSON line to `ENGAGEMENT_PROVIDER_FILE` (synced to disk,
readable by its owner only), with `sent_at`, the time of the call in seconds since the epoch.

It is a send log, so it can erase a customer's lines and drop lines past the retention period;
both rewrite the file through a temporary file renamed over it.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from engagement.providers.base import OutboundMessage, PermanentError, SendReceipt

ERASED_FIELDS = ("to", "body", "template", "replies", "flex", "fallbacks")


class FileProvider:
    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._fd = self._open()
        self._lock = threading.Lock()  # appends run in a thread (fsync blocks); rewrites swap the file

    def _open(self) -> int:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)
        return fd

    async def send(self, message: OutboundMessage) -> SendReceipt:
        record = {**asdict(message), "sent_at": round(time.time(), 6)}
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            await asyncio.to_thread(self._append, line.encode())
        except OSError as exc:
            raise PermanentError(f"cannot append to {self.path}: {exc.strerror}") from exc
        return SendReceipt(provider_message_id=f"file-{message.key}")

    def _append(self, data: bytes) -> None:
        with self._lock:
            os.write(self._fd, data)
            os.fsync(self._fd)

    def erase(self, customer_id: str) -> int:
        def erase(record: dict[str, Any]) -> dict[str, Any] | None:
            if record.get("customer_id") != customer_id:
                return record
            return {**{k: v for k, v in record.items() if k not in ERASED_FIELDS}, "erased": True}

        return self._rewrite(erase)

    def prune(self, before: float) -> int:
        def keep(record: dict[str, Any]) -> dict[str, Any] | None:
            sent_at = record.get("sent_at")
            return None if isinstance(sent_at, int | float) and sent_at < before else record

        return self._rewrite(keep)

    def _rewrite(self, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> int:
        """Each line through `change` (None drops it); how many lines changed. Lines that are not
        JSON objects are kept as they are."""
        with self._lock:
            return self._rewrite_locked(change)

    def _rewrite_locked(self, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> int:
        if not self.path.exists():
            return 0
        changed = 0
        out: list[str] = []
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                out.append(line)
                continue
            if not isinstance(record, dict):
                out.append(line)
                continue
            new = change(record)
            if new is not record:
                changed += 1
            if new is not None:
                out.append(line if new is record else json.dumps(new, ensure_ascii=False, separators=(",", ":")))
        if not changed:
            return 0
        temporary = self.path.with_name(self.path.name + ".rewrite")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, "".join(f"{line}\n" for line in out).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, self.path)
        os.close(self._fd)
        self._fd = self._open()
        return changed

    async def close(self) -> None:
        os.close(self._fd)
