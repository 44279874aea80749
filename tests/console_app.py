"""The HTTP application with the console and nothing behind it (no store, no engine run, no
provider): for tests of what the routes answer, in process."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from engagement.console.routes import ConsoleBackend, add_console
from engagement.console.workspace import Workspace
from engagement.core.engine import EngineSettings
from engagement.live.api_keys import KeyRing
from engagement.live.guard import KEYED_ROUTE
from engagement.live.http import Api, make_app
from engagement.live.ingest import Taken
from engagement.live.metrics import standard_metrics
from engagement.live.twilio_webhook import TwilioWebhookSettings
from engagement.live.whatsapp_webhook import WebhookSettings
from tests.scenario import engine_for


async def nothing(*_: Any) -> Any:
    return []


class TakesAll:
    """An ingest port that takes every batch and keeps none."""

    async def ingest(self, events: list[Any]) -> Taken:
        return Taken()


def console_app(
    tmp_path: Path, keys: KeyRing, erasures_elsewhere: Callable[[], Awaitable[object]] = nothing
) -> web.Application:
    engine = engine_for()
    api = Api(
        decisions=nothing,
        events=nothing,
        report=nothing,
        forget=nothing,
        webhook=WebhookSettings("token", "secret", None),  # type: ignore[arg-type]
        twilio=TwilioWebhookSettings("token", "https://x.test/tw", None),  # type: ignore[arg-type]
    )
    app = make_app(TakesAll(), standard_metrics(), keys, api)
    workspace = Workspace(tmp_path, tmp_path, EngineSettings())
    backend = ConsoleBackend(
        workspace, tmp_path, lambda: engine, nothing, nothing, nothing, nothing, erasures_elsewhere=erasures_elsewhere
    )
    add_console(app, backend, app[KEYED_ROUTE])
    return app
