"""What each route of the HTTP API does, takes and answers: the entries the OpenAPI document is
built from. Request and answer bodies are the models that validate and build them (contract events,
`engagement.live.answers`); the scope of a key-authenticated route is the one it is served with.
A route served without an entry here, or an entry no runtime serves, fails a test."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engagement.live.answers import Erased, Health, IngestAnswer, Problem, Resolved, SourceAnswer

JSON, TEXT, NDJSON, HTML = "application/json", "text/plain", "application/x-ndjson", "text/html"
ANY_JSON: dict[str, Any] = {}  # any JSON value: the console's own pages read these


@dataclass(frozen=True)
class Param:
    name: str
    where: str  # query, header
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False


@dataclass(frozen=True)
class Answer:
    status: int
    description: str
    content_type: str | None = JSON
    body: type[BaseModel] | dict[str, Any] | None = None  # a model, or a JSON schema


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    auth: str = "key"  # key (the route's scope), or how the platform proves itself: shopify, segment, ...
    request: Any = None  # a model, a JSON schema, or "events" (the contract's events)
    request_types: tuple[str, ...] = (JSON,)
    params: tuple[Param, ...] = ()
    answers: tuple[Answer, ...] = ()
    description: str = ""


class EditBody(BaseModel):
    """An edit of the live configuration: file name to its whole new text."""

    model_config = ConfigDict(extra="allow")

    files: dict[str, str] = Field(default_factory=dict, description="file name (cart_idle.yaml) to its new text")
    acknowledged: list[str] = Field(default_factory=list, description="the warnings acknowledged, by name")


class ShopifyPayload(BaseModel):
    """A Shopify webhook's resource (order, checkout, fulfillment, fulfillment event or customer)."""

    model_config = ConfigDict(extra="allow")

    id: int | str | None = None
    customer: dict[str, Any] | None = None
    updated_at: str | None = None


class SegmentEvent(BaseModel):
    """A Segment (or RudderStack) event of the e-commerce spec v2, or an identify call."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="track, identify, page, ...")
    event: str | None = Field(default=None, description="a track call's name: Product Viewed, Order Completed, ...")
    userId: str | None = None
    anonymousId: str | None = None
    messageId: str | None = None
    timestamp: str | None = None
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None
    context: dict[str, Any] | None = None


class ShoplineDelivery(BaseModel):
    """SHOPLINE's webhook envelope: the topic and the resource (an order, a delivery, a user, ...)."""

    model_config = ConfigDict(extra="allow")

    topic: str | None = None
    resource: dict[str, Any] | None = None


PAGE = (
    Param("after", "query", "the last sequence number seen (the X-Last-Seq header)", {"type": "integer", "minimum": 0}),
    Param("limit", "query", "lines per page, 1 to 10,000", {"type": "integer", "minimum": 1, "maximum": 10_000}),
)
ERRORS = (Answer(400, "the request is malformed; the reason names the field", body=Problem),)
SIGNED = (Answer(401, "no signature, or a wrong one", body=Problem), Answer(413, "the body is too large", body=Problem))


def _console(summary: str, method: str = "GET", request: Any = None, params: tuple[Param, ...] = ()) -> Operation:
    answers: tuple[Answer, ...] = (Answer(200, "the answer the console's page reads", body=ANY_JSON),)
    if method in ("POST", "DELETE"):
        answers = (*answers, Answer(202, "accepted", body=ANY_JSON), Answer(409, "in conflict", body=Problem))
    return Operation(summary, "console", request=request, params=params, answers=(*answers, *ERRORS))


OPERATIONS: dict[tuple[str, str], Operation] = {
    ("POST", "/v1/events"): Operation(
        "Ingest events: one JSON event, a JSON array of events, or JSONL",
        "events",
        request="events",
        request_types=(JSON, NDJSON),
        answers=(
            Answer(202, "taken; rejected items are listed with their index and reason", body=IngestAnswer),
            Answer(400, "nothing could be taken: the reasons", body=IngestAnswer),
            Answer(413, "the body is too large", body=Problem),
        ),
    ),
    ("GET", "/v1/events"): Operation(
        "The accepted events as JSONL (an export of personal data)",
        "events",
        params=(
            *PAGE,
            Param("since", "query", "the earliest event time, seconds since the epoch", {"type": "integer"}),
        ),
        answers=(Answer(200, "the events, oldest first", NDJSON, {"type": "string"}), *ERRORS),
    ),
    ("GET", "/v1/decisions"): Operation(
        "The decision log as JSONL",
        "decisions",
        params=PAGE,
        answers=(Answer(200, "decisions, oldest first", NDJSON, {"type": "string"}), *ERRORS),
    ),
    ("GET", "/v1/report"): Operation(
        "Outcomes per trigger and message version",
        "decisions",
        params=(Param("since", "query", "decisions from then on, seconds since the epoch", {"type": "integer"}),),
        answers=(Answer(200, "engagement report's rows", body={"type": "array"}), *ERRORS),
    ),
    ("DELETE", "/v1/customers/{customer_id}"): Operation(
        "Erase a customer everywhere the runtime keeps data",
        "customers",
        answers=(Answer(200, "what was erased", body=Erased), *ERRORS),
    ),
    ("POST", "/v1/conversations/{customer_id}/resolve"): Operation(
        "The people side is done with a hand-off: automatic answers resume",
        "customers",
        answers=(Answer(202, "resolved", body=Resolved), Answer(409, "not taken", body=Problem), *ERRORS),
    ),
    ("GET", "/healthz"): Operation(
        "Liveness",
        "operations",
        auth="none",
        answers=(Answer(200, "healthy", body=Health), Answer(503, "a background task keeps failing", body=Health)),
    ),
    ("GET", "/metrics"): Operation(
        "Prometheus metrics", "operations", auth="none", answers=(Answer(200, "text format", TEXT, {"type": "string"}),)
    ),
    ("GET", "/openapi.json"): Operation(
        "This document", "operations", auth="none", answers=(Answer(200, "OpenAPI 3.1", body={"type": "object"}),)
    ),
    ("GET", "/v1/webhooks/whatsapp"): Operation(
        "Meta's verification handshake",
        "webhooks",
        auth="none",
        params=(
            Param("hub.mode", "query", "subscribe"),
            Param("hub.verify_token", "query", "ENGAGEMENT_WHATSAPP_VERIFY_TOKEN"),
            Param("hub.challenge", "query", "echoed when the token matches"),
        ),
        answers=(
            Answer(200, "the challenge", TEXT, {"type": "string"}),
            Answer(403, "verification failed", TEXT, {"type": "string"}),
        ),
    ),
    ("POST", "/v1/webhooks/whatsapp"): Operation(
        "WhatsApp statuses and inbound messages",
        "webhooks",
        auth="whatsapp",
        request={"type": "object"},
        params=(Param("X-Hub-Signature-256", "header", "sha256=<hex HMAC-SHA256 of the body with the app secret>"),),
        answers=(Answer(200, "taken", TEXT, {"type": "string"}), *SIGNED, *ERRORS),
    ),
    ("POST", "/v1/webhooks/line"): Operation(
        "LINE webhook events",
        "webhooks",
        auth="line",
        request={"type": "object"},
        params=(Param("x-line-signature", "header", "base64 HMAC-SHA256 of the body with the channel secret"),),
        answers=(Answer(200, "taken", TEXT, {"type": "string"}), *SIGNED, *ERRORS),
    ),
    ("POST", "/v1/webhooks/twilio"): Operation(
        "Twilio status callbacks and inbound SMS",
        "webhooks",
        auth="twilio",
        request={"type": "object"},
        request_types=("application/x-www-form-urlencoded",),
        params=(Param("X-Twilio-Signature", "header", "Twilio's signature of the URL and form"),),
        answers=(Answer(204, "taken", None), *SIGNED, *ERRORS),
    ),
    ("POST", "/v1/sources/shopify"): Operation(
        "Shopify webhooks mapped to contract events",
        "sources",
        auth="shopify",
        request=ShopifyPayload,
        params=(
            Param("X-Shopify-Hmac-Sha256", "header", "base64 HMAC-SHA256 of the body with the app's secret"),
            Param("X-Shopify-Topic", "header", "orders/create, checkouts/update, fulfillments/update, ..."),
            Param("X-Shopify-Webhook-Id", "header", "the delivery's id: a redelivery is a duplicate"),
        ),
        answers=(
            Answer(200, "mapped and taken, or left with a reason", body=SourceAnswer),
            Answer(422, "nothing could be mapped: the reasons name the payload's fields", body=SourceAnswer),
            Answer(503, "not taken within Shopify's time; Shopify retries", body=Problem),
            *SIGNED,
            *ERRORS,
        ),
    ),
    ("POST", "/v1/sources/shopline"): Operation(
        "SHOPLINE Open API webhooks mapped to contract events",
        "sources",
        auth="shopline",
        request=ShoplineDelivery,
        params=(
            Param("token", "query", "ENGAGEMENT_SHOPLINE_TOKEN (or the X-Engagement-Token header)"),
            Param("X-Shopline-Topic", "header", "order/create, order_delivery/update, user/sign_in, ..."),
        ),
        answers=(
            Answer(200, "mapped and taken, or left with a reason", body=SourceAnswer),
            Answer(422, "nothing could be mapped", body=SourceAnswer),
            Answer(503, "not taken within SHOPLINE's time", body=Problem),
            *SIGNED,
            *ERRORS,
        ),
    ),
    ("POST", "/v1/sources/segment"): Operation(
        "Segment or RudderStack events (one, or a batch of up to 4,000) mapped to contract events",
        "sources",
        auth="segment",
        request={"oneOf": [SegmentEvent, {"type": "array", "items": SegmentEvent, "maxItems": 4000}]},
        params=(Param("X-Signature", "header", "hex HMAC-SHA1 of the body with the shared secret"),),
        answers=(
            Answer(200, "mapped and taken, or left with a reason", body=SourceAnswer),
            Answer(422, "nothing could be mapped", body=SourceAnswer),
            Answer(403, "the API key lacks the ingest scope", body=Problem),
            Answer(503, "not taken in time; retry", body=Problem),
            *SIGNED,
            *ERRORS,
        ),
        description="Unsigned requests (a RudderStack webhook) authenticate with an API key of the ingest scope.",
    ),
    ("GET", "/console"): Operation(
        "The marketers' console (a page)", "console", auth="none", answers=(Answer(200, "the page", HTML, {}),)
    ),
    ("GET", "/console/static/{name}"): Operation(
        "The console's script and style",
        "console",
        auth="none",
        answers=(Answer(200, "the file", None), Answer(404, "no such file", body=Problem)),
    ),
    ("GET", "/console/api/whoami"): _console("The key's name and scopes"),
    ("GET", "/console/api/triggers"): _console("The live triggers with their last day's decisions"),
    ("GET", "/console/api/files"): _console("The live configuration's files"),
    ("GET", "/console/api/options"): _console("What the pages offer to choose from"),
    ("GET", "/console/api/new-trigger"): _console(
        "The files of a new trigger of a kind",
        params=(Param("kind", "query", "cart_idle, browse_abandonment, ..."), Param("id", "query", "the new id")),
    ),
    ("POST", "/console/api/check"): _console("Check an edit", "POST", EditBody),
    ("POST", "/console/api/review"): _console("What publishing an edit would do", "POST", EditBody),
    ("POST", "/console/api/preview"): _console("A message of an edit, rendered", "POST", EditBody),
    ("POST", "/console/api/backtests"): _console("Start a backtest of an edit", "POST", EditBody),
    ("GET", "/console/api/backtests/{job}"): _console("A backtest's progress and result"),
    ("POST", "/console/api/publish"): _console("Publish an edit", "POST", EditBody),
    ("GET", "/console/api/versions"): _console("The published versions"),
    ("POST", "/console/api/versions/{number}/rollback"): _console("Make an earlier version live again", "POST"),
    ("POST", "/console/api/proposals"): _console("Propose an edit for another admin to approve", "POST", EditBody),
    ("GET", "/console/api/proposals"): _console("The open proposals"),
    ("GET", "/console/api/proposals/{id}"): _console("A proposal and what approving it would do"),
    ("POST", "/console/api/proposals/{id}/approve"): _console("Approve and publish a proposal", "POST", EditBody),
    ("DELETE", "/console/api/proposals/{id}"): _console("Withdraw or turn down a proposal", "DELETE"),
    ("GET", "/console/api/report"): _console(
        "The report for the console", params=(Param("days", "query", "1 to 366", {"type": "integer"}),)
    ),
    ("GET", "/console/api/customers"): _console(
        "The customer who holds a phone number", params=(Param("phone", "query", "E.164"),)
    ),
    ("GET", "/console/api/customers/{customer_id}"): _console("A customer's state and timeline"),
    ("POST", "/console/api/customers/{customer_id}/reveal"): _console("A customer's whole phone number", "POST"),
    ("GET", "/console/api/templates"): _console("The WhatsApp templates and their status"),
    ("POST", "/console/api/templates/sync"): _console("Fetch the templates from Meta", "POST"),
    ("POST", "/console/api/templates/submit"): _console("Submit a template to Meta", "POST", {"type": "object"}),
    ("POST", "/console/api/templates/test"): _console("One real test message", "POST", {"type": "object"}),
}

_READ = ("whoami", "triggers", "files", "options", "new-trigger", "check", "review", "preview", "backtests",
         "backtests/{job}", "versions", "proposals", "proposals/{id}", "report", "customers/{customer_id}",
         "templates")  # fmt: skip
KEY_SCOPES: dict[tuple[str, str], str] = {
    ("POST", "/v1/events"): "ingest",
    ("GET", "/v1/events"): "admin",
    ("GET", "/v1/decisions"): "read",
    ("GET", "/v1/report"): "read",
    ("DELETE", "/v1/customers/{customer_id}"): "admin",
    ("POST", "/v1/conversations/{customer_id}/resolve"): "admin",
    **{
        (method, path): ("read" if path.removeprefix("/console/api/") in _READ else "admin")
        for method, path in OPERATIONS
        if path.startswith("/console/api/")
    },
    ("DELETE", "/console/api/proposals/{id}"): "read",  # a proposer withdraws their own
}
"""The scope of the key each key-authenticated operation needs (a test holds the served routes to it)."""
