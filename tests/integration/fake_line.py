"""A fake LINE Messaging API: a real HTTP server on loopback answering `POST /v2/bot/message/push`
as LINE does (bearer token, `X-Line-Retry-Key`: a repeated key gets 409 with the first request's
id), with scripted error answers; it records every request it received."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web

from tests.integration.loopback import ScriptedServer

LINE_TOKEN = "line-channel-token-for-tests"  # noqa: S105 (a test fixture)
LINE_SECRET = "line-channel-secret-for-tests"  # noqa: S105 (a test fixture)


@dataclass
class Pushed:
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeLine(ScriptedServer[Pushed]):
    ROUTE: ClassVar[str] = "/v2/bot/message/push"
    accepted_keys: dict[str, str] = field(default_factory=dict)  # retry key -> request id

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {LINE_TOKEN}":
            refused: web.Response = line_error(401, "Authentication failed")(Pushed({}, {}))
            return refused
        pushed = Pushed(dict(request.headers), json.loads(await request.read()))
        self.received.append(pushed)
        retry_key = request.headers.get("X-Line-Retry-Key", "")
        if retry_key in self.accepted_keys:
            body = {"message": "The retry key is already accepted", "sentMessages": []}
            headers = {"x-line-accepted-request-id": self.accepted_keys[retry_key]}
            return web.json_response(body, status=409, headers=headers)
        behaviour = self.behaviour()
        answer = behaviour(pushed) if behaviour is not None else None
        if isinstance(answer, web.StreamResponse):
            return answer
        request_id = f"req-{next(self._ids):08d}"
        if retry_key:
            self.accepted_keys[retry_key] = request_id
        sent = [{"id": f"{request_id}-m", "quoteToken": "q"}]
        return web.json_response({"sentMessages": sent}, headers={"x-line-request-id": request_id})


def line_error(status: int, message: str, details: list[dict[str, str]] | None = None) -> Callable[[Pushed], Any]:
    def answer(_: Pushed) -> web.Response:
        body: dict[str, Any] = {"message": message}
        if details:
            body["details"] = details
        return web.json_response(body, status=status)

    return answer


NOT_A_FRIEND = line_error(400, "The property, 'to', in the request body is invalid", [
    {"message": "Failed to send messages", "property": "to"}])  # fmt: skip
MONTHLY_LIMIT = line_error(429, "You have reached your monthly limit.")
RATE_LIMIT = line_error(429, "The API rate limit has been exceeded. Try again later.")
