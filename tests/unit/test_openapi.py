"""The OpenAPI document is valid OpenAPI 3.1, built from the routes an application serves, and its
schemas are the models that validate requests and build answers: what the document calls a valid
event is one ingest takes, and the answers the handlers build fit their schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate

from engagement.decode import Rejection, decode_event
from engagement.live.answers import SourceAnswer
from engagement.live.api_keys import KeyRing
from engagement.live.http import make_app
from engagement.live.ingest import Taken, parse_body
from engagement.live.metrics import standard_metrics
from engagement.openapi.document import UNDESCRIBED, add_openapi, document, full_document, served_routes
from engagement.openapi.operations import OPERATIONS

KEY = "openapi-test-key-0123456789"


class Nothing:
    async def ingest(self, events: list[Any]) -> Taken:
        return Taken()


def _app() -> Any:
    app = make_app(Nothing(), standard_metrics(), KeyRing.of({"t": (KEY, ("ingest", "read", "admin"))}))
    add_openapi(app)
    return app


def _resolved(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """A component schema with every $ref inside resolvable (the components beside it)."""
    return {**doc["components"]["schemas"][name], "components": doc["components"]}


def test_the_document_is_valid_openapi_3_1_and_describes_every_route_served() -> None:
    app = _app()
    doc = document(app)
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    served = served_routes(app)
    described = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert described == set(served)
    undescribed = [r for r in served if OPERATIONS.get(r, UNDESCRIBED) is UNDESCRIBED]
    assert undescribed == []
    assert doc["paths"]["/v1/events"]["post"]["security"] == [{"bearer": ["ingest"]}]
    assert doc["paths"]["/healthz"]["get"]["security"] == []


def test_what_the_document_calls_an_event_is_what_ingest_takes() -> None:
    doc = document(_app())
    validator = jsonschema_rs.validator_for(_resolved(doc, "Event"))
    good = {"event_id": "e1", "type": "cart.updated", "customer_id": "c1", "occurred_at": "2026-11-20T10:00:00+08:00",
            "cart_id": "k1", "items": [{"product_id": "p1", "quantity": 2, "unit_price": 10.5}]}  # fmt: skip
    bad_phone = {"event_id": "e2", "type": "customer.updated", "customer_id": "c1",
                 "occurred_at": "2026-11-20T10:00:00+08:00", "phone": "0912"}  # fmt: skip
    no_items = {k: v for k, v in good.items() if k != "items"}
    assert validator.is_valid(good)
    assert not isinstance(decode_event(json.dumps(good)), Rejection)
    for wrong in (bad_phone, no_items):
        assert not validator.is_valid(wrong)
        assert isinstance(decode_event(json.dumps(wrong)), Rejection)


def test_the_answers_the_handlers_build_fit_their_schemas() -> None:
    doc = document(_app())
    ingest = jsonschema_rs.validator_for(_resolved(doc, "IngestAnswer"))
    batch = parse_body("application/json", b'[{"type": "nope"}, {"event_id": "x"}]', 0.0, 300.0)
    assert ingest.is_valid(batch.response())
    source = jsonschema_rs.validator_for(_resolved(document(_app()) | _with(SourceAnswer, doc), "SourceAnswer"))
    answer = SourceAnswer(**batch.answer().model_dump(), ignored=[], notes=["a note"]).model_dump()
    assert source.is_valid(answer)


def _with(model: Any, doc: dict[str, Any]) -> dict[str, Any]:
    """The document with a model's schema among its components (as a served source route adds it)."""
    schemas = dict(doc["components"]["schemas"])
    found = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(found.pop("$defs", {}))
    schemas[model.__name__] = found
    return {"components": {**doc["components"], "schemas": schemas}}


async def test_the_document_is_served_without_a_key() -> None:
    async with TestClient(TestServer(_app())) as client:
        answer = await client.get("/openapi.json")
        assert answer.status == 200
        assert (await answer.json())["paths"]["/v1/events"]["post"]["summary"].startswith("Ingest events")


def test_the_copy_in_the_docs_is_the_document_of_every_operation() -> None:
    """`python -m engagement.openapi > docs/openapi.json` rewrites it after a change."""
    kept = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text(encoding="utf-8"))
    whole = full_document()
    validate(whole)
    assert kept == json.loads(json.dumps(whole))
    described = {(m.upper(), p) for p, ops in whole["paths"].items() for m in ops}
    assert described == set(OPERATIONS)
    assert whole["paths"]["/console/api/publish"]["post"]["security"] == [{"bearer": ["admin"]}]
