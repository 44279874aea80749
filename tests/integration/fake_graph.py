"""A fake Graph API: a real HTTP server on loopback answering `POST /{version}/{phone}/messages`
as Meta's Cloud API does, with scripted faults: error codes, slow answers, 5xx and dropped
connections. It records every request it received (so a test can count what reached "Meta")."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import web

from tests.integration.loopback import ScriptedServer

ERROR_STATUS = {132001: 404, 190: 401, 368: 403, 131000: 500, 10: 403}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeGraph(ScriptedServer[Received]):
    ROUTE: ClassVar[str] = "/{version}/{phone}/messages"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        item = Received(request.path, dict(request.headers), json.loads(await request.read()))
        self.received.append(item)
        behaviour = self.behaviour() or accept
        result = behaviour(item)
        if asyncio.iscoroutine(result):
            result = await result
        if isinstance(result, web.StreamResponse):
            return result
        return web.json_response(self.accepted_body(item))

    def accepted_body(self, item: Received) -> dict[str, Any]:
        wamid = f"wamid.fake{next(self._ids):08d}"
        return {
            "messaging_product": "whatsapp",
            "contacts": [{"input": item.body.get("to"), "wa_id": str(item.body.get("to", "")).lstrip("+")}],
            "messages": [{"id": wamid, "message_status": "accepted"}],
        }


def accept(_: Received) -> None:
    return None


def error(code: int, status: int | None = None, headers: dict[str, str] | None = None) -> Callable[[Received], Any]:
    def answer(_: Received) -> web.Response:
        body = {
            "error": {
                "message": f"(#{code}) scripted error",
                "type": "OAuthException",
                "code": code,
                "error_data": {"messaging_product": "whatsapp", "details": "scripted"},
                "fbtrace_id": "AbCdEf",
            }
        }
        return web.json_response(body, status=status or ERROR_STATUS.get(code, 400), headers=headers)

    return answer


def server_error(status: int = 503) -> Callable[[Received], Any]:
    def answer(_: Received) -> web.Response:
        return web.Response(status=status, text="upstream overloaded")

    return answer


def slow(seconds: float) -> Callable[[Received], Any]:
    async def answer(_: Received) -> None:
        await asyncio.sleep(seconds)

    return answer


async def _serve_forever(port: int) -> None:
    fake = FakeGraph(port=port)
    await fake.start()
    print(f"fake Graph API on {fake.base_url}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    import sys

    asyncio.run(_serve_forever(int(sys.argv[1])))
