"""The HTTP API of CONTRACT.md §5 as an aiohttp application, shared by `run` and `worker`.

The runtime passes its own `Ingest` (the embedded engine, or a Kafka producer), so the
routes, the body parsing and the answers are the same for both.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from engagement.events import Event
from engagement.live import twilio_webhook, whatsapp_webhook
from engagement.live.ingest import MAX_BODY_BYTES, parse_body
from engagement.live.metrics import Metrics
from engagement.live.security_reports import NOT_ME_PAYLOADS, SecurityReport
from engagement.live.sender import failure_event
from engagement.live.twilio_webhook import TwilioWebhookSettings
from engagement.live.whatsapp_webhook import (
    InboundMessage,
    StatusUpdate,
    WebhookContent,
    WebhookPort,
    WebhookSettings,
)


class Ingest(Protocol):
    async def ingest(self, events: list[Event]) -> int:
        """Take accepted events durably; return how many were repeats of events already taken."""
        ...


DecisionsReader = Callable[[int, int], Awaitable[list[tuple[int, str]]]]

METRICS = web.AppKey("metrics", Metrics)


def make_app(
    ingest: Ingest,
    metrics: Metrics,
    decisions: DecisionsReader | None = None,
    webhook: WebhookSettings | None = None,
    ingest_counter: str = "engagement_events_total",
    twilio: TwilioWebhookSettings | None = None,
) -> web.Application:
    """`ingest_counter`: where HTTP ingest counts its results. The worker, whose agent counts the
    events it processes in `engagement_events_total`, counts what HTTP took in a counter of its own."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[METRICS] = metrics

    async def post_events(request: web.Request) -> web.Response:
        body = await request.read()
        batch = parse_body(request.content_type, body)
        duplicates = await ingest.ingest(batch.events) if batch.events else 0
        metrics.inc(ingest_counter, len(batch.events) - duplicates, result="accepted")
        metrics.inc(ingest_counter, duplicates, result="duplicate")
        metrics.inc(ingest_counter, len(batch.rejected), result="rejected")
        return web.json_response(batch.response(duplicates), status=202, dumps=_dumps)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def get_metrics(_: web.Request) -> web.Response:
        return web.Response(text=metrics.render(), content_type="text/plain", charset="utf-8")

    app.router.add_post("/v1/events", post_events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", get_metrics)

    if decisions is not None:
        reader = decisions

        async def get_decisions(request: web.Request) -> web.Response:
            """Decisions made so far, oldest first, as JSONL; `after` is the last sequence number seen."""
            after = int(request.query.get("after", "0"))
            limit = min(int(request.query.get("limit", "1000")), 10_000)
            rows = await reader(after, limit)
            last = rows[-1][0] if rows else after
            text = "".join(line for _, line in rows)
            return web.Response(
                text=text, content_type="application/x-ndjson", charset="utf-8", headers={"X-Last-Seq": str(last)}
            )

        app.router.add_get("/v1/decisions", get_decisions)
    if webhook is not None:
        add_whatsapp_webhook(app, webhook, metrics)
    if twilio is not None:
        add_twilio_webhook(app, twilio, metrics)
    return app


def add_whatsapp_webhook(app: web.Application, settings: WebhookSettings, metrics: Metrics) -> None:
    async def verify(request: web.Request) -> web.Response:
        challenge = whatsapp_webhook.handshake(request.query, settings.verify_token)
        if challenge is None:
            metrics.inc("engagement_whatsapp_webhooks_total", result="handshake_refused")
            return web.Response(status=403, text="verification failed")
        return web.Response(text=challenge)

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        if not whatsapp_webhook.signature_valid(settings.app_secret, body, request.headers.get("X-Hub-Signature-256")):
            metrics.inc("engagement_whatsapp_webhooks_total", result="bad_signature")
            return web.Response(status=401, text="bad signature")
        try:
            payload = json.loads(body)
        except ValueError:
            metrics.inc("engagement_whatsapp_webhooks_total", result="bad_body")
            return web.Response(status=400, text="not JSON")
        metrics.inc("engagement_whatsapp_webhooks_total", result="accepted")
        await handle_content(settings.port, whatsapp_webhook.parse(payload), metrics)
        return web.Response(text="ok")

    app.router.add_get("/v1/webhooks/whatsapp", verify)
    app.router.add_post("/v1/webhooks/whatsapp", receive)


def add_twilio_webhook(app: web.Application, settings: TwilioWebhookSettings, metrics: Metrics) -> None:
    async def receive(request: web.Request) -> web.Response:
        form = await request.post()
        params = {key: str(value) for key, value in form.items()}
        url = settings.public_url + (f"?{request.query_string}" if request.query_string else "")
        if not twilio_webhook.signature_valid(
            settings.auth_token, url, params, request.headers.get("X-Twilio-Signature")
        ):
            metrics.inc("engagement_twilio_webhooks_total", result="bad_signature")
            return web.Response(status=401, text="bad signature")
        metrics.inc("engagement_twilio_webhooks_total", result="accepted")
        await handle_content(settings.port, twilio_webhook.parse(params, request.query), metrics)
        return web.Response(status=204)

    app.router.add_post("/v1/webhooks/twilio", receive)


async def handle_content(port: WebhookPort, content: WebhookContent, metrics: Metrics) -> None:
    """Whichever provider called: statuses recorded once (settling unknown sends, feeding refusals
    back), replies to the engine, and "not me" taps reported."""
    events = await status_events(port, await port.record_statuses(content.statuses), metrics)
    for message in content.inbound:
        customer = await port.customer_for_phone(message.phone)
        if customer is None:
            metrics.inc("engagement_whatsapp_inbound_total", result="unknown_sender")
            continue
        metrics.inc("engagement_whatsapp_inbound_total", result="reply")
        events.append(whatsapp_webhook.reply_event(message, customer))
        if message.button_payload in NOT_ME_PAYLOADS:
            await report_not_me(port, message, customer, metrics)
    if events:
        await port.ingest(events)


async def report_not_me(port: WebhookPort, message: InboundMessage, customer: str, metrics: Metrics) -> None:
    """Once per answer (Meta retries webhooks): the security report of a "not me" tap."""
    seen = StatusUpdate(message.message_id, "not_me", message.timestamp, message.phone, None)
    if not await port.record_statuses([seen]):
        return
    metrics.inc("engagement_security_reports_total", result="reported")
    report = SecurityReport(customer, message.phone, message.message_id, message.replied_to, message.timestamp)
    await port.report_security(report)


async def status_events(port: WebhookPort, statuses: list[StatusUpdate], metrics: Metrics) -> list[Event]:
    """Count new statuses, settle sends whose outcome was unknown, and turn refusals the engine
    must hear of (opt-out, marketing paused, unreachable) into `message.failed` events."""
    events: list[Event] = []
    for status in statuses:
        metrics.inc("engagement_whatsapp_statuses_total", status=status.status)
        for error in status.error_codes:
            metrics.inc("engagement_whatsapp_failures_total", code=str(error))
        if status.key is not None and status.outcome is not None and await port.reconcile(status.key, status.outcome):
            metrics.inc("engagement_sends_total", result="reconciled")
        if status.feedback is None:
            continue
        customer = await port.customer_for_phone(status.phone)
        if customer is not None:
            code = str(status.error_codes[0]) if status.error_codes else None
            key = status.key or status.message_id
            events.append(failure_event(key, customer, status.feedback, code, status.timestamp))
    return events


def _dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False)


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
