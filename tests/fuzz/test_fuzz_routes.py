"""Every route of a live `engagement run`, thrown generated query strings, headers and bodies:
without a key, with a read key and with an admin key (and signed, for the webhooks). Not one
5xx and not one traceback; the server healthy at the end.

The list of routes probed is checked against the routes the HTTP application really has (built
in-process with every feature present), so a new route cannot be left out of the storm.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagement.config.source_options import SourceOptions
from engagement.embedded.source_memory import StoreMemory
from engagement.embedded.store import EmbeddedStore
from engagement.live.api_keys import KeyRing, create_key
from engagement.live.metrics import standard_metrics
from engagement.openapi.document import add_openapi
from engagement.settings import Settings
from engagement.sources.routes import add_sources, source_settings
from engagement.sources.shopify import signature
from tests.console_app import TakesAll, console_app
from tests.fuzz.settings import fuzz
from tests.integration.processes import RunProcess, running
from tests.integration.whatsapp_payloads import ENV, SECRET

pytestmark = pytest.mark.integration

TWILIO = {"ENGAGEMENT_TWILIO_AUTH_TOKEN": "twilio-token", "ENGAGEMENT_TWILIO_WEBHOOK_URL": "https://x.test/tw"}
SHOPIFY_SECRET, SEGMENT_SECRET, SHOPLINE_TOKEN = "shopify-fuzz-secret", "segment-fuzz-secret", "shopline-fuzz-token-1"
SOURCES = {
    "ENGAGEMENT_SHOPIFY_SECRET": SHOPIFY_SECRET,
    "ENGAGEMENT_SEGMENT_SECRET": SEGMENT_SECRET,
    "ENGAGEMENT_SHOPLINE_TOKEN": SHOPLINE_TOKEN,
}
EXAMPLES = 10_000

# (method, path as the router names it, a concrete path)
ROUTES = [
    ("POST", "/v1/events", "/v1/events"),
    ("GET", "/v1/events", "/v1/events"),
    ("GET", "/healthz", "/healthz"),
    ("GET", "/metrics", "/metrics"),
    ("GET", "/v1/decisions", "/v1/decisions"),
    ("DELETE", "/v1/customers/{customer_id}", "/v1/customers/{}"),
    ("POST", "/v1/conversations/{customer_id}/resolve", "/v1/conversations/{}/resolve"),
    ("GET", "/v1/report", "/v1/report"),
    ("GET", "/v1/webhooks/whatsapp", "/v1/webhooks/whatsapp"),
    ("POST", "/v1/webhooks/whatsapp", "/v1/webhooks/whatsapp"),
    ("POST", "/v1/webhooks/twilio", "/v1/webhooks/twilio"),
    ("GET", "/console", "/console"),
    ("GET", "/console/static/{name}", "/console/static/{}"),
    ("GET", "/console/api/whoami", "/console/api/whoami"),
    ("GET", "/console/api/triggers", "/console/api/triggers"),
    ("GET", "/console/api/files", "/console/api/files"),
    ("POST", "/console/api/check", "/console/api/check"),
    ("POST", "/console/api/preview", "/console/api/preview"),
    ("POST", "/console/api/backtests", "/console/api/backtests"),
    ("GET", "/console/api/backtests/{job}", "/console/api/backtests/{}"),
    ("POST", "/console/api/publish", "/console/api/publish"),
    ("GET", "/console/api/versions", "/console/api/versions"),
    ("POST", "/console/api/versions/{number}/rollback", "/console/api/versions/{}/rollback"),
    ("GET", "/console/api/customers/{customer_id}", "/console/api/customers/{}"),
    ("GET", "/console/api/report", "/console/api/report"),
    ("GET", "/console/api/options", "/console/api/options"),
    ("GET", "/console/api/new-trigger", "/console/api/new-trigger"),
    ("POST", "/console/api/review", "/console/api/review"),
    ("POST", "/console/api/proposals", "/console/api/proposals"),
    ("GET", "/console/api/proposals", "/console/api/proposals"),
    ("GET", "/console/api/proposals/{id}", "/console/api/proposals/{}"),
    ("POST", "/console/api/proposals/{id}/approve", "/console/api/proposals/{}/approve"),
    ("DELETE", "/console/api/proposals/{id}", "/console/api/proposals/{}"),
    ("GET", "/console/api/customers", "/console/api/customers"),
    ("POST", "/console/api/customers/{customer_id}/reveal", "/console/api/customers/{}/reveal"),
    ("GET", "/console/api/templates", "/console/api/templates"),
    ("POST", "/console/api/templates/sync", "/console/api/templates/sync"),
    ("POST", "/console/api/templates/submit", "/console/api/templates/submit"),
    ("POST", "/console/api/templates/test", "/console/api/templates/test"),
    ("POST", "/v1/sources/shopify", "/v1/sources/shopify"),
    ("POST", "/v1/sources/shopline", "/v1/sources/shopline"),
    ("POST", "/v1/sources/segment", "/v1/sources/segment"),
    ("GET", "/openapi.json", "/openapi.json"),
]
TOPICS = ["orders/create", "checkouts/update", "fulfillments/update", "customers/update", "order/create",
          "order_delivery/update", "user/sign_in", ""]  # fmt: skip
TEST_NUMBER = "+886912000001"


def test_the_storm_covers_every_route_the_application_has(tmp_path: Path) -> None:
    keys = KeyRing.of({})
    app = console_app(tmp_path, keys)
    memory = StoreMemory(EmbeddedStore(tmp_path / "state"))
    add_sources(app, source_settings(Settings(), memory, SourceOptions), TakesAll().ingest, keys, standard_metrics())
    add_openapi(app)
    served = {
        (r.method, r.resource.canonical) for r in app.router.routes() if r.method != "HEAD" and r.resource is not None
    }
    assert served == {(method, name) for method, name, _ in ROUTES}


texts = st.text(max_size=30) | st.sampled_from(
    ["²", "٣", "9" * 30, "-1", "0", "1e9", "..", ".", "%00", "NaN", "", "cart_idle", "zh-TW", "vip", TEST_NUMBER]
)
header_text = texts.filter(lambda t: t == t.strip() and not any(ord(c) < 32 or ord(c) == 127 for c in t))
QUERY_NAMES = ["after", "limit", "since", "days", "hub.mode", "hub.verify_token", "hub.challenge", "x", "²", "phone",
               "kind", "id"]  # fmt: skip
queries = st.dictionaries(st.sampled_from(QUERY_NAMES), texts, max_size=4)
bodies = st.one_of(
    st.binary(max_size=200),
    st.recursive(
        st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats() | texts,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
        max_leaves=12,
    ).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {},
        optional={"files": st.dictionaries(texts, texts, max_size=2), "note": texts, "since": st.integers(-5, 2**45),
                  "until": st.integers(-5, 2**45), "trigger": texts, "locale": texts, "customer": texts,
                  "acknowledged": st.lists(texts, max_size=3), "tier": texts, "to": texts, "backtest": texts},
    ).map(lambda v: json.dumps(v).encode()),
)  # fmt: skip
path_values = texts.filter(lambda t: "/" not in t and "?" not in t and "#" not in t) | st.sampled_from(
    ["c1", "1", "0", "999999999", "console.js", "console.css", "a%2Fb"]
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunProcess, dict[str, str]]]:
    # a test message may really go (to the run's outbox): only to this number
    env = {**ENV, **TWILIO, **SOURCES, "ENGAGEMENT_TEST_NUMBERS": TEST_NUMBER}
    with running(tmp_path_factory.mktemp("routes"), env) as run:
        reader = create_key(Path(run.env["ENGAGEMENT_API_KEYS_FILE"]), "fuzz-reader", ("read",))
        yield run, {"none": "", "read": reader, "admin": run.key}


def test_every_route_takes_any_query_header_and_body(server: tuple[RunProcess, dict[str, str]]) -> None:
    run, keys = server
    tally = {"requests": 0}
    with httpx.Client(base_url=run.url, timeout=30) as client:

        @fuzz(EXAMPLES)
        @given(
            st.sampled_from(ROUTES),
            path_values,
            queries,
            bodies,
            st.sampled_from(sorted(keys)),
            st.dictionaries(
                st.sampled_from(
                    ["Authorization", "X-Hub-Signature-256", "X-Twilio-Signature", "Content-Type", "Content-Length-X"]
                ),
                header_text,
                max_size=3,
            ),
            st.booleans(),
            st.sampled_from(TOPICS),
        )
        def request(
            route: tuple[str, str, str],
            value: str,
            query: dict[str, str],
            body: bytes,
            key: str,
            headers: dict[str, str],
            sign: bool,
            topic: str,
        ) -> None:
            method, _, template = route
            sent = {name.encode(): text.encode("utf-8") for name, text in headers.items()}
            if keys[key] and "Authorization" not in headers:
                sent[b"Authorization"] = f"Bearer {keys[key]}".encode()
            if sign:
                sent[b"X-Hub-Signature-256"] = (
                    "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                ).encode()
                sent[b"X-Shopify-Hmac-Sha256"] = signature(SHOPIFY_SECRET, body).encode()
                sent[b"X-Signature"] = hmac.new(SEGMENT_SECRET.encode(), body, hashlib.sha1).hexdigest().encode()
                sent[b"X-Engagement-Token"] = SHOPLINE_TOKEN.encode()
                sent[b"X-Shopify-Topic"] = sent[b"X-Shopline-Topic"] = topic.encode()
            path = template.replace("{}", quote(value, safe="") or "x")
            answer = client.request(method, path, params=query, content=body if method != "GET" else None, headers=sent)
            tally["requests"] += 1
            assert answer.status_code < 500, (method, path, answer.status_code, answer.text[:300])

        request()
        assert tally["requests"] >= EXAMPLES
        assert client.get("/healthz").status_code == 200
    log = (run.state_dir / "run.log").read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log
