"""The HTTP API of CONTRACT.md §5 as an aiohttp application, shared by `run` and `worker`.

The runtime passes its own `Ingest` (the embedded engine, or a Kafka producer), so the
routes, the body parsing and the answers are the same for both.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl

from aiohttp import web
from pydantic_core import from_json

from engagement.config.template_registry import TemplateUpdate, apply_update
from engagement.decode import customer_id_problem
from engagement.events import EVENT_ADAPTER, Event
from engagement.limits import Limits
from engagement.live import twilio_webhook, whatsapp_webhook
from engagement.live.api_keys import KeyRing
from engagement.live.guard import (
    API_KEY,
    KEYED_ROUTE,
    ROUTE_SCOPES,
    SERVER_NAME,
    WEBHOOK_MAX_BYTES,
    AuthFailures,
    Handler,
    guarded,
    problem,
    quiet_client_errors,
    read_body,
    whole_number,
)
from engagement.live.heavy_reads import RETRY_AFTER_SECONDS, ReadsBusy
from engagement.live.ingest import Taken, parse_body
from engagement.live.line_webhook import LineWebhookSettings, add_line_webhook
from engagement.live.metrics import Metrics
from engagement.live.security_reports import SecurityReport
from engagement.live.sender import failure_event
from engagement.live.twilio_webhook import TwilioWebhookSettings
from engagement.live.whatsapp_webhook import (
    InboundMessage,
    StatusUpdate,
    WebhookContent,
    WebhookPort,
    WebhookSettings,
)
from engagement.providers.twilio.error_table import ERROR_TABLE as TWILIO_CODES
from engagement.providers.whatsapp.error_table import ERROR_TABLE as WHATSAPP_CODES

log = logging.getLogger("engagement.http")


class Ingest(Protocol):
    async def ingest(self, events: list[Event]) -> Taken:
        """Take accepted events durably; answer how many repeated events already taken and which
        events were refused (by their index in `events`)."""
        ...


DecisionsReader = Callable[[int, int], Awaitable[list[tuple[int, str]]]]
EventsReader = Callable[[int, int, float], Awaitable[list[tuple[int, str]]]]
Forget = Callable[[str], Awaitable[dict[str, int]]]

METRICS = web.AppKey("metrics", Metrics)
LIMITS = web.AppKey("limits", Limits)
PARSE_IN_THREAD_BYTES = 256 * 1024  # larger bodies are parsed off the event loop
MAX_DECISIONS_PAGE = 10_000


@dataclass(frozen=True, slots=True)
class Api:
    """What a runtime offers the HTTP API besides ingest."""

    decisions: DecisionsReader | None = None
    events: EventsReader | None = None  # the accepted events kept for export (run)
    report: Callable[[float | None], Awaitable[list[dict[str, object]]]] | None = None  # engagement report's JSON
    forget: Forget | None = None
    webhook: WebhookSettings | None = None
    twilio: TwilioWebhookSettings | None = None
    line: LineWebhookSettings | None = None
    health: Callable[[], str | None] = lambda: None  # None when healthy, else why not


def make_app(
    ingest: Ingest,
    metrics: Metrics,
    keys: KeyRing,
    api: Api | None = None,
    ingest_counter: str = "engagement_events_total",
    limits: Limits | None = None,
    max_future_seconds: float = 300.0,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """`ingest_counter`: where HTTP ingest counts its results. The worker, whose agent counts the
    events it processes in `engagement_events_total`, counts what HTTP took in a counter of its own."""
    api = api or Api()
    limits = limits or Limits()
    app = web.Application(client_max_size=limits.max_body_bytes, middlewares=[_no_server_errors])
    app.on_response_prepare.append(_plain_headers)
    app[LIMITS] = limits
    app[METRICS] = metrics

    failures = AuthFailures(metrics)

    app[ROUTE_SCOPES] = {}

    def route(method: str, path: str, scope: str | None, handler: Handler) -> None:
        app.router.add_route(method, path, guarded(keys, scope, handler, failures))
        app[ROUTE_SCOPES][(method, path)] = scope

    app[KEYED_ROUTE] = route

    async def post_events(request: web.Request) -> web.Response:
        body = await read_body(request, limits.max_body_bytes, limits.body_seconds)
        if isinstance(body, web.Response):
            return body
        now = clock()
        if len(body) > PARSE_IN_THREAD_BYTES:
            batch = await asyncio.to_thread(parse_body, request.content_type, body, now, max_future_seconds)
        else:
            batch = parse_body(request.content_type, body, now, max_future_seconds)
        if "admin" not in request[API_KEY].scopes:
            batch.refuse_provider_events()
        taken = await ingest.ingest([event for _, event in batch.events]) if batch.events else Taken()
        batch.take(taken)
        duplicates = taken.duplicates
        metrics.inc(ingest_counter, len(batch.events) - duplicates, result="accepted")
        metrics.inc(ingest_counter, duplicates, result="duplicate")
        metrics.inc(ingest_counter, len(batch.rejected), result="rejected")
        status = 202 if batch.events else 400
        return web.json_response(batch.response(duplicates), status=status, dumps=_dumps)

    async def healthz(_: web.Request) -> web.Response:
        trouble = api.health()
        if trouble is not None:
            return web.json_response({"status": "failing", "reason": trouble}, status=503)
        return web.json_response({"status": "ok"})

    async def get_metrics(_: web.Request) -> web.Response:
        return web.Response(text=metrics.render(), content_type="text/plain", charset="utf-8")

    async def resolve_conversation(request: web.Request) -> web.Response:
        """The people side is done with a hand-off: automatic answers to the customer resume."""
        customer_id = request.match_info["customer_id"]
        bad = customer_id_problem(customer_id)
        if bad is not None:
            return problem(400, f"customer_id: {bad}")
        event = EVENT_ADAPTER.validate_python(
            {
                "event_id": f"resolved-{uuid.uuid4().hex}",
                "type": "conversation.resolved",
                "customer_id": customer_id,
                "occurred_at": datetime.fromtimestamp(clock(), UTC),
            }
        )
        taken = await ingest.ingest([event])
        if taken.refused:
            return problem(409, f"not taken: {taken.refused[0][1].reason}")
        metrics.inc("engagement_handoffs_resolved_total")
        log.info("customer %s: hand-off resolved by key %s", customer_id, request[API_KEY].name)
        return web.json_response({"customer_id": customer_id, "resolved": True}, status=202, dumps=_dumps)

    route("POST", "/v1/events", "ingest", post_events)
    route("POST", "/v1/conversations/{customer_id}/resolve", "admin", resolve_conversation)
    route("GET", "/healthz", None, healthz)
    route("GET", "/metrics", None, get_metrics)
    _add_runtime_routes(app, api, metrics, route)
    return app


def _add_runtime_routes(
    app: web.Application, api: Api, metrics: Metrics, route: Callable[[str, str, str | None, Handler], None]
) -> None:
    """The endpoints a runtime offers when it has what they need."""
    if api.decisions is not None:
        decisions = api.decisions
        route("GET", "/v1/decisions", "read", paged_route(lambda after, limit, _: decisions(after, limit)))
    if api.events is not None:
        # the raw events carry customers' numbers in clear: an export of personal data, admin only
        route("GET", "/v1/events", "admin", paged_route(api.events))
    if api.forget is not None:
        route("DELETE", "/v1/customers/{customer_id}", "admin", forget_route(api.forget))
    if api.report is not None:
        make_report = api.report

        async def get_report(request: web.Request) -> web.Response:
            """`since`: decisions from then on (seconds since the epoch); all by default."""
            since = whole_number(request.query["since"], 0, 2**42) if "since" in request.query else -1
            if since is None:
                return problem(400, "since: seconds since the epoch")
            return web.json_response(await make_report(None if since < 0 else float(since)), dumps=_dumps)

        route("GET", "/v1/report", "read", get_report)
    if api.webhook is not None:
        add_whatsapp_webhook(app, api.webhook, metrics)
    if api.twilio is not None:
        add_twilio_webhook(app, api.twilio, metrics)
    if api.line is not None:
        add_line_webhook(app, api.line, metrics)


def paged_route(reader: EventsReader) -> Handler:
    async def get_page(request: web.Request) -> web.Response:
        """Stored lines (decisions, or accepted events) oldest first, as JSONL; `after` is the last
        sequence number seen (header `X-Last-Seq`); `since`, for events, their earliest event time."""
        after = whole_number(request.query.get("after", "0"), 0, 2**62)
        limit = whole_number(request.query.get("limit", "1000"), 1, MAX_DECISIONS_PAGE)
        since = whole_number(request.query.get("since", "0"), 0, 2**42)
        if after is None or limit is None or since is None:
            return problem(
                400,
                f"after: a whole number >= 0; limit: a whole number from 1 to {MAX_DECISIONS_PAGE}; "
                "since: seconds since the epoch",
            )
        rows = await reader(after, limit, float(since))
        last = rows[-1][0] if rows else after
        text = "".join(line for _, line in rows)
        return web.Response(
            text=text, content_type="application/x-ndjson", charset="utf-8", headers={"X-Last-Seq": str(last)}
        )

    return get_page


def forget_route(forget: Forget) -> Handler:
    async def delete_customer(request: web.Request) -> web.Response:
        customer_id = request.match_info["customer_id"]
        bad = customer_id_problem(customer_id)
        if bad is not None:
            return problem(400, f"customer_id: {bad}")
        erased = await forget(customer_id)
        log.info("customer erased on request (%d records)", sum(erased.values()))
        return web.json_response({"customer_id": customer_id, "erased": erased}, dumps=_dumps)

    return delete_customer


async def _plain_headers(_: web.Request, response: web.StreamResponse) -> None:
    """Every answer: not cached by the browser or a proxy (decisions and timelines hold personal
    data), not sniffed as another type, and the server named without versions."""
    response.headers["Server"] = SERVER_NAME
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")


API_PATHS = ("/v1/", "/console/api/")  # answered in JSON, their 404 and 405 too


@web.middleware
async def _no_server_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A handler's unexpected failure is logged with its traceback and answered 500 without details;
    aiohttp's own 4xx (unknown route, wrong method) pass through."""
    try:
        return await handler(request)
    except web.HTTPMethodNotAllowed as exc:
        if not request.path.startswith(API_PATHS):
            raise
        allowed = ", ".join(sorted(exc.allowed_methods))
        return problem(405, f"{request.method} is not allowed here; allowed: {allowed}", headers={"Allow": allowed})
    except web.HTTPNotFound:
        if not request.path.startswith(API_PATHS):
            raise
        return problem(404, f"no such route: {request.method} {request.path[:200]}")
    except web.HTTPException:
        raise
    except ReadsBusy as exc:
        return problem(429, str(exc), headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return problem(500, "internal error; the server log has the details")


def add_whatsapp_webhook(app: web.Application, settings: WebhookSettings, metrics: Metrics) -> None:
    async def verify(request: web.Request) -> web.Response:
        challenge = whatsapp_webhook.handshake(request.query, settings.verify_token)
        if challenge is None:
            metrics.inc("engagement_whatsapp_webhooks_total", result="handshake_refused")
            return web.Response(status=403, text="verification failed")
        return web.Response(text=challenge)

    async def receive(request: web.Request) -> web.Response:
        """Size first, then the signature, and only then is the body parsed."""
        body = await read_body(request, WEBHOOK_MAX_BYTES, request.app[LIMITS].body_seconds)
        if isinstance(body, web.Response):
            metrics.inc("engagement_whatsapp_webhooks_total", result="bad_body")
            return body
        if not whatsapp_webhook.signature_valid(settings.app_secret, body, request.headers.get("X-Hub-Signature-256")):
            metrics.inc("engagement_whatsapp_webhooks_total", result="bad_signature")
            return problem(401, "bad signature: X-Hub-Signature-256 must be the HMAC-SHA256 of the body")
        try:
            payload = from_json(body)
        except ValueError as exc:
            metrics.inc("engagement_whatsapp_webhooks_total", result="bad_body")
            return problem(400, f"malformed JSON ({str(exc).splitlines()[0][:200]})")
        metrics.inc("engagement_whatsapp_webhooks_total", result="accepted")
        content = whatsapp_webhook.parse(payload)
        await handle_content(settings.port, content, metrics)
        for update in content.templates:
            await asyncio.to_thread(_template_changed, settings.templates_dir, update, metrics)
        return web.Response(text="ok")

    app.router.add_get("/v1/webhooks/whatsapp", verify)
    app.router.add_post("/v1/webhooks/whatsapp", receive)


def _template_changed(directory: Path | None, update: TemplateUpdate, metrics: Metrics) -> None:
    """A template's new status, category or quality into the registry file; the configuration
    watcher then makes it live (a send with a paused template is suppressed: `template_paused`)."""
    if directory is None:
        metrics.inc("engagement_template_updates_total", result="not_applied")
        log.warning(
            "template %s (%s) is now %s; not applied: ENGAGEMENT_MESSAGES_DIR names no directory to update",
            update.name,
            update.language,
            update.status or update.category or update.quality_score,
        )
        return
    record = apply_update(directory, update)
    if record is None:
        metrics.inc("engagement_template_updates_total", result="not_applied")
        log.warning(
            "template %s (%s) changed; not applied: %s has no synced registry (run `engagement templates sync`)",
            update.name,
            update.language,
            directory,
        )
        return
    metrics.inc("engagement_template_updates_total", result="applied")
    log.info(
        "template %s (%s): %s, %s, quality %s",
        record.name,
        record.language,
        record.status,
        record.category,
        record.quality_score,
    )


def add_twilio_webhook(app: web.Application, settings: TwilioWebhookSettings, metrics: Metrics) -> None:
    async def receive(request: web.Request) -> web.Response:
        body = await read_body(request, WEBHOOK_MAX_BYTES, request.app[LIMITS].body_seconds)
        if isinstance(body, web.Response):
            metrics.inc("engagement_twilio_webhooks_total", result="bad_body")
            return body
        try:
            params = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=500))
        except ValueError:
            metrics.inc("engagement_twilio_webhooks_total", result="bad_body")
            return problem(400, "a form of at most 500 fields is expected")
        url = settings.public_url + (f"?{request.query_string}" if request.query_string else "")
        if not twilio_webhook.signature_valid(
            settings.auth_token, url, params, request.headers.get("X-Twilio-Signature")
        ):
            metrics.inc("engagement_twilio_webhooks_total", result="bad_signature")
            return problem(401, "bad signature: X-Twilio-Signature does not match")
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
        answered = await port.send_of_message(message.replied_to) if message.replied_to else None
        reply = whatsapp_webhook.reply_event(message, customer, answered)
        if reply is None:
            metrics.inc("engagement_whatsapp_inbound_total", result="unreadable")
            continue
        metrics.inc("engagement_whatsapp_inbound_total", result="reply")
        events.append(reply)
        said = {s.strip().casefold() for s in (message.button_payload, message.text) if s is not None}
        if said & port.not_me_words():
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
    must hear of (opt-out, marketing paused, unreachable) into `message.failed` events, for the
    customer the send was for and only while that customer still holds the number (a status
    never acts on whoever owns the recipient number now)."""
    events: list[Event] = []
    for status in statuses:
        metrics.inc("engagement_whatsapp_statuses_total", status=status_label(status.status))
        for error in status.error_codes:
            metrics.inc("engagement_whatsapp_failures_total", code=code_label(error))
        if status.key is not None and status.outcome is not None and await port.reconcile(status.key, status.outcome):
            metrics.inc("engagement_sends_total", result="reconciled")
        await follow_delivery(port, status, metrics)
        if status.feedback is None:
            continue
        customer = await recipient_of(port, status)
        if customer is None:
            metrics.inc("engagement_whatsapp_statuses_ignored_total", reason="recipient_not_the_send_s")
            continue
        code = str(status.error_codes[0]) if status.error_codes else None
        key = status.key or status.message_id
        events.append(failure_event(key, customer, status.feedback, code, status.timestamp, status.channel))
    return events


async def follow_delivery(port: WebhookPort, status: StatusUpdate, metrics: Metrics) -> None:
    """Delivery reports drive the fail-over: `delivered` (or `read`) ends a send's wait for it, a
    late one after the send moved on is counted as `delivered_twice`; `failed` moves it on now."""
    if status.key is None:
        return
    if status.status in ("delivered", "read"):
        said = await port.delivered(status.key, status.channel)
        if said is not None:
            metrics.inc("engagement_deliveries_total", channel=status.channel, result=said)
            if said == "twice":
                log.warning("send %s: delivered on %s and on another channel", status.key, status.channel)
    elif status.outcome == "failed" and await port.refused_on(status.key, status.channel):
        metrics.inc("engagement_failovers_total", source=status.channel, to="next", reason="failed_status")


async def recipient_of(port: WebhookPort, status: StatusUpdate) -> str | None:
    """The customer a status may act on: the one its send was for, if they still hold its number."""
    if status.key is None:
        return None
    sent_to = await port.customer_of_send(status.key)
    if sent_to is None or await port.customer_for_phone(status.phone) != sent_to:
        return None
    return sent_to


STATUS_LABELS = frozenset({
    "sent", "delivered", "read", "failed", "deleted", "warning", "played",  # Meta
    "queued", "accepted", "sending", "undelivered", "receiving", "received", "scheduled", "canceled",  # Twilio
    "partially_delivered", "not_me",
})  # fmt: skip


def status_label(status: str) -> str:
    """A provider's status as a metric label: a known word, else `other` (labels stay few)."""
    return status if status in STATUS_LABELS else "other"


def code_label(code: int) -> str:
    """A provider's error code as a metric label: one of the codes the error tables know, else `other`."""
    return str(code) if code in WHATSAPP_CODES or code in TWILIO_CODES else "other"


def _dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False)


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    quiet_client_errors()
    limits = app.get(LIMITS) or Limits()
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=limits.idle_seconds, shutdown_timeout=5.0)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
