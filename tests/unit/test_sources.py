"""The platforms' webhooks (`POST /v1/sources/...`) on a live HTTP server: each documented delivery
of tests/fixtures/sources becomes the events written beside it; signatures, tokens, keys,
redeliveries, replays, batches, odd payloads and the mapping file each get their answer."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from engagement.config.loader import load_triggers
from engagement.config.source_options import DEFAULT, SourceOptions, load_source_options
from engagement.embedded.source_memory import StoreMemory
from engagement.embedded.store import EmbeddedStore
from engagement.events import Event
from engagement.limits import Limits
from engagement.live.api_keys import KeyRing
from engagement.live.http import Api, make_app
from engagement.live.ingest import Taken
from engagement.live.metrics import standard_metrics
from engagement.sources import routes, shopify
from engagement.sources.routes import SourceSettings, add_sources

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sources"
SHOPIFY_SECRET = "shpss_test_secret_0123456789"  # noqa: S105 (a test fixture)
SEGMENT_SECRET = "segment-shared-secret"  # noqa: S105 (a test fixture)
SHOPLINE_TOKEN = "shopline-token-4f9a8c2e71d0b3a5"  # noqa: S105 (a test fixture)
INGEST_KEY, READ_KEY = "ingest-key-1234567890abcdef", "read-key-1234567890abcdef"
SHIPPED = load_triggers(Path(__file__).parent.parent.parent / "triggers")
NOW = datetime(2026, 11, 26, tzinfo=UTC).timestamp()  # after every fixture's time


class Recorder:
    """The runtime's side of ingest: takes each event id once."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.ids: set[str] = set()
        self.delay = 0.0

    async def ingest(self, events: list[Event]) -> Taken:
        if self.delay:
            await asyncio.sleep(self.delay)
        duplicates = 0
        for event in events:
            if event.event_id in self.ids:
                duplicates += 1
            else:
                self.ids.add(event.event_id)
                self.events.append(event)
        return Taken(duplicates=duplicates)


class Harness:
    def __init__(self, client: TestClient[Any, Any], recorder: Recorder, options: list[SourceOptions]) -> None:
        self.client, self.recorder, self.options = client, recorder, options

    def taken(self, since: int = 0) -> list[dict[str, Any]]:
        return [_plain(e) for e in self.recorder.events[since:]]

    async def shopify(self, topic: str, body: object, secret: str = SHOPIFY_SECRET, **headers: str) -> Any:
        raw = json.dumps(body, ensure_ascii=False).encode()
        sent = {
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": shopify.signature(secret, raw),
            "X-Shopify-Webhook-Id": hashlib.sha256(raw).hexdigest()[:40],
            "Content-Type": "application/json",
            **headers,
        }
        return await self.client.post("/v1/sources/shopify", data=raw, headers=sent)

    async def shopline(self, topic: str, body: object, token: str | None = SHOPLINE_TOKEN) -> Any:
        raw = json.dumps(body, ensure_ascii=False).encode()
        query = f"?token={token}" if token is not None else ""
        headers = {"X-Shopline-Topic": topic, "Content-Type": "application/json"}
        return await self.client.post(f"/v1/sources/shopline{query}", data=raw, headers=headers)

    async def segment(self, body: object, secret: str | None = SEGMENT_SECRET, key: str | None = None) -> Any:
        raw = json.dumps(body, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Signature"] = hmac.new(secret.encode(), raw, hashlib.sha1).hexdigest()
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return await self.client.post("/v1/sources/segment", data=io.BytesIO(raw), headers=headers)


def _plain(event: Event) -> dict[str, Any]:
    data = event.model_dump(mode="json", exclude_none=True)
    data.pop("event_id")
    data["occurred_at"] = datetime.fromisoformat(data["occurred_at"].replace("Z", "+00:00")).isoformat()
    for key in ("promised_delivery_at", "new_eta", "pickup_deadline"):
        if key in data:
            data[key] = datetime.fromisoformat(str(data[key]).replace("Z", "+00:00")).isoformat()
    return data


def _expected(event: dict[str, Any]) -> dict[str, Any]:
    return {
        k: datetime.fromisoformat(v).isoformat()
        if k in ("occurred_at", "promised_delivery_at", "new_eta", "pickup_deadline")
        else v
        for k, v in event.items()
    }


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    store = EmbeddedStore(tmp_path / "state")
    recorder = Recorder()
    options = [DEFAULT]
    settings = SourceSettings(
        shopify_secrets=(SHOPIFY_SECRET, "shpss_previous_secret"),
        segment_secret=SEGMENT_SECRET,
        shopline_token=SHOPLINE_TOKEN,
        memory=StoreMemory(store, clock=lambda: NOW),
        options=lambda: options[0],
        limits=Limits(),
        clock=lambda: NOW,
        catalogue=lambda: SHIPPED.catalogue,
    )
    keys = KeyRing.of({"pipeline": (INGEST_KEY, ("ingest",)), "reader": (READ_KEY, ("read",))})
    metrics = standard_metrics()
    app = make_app(recorder, metrics, keys, Api(), clock=lambda: NOW)
    add_sources(app, settings, recorder.ingest, keys, metrics)
    async with TestClient(TestServer(app)) as client:
        yield Harness(client, recorder, options)
    store.close()


def _cases(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((FIXTURES / f"{name}.json").read_text())
    return cases


async def _each_case(harness: Harness, name: str, post: Callable[[dict[str, Any]], Any]) -> None:
    for case in _cases(name):
        before = len(harness.recorder.events)
        answer = await post(case)
        body = await answer.json()
        assert answer.status == 200, (case["name"], body)
        if "ignored" in case:
            assert harness.taken(before) == [], case["name"]
            assert case["ignored"] in body["ignored"][0]["reason"], case["name"]
        else:
            assert harness.taken(before) == [_expected(e) for e in case["expect"]], case["name"]
            assert body["accepted"] == len(case["expect"]), case["name"]


async def test_shopify_deliveries_map_to_the_contract_events(harness: Harness) -> None:
    await _each_case(harness, "shopify", lambda case: harness.shopify(case["topic"], case["body"]))


async def test_shopline_deliveries_map_to_the_contract_events(harness: Harness) -> None:
    await _each_case(harness, "shopline", lambda case: harness.shopline(case["topic"], case["body"]))


async def test_segment_events_map_to_the_contract_events(harness: Harness) -> None:
    harness.options[0] = SourceOptions(identify_sets_contact=True)  # the shop's sources are server-side
    await _each_case(harness, "segment", lambda case: harness.segment(case["body"]))


async def test_identify_sets_no_contact_unless_the_shop_says_its_sources_are_server_side(harness: Harness) -> None:
    identify = _cases("segment")[0]["body"]
    answer = await (await harness.segment(identify)).json()
    (update,) = harness.taken()
    assert "phone" not in update
    assert "whatsapp_opt_in" not in update
    assert update["name"] == "黃雅婷"
    assert "traits phone, whatsapp_opt_in: left out" in answer["notes"][0]
    anonymous = {**_cases("segment")[1]["body"], "messageId": "m-anon"}
    anonymous.pop("userId")
    anonymous["anonymousId"] = "u-5521"  # a browser naming a known customer's id
    await harness.segment(anonymous)
    assert harness.taken()[-1]["customer_id"] == "anon-u-5521"


def test_the_shopify_signature_is_the_documented_one() -> None:
    assert shopify.signature("hush", b'{"id":1}') == "VnKUjZsLuN5iZWjn5EntcBVCF9kMN43LglzCE1/GSeY="


async def test_shopify_refuses_unsigned_and_wrongly_signed_deliveries_and_takes_the_previous_secret(
    harness: Harness,
) -> None:
    customer = _cases("shopify")[0]
    raw = json.dumps(customer["body"]).encode()
    unsigned = await harness.client.post(
        "/v1/sources/shopify", data=raw, headers={"X-Shopify-Topic": "customers/create"}
    )
    assert unsigned.status == 401
    assert "X-Shopify-Hmac-Sha256" in (await unsigned.json())["error"]
    wrong = await harness.shopify("customers/create", customer["body"], secret="not-the-secret")  # noqa: S106 (a test fixture)
    assert wrong.status == 401
    assert harness.recorder.events == []
    rotated = await harness.shopify("customers/create", customer["body"], secret="shpss_previous_secret")  # noqa: S106 (a test fixture)
    assert rotated.status == 200
    assert len(harness.recorder.events) == 1


async def test_a_redelivered_shopify_webhook_is_a_duplicate_and_an_old_one_is_refused(harness: Harness) -> None:
    case = _cases("shopify")[1]  # the checkout
    first = await harness.shopify(case["topic"], case["body"], **{"X-Shopify-Webhook-Id": "b54557e4-8a5f-bf7d"})
    assert (await first.json())["accepted"] == 2
    again = await harness.shopify(case["topic"], case["body"], **{"X-Shopify-Webhook-Id": "b54557e4-8a5f-bf7d"})
    assert again.status == 200
    assert (await again.json())["duplicates"] >= 1
    assert len(harness.recorder.events) == 2
    replayed = await harness.shopify(
        case["topic"],
        case["body"],
        **{"X-Shopify-Webhook-Id": "other-id-1", "X-Shopify-Triggered-At": "2026-11-01T00:00:00Z"},
    )
    answer = await replayed.json()
    assert replayed.status == 200
    assert "stale" in answer["ignored"][0]["reason"]
    # only the body is signed: the same body under another delivery id or topic is a replay
    for topic, webhook in ((case["topic"], "fresh-id-2"), ("orders/create", "fresh-id-3")):
        again = await harness.shopify(topic, case["body"], **{"X-Shopify-Webhook-Id": webhook})
        assert (await again.json())["duplicates"] == 1
    old = {**case["body"], "updated_at": "2026-11-10T10:02:00+08:00", "token": "other-token"}
    stale = await (await harness.shopify(case["topic"], old)).json()
    assert "stale" in stale["ignored"][0]["reason"]
    assert len(harness.recorder.events) == 2


async def test_a_newer_shopify_api_version_with_unknown_fields_still_maps(harness: Harness) -> None:
    case = _cases("shopify")[1]
    body = {**case["body"], "buyer_identity": {"new": {"nested": [1, 2, 3]}}, "checkout_charge_v3": None}
    body["line_items"] = [{**body["line_items"][0], "discount_allocations_v2": [{"amount_set": {}}]}]
    answer = await harness.shopify(case["topic"], body, **{"X-Shopify-API-Version": "2027-04"})
    assert answer.status == 200
    assert harness.taken() == [_expected(e) for e in case["expect"]]


async def test_a_checkout_without_a_phone_is_taken_with_a_note(harness: Harness) -> None:
    body = {**_cases("shopify")[1]["body"], "phone": None, "shipping_address": None}
    answer = await harness.shopify("checkouts/create", body)
    result = await answer.json()
    assert answer.status == 200
    assert [e["type"] for e in harness.taken()] == ["customer.updated", "cart.updated"]
    assert "phone" not in harness.taken()[0]
    assert any(note.startswith("phone:") for note in result["notes"])


async def test_an_order_in_another_currency_is_taken_with_a_note(harness: Harness) -> None:
    harness.options[0] = SourceOptions(currencies=("TWD",))
    body = {**_cases("shopify")[4]["body"], "currency": "usd"}
    answer = await harness.shopify("orders/create", body)
    result = await answer.json()
    assert answer.status == 200
    assert harness.taken()[-1]["currency"] == "USD"
    assert any("USD is not one of the shop's (TWD)" in note for note in result["notes"])


async def test_what_cannot_be_mapped_is_refused_or_left_with_a_reason_naming_the_field(harness: Harness) -> None:
    unknown_order = await harness.shopify(
        "fulfillments/update",
        {"id": 5, "order_id": 999, "shipment_status": "delivered", "updated_at": "2026-11-21T09:00:00+08:00"},
    )
    assert unknown_order.status == 200  # a guest's order: nobody to tell, and nothing for Shopify to retry
    assert (await unknown_order.json())["ignored"][0]["reason"].startswith("order_id: an order engagement has not seen")
    customer = {**_cases("shopify")[0]["body"], "phone": "call me maybe"}
    bad_phone = await (await harness.shopify("customers/update", customer)).json()
    assert bad_phone["accepted"] == 1
    assert "phone" not in harness.taken()[-1]
    assert bad_phone["notes"][0].startswith("customer.phone: not a phone number")
    national = {**_cases("shopify")[1]["body"], "phone": None, "shipping_address": {"phone": "0912-345-699"}}
    await harness.shopify("checkouts/update", national)
    assert harness.taken()[-2]["phone"] == "+886912345699"  # read with shop.calling_code
    wrong_shape = await harness.shopify("orders/create", _cases("shopify")[1]["body"] | {"id": 77})
    assert (await wrong_shape.json())["rejections"][0]["field"] == "order_number"
    order = _cases("shopify")[4]["body"]
    for huge in ({"total_price": "1" + "0" * 400}, {"created_at": 10**400}, {"event.": "x"}):
        answer = await harness.shopify("orders/create", order | huge | {"id": 8})
        assert answer.status in (200, 422), huge
    nan = json.dumps(order).replace('"quantity": 2', '"quantity": NaN').encode()
    signed = {"X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": shopify.signature(SHOPIFY_SECRET, nan)}
    not_json = await harness.client.post("/v1/sources/shopify", data=nan, headers=signed)
    assert not_json.status == 400
    naive = {**_cases("shopify")[0]["body"], "updated_at": "2026-11-20T09:00:00"}
    bad_time = await harness.shopify("customers/update", naive)
    assert (await bad_time.json())["rejections"][0] == {
        "index": 1,
        "field": "updated_at",
        "reason": "naive timestamp: an RFC 3339 offset (Z or +08:00) is required",
    }
    assert (await (await harness.shopify("customers/update", [1, 2])).json())["rejections"][0]["field"] == "body"
    malformed = await harness.client.post(
        "/v1/sources/shopify",
        data=b"{",
        headers={"X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": shopify.signature(SHOPIFY_SECRET, b"{")},
    )
    assert malformed.status == 400


async def test_a_slow_runtime_answers_503_within_the_platforms_time(harness: Harness, monkeypatch: Any) -> None:
    monkeypatch.setattr(routes, "SHOPIFY_SECONDS", 0.3)
    harness.recorder.delay = 5.0
    case = _cases("shopify")[0]
    answer = await harness.shopify(case["topic"], case["body"])
    assert answer.status == 503
    assert answer.headers["Retry-After"] == "5"


async def test_segment_signatures_and_keys(harness: Harness) -> None:
    identify = _cases("segment")[0]["body"]
    wrong = "wrong"
    assert (await harness.segment(identify, secret=wrong)).status == 401
    assert (await harness.segment(identify, secret=None)).status == 401
    assert (await harness.segment(identify, secret=None, key=READ_KEY)).status == 403
    assert harness.recorder.events == []
    keyed = await harness.segment(identify, secret=None, key=INGEST_KEY)  # RudderStack without signing
    assert keyed.status == 200
    assert len(harness.recorder.events) == 1


async def test_a_segment_batch_of_4001_is_refused_and_a_retried_batch_changes_no_cart(harness: Harness) -> None:
    identify = _cases("segment")[0]["body"]
    too_many = await harness.segment([identify] * 4001)
    assert too_many.status == 413
    assert "at most 4000" in (await too_many.json())["error"]
    batch = _cases("segment")[2]["body"]
    first = await (await harness.segment(batch)).json()
    again = await (await harness.segment(batch)).json()
    assert first["accepted"] == 3  # the view, cart.updated x3 (no view to end the second time)
    assert again["accepted"] == 0
    assert again["duplicates"] == 3
    carts = [e for e in harness.recorder.events if e.type == "cart.updated"]
    assert [i["quantity"] for i in _plain(carts[-1])["items"]] == [1, 1]


async def test_a_segment_event_without_a_customer_is_refused_and_the_rest_of_the_batch_taken(harness: Harness) -> None:
    viewed = _cases("segment")[1]["body"]
    nobody = {k: v for k, v in viewed.items() if k != "userId"} | {"messageId": "m-nobody"}
    answer = await harness.segment([nobody, viewed])
    result = await answer.json()
    assert answer.status == 200
    assert result["rejections"] == [
        {"index": 1, "field": "userId", "reason": "required field is missing (nor is there an anonymousId)"}
    ]
    assert result["accepted"] == 1


async def test_segment_ends_a_product_view_after_thirty_minutes_without_an_event(harness: Harness) -> None:
    viewed = _cases("segment")[1]["body"]
    await harness.segment(viewed)
    later = {
        "type": "track",
        "event": "Signed Out",
        "messageId": "m-late",
        "userId": "u-5521",
        "timestamp": "2026-11-20T02:40:00.000Z",
    }
    await harness.segment(later)
    assert [e["type"] for e in harness.taken()] == ["page.viewed"]  # 39 min later: no page.left


async def test_shopline_needs_its_token(harness: Harness) -> None:
    case = _cases("shopline")[0]
    assert (await harness.shopline(case["topic"], case["body"], token=None)).status == 401
    wrong = "wrong"
    assert (await harness.shopline(case["topic"], case["body"], token=wrong)).status == 401
    raw = json.dumps(case["body"]).encode()
    by_header = await harness.client.post(
        "/v1/sources/shopline", data=raw, headers={"X-Engagement-Token": SHOPLINE_TOKEN}
    )
    assert by_header.status == 200
    assert len(harness.recorder.events) == 1


async def test_shopline_bare_resources_of_one_object_in_later_states_are_all_taken(harness: Harness) -> None:
    cases = _cases("shopline")
    await harness.shopline(cases[2]["topic"], cases[2]["body"])  # the order
    for case in cases[3:5]:  # arrived, then collected: the same delivery id, sent bare
        answer = await harness.shopline(case["topic"], case["body"]["resource"])
        assert (await answer.json())["accepted"] == 1
    assert [e.type for e in harness.recorder.events][-2:] == ["shipment.arrived_at_store", "shipment.picked_up"]


async def test_a_shopline_resend_of_the_same_state_is_a_duplicate(harness: Harness) -> None:
    cases = _cases("shopline")
    await harness.shopline(cases[2]["topic"], cases[2]["body"])  # the order
    arrived = cases[3]
    await harness.shopline(arrived["topic"], arrived["body"])
    again = await (await harness.shopline(arrived["topic"], arrived["body"])).json()
    assert again["duplicates"] == 1
    assert [e.type for e in harness.recorder.events].count("shipment.arrived_at_store") == 1


async def test_the_mapping_file_renames_events_and_fields(harness: Harness, tmp_path: Path) -> None:
    (tmp_path / "_sources.yaml").write_text(
        "segment:\n  events:\n    Viewed Product Page: Product Viewed\n"
        "  fields:\n    properties.sku_code: properties.product_id\n"
        "shopify:\n  fields:\n    note_attributes.delivery_promise: estimated_delivery_at\n"
        "    note_attributes.payment: event.payment_method\n"
    )
    options, problems, _ = load_source_options(tmp_path)
    assert problems == []
    harness.options[0] = options
    custom = {
        "type": "track",
        "event": "Viewed Product Page",
        "messageId": "m-custom",
        "userId": "u-1",
        "timestamp": "2026-11-20T02:01:00Z",
        "properties": {"sku_code": "TB-500", "name": "保溫瓶"},
    }
    await harness.segment(custom)
    assert harness.taken()[-1] == {
        "type": "page.viewed",
        "customer_id": "u-1",
        "occurred_at": "2026-11-20T02:01:00+00:00",
        "product_id": "TB-500",
        "product_name": "保溫瓶",
    }
    order = {
        **_cases("shopify")[4]["body"],
        "note_attributes": [{"name": "payment", "value": "cod"}, {"name": "gift", "value": "yes"}],
    }
    await harness.shopify("orders/create", order)
    fulfillment = {
        "id": 7,
        "order_id": order["id"],
        "status": "success",
        "shipment_status": None,
        "updated_at": "2026-11-21T09:00:00+08:00",
        "note_attributes": [{"name": "delivery_promise", "value": "2026-11-24T12:00:00+08:00"}],
    }
    await harness.shopify("fulfillments/create", fulfillment)
    assert harness.taken()[-1]["promised_delivery_at"] == "2026-11-24T12:00:00+08:00"


def test_the_mapping_file_is_checked_at_edit_time(tmp_path: Path) -> None:
    (tmp_path / "_sources.yaml").write_text(
        "shop:\n  currencies: [twd]\n  pickup_days: 90\n"
        "segment:\n  events:\n    Viewed Product Page: Product Looked At\n"
        "  fields:\n    properties.x: event.customer_id\n"
        "shopfy:\n  fields: {}\n"
    )
    _, problems, _ = load_source_options(tmp_path)
    found = {(p.line, p.path): p.message for p in problems}
    assert found[(2, "shop.currencies")] == "a list of ISO 4217 codes, such as [TWD]"
    assert found[(3, "shop.pickup_days")] == "whole days between 1 and 30"
    assert "Product Looked At" in found[(6, "segment.events.Viewed Product Page")]
    assert "envelope" in found[(8, "segment.fields.properties.x")]
    assert "unknown section" in found[(9, "shopfy")]


def test_the_shipped_triggers_load_with_the_mapping_file() -> None:
    triggers = load_triggers(Path(__file__).parent.parent.parent / "triggers")
    assert triggers.sources.calling_code == "886"


async def test_hostile_values_get_a_4xx_naming_the_field(harness: Harness) -> None:
    customer = _cases("shopify")[0]["body"]
    far = await harness.shopify("customers/update", {**customer, "updated_at": "9999-01-01T00:00:00Z"})
    assert far.status == 422
    assert (await far.json())["rejections"][0]["field"] == "updated_at"
    digits = await harness.shopify("customers/update", {**customer, "updated_at": "２０２６-11-20T09:00:00+08:00"})
    assert digits.status == 422
    order = _cases("shopify")[4]["body"]
    unicode_quantity = {**order, "id": 9, "line_items": [{**order["line_items"][0], "quantity": "２"}]}
    assert (await harness.shopify("orders/create", unicode_quantity)).status == 422
    deep = b'{"id": 1, "note": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    signed = {"X-Shopify-Topic": "customers/update", "X-Shopify-Hmac-Sha256": shopify.signature(SHOPIFY_SECRET, deep)}
    nested = await harness.client.post("/v1/sources/shopify", data=deep, headers=signed)
    assert nested.status == 400  # refused as malformed, with its reason
    assert "body" in (await nested.json())["error"]
    raw = json.dumps(customer).encode()
    headers = {"X-Shopify-Topic": "customers/update", "X-Shopify-Hmac-Sha256": "ｓｉｇ＝"}
    forged = await harness.client.post("/v1/sources/shopify", data=raw, headers=headers)
    assert forged.status == 401
    assert harness.recorder.events == []
