"""The OpenAPI 3.1 document of a running HTTP application (`GET /openapi.json`): every route the
application serves, each with its operation (`operations.OPERATIONS`), the scope its key needs and
the schemas of what it takes and answers, generated from the models that validate and build them."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from engagement.events import EVENT_ADAPTER
from engagement.live.answers import Problem
from engagement.live.guard import ROUTE_SCOPES
from engagement.openapi.operations import KEY_SCOPES, NDJSON, OPERATIONS, Answer, Operation

REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"\{([^}]+)\}")
UNDESCRIBED = Operation("(not described)", "undescribed")


def served_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, path) of every route the application serves (HEAD, which aiohttp adds to each
    GET, left out)."""
    found = []
    for resource in app.router.resources():
        path = resource.canonical
        for route in resource:
            if route.method not in ("HEAD", "*"):
                found.append((route.method, path))
    return sorted(set(found))


def document(app: web.Application) -> dict[str, Any]:
    """The document of the routes `app` serves, each with the scope it is served with."""
    scopes: dict[tuple[str, str], str | None] = app.get(ROUTE_SCOPES, {})
    return _document([(method, path, scopes.get((method, path))) for method, path in served_routes(app)])


def full_document() -> dict[str, Any]:
    """Every operation a runtime may serve (`run` and the workers together, everything configured):
    the copy in the docs (`python -m engagement.openapi > docs/openapi.json`)."""
    return _document([(method, path, KEY_SCOPES.get((method, path))) for method, path in sorted(OPERATIONS)])


def _document(routes: list[tuple[str, str, str | None]]) -> dict[str, Any]:
    builder = _Builder()
    paths: dict[str, dict[str, Any]] = {}
    for method, path, scope in routes:
        operation = OPERATIONS.get((method, path), UNDESCRIBED)
        paths.setdefault(path, {})[method.lower()] = builder.operation(method, path, operation, scope)
    try:
        release = version("engagement")
    except PackageNotFoundError:
        release = "0"
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "engagement",
            "version": release,
            "description": "Proactive engagement for e-commerce: events in, decisions and messages out. Keys are "
            "sent as `Authorization: Bearer <key>`; each operation names the scope its key needs.",
        },
        "paths": paths,
        "components": {
            "schemas": builder.schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "an API key"}},
        },
    }


class _Builder:
    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def schema(self, source: Any) -> dict[str, Any]:
        """A JSON schema from a model (registered under components), a schema with models inside,
        or the contract's events."""
        if source == "events":
            return self._events()
        if isinstance(source, type) and issubclass(source, BaseModel):
            if source.__name__ not in self.schemas:
                found = source.model_json_schema(ref_template=REF)
                self.schemas.update(found.pop("$defs", {}))
                self.schemas[source.__name__] = found
            return {"$ref": REF.format(model=source.__name__)}
        if isinstance(source, dict):
            return {key: self.schema(value) if _nested(value) else value for key, value in source.items()}
        if isinstance(source, list):
            return [self.schema(item) for item in source]  # type: ignore[return-value]
        return source  # type: ignore[no-any-return]

    def _events(self) -> dict[str, Any]:
        if "Event" not in self.schemas:
            found = EVENT_ADAPTER.json_schema(ref_template=REF)
            self.schemas.update(found.pop("$defs", {}))
            self.schemas["Event"] = found
        event = {"$ref": REF.format(model="Event")}
        return {"oneOf": [event, {"type": "array", "items": event, "maxItems": 50_000}]}

    def operation(self, method: str, path: str, operation: Operation, scope: str | None) -> dict[str, Any]:
        found: dict[str, Any] = {
            "summary": operation.summary,
            "tags": [operation.tag],
            "operationId": f"{method.lower()}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}",
            "responses": self._answers(path, operation, scope),
        }
        described = [operation.description] if operation.description else []
        if scope is not None:
            found["security"] = [{"bearer": [scope]}]
            described.append(f"Needs a key with the `{scope}` scope.")
        else:
            found["security"] = []
            if operation.auth not in ("key", "none"):
                described.append(f"Authenticated by {operation.auth}'s signature or token (see the parameters).")
        if described:
            found["description"] = " ".join(described)
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
            for name in _PATH_PARAM.findall(path)
        ]
        parameters += [
            {"name": p.name, "in": p.where, "required": p.required, "description": p.description, "schema": p.schema}
            for p in operation.params
        ]
        if parameters:
            found["parameters"] = parameters
        if operation.request is not None:
            content = {}
            for kind in operation.request_types:
                schema = {"type": "string"} if kind == NDJSON else self.schema(operation.request)
                content[kind] = {"schema": schema}
            found["requestBody"] = {"required": True, "content": content}
        return found

    def _answers(self, path: str, operation: Operation, scope: str | None) -> dict[str, Any]:
        answers: dict[str, Any] = {}
        for answer in operation.answers:
            answers[str(answer.status)] = self._answer(answer)
        if scope is not None:
            answers.setdefault("401", self._answer(Answer(401, "no key, or an unknown one", body=Problem)))
            answers.setdefault("403", self._answer(Answer(403, "the key lacks the scope", body=Problem)))
        if operation.auth != "none" or path.startswith(("/v1/", "/console/api/")):
            answers["default"] = self._answer(Answer(0, "an error; the reason in words", body=Problem))
        return answers

    def _answer(self, answer: Answer) -> dict[str, Any]:
        found: dict[str, Any] = {"description": answer.description}
        if answer.content_type is not None:
            found["content"] = {answer.content_type: {"schema": self.schema(answer.body or {})}}
        return found


def _nested(value: Any) -> bool:
    return isinstance(value, dict | list) or (isinstance(value, type) and issubclass(value, BaseModel))


def add_openapi(app: web.Application) -> None:
    """`GET /openapi.json`, built once from the routes served when first asked."""
    built: list[dict[str, Any]] = []

    async def openapi(_: web.Request) -> web.Response:
        if not built:
            built.append(document(app))
        return web.json_response(built[0])

    app.router.add_get("/openapi.json", openapi)
