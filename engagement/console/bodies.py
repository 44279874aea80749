"""Reading the console's JSON requests: bounded bodies, an edit's files, names of warnings."""

from __future__ import annotations

import json
from typing import Any, TypeGuard

from aiohttp import web

from engagement.console.workspace import BadEdit, is_utf8, validate_edit
from engagement.live.guard import problem, read_body

MAX_REQUEST_BYTES = 2 * 1024 * 1024


def names(value: object) -> TypeGuard[list[str]]:
    """A list of at most 200 short names (acknowledged warnings)."""
    return (
        isinstance(value, list)
        and len(value) <= 200
        and all(isinstance(a, str) and len(a) <= 200 and is_utf8(a) for a in value)
    )


async def json_body(request: web.Request) -> dict[str, Any] | web.Response:
    raw = await read_body(request, MAX_REQUEST_BYTES, 30)
    if isinstance(raw, web.Response):
        return raw
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested thousands of levels deep
        return problem(400, "a JSON object is expected (nested at most a few hundred levels)")
    if not isinstance(body, dict):
        return problem(400, "a JSON object is expected")
    return body


async def edit_request(request: web.Request) -> tuple[dict[str, Any], dict[str, str]] | web.Response:
    """The request's JSON object and the edit in its `files`, or the 400 that says what is wrong."""
    body = await json_body(request)
    if isinstance(body, web.Response):
        return body
    edit = edit_of(body)
    if isinstance(edit, web.Response):
        return edit
    return body, edit


def edit_of(body: dict[str, Any]) -> dict[str, str] | web.Response:
    edit = body.get("files", {})
    if not isinstance(edit, dict):
        return problem(400, "files: an object of file name to text")
    try:
        validate_edit(edit)
    except BadEdit as exc:
        return problem(400, f"files: {exc}")
    return edit
