"""Generated bodies thrown at a live `engagement run`: its ingest and both provider webhooks (signed,
so they reach the parsers). Not one 5xx, not one traceback, the server healthy at the end, and
every event the server said it accepted counted as processed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagement.embedded.store import EmbeddedStore
from engagement.events import EVENT_TYPES
from engagement.timefmt import rfc3339
from tests.fuzz.settings import fuzz
from tests.integration.processes import RunProcess, running
from tests.integration.whatsapp_payloads import ENV, SECRET

pytestmark = pytest.mark.integration

TWILIO_TOKEN = "twilio-token-for-tests"  # noqa: S105 (a test fixture)
TWILIO_URL = "https://example.test/v1/webhooks/twilio"
EXAMPLES = {"ingest": 4_000, "whatsapp": 3_000, "twilio": 3_000}  # 10,000 bodies in all

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
FIELDS = ["event_id", "customer_id", "occurred_at", "type", "phone", "name", "items", "total", "quantity", "new_eta"]
TIMES = st.sampled_from(["2026-11-20T10:00:00Z", "9999-12-31T23:59:59Z", "2026-11-20T10:00:00", "0001-01-01T00:00:00Z"])


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly well-formed events with a field or two gone wrong."""
    event: dict[str, Any] = {
        "event_id": draw(st.text(min_size=1, max_size=10)),
        "customer_id": draw(st.sampled_from(["c1", "c2", "c\u0000", "", "x" * 200])),
        "occurred_at": draw(TIMES | st.just(rfc3339(time.time() - 5))),
        "type": draw(st.sampled_from([*EVENT_TYPES, "nope"])),
        "product_id": "p1",
        "cart_id": "k1",
        "order_id": "o1",
        "shipment_id": "s1",
        "items": [{"product_id": "p", "quantity": draw(st.integers(-5, 10**6))}],
        "total": draw(st.floats(allow_nan=True, allow_infinity=True) | st.integers(-1, 10**20)),
        "currency": "TWD",
        "promised_delivery_at": draw(TIMES),
        "status": "delayed",
    }
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=2)):
        event[name] = draw(json_values)
    return event


def dumps(value: object) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


ingest_bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(dumps),
    events().map(dumps),
    st.lists(events(), max_size=8).map(dumps),
    st.integers(1, 3000).map(lambda depth: b"[" * depth + b"]" * depth),
)
whatsapp_values = st.fixed_dictionaries(
    {
        "statuses": st.lists(
            st.fixed_dictionaries(
                {"id": json_values, "status": st.sampled_from(["sent", "failed", "read"]) | json_values},
                optional={"timestamp": json_values, "recipient_id": json_values, "errors": json_values},
            ),
            max_size=3,
        ),
        "messages": st.lists(
            st.fixed_dictionaries(
                {"id": st.text(max_size=10), "from": st.sampled_from(["886912345678", "x", ""]) | st.text()},
                optional={
                    "type": st.sampled_from(["text", "button", "interactive"]),
                    "text": json_values,
                    "button": json_values,
                    "interactive": json_values,
                    "timestamp": json_values,
                    "context": json_values,
                },
            ),
            max_size=3,
        ),
    }
)
whatsapp_bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(dumps),
    whatsapp_values.map(
        lambda value: dumps({"object": "x", "entry": [{"changes": [{"field": "messages", "value": value}]}]})
    ),
)
twilio_forms = st.dictionaries(
    st.sampled_from(["MessageSid", "MessageStatus", "ErrorCode", "To", "From", "Body", "ButtonPayload", "x"]),
    st.text(max_size=30),
    max_size=7,
)


def whatsapp_signature(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def twilio_signature(params: dict[str, str]) -> str:
    signed = TWILIO_URL + "".join(f"{key}{params[key]}" for key in sorted(params))
    return base64.b64encode(hmac.new(TWILIO_TOKEN.encode(), signed.encode(), hashlib.sha1).digest()).decode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunProcess, httpx.Client, dict[str, int]]]:
    env = {**ENV, "ENGAGEMENT_TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "ENGAGEMENT_TWILIO_WEBHOOK_URL": TWILIO_URL}
    with running(tmp_path_factory.mktemp("fuzz"), env) as run, httpx.Client(base_url=run.url, timeout=30) as client:
        yield run, client, {"requests": 0}


def check(answer: httpx.Response, tally: dict[str, int]) -> None:
    tally["requests"] += 1
    assert answer.status_code < 500, answer.text


TAKEN: set[str] = set()  # customers with an event the server said it accepted


def test_ingest_takes_any_body(server: tuple[RunProcess, httpx.Client, dict[str, int]]) -> None:
    run, client, tally = server

    @fuzz(EXAMPLES["ingest"])
    @given(ingest_bodies, st.sampled_from(["application/json", "application/x-ndjson", "text/plain"]))
    def post(body: bytes, content_type: str) -> None:
        answer = client.post("/v1/events", content=body, headers={"Content-Type": content_type, **run.headers})
        check(answer, tally)
        if answer.status_code == 202 and content_type == "application/json" and body.startswith(b"[{"):
            items = json.loads(body)
            rejected = {r["index"] for r in answer.json()["rejections"]}
            TAKEN.update(str(item["customer_id"]) for n, item in enumerate(items, 1) if n not in rejected)

    post()


def test_the_whatsapp_webhook_takes_any_signed_body(server: tuple[RunProcess, httpx.Client, dict[str, int]]) -> None:
    _, client, tally = server

    @fuzz(EXAMPLES["whatsapp"])
    @given(whatsapp_bodies, st.booleans())
    def post(body: bytes, sign: bool) -> None:
        headers = {"Content-Type": "application/json"}
        if sign:
            headers["X-Hub-Signature-256"] = whatsapp_signature(body)
        check(client.post("/v1/webhooks/whatsapp", content=body, headers=headers), tally)

    post()


def test_the_twilio_webhook_takes_any_signed_form(server: tuple[RunProcess, httpx.Client, dict[str, int]]) -> None:
    _, client, tally = server

    @fuzz(EXAMPLES["twilio"])
    @given(twilio_forms, st.booleans(), st.binary(max_size=200))
    def post(params: dict[str, str], sign: bool, junk: bytes) -> None:
        body = urlencode(params).encode() if sign else junk
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if sign:
            headers["X-Twilio-Signature"] = twilio_signature(params)
        check(client.post("/v1/webhooks/twilio", content=body, headers=headers), tally)

    post()


def test_after_the_storm_the_server_is_healthy_and_processed_what_it_took(
    server: tuple[RunProcess, httpx.Client, dict[str, int]],
) -> None:
    run, client, tally = server
    assert tally["requests"] >= sum(EXAMPLES.values())
    assert client.get("/healthz").status_code == 200
    log = Path(run.state_dir / "run.log").read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log
    assert TAKEN
    run.kill(signal.SIGTERM)
    store = EmbeddedStore(run.state_dir)
    try:
        missing = sorted(c for c in TAKEN if store.load_state(c) is None)
    finally:
        store.close()
    assert missing == []  # every accepted event reached its customer's stored state
