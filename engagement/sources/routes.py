"""`POST /v1/sources/shopify`, `/v1/sources/shopline` and `/v1/sources/segment`, for any runtime.

Each checks the platform's signature (or token, or an API key) on the raw body before parsing it
(401 otherwise), maps the delivery, validates the mapped events like `/v1/events` does and gives
them to the runtime's `Ingest` within the platform's time (Shopify waits 5 s, SHOPLINE 15 s; a
runtime slower than that answers 503 and the platform retries; the events' ids make the retry a
duplicate). The answer is `/v1/events`' (`accepted`, `duplicates`, `rejected`, `rejections` naming
the platform's field) plus `ignored` (deliveries of no use to the triggers, with why) and `notes`.
A delivery that is all rejections is answered 422; anything taken or ignored, 200.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic_core import from_json

from engagement.config.event_catalogue import EventCatalogue
from engagement.config.source_options import DEFAULT as DEFAULT_OPTIONS
from engagement.config.source_options import SourceOptions
from engagement.decode import Rejection, active_catalogue, decode_event
from engagement.events import Event
from engagement.limits import Limits
from engagement.live.answers import IgnoredDelivery, SourceAnswer
from engagement.live.api_keys import KeyRing
from engagement.live.guard import AuthFailures, guarded, problem, read_body
from engagement.live.ingest import IngestBatch, Taken, future_rejection
from engagement.live.metrics import Metrics
from engagement.settings import Settings
from engagement.sources import segment, shopify, shopline
from engagement.sources.mapping import Mapped, SourceMemory, Unmappable, body_digest

log = logging.getLogger("engagement.sources")

Ingest = Callable[[list[Event]], Awaitable[Taken]]
STALE_SECONDS = 7 * 86_400.0  # a delivery triggered longer ago is a replay (Shopify retries for 4 h)
DELIVERY_SECONDS = STALE_SECONDS  # how long a delivery id is remembered as taken
SHOPIFY_SECONDS = 4.0  # within Shopify's 5 s
SHOPLINE_SECONDS = 12.0  # within SHOPLINE's 15 s
SEGMENT_SECONDS = 8.0
COUNTER = "engagement_source_events_total"
_DELIVERY_ID = re.compile(r"^[0-9A-Za-z_.:-]{1,128}\Z")


@dataclass(frozen=True)
class SourceSettings:
    shopify_secrets: tuple[str, ...]
    segment_secret: str
    shopline_token: str
    memory: SourceMemory
    options: Callable[[], SourceOptions]  # the live configuration's `_sources.yaml`
    limits: Limits
    max_future_seconds: float = 300.0
    clock: Callable[[], float] = time.time
    catalogue: Callable[[], EventCatalogue] = active_catalogue  # the event types the live configuration declares


MIN_TOKEN = 16


def check_source_settings(settings: Settings) -> None:
    """Raises ValueError for a SHOPLINE token short enough to guess (a runtime refuses to start)."""
    token = settings.shopline_token.get_secret_value()
    if token and len(token) < MIN_TOKEN:
        raise ValueError(
            f"ENGAGEMENT_SHOPLINE_TOKEN: at least {MIN_TOKEN} characters (it is all that authenticates SHOPLINE)"
        )


def source_settings(settings: Settings, memory: SourceMemory, options: Callable[[], SourceOptions]) -> SourceSettings:
    check_source_settings(settings)
    return SourceSettings(
        shopify_secrets=(
            settings.shopify_secret.get_secret_value(),
            settings.shopify_secret_previous.get_secret_value(),
        ),
        segment_secret=settings.segment_secret.get_secret_value(),
        shopline_token=settings.shopline_token.get_secret_value(),
        memory=memory,
        options=options,
        limits=settings.http_limits(),
        max_future_seconds=settings.max_future_skew.total_seconds(),
    )


@dataclass
class Outcome:
    """One delivery's mapped items, by their index in the request."""

    items: list[tuple[int, Mapped | Unmappable]]


def add_sources(
    app: web.Application, settings: SourceSettings, ingest: Ingest, keys: KeyRing, metrics: Metrics
) -> None:
    sources = _Sources(settings, ingest, keys, metrics)
    app.router.add_post("/v1/sources/shopify", sources.shopify)
    app.router.add_post("/v1/sources/shopline", sources.shopline)
    app.router.add_post("/v1/sources/segment", sources.segment)


class _Sources:
    def __init__(self, settings: SourceSettings, ingest: Ingest, keys: KeyRing, metrics: Metrics) -> None:
        self.settings, self.ingest, self.keys, self.metrics = settings, ingest, keys, metrics
        self._failures = AuthFailures(metrics)
        self._keyed_segment = guarded(keys, "ingest", self._segment, self._failures)
        # a customer's Segment cart is read, changed and written back: one request at a time per customer
        self._customer_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def _body(self, request: web.Request) -> bytes | web.Response:
        limits = self.settings.limits
        return await read_body(request, limits.max_body_bytes, limits.body_seconds)

    def _refused(self, source: str, reason: str, request: web.Request) -> web.Response:
        self._failures.record(f"{source}_signature", request)
        return problem(401, reason)

    # ---- Shopify ----------------------------------------------------------------------

    async def shopify(self, request: web.Request) -> web.Response:
        secrets = [s for s in self.settings.shopify_secrets if s]
        if not secrets:
            return self._refused(
                "shopify", "ENGAGEMENT_SHOPIFY_SECRET is not set: no delivery can be verified", request
            )
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        header = request.headers.get("X-Shopify-Hmac-Sha256") or request.headers.get("Shopify-Hmac-Sha256")
        if not shopify.signed(secrets, body, header):
            reason = "X-Shopify-Hmac-Sha256: missing, or not the body's HMAC with the app's secret"
            return self._refused("shopify", reason, request)
        topic = request.headers.get("X-Shopify-Topic") or request.headers.get("Shopify-Topic") or ""
        webhook_id = request.headers.get("X-Shopify-Webhook-Id") or request.headers.get("Shopify-Webhook-Id")
        stale = _stale(request.headers.get("X-Shopify-Triggered-At"), self.settings.clock())
        if stale is not None:
            return self._answer("shopify", Outcome([(0, Mapped(ignored=stale))]), Taken())
        payload = _json(body)
        if isinstance(payload, web.Response):
            return payload
        options = self.settings.options() or DEFAULT_OPTIONS
        # Only the body is signed: a delivery is named by its digest (the same body under another
        # topic or delivery id is a replay), and by its webhook id as Shopify asks.
        digest = body_digest(body)
        remembered = [f"shopify:body:{digest}"]
        if webhook_id and _DELIVERY_ID.match(webhook_id):
            remembered.append(f"shopify:delivery:{webhook_id}")

        async def map_it() -> Outcome:
            renamed = options.renamed("shopify", payload) if isinstance(payload, dict) else payload
            mapping = shopify.map_delivery(topic, renamed, digest, options, self.settings.memory)
            return Outcome([(0, await _mapped(mapping, renamed))])

        return await self._take("shopify", map_it, remembered, SHOPIFY_SECONDS, stale_after=STALE_SECONDS)

    # ---- SHOPLINE ---------------------------------------------------------------------

    async def shopline(self, request: web.Request) -> web.Response:
        token = self.settings.shopline_token
        if not token:
            return self._refused(
                "shopline", "ENGAGEMENT_SHOPLINE_TOKEN is not set: no delivery can be verified", request
            )
        presented = request.query.get("token") or request.headers.get("X-Engagement-Token") or ""
        if not hmac.compare_digest(token.encode(), presented.encode("utf-8", errors="replace")):
            return self._refused("shopline", "token: missing or wrong (the webhook's address ends ?token=...)", request)
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        payload = _json(body)
        if isinstance(payload, web.Response):
            return payload
        topic, resource = shopline.topic_and_resource(payload, request.headers.get("X-Shopline-Topic"))
        delivery = _delivery_id(request.headers.get("X-Shopline-Webhook-Id"), body)
        options = self.settings.options() or DEFAULT_OPTIONS

        async def map_it() -> Outcome:
            renamed = options.renamed("shopline", resource) if isinstance(resource, dict) else resource
            mapping = shopline.map_delivery(topic, renamed, delivery, options, self.settings.memory)
            return Outcome([(0, await _mapped(mapping, renamed))])

        remembered = [f"shopline:delivery:{delivery}"]
        return await self._take("shopline", map_it, remembered, SHOPLINE_SECONDS, stale_after=STALE_SECONDS)

    # ---- Segment / RudderStack --------------------------------------------------------

    async def segment(self, request: web.Request) -> web.StreamResponse:
        """Signed (`X-Signature`), or, from a RudderStack webhook that cannot sign, with an API key
        of the ingest scope."""
        if request.headers.get("X-Signature") is None:
            return await self._keyed_segment(request)
        return await self._segment(request)

    async def _segment(self, request: web.Request) -> web.Response:
        signature = request.headers.get("X-Signature")
        if signature is not None and not self.settings.segment_secret:
            return self._refused("segment", "X-Signature given but ENGAGEMENT_SEGMENT_SECRET is not set", request)
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        if signature is not None:
            expected = hmac.new(self.settings.segment_secret.encode(), body, hashlib.sha1).hexdigest()
            if not signature.isascii() or not hmac.compare_digest(expected, signature.strip().lower()):
                return self._refused("segment", "X-Signature: not the body's HMAC-SHA1 with the shared secret", request)
        payload = _json(body)
        if isinstance(payload, web.Response):
            return payload
        items = payload if isinstance(payload, list) else [payload]
        if len(items) > segment.MAX_BATCH:
            return problem(413, f"{len(items)} events; a batch holds at most {segment.MAX_BATCH}")
        options = self.settings.options() or DEFAULT_OPTIONS

        async def map_it() -> Outcome:
            outcome = Outcome([])
            for index, item in enumerate(items):
                try:
                    event = segment.envelope(item, options)
                except Unmappable as exc:
                    outcome.items.append((index, exc))
                    continue
                lock = self._customer_locks.setdefault(event.customer_id, asyncio.Lock())
                async with lock:
                    result = await _mapped(segment.map_event(event, options, self.settings.memory), event.body)
                outcome.items.append((index, result))
            return outcome

        return await self._take("segment", map_it, [], SEGMENT_SECONDS)

    # ---- shared -----------------------------------------------------------------------

    async def _take(self, source: str, map_it: Callable[[], Awaitable[Outcome]], remembered: list[str],
                    seconds: float, stale_after: float | None = None) -> web.Response:  # fmt: skip
        """Map, validate and ingest within `seconds`. `remembered`: the names the delivery is
        remembered by once taken (a delivery known by any of them is a duplicate). `stale_after`:
        a delivery whose events are all older than this is a replay, and left."""
        memory = self.settings.memory
        try:
            async with asyncio.timeout(seconds):
                for name in remembered:
                    if await memory.recall(name) is not None:
                        self.metrics.inc(COUNTER, source=source, result="duplicate")
                        return web.json_response(_TAKEN_BEFORE.model_dump())
                outcome = await map_it()
                events, batch = self._validated(outcome)
                now = self.settings.clock()
                if stale_after is not None and events and all(now - _at(e) > stale_after for e in events):
                    stale = Mapped(
                        ignored="stale: the delivery's events are more than 7 days old (a replay); nothing taken"
                    )
                    return self._answer(source, Outcome([(0, stale)]), Taken())
                taken = await self.ingest([e for _, e in batch.events]) if batch.events else Taken()
                if batch.events and not taken.refused:
                    for name in remembered:
                        await memory.remember(name, events[0].customer_id, "1", DELIVERY_SECONDS)
        except TimeoutError:
            log.warning("%s delivery not taken within %.0f s; answered 503 for the platform to retry", source, seconds)
            return problem(503, f"not taken within {seconds:.0f} s; retry", headers={"Retry-After": "5"})
        return self._answer(source, outcome, taken, batch)

    def _validated(self, outcome: Outcome) -> tuple[list[Event], IngestBatch]:
        batch = IngestBatch()
        now = self.settings.clock()
        catalogue = self.settings.catalogue()
        for index, result in outcome.items:
            if isinstance(result, Unmappable):
                batch.rejected.append((index, Rejection(result.field, result.reason)))
                continue
            for mapped in result.events:
                event = decode_event(json.dumps(mapped.event, ensure_ascii=False), catalogue)
                if not isinstance(event, Rejection):
                    event = future_rejection(event, now, self.settings.max_future_seconds) or event
                if isinstance(event, Rejection):
                    batch.rejected.append((index, Rejection(mapped.source_field(event.field), event.reason)))
                    break  # the delivery's other events are left with it: half a delivery is not taken
                batch.events.append((index, event))
        rejected = {i for i, _ in batch.rejected}
        batch.events = [(i, e) for i, e in batch.events if i not in rejected]
        return [e for _, e in batch.events], batch

    def _answer(self, source: str, outcome: Outcome, taken: Taken, batch: IngestBatch | None = None) -> web.Response:
        batch = batch or IngestBatch()
        batch.take(taken)
        ignored = [
            IgnoredDelivery(index=i + 1, reason=r.ignored)
            for i, r in outcome.items
            if isinstance(r, Mapped) and r.ignored
        ]
        notes = [n for _, r in outcome.items if isinstance(r, Mapped) for n in r.notes]
        duplicates = taken.duplicates
        self.metrics.inc(COUNTER, len(batch.events) - duplicates, source=source, result="accepted")
        self.metrics.inc(COUNTER, duplicates, source=source, result="duplicate")
        self.metrics.inc(COUNTER, len(batch.rejected), source=source, result="rejected")
        self.metrics.inc(COUNTER, len(ignored), source=source, result="ignored")
        answer = SourceAnswer(**batch.answer(duplicates).model_dump(), ignored=ignored, notes=notes[:20])
        status = 422 if batch.rejected and not batch.events and not ignored else 200
        return web.json_response(answer.model_dump(), status=status)


async def _mapped(mapping: Awaitable[Mapped], payload: object) -> Mapped | Unmappable:
    """The mapping's result, with the fields `_sources.yaml` names `event.FIELD` added to the
    delivery's main (last) event."""
    try:
        mapped = await mapping
    except Unmappable as exc:
        return exc
    except (ValueError, TypeError, KeyError, OverflowError, RecursionError) as exc:
        log.warning("a delivery could not be mapped (%s)", type(exc).__name__, exc_info=True)
        return Unmappable("body", f"cannot be mapped ({type(exc).__name__}); the server log has the details")
    extra = payload.get("event.") if isinstance(payload, dict) else None
    if isinstance(extra, dict) and mapped.events:
        main = mapped.events[-1].event
        for name, value in extra.items():
            main.setdefault(name, value)
    return mapped


_TAKEN_BEFORE = SourceAnswer(
    accepted=0, duplicates=1, rejected=0, rejections=[], ignored=[], notes=["a delivery already taken"]
)


def _at(event: Event) -> float:
    return event.occurred_at.timestamp()


def _json(body: bytes) -> Any:
    try:
        return from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else "invalid"
        return problem(400, f"body: malformed JSON ({first})")


def _delivery_id(given: str | None, body: bytes) -> str:
    """The platform's delivery id when it is a plain one, else the body's digest."""
    if given and _DELIVERY_ID.match(given):
        return given
    return "body-" + body_digest(body)


def _stale(triggered_at: str | None, now: float) -> str | None:
    if not triggered_at:
        return None
    try:
        at = datetime.fromisoformat(triggered_at.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if at.tzinfo is None or now - at.timestamp() <= STALE_SECONDS:
        return None
    return "stale: triggered more than 7 days ago (a replayed delivery); nothing taken"
