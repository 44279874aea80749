"""A fake WhatsApp Business Account's template endpoints on loopback, in a thread of its own (the
browser tests are synchronous): `GET /{version}/{waba}/message_templates` answers the templates it
holds; `POST` takes a submission and keeps it. It checks the bearer token as Meta does."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.integration.processes import free_port

TOKEN = "waba-token-for-tests"  # noqa: S105 (a test fixture)
WABA = "104996789012345"


@dataclass
class FakeWaba:
    templates: list[dict[str, Any]]
    port: int = field(default_factory=free_port)
    submitted: list[dict[str, Any]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> web.Application:
        async def listing(request: web.Request) -> web.Response:
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return web.json_response({"error": {"message": "bad token", "code": 190}}, status=401)
            return web.json_response({"data": self.templates, "paging": {"cursors": {}}})

        async def create(request: web.Request) -> web.Response:
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return web.json_response({"error": {"message": "bad token", "code": 190}}, status=401)
            body = await request.json()
            self.submitted.append(body)
            return web.json_response(
                {"id": str(len(self.submitted)), "status": "PENDING", "category": body["category"]}
            )

        app = web.Application()
        app.router.add_get("/{version}/{waba}/message_templates", listing)
        app.router.add_post("/{version}/{waba}/message_templates", create)
        return app


@contextmanager
def serving(waba: FakeWaba) -> Iterator[FakeWaba]:
    ready, stop = threading.Event(), threading.Event()

    async def main() -> None:
        runner = web.AppRunner(waba.app())
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", waba.port).start()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await runner.cleanup()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield waba
    finally:
        stop.set()
        thread.join(10)
