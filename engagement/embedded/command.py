"""`engagement run`: HTTP ingest, the engine, durable timers and the sender in one process."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from engagement.config.loader import default_triggers_dir
from engagement.config.messages import default_messages_dir
from engagement.console.backtests import forgetting_kept
from engagement.console.routes import ConsoleBackend, add_console
from engagement.console.templates_page import graph_account
from engagement.console.workspace import Workspace
from engagement.core.engine import Engine
from engagement.core.state import CustomerState
from engagement.decision_feed.push import run_feed
from engagement.decision_feed.settings import decisions_webhook
from engagement.embedded.decision_feed import StoredDecisions
from engagement.embedded.demo import DEMO_DIR, feed_demo
from engagement.embedded.reports import from_stored
from engagement.embedded.service import EmbeddedService
from engagement.embedded.source_memory import StoreMemory
from engagement.embedded.store import EmbeddedStore, StoreBusy, StoreReader
from engagement.handoff.routing import sending_provider
from engagement.live.api_keys import SCOPES, KeyRing, KeysFileError, new_key
from engagement.live.config_reload import ConfigWatcher, live_configuration, own_configuration, watch
from engagement.live.guard import KEYED_ROUTE, InsecureBind, refuse_open_bind
from engagement.live.heavy_reads import HeavyReads
from engagement.live.http import Api, make_app, serve
from engagement.live.line_webhook import line_webhook_settings
from engagement.live.metrics import Metrics, standard_metrics
from engagement.live.rate_limit import LocalGcra, burst_for, channel_rates
from engagement.live.security_reports import SecurityReports
from engagement.live.supervisor import Supervisor
from engagement.live.twilio_webhook import twilio_webhook_settings
from engagement.live.whatsapp_webhook import WebhookSettings
from engagement.openapi.document import add_openapi
from engagement.privacy import configure_logging, mask_phones
from engagement.providers.base import OutboundMessage
from engagement.providers.file import FileProvider
from engagement.settings import Settings
from engagement.sources.routes import add_sources, check_source_settings, source_settings

log = logging.getLogger("engagement.run")

DEMO_LATENESS_SECONDS = 1.0
DEMO_LIMIT_SECONDS = 90.0
T = TypeVar("T")


def _configured(settings: Settings, demo: bool) -> tuple[Settings, Path, Engine, ConfigWatcher | None]:
    """The settings with the live configuration's directories, the state directory (a fresh one for
    the demo), the live engine and its watcher."""
    state_dir = settings.state_dir
    if demo and "ENGAGEMENT_STATE_DIR" not in os.environ:
        state_dir = Path(tempfile.mkdtemp(prefix="engagement-demo-"))
    settings = own_configuration(settings, state_dir)
    check_source_settings(settings)  # bad settings refuse to start
    if demo:
        engine, watcher = live_configuration(settings, DEMO_DIR / "triggers", DEMO_LATENESS_SECONDS)
    else:
        engine, watcher = live_configuration(settings)
    return settings, state_dir, engine, watcher


async def run(settings: Settings, demo: bool, host: str) -> int:
    settings, state_dir, engine, watcher = _configured(settings, demo)
    demo_key = new_key() if demo else None  # the demo makes its own key, shown once below
    keys = KeyRing.of({"demo": (demo_key, SCOPES)}) if demo_key else KeyRing(settings.keys_file())
    refuse_open_bind(host, keys)
    feed = decisions_webhook(settings)  # checked before the store opens: bad settings refuse to start
    store = EmbeddedStore(state_dir)
    provider = sending_provider(settings)
    metrics = watcher.metrics if watcher is not None else standard_metrics()
    limiter = None
    if settings.provider in ("whatsapp", "twilio"):
        limiter = LocalGcra(settings.whatsapp_max_rps, burst_for(settings.whatsapp_max_rps))
    supervisor = Supervisor(metrics)
    security = SecurityReports(settings.security_webhook_url, metrics, supervisor=supervisor)
    service = EmbeddedService(
        engine,
        store,
        provider,
        metrics,
        limiter=limiter,
        channel_limiters={
            channel: LocalGcra(rate, burst_for(rate)) for channel, rate in channel_rates(settings).items()
        },
        daily_recipients=settings.whatsapp_daily_recipients,
        security=security,
        send_log=provider.provider if isinstance(provider.provider, FileProvider) else None,
        retention_days=settings.retention_days,
    )
    workspace = Workspace(
        watcher.triggers_dir if watcher is not None else (settings.triggers_dir or default_triggers_dir()),
        watcher.messages_dir if watcher is not None else (settings.messages_dir or default_messages_dir()),
        engine.settings,
    )
    reads = StoredReads(service, store)
    app = _http_app(
        settings, service, store, reads, metrics, keys, supervisor, _console(reads, workspace, state_dir, settings)
    )
    try:
        runner = await serve(app, host, settings.http_port)
    except OSError as exc:
        if not demo:
            store.close()
            raise CannotListen(f"cannot listen on {host}:{settings.http_port}: {exc.strerror}") from None
        runner = await serve(app, host, 0)  # the demo need not own the usual port
    port = runner.addresses[0][1] if runner.addresses else settings.http_port
    log.info(
        "engagement run: http://%s:%d (POST /v1/events), state in %s, provider %s, triggers %s, %d API keys",
        host,
        port,
        state_dir,
        provider.name,
        engine.config_version,
        len(keys),
    )
    if demo_key:
        sys.stderr.write(f"demo: API key for this run (scopes {','.join(SCOPES)}): {demo_key}\n")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    _start_tasks(supervisor, service, watcher, settings.config_poll.total_seconds())
    if feed is not None:
        webhook, source = feed, StoredDecisions(store)
        supervisor.start("decisions_webhook", lambda: run_feed(source, webhook, metrics))
    try:
        if demo:
            await _demo(service, store, stop)
        else:
            await stop.wait()
    finally:
        service.stop()
        await supervisor.stop()
        await runner.cleanup()
        await provider.close()
        await security.close()
        if feed is not None:
            await feed.close()
        store.close()
    return 0


def _start_tasks(supervisor: Supervisor, service: EmbeddedService, watcher: ConfigWatcher | None, poll: float) -> None:
    """The background tasks, each supervised: a failure is logged, counted and restarted."""
    supervisor.start("timers", service.run_timers)
    supervisor.start("sender", service.run_sender)
    supervisor.start("retention", service.run_retention)
    if watcher is not None:
        reloading = watcher
        supervisor.start("config", lambda: watch(reloading, service.use_engine, poll))


class CannotListen(RuntimeError):
    """The HTTP port is taken or not ours to open."""


def _http_app(
    settings: Settings,
    service: EmbeddedService,
    store: EmbeddedStore,
    reads: StoredReads,
    metrics: Metrics,
    keys: KeyRing,
    supervisor: Supervisor,
    console: ConsoleBackend,
) -> web.Application:
    webhook = WebhookSettings(
        settings.whatsapp_verify_token.get_secret_value(),
        settings.whatsapp_app_secret.get_secret_value(),
        service,
        templates_dir=settings.messages_dir,  # a template webhook updates its registry there
    )
    api = Api(
        decisions=lambda after, limit: _read(store, after, limit),
        events=lambda after, limit, since: _read_events(store, after, limit, since),
        report=reads.report,
        forget=forgetting_kept(service.forget, console.state_dir),
        webhook=webhook,
        twilio=twilio_webhook_settings(settings, service),
        line=line_webhook_settings(settings, service),
        health=supervisor.health,
    )
    app = make_app(
        service,
        metrics,
        keys,
        api,
        limits=settings.http_limits(),
        max_future_seconds=settings.max_future_skew.total_seconds(),
    )
    # the features beside the core API, each knowing nothing of this runtime
    add_console(app, console, app[KEYED_ROUTE])
    memory = StoreMemory(store)
    add_sources(
        app, source_settings(settings, memory, lambda: service.engine.source_options), service.ingest, keys, metrics
    )
    add_openapi(app)
    return app


async def _demo(service: EmbeddedService, store: EmbeddedStore, stop: asyncio.Event) -> None:
    log.info("demo: feeding %s at live pace; messages appear below within a minute", DEMO_DIR / "stream.jsonl")
    fed = await feed_demo(service, DEMO_DIR / "stream.jsonl")
    deadline = time.monotonic() + DEMO_LIMIT_SECONDS
    while time.monotonic() < deadline and not stop.is_set():
        counts = store.outbox_counts()
        if service.pending() == 0 and counts.get("pending", 0) == 0 and counts.get("sending", 0) == 0:
            break
        await asyncio.sleep(0.5)
    lines = store.read_decisions(0, 1000)
    counts = store.outbox_counts()
    sends = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"
    sys.stderr.write(f"demo: {fed} events, {len(lines)} decisions, sends: {sends}\n")
    sys.stderr.writelines(mask_phones(line) for _, line in lines)


async def _read(store: EmbeddedStore, after: int, limit: int) -> list[tuple[int, str]]:
    return store.read_decisions(after, limit)


class StoredReads:
    """The heavy reads of what this run stored (reports, the console's pages and backtests), each
    in a worker thread on a read-only connection of its own, bounded by one `HeavyReads` gate."""

    def __init__(self, service: EmbeddedService, store: EmbeddedStore) -> None:
        self.service, self.store, self.gate = service, store, HeavyReads()

    async def _heavy(self, read: Callable[[StoreReader], T]) -> T:
        path = self.store.path

        def in_thread() -> T:
            with StoreReader(path) as reader:
                return read(reader)

        async with self.gate.slot():
            return await asyncio.to_thread(in_thread)

    async def report(self, since: float | None) -> list[dict[str, object]]:
        """`engagement report` of what this run stored, with the live configuration's attribution windows."""
        engine = self.service.engine

        return await self._heavy(lambda reader: from_stored(engine, reader.report_sources(), since))

    async def decisions_since(self, since: float) -> list[str]:
        return await self._heavy(lambda reader: reader.decision_lines_since(since))

    async def archive(self, since: float, until: float) -> list[str]:
        return await self._heavy(lambda reader: reader.events_between(since, until))

    async def timeline(self, customer_id: str) -> dict[str, list[Any]]:
        return await self._heavy(lambda reader: reader.customer_timeline(customer_id))


def _console(reads: StoredReads, workspace: Workspace, state_dir: Path, settings: Settings) -> ConsoleBackend:
    service = reads.service

    async def state_of(customer_id: str) -> CustomerState | None:
        return service.store.load_state(customer_id)  # one row, or the cache

    async def send_test(message: OutboundMessage) -> str:
        return (await service.provider.send(message)).provider_message_id

    return ConsoleBackend(
        workspace,
        state_dir,
        lambda: service.engine,
        reads.report,
        reads.decisions_since,
        reads.archive,
        reads.timeline,
        state_of=state_of,
        owner_of=service.customer_for_phone,
        send_test=send_test,
        graph=graph_account(settings),
        test_numbers=settings.allowed_test_numbers(),
        require_approval=settings.console_require_approval,
    )


async def _read_events(store: EmbeddedStore, after: int, limit: int, since: float) -> list[tuple[int, str]]:
    return store.read_events(after, limit, since)


def main(demo: bool, host: str) -> int:
    os.umask(0o077)  # everything written under the state directory is the owner's only
    configure_logging()
    try:
        return asyncio.run(run(Settings(), demo, host))
    except (KeysFileError, InsecureBind, CannotListen, StoreBusy) as exc:
        sys.stderr.write(f"engagement run: {exc}\n")
        return 2
