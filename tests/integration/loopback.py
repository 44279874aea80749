"""What the fake HTTP endpoints share (the provider APIs, the shop's security webhook): a real
server on loopback with one POST route, the requests it received, and scripted answers (a
queue, then a default). `async with` starts and stops it."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Self, TypeVar

from aiohttp import web

from engagement.live.http import serve
from tests.integration.processes import free_port

Request = TypeVar("Request")


@dataclass
class ScriptedServer(Generic[Request]):
    ROUTE: ClassVar[str] = "/"
    port: int = field(default_factory=free_port)
    received: list[Request] = field(default_factory=list)
    script: deque[Callable[[Request], Any]] = field(default_factory=deque)
    default: Callable[[Request], Any] | None = None
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(self.ROUTE, self.handle)
        self._runner = await serve(app, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def behaviour(self) -> Callable[[Request], Any] | None:
        """The scripted answer for the next request: the queue first, then the default."""
        return self.script.popleft() if self.script else self.default

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError
