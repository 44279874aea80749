"""Cloud API request bodies (the shapes of the OpenAPI spec's request examples, WHATSAPP.md §1.2).

`biz_opaque_callback_data` carries the idempotency key, so status webhooks name the send.
"""

from __future__ import annotations

from typing import Any

from engagement.providers.base import OutboundMessage, TemplateButton, TemplateParameter, TemplateSend

MEDIA_KINDS = frozenset({"image", "video", "document"})


def recipient(to: str) -> str:
    """E.164 digits, as the Cloud API takes them."""
    return to.removeprefix("+")


def message_body(message: OutboundMessage) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": recipient(message.to),
        "biz_opaque_callback_data": message.key,
    }
    if message.template is None and message.replies:
        payload["type"] = "interactive"
        buttons = [{"reply": {"id": i, "title": t}, "type": "reply"} for i, t in message.replies]
        payload["interactive"] = {"action": {"buttons": buttons}, "body": {"text": message.body}, "type": "button"}
    elif message.template is None:
        payload["type"] = "text"
        payload["text"] = {"body": message.body, "preview_url": False}
    else:
        payload["type"] = "template"
        payload["template"] = template_object(message.template)
    return payload


def template_object(template: TemplateSend) -> dict[str, Any]:
    components: list[dict[str, Any]] = []
    if template.header:
        components.append({"type": "header", "parameters": [parameter(p) for p in template.header]})
    if template.body:
        components.append({"type": "body", "parameters": [parameter(p) for p in template.body]})
    components.extend(button(b) for b in template.buttons)
    body: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    if components:
        body["components"] = components
    return body


def parameter(value: TemplateParameter) -> dict[str, Any]:
    if value.kind == "currency":
        if value.amount is None or value.currency is None:
            raise ValueError("a currency parameter needs an amount and a currency code")
        item: dict[str, Any] = {
            "type": "currency",
            "currency": {
                "fallback_value": value.text,
                "code": value.currency,
                "amount_1000": round(value.amount * 1000),
            },
        }
    elif value.kind == "date_time":
        item = {"type": "date_time", "date_time": {"fallback_value": value.text}}
    elif value.kind == "text":
        item = {"type": "text", "text": value.text}
    elif value.kind in MEDIA_KINDS:  # header media by URL
        item = {"type": value.kind, value.kind: {"link": value.text}}
    else:
        raise ValueError(f"unknown template parameter kind {value.kind!r}")
    if value.name is not None:
        item["parameter_name"] = value.name
    return item


def button(value: TemplateButton) -> dict[str, Any]:
    if value.sub_type == "quick_reply":
        parameters = [{"type": "payload", "payload": value.value}]
    elif value.sub_type == "url":
        parameters = [{"type": "text", "text": value.value}]
    else:
        raise ValueError(f"unknown button sub_type {value.sub_type!r}")
    return {"type": "button", "sub_type": value.sub_type, "index": str(value.index), "parameters": parameters}
