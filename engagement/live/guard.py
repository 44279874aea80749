"""What stands between the network and the HTTP handlers: API keys with scopes, body limits, time limits.

Every route declares the scope it needs (`ingest`, `read`, `admin`) or `None` for the routes
anyone may call (the provider webhooks, verified by their signatures, `/healthz` and `/metrics`).
A missing or unknown key answers 401, a key without the route's scope 403, each with a reason.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web, web_response
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from engagement.live.api_keys import ApiKey, KeyRing
from engagement.live.metrics import Metrics

log = logging.getLogger("engagement.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SERVER_NAME = "engagement"
API_KEY = web.RequestKey("engagement.api_key", ApiKey)  # the request's authenticated key, set by `guarded`
WEBHOOK_MAX_BYTES = 1024 * 1024  # Meta's and Twilio's callbacks are a few KiB


def problem(status: int, reason: str, headers: dict[str, str] | None = None, **extra: object) -> web.Response:
    """An error answer: JSON `{"error": reason, ...}`."""
    return web.json_response({"error": reason, **extra}, status=status, headers=headers)


KeyedRoute = Callable[[str, str, str | None, Handler], None]
KEYED_ROUTE: web.AppKey[KeyedRoute] = web.AppKey("keyed_route")
"""How a feature adds a route behind a key of a scope (None: open) to the application `make_app`
made: `app[KEYED_ROUTE](method, path, scope, handler)`."""
ROUTE_SCOPES = web.AppKey("route_scopes", dict)
"""(method, path) -> the scope of the key a route needs, for the routes added by `KEYED_ROUTE`."""

AUTH_FAILURES = "engagement_auth_failures_total"


def guarded(keys: KeyRing, scope: str | None, handler: Handler, failures: AuthFailures | None = None) -> Handler:
    """`handler` behind an API key with `scope` (None: open to anyone). Each refusal is counted by
    its reason in `failures` and logged (at most once a minute per reason), never with the key."""
    if scope is None:
        return handler
    failed = failures or AuthFailures(None)

    async def check(request: web.Request) -> web.StreamResponse:
        broken = keys.broken
        if broken is not None:
            failed.record("keys_file_broken", request)
            return problem(503, "the server's API keys file does not parse, so no key is accepted until it is "
                           "mended (the server log names the line)")  # fmt: skip
        header = request.headers.get("Authorization", "")
        kind, _, token = header.partition(" ")
        if not header:
            failed.record("missing", request)
            return _unauthorized("missing Authorization: Bearer <key>")
        if kind.lower() != "bearer" or not token.strip():
            failed.record("malformed", request)
            return _unauthorized("the Authorization header must read: Bearer <key>")
        key = keys.authenticate(token.strip())
        if key is None:
            failed.record("unknown_key", request)
            return _unauthorized("unknown API key" if len(keys) else "this server has no API keys configured")
        if scope not in key.scopes:
            failed.record("scope", request)
            return problem(403, f"the key {key.name!r} lacks the {scope!r} scope")
        request[API_KEY] = key  # who asked: the console records a publish's author
        return await handler(request)

    return check


class AuthFailures:
    """Refused requests by reason: counted (`engagement_auth_failures_total{reason}`) and logged with
    the route and the client's address, at most once a minute per reason (an anonymous flood must
    not flood the log), never with what was presented as a key."""

    LOG_EVERY_SECONDS = 60.0

    def __init__(self, metrics: Metrics | None) -> None:
        self.metrics = metrics
        self._logged: dict[str, float] = {}
        self._since: dict[str, int] = {}

    def record(self, reason: str, request: web.Request) -> None:
        if self.metrics is not None:
            self.metrics.inc(AUTH_FAILURES, reason=reason)
        self._since[reason] = self._since.get(reason, 0) + 1
        now = time.monotonic()
        if now - self._logged.get(reason, -self.LOG_EVERY_SECONDS) < self.LOG_EVERY_SECONDS:
            return
        count, self._since[reason], self._logged[reason] = self._since[reason], 0, now
        log.warning(
            "refused %s %s from %s: %s (%d refused for this reason since the last such line)",
            request.method,
            request.path[:200],
            request.remote,
            reason,
            count,
        )


def whole_number(text: str, low: int, high: int) -> int | None:
    """A whole number written in ASCII digits within [low, high], or None (`²` and `٣` are digits
    to `str.isdigit`, not to `int`, and no client needs them)."""
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    value = int(text)
    return value if low <= value <= high else None


async def read_body(request: web.Request, limit: int, seconds: float) -> bytes | web.Response:
    """The request's body, or the 4xx answer when it is too large, too slow or compressed (no client
    of this API compresses, and a compressed body is a way round the size limit)."""
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return problem(415, "send the body uncompressed (no Content-Encoding)")
    declared = request.content_length
    if declared is not None and declared > limit:
        return problem(413, f"the body of {declared} bytes exceeds the {limit}-byte limit")
    try:
        body = await asyncio.wait_for(_collect(request, limit), seconds)
    except TimeoutError:
        return problem(408, f"the body did not arrive within {seconds:.0f} s")
    except HttpProcessingError as exc:  # a broken chunked body and the like
        return problem(400, f"the body is malformed ({type(exc).__name__})")
    if body is None:
        return problem(413, f"the body exceeds the {limit}-byte limit")
    return body


async def _collect(request: web.Request, limit: int) -> bytes | None:
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(256 * 1024)
        if not chunk:
            return b"".join(parts)
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)


class ClientErrorsWithoutTracebacks(logging.Filter):
    """aiohttp logs a request it cannot even parse (a bad request line, a broken chunk, a body in
    an encoding it cannot undo, even one left unread) with a traceback: from an anonymous client,
    one line is enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], HttpProcessingError | RequestPayloadError):
            record.msg = f"{record.msg}: {type(record.exc_info[1]).__name__} (a client's malformed request)"
            record.exc_info, record.exc_text, record.levelno, record.levelname = None, None, logging.INFO, "INFO"
        return True


def quiet_client_errors() -> None:
    """Bad requests logged in one line, and the server named without versions in every answer,
    aiohttp's own 4xx included (they are made before any handler or signal of ours runs)."""
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ClientErrorsWithoutTracebacks) for f in logger.filters):
        logger.addFilter(ClientErrorsWithoutTracebacks())
    web_response.SERVER_SOFTWARE = SERVER_NAME  # type: ignore[attr-defined]  # the default of every answer


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class InsecureBind(RuntimeError):
    """A server was asked to listen beyond this machine with no API key to check."""


def refuse_open_bind(host: str, keys: KeyRing) -> None:
    if not is_loopback(host) and len(keys) == 0:
        raise InsecureBind(
            f"refusing to listen on {host} without API keys: create one with "
            "`engagement keys create NAME --scope ingest` (ENGAGEMENT_API_KEYS_FILE), or listen on 127.0.0.1"
        )


def _unauthorized(reason: str) -> web.Response:
    response = problem(401, reason)
    response.headers["WWW-Authenticate"] = 'Bearer realm="engagement"'
    return response
