"""`engagement run`: HTTP ingest, the engine, durable timers and the sender in one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from engagement.embedded.demo import DEMO_DIR, feed_demo
from engagement.embedded.service import EmbeddedService
from engagement.embedded.store import EmbeddedStore
from engagement.live.config_reload import live_configuration, watch
from engagement.live.http import make_app, serve
from engagement.live.metrics import standard_metrics
from engagement.live.rate_limit import LocalGcra, burst_for
from engagement.live.security_reports import SecurityReports
from engagement.live.twilio_webhook import twilio_webhook_settings
from engagement.live.whatsapp_webhook import WebhookSettings
from engagement.providers.factory import build_provider
from engagement.settings import Settings

log = logging.getLogger("engagement.run")

DEMO_LATENESS_SECONDS = 1.0
DEMO_LIMIT_SECONDS = 90.0


async def run(settings: Settings, demo: bool, host: str) -> int:
    if demo:
        engine, watcher = live_configuration(settings, DEMO_DIR / "triggers", DEMO_LATENESS_SECONDS)
    else:
        engine, watcher = live_configuration(settings)
    state_dir = settings.state_dir
    if demo and "ENGAGEMENT_STATE_DIR" not in os.environ:
        state_dir = Path(tempfile.mkdtemp(prefix="engagement-demo-"))
    store = EmbeddedStore(state_dir)
    provider = build_provider(settings)
    metrics = watcher.metrics if watcher is not None else standard_metrics()
    limiter = None
    if settings.provider in ("whatsapp", "twilio"):
        limiter = LocalGcra(settings.whatsapp_max_rps, burst_for(settings.whatsapp_max_rps))
    security = SecurityReports(settings.security_webhook_url, metrics)
    service = EmbeddedService(
        engine,
        store,
        provider,
        metrics,
        limiter=limiter,
        daily_recipients=settings.whatsapp_daily_recipients,
        security=security,
    )
    webhook = WebhookSettings(
        settings.whatsapp_verify_token.get_secret_value(), settings.whatsapp_app_secret.get_secret_value(), service
    )
    app = make_app(
        service,
        metrics,
        lambda after, limit: _read(store, after, limit),
        webhook,
        twilio=twilio_webhook_settings(settings, service),
    )
    try:
        runner = await serve(app, host, settings.http_port)
    except OSError:
        if not demo:
            raise
        runner = await serve(app, host, 0)  # the demo need not own the usual port
    port = runner.addresses[0][1] if runner.addresses else settings.http_port
    log.info(
        "engagement run: http://%s:%d (POST /v1/events), state in %s, provider %s, triggers %s",
        host,
        port,
        state_dir,
        provider.name,
        engine.config_version,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(service.run_timers()), asyncio.create_task(service.run_sender())]
    if watcher is not None:
        tasks.append(asyncio.create_task(watch(watcher, service.use_engine, settings.config_poll.total_seconds())))
    try:
        if demo:
            await _demo(service, store, stop)
        else:
            await stop.wait()
    finally:
        service.stop()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await runner.cleanup()
        await provider.close()
        await security.close()
        store.close()
    return 0


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
    sys.stderr.write(f"demo: {fed} events, {len(lines)} decisions, sends: {store.outbox_counts()}\n")
    sys.stderr.writelines(line for _, line in lines)


async def _read(store: EmbeddedStore, after: int, limit: int) -> list[tuple[int, str]]:
    return store.read_decisions(after, limit)


def main(demo: bool, host: str) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    return asyncio.run(run(Settings(), demo, host))
