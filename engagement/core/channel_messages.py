"""A send's message on LINE and SMS, filled like its WhatsApp text.

LINE takes the file's `line:` form for the locale (a text with quick replies, or a Flex bubble),
else the locale's text with the buttons the WhatsApp message offers as quick replies. SMS takes
the file's `sms:` text for the locale, else the locale's text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from engagement.core.catalog import FlexNode, MessageSpec, Wording
from engagement.core.decisions import Message
from engagement.core.text_template import TextTemplate

Values = Mapping[str, str | None]
LINE_QUICK_REPLIES_MAX = 13


def on_channel(
    channel: str,
    to: str,
    message: MessageSpec,
    locale: str,
    wording: Wording,
    text: TextTemplate,
    values: Values,
    category: str,
) -> Message:
    """The message of `channel` (line or sms) to `to`, in `locale`; `text` is the locale's
    (or the customer's tier's) text, used where the file has no section for the channel."""
    if channel == "sms":
        own = message.sms.get(locale)
        return Message(to, locale, category, (own or text).render(values), channel="sms")
    line = message.line.get(locale)
    if line is None:
        replies = message.quick_replies(locale, wording, values)[:LINE_QUICK_REPLIES_MAX]
        return Message(to, locale, category, text.render(values), replies=replies, channel="line")
    body = line.text.render(values)
    flex = None
    if line.flex is not None:
        flex = json.dumps(_filled(line.flex, values), ensure_ascii=False, separators=(",", ":"))
    return Message(to, locale, category, body, replies=line.quick_replies, channel="line", flex=flex)


def _filled(node: FlexNode, values: Values) -> FlexNode:
    if isinstance(node, TextTemplate):
        return node.render(values)
    if isinstance(node, dict):
        return {name: _filled(value, values) for name, value in node.items()}
    if isinstance(node, list):
        return [_filled(item, values) for item in node]
    return node
