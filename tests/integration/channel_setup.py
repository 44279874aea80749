"""What the channel tests share: triggers that send login alerts on several channels, the
customers' addresses by group, and Meta's `delivered` status of a call the fake Graph API got."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from tests.integration.fake_graph import Received


def login_alerts_on(source: Path, tmp: Path, channels: str, fallback_after: float, cooldown: str = "") -> Path:
    """A copy of the triggers in `source` whose login alert lists `channels` with `fallback_after`."""
    folder = tmp / "triggers"
    folder.mkdir()
    for file in source.glob("*.yaml"):
        text = file.read_text(encoding="utf-8")
        if file.name == "anomalous_login.yaml":
            more = f"channels: {channels}\nfallback_after: {fallback_after:g}s\n"
            text = text.replace("policies:", more + "policies:", 1)
            if cooldown:
                text = text.replace("cooldown: 10m", f"cooldown: {cooldown}")
        (folder / file.name).write_text(text, encoding="utf-8")
    return folder


def group_phone(groups: tuple[str, ...], group: str, n: int) -> str:
    return f"+8869{groups.index(group) + 1}{n:07d}"


def line_id(group: str, n: int) -> str:
    return "U" + hashlib.md5(f"{group}-{n}".encode()).hexdigest()  # noqa: S324 (an id, not security)


def delivered(message_id: str, request: Received) -> dict[str, Any]:
    """Meta's `delivered` status of the call the fake Graph API received as `request`."""
    return {"id": message_id, "status": "delivered", "timestamp": str(int(time.time())),
            "recipient_id": str(request.body["to"]).lstrip("+"),
            "biz_opaque_callback_data": request.body["biz_opaque_callback_data"]}  # fmt: skip
