"""What LINE and SMS make of a message: an SMS's parts, a Flex bubble's texts, and the lint rules
of the `line:` and `sms:` sections.

SMS parts: a text of GSM-7 characters takes 160 per message, 153 per part once split (the
extension characters `^{}\\[~]|€` take two); any other character makes it UCS-2: 70, then 67
per part, counted in UTF-16 units (an emoji takes two).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engagement.core.catalog import MessageSpec
from engagement.core.decisions import Message

CHANNEL_NAMES = {"whatsapp": "WhatsApp", "line": "LINE", "sms": "SMS"}
SMS_MAX_PARTS = 2  # more, and lint warns: each part is billed

_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True, slots=True)
class SmsParts:
    encoding: str  # GSM-7 or UCS-2
    units: int  # septets, or UTF-16 units
    count: int


def sms_parts(text: str) -> SmsParts:
    if all(c in _GSM7 or c in _GSM7_EXTENSION for c in text):
        units = sum(2 if c in _GSM7_EXTENSION else 1 for c in text)
        return SmsParts("GSM-7", units, 1 if units <= 160 else math.ceil(units / 153))
    units = len(text.encode("utf-16-le")) // 2
    return SmsParts("UCS-2", units, 1 if units <= 70 else math.ceil(units / 67))


def flex_texts(flex: str) -> list[str]:
    """The texts of a Flex bubble (JSON), in reading order: what its customer reads."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "text" and isinstance(node.get("text"), str):
                out.extend(node["text"].splitlines() or [""])
            for key in ("header", "hero", "body", "footer", "contents"):
                walk(node.get(key))
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads(flex))
    return out


@dataclass(frozen=True, slots=True)
class ChannelProblem:
    severity: str  # error or warning
    where: str
    rule: str
    text: str
    needle: str  # what to find the line by


def channel_problems(
    message: MessageSpec,
    listed: frozenset[str],
    sample: Callable[[str, str], Message | None],
    opt_out_keywords: frozenset[str],
) -> list[ChannelProblem]:
    """The `line:` and `sms:` sections (or, for a trigger that lists the channel, the texts that
    stand in for them) as the sample customer would get them: LINE's limits, SMS parts, and a
    marketing message's opt-out. `listed`: the channels the message's triggers send on;
    `sample(channel, locale)`: the sample customer's message there."""
    out: list[ChannelProblem] = []
    for locale in sorted(message.locales):
        for channel in ("line", "sms"):
            line, sms = message.line.get(locale), message.sms.get(locale)
            own = line.text if channel == "line" and line is not None else sms if channel == "sms" else None
            if own is None and channel not in listed:
                continue
            shown = sample(channel, locale)
            if shown is None or shown.channel != channel:
                continue
            where = f"{channel}.{locale}"
            needle = own.source if own is not None else f"{channel}:"
            out.extend(_problems(message, channel, shown, where, needle, opt_out_keywords))
    return out


def _problems(
    message: MessageSpec, channel: str, shown: Message, where: str, needle: str, keywords: frozenset[str]
) -> list[ChannelProblem]:
    out: list[ChannelProblem] = []
    if channel == "sms":
        parts = sms_parts(shown.body)
        if parts.count > SMS_MAX_PARTS:
            out.append(ChannelProblem("warning", where, "sms_parts", f"{parts.count} SMS parts ({parts.encoding}, "
                       f"{parts.units} units) as the sample customer gets it: each part is billed; keep it to "
                       f"{SMS_MAX_PARTS}", needle))  # fmt: skip
    else:
        limit = 400 if shown.flex else 5000
        if len(shown.body) > limit:
            out.append(ChannelProblem("error", where, "line_length", f"LINE takes {limit} characters here; "
                       f"the sample customer's text has {len(shown.body)} (it would be cut)", needle))  # fmt: skip
    if message.category == "marketing":
        said = [shown.body.casefold(), *(value.casefold() for value, _ in shown.replies)]
        if not any(k in text for k in keywords for text in said):
            out.append(ChannelProblem("error" if channel == "sms" else "warning", where, f"{channel}_opt_out",
                       "a marketing message must offer an opt-out: an opt-out keyword in the text"
                       + (" or a quick reply whose value is one" if channel == "line" else ""), needle))  # fmt: skip
    return out
