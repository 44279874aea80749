"""A fake Twilio Messages API: a real HTTP server on loopback answering
`POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (form-encoded, HTTP Basic auth) as Twilio
does, with scripted error answers; it records every request it received."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import web

from tests.integration.loopback import ScriptedServer

ACCOUNT = "AC0123456789abcdef0123456789abcdef"
TOKEN = "twilio-auth-token-for-tests"  # noqa: S105 (a test fixture)


@dataclass
class Sent:
    form: dict[str, str]


@dataclass
class FakeTwilio(ScriptedServer[Sent]):
    ROUTE: ClassVar[str] = "/2010-04-01/Accounts/{account}/Messages.json"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        expected = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
        if request.match_info["account"] != ACCOUNT or request.headers.get("Authorization") != expected:
            return twilio_error(20003, 401)(Sent({}))
        sent = Sent({key: str(value) for key, value in (await request.post()).items()})
        self.received.append(sent)
        behaviour = self.behaviour()
        answer = behaviour(sent) if behaviour is not None else None
        if isinstance(answer, web.StreamResponse):
            return answer
        sid = f"SM{next(self._ids):032d}"
        body: dict[str, Any] = {"sid": sid, "status": "queued", "to": sent.form.get("To"), "error_code": None}
        return web.json_response(body, status=201)


def twilio_error(code: int, status: int = 400, retry_after: str | None = None) -> Callable[[Sent], web.Response]:
    def answer(_: Sent) -> web.Response:
        info = f"https://www.twilio.com/docs/errors/{code}"
        body = {"code": code, "message": f"scripted error {code}", "more_info": info, "status": status}
        headers = {"Retry-After": retry_after} if retry_after else None
        return web.json_response(body, status=status, headers=headers)

    return answer
