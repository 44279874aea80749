"""A fake Twilio Messages API: a real HTTP server on loopback answering
`POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (form-encoded, HTTP Basic auth) as Twilio
does, with scripted error answers; it records every request it received."""

from __future__ import annotations

import base64
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from engagement.live.http import serve
from tests.integration.processes import free_port

ACCOUNT = "AC0123456789abcdef0123456789abcdef"
TOKEN = "twilio-auth-token-for-tests"  # noqa: S105 (a test fixture)


@dataclass
class Sent:
    form: dict[str, str]


@dataclass
class FakeTwilio:
    port: int = field(default_factory=free_port)
    received: list[Sent] = field(default_factory=list)
    script: deque[Callable[[Sent], web.Response | None]] = field(default_factory=deque)
    default: Callable[[Sent], web.Response | None] | None = None
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self._messages)
        self._runner = await serve(app, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _messages(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
        if request.match_info["account"] != ACCOUNT or request.headers.get("Authorization") != expected:
            return twilio_error(20003, 401)(Sent({}))
        sent = Sent({key: str(value) for key, value in (await request.post()).items()})
        self.received.append(sent)
        behaviour = self.script.popleft() if self.script else self.default
        answer = behaviour(sent) if behaviour is not None else None
        if answer is not None:
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
