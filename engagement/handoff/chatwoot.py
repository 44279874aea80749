"""Hand-offs into a Chatwoot API inbox, through Chatwoot's Application API (`api_access_token`):
the contact found by phone or created, an open conversation of the inbox reused or opened, the
reply posted as an incoming message and the context as a private note."""

from __future__ import annotations

from typing import Any

import httpx

from engagement.providers.base import PermanentError, TransientError

OPEN = frozenset({"open", "pending", "snoozed"})


class Chatwoot:
    name = "chatwoot"

    def __init__(self, url: str, account_id: int, inbox_id: int, token: str, timeout: float = 10.0) -> None:
        self.base = f"{url.rstrip('/')}/api/v1/accounts/{account_id}"
        self.inbox_id = inbox_id
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), headers={"api_access_token": token}, follow_redirects=False
        )

    def __repr__(self) -> str:
        return f"Chatwoot({self.base!r}, inbox {self.inbox_id})"

    async def deliver(self, body: dict[str, Any]) -> None:
        """Idempotent: the private note names the hand-off's id, and a retry posts only what the
        conversation does not have yet (the note first, then the reply after it)."""
        contact_id, source_id = await self._contact(body)
        conversation = await self._conversation(contact_id, source_id)
        reply = body.get("reply") or {}
        said = str(reply.get("text") or reply.get("button") or "")
        marker = mark_of(body)
        path = f"/conversations/{conversation}/messages"
        messages = _list((await self._call("GET", path)).get("payload"))
        noted = next((n for n, m in enumerate(messages) if marker in str(m.get("content") or "")), None)
        if noted is None:
            await self._call("POST", path, {"content": note_of(body), "message_type": "outgoing", "private": True})
        elif any(str(m.get("content") or "") == said and not m.get("private") for m in messages[noted + 1 :]):
            return  # delivered before
        await self._call("POST", path, {"content": said, "message_type": "incoming"})

    async def _contact(self, body: dict[str, Any]) -> tuple[int, str | None]:
        """The customer's contact: by our customer id first (a number that changed hands must not
        merge two customers), then by phone; else a new one."""
        phone, customer = str(body["phone"]), str(body.get("customer_id") or "")
        for q, field, wanted in ((customer, "identifier", customer), (phone, "phone_number", phone)):
            if not q:
                continue
            found = await self._call("GET", "/contacts/search", params={"q": q})
            for contact in _list(found.get("payload")):
                found_id = contact.get("id")
                mine = contact.get("identifier") in (None, "", customer)
                if contact.get(field) == wanted and mine and isinstance(found_id, int):
                    return found_id, None
        created = await self._call(
            "POST",
            "/contacts",
            {"inbox_id": self.inbox_id, "name": body.get("customer_id"), "phone_number": phone,
             "identifier": body.get("customer_id")},
        )  # fmt: skip
        payload = _dict(created.get("payload")) or created
        contact = _dict(payload.get("contact")) or payload
        contact_id, source = contact.get("id"), _dict(payload.get("contact_inbox")).get("source_id")
        if not isinstance(contact_id, int):
            raise TransientError("chatwoot: the new contact has no id")
        return contact_id, source if isinstance(source, str) else None

    async def _conversation(self, contact_id: int, source_id: str | None) -> int:
        listed = await self._call("GET", f"/contacts/{contact_id}/conversations")
        for conversation in _list(listed.get("payload")):
            found = conversation.get("id")
            mine = conversation.get("inbox_id") == self.inbox_id and conversation.get("status") in OPEN
            if mine and isinstance(found, int):
                return found
        if source_id is None:
            joined = await self._call("POST", f"/contacts/{contact_id}/contact_inboxes", {"inbox_id": self.inbox_id})
            source = joined.get("source_id")
            source_id = source if isinstance(source, str) else None
        opened = await self._call(
            "POST",
            "/conversations",
            {"source_id": source_id, "inbox_id": self.inbox_id, "contact_id": contact_id, "status": "open"},
        )
        opened_id = opened.get("id")
        if not isinstance(opened_id, int):
            raise TransientError("chatwoot: the new conversation has no id")
        return opened_id

    async def _call(
        self, method: str, path: str, json: dict[str, Any] | None = None, params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        try:
            response = await self.client.request(method, self.base + path, json=json, params=params)
        except httpx.HTTPError as exc:
            raise TransientError(f"chatwoot: {type(exc).__name__}") from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise TransientError(f"chatwoot answered {status} to {method} {path.split('/')[1]}")
        if status >= 300:
            raise PermanentError(f"chatwoot refused {method} {path.split('/')[1]}: {status}", code=str(status))
        try:
            data = response.json()
        except ValueError as exc:
            raise TransientError("chatwoot: an answer that is not JSON") from exc
        return data if isinstance(data, dict) else {"payload": data}

    async def close(self) -> None:
        await self.client.aclose()


def mark_of(body: dict[str, Any]) -> str:
    return f"[hand-off {body.get('id')}]"


def note_of(body: dict[str, Any]) -> str:
    """The private note beside the reply: why it came to people, what we had sent, the context."""
    lines = [f"{mark_of(body)} ({body.get('reason') or 'reply'}), trigger {body.get('trigger')}"]
    if body.get("message"):
        lines.append(f"We sent: {body['message']}")
    for name, value in sorted((body.get("context") or {}).items()):
        lines.append(f"{name}: {value}")
    if body.get("console_url"):
        lines.append(f"Customer page: {body['console_url']}")
    return "\n".join(lines)[:10_000]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
