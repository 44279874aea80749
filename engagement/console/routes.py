"""The console's page and its JSON API, added to the runtime's aiohttp application.

The page (`/console`, its CSS and script) is static and holds no data; every `/console/api/...`
route needs an API key (`read` to look, `admin` to publish and roll back), sent by the page as
`Authorization: Bearer` from what the user typed at sign-in (kept in the tab's session storage,
never in a cookie, so no other site can make the browser act with it).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeGuard

from aiohttp import web

from engagement.authoring.preview import PreviewError, preview
from engagement.config.template_registry import load_registry, render
from engagement.console.backtests import BacktestBusy, Backtests
from engagement.console.dangers import dangers
from engagement.console.fields import fields_of
from engagement.console.versions import NeedsAcknowledgement, PublishRefused, Versions
from engagement.console.workspace import BadEdit, Workspace, is_utf8, validate_edit
from engagement.core.engine import Engine
from engagement.decode import customer_id_problem
from engagement.live.api_keys import ApiKey
from engagement.live.guard import API_KEY, Handler, problem, read_body, whole_number
from engagement.outcomes.page import render as report_page
from engagement.outcomes.records import decided_from_line

DAY = 86_400.0
MAX_BACKTEST_DAYS = 31
MAX_REQUEST_BYTES = 2 * 1024 * 1024
STATIC = {"console.css": "text/css", "console.js": "text/javascript"}

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class ConsoleBackend:
    """What the runtime gives the console."""

    workspace: Workspace
    state_dir: Path
    live: Callable[[], Engine]
    report: Callable[[float | None], Awaitable[Rows]]
    decisions_since: Callable[[float], Awaitable[list[str]]]  # decision lines from that time on
    archive: Callable[[float, float], Awaitable[list[str]]]  # event lines that occurred in [since, until]
    timeline: Callable[[str], Awaitable[dict[str, list[Any]]]]


class ConsoleRoutes:
    """The handlers, over one runtime's backend, its published versions and its backtests."""

    def __init__(self, backend: ConsoleBackend) -> None:
        self.backend = backend
        self.versions = Versions(self.backend.state_dir, self.backend.workspace)
        self.backtests = Backtests(self.backend.workspace, self.backend.live, self.backend.state_dir)
        self.tasks: set[asyncio.Task[None]] = set()

    async def page(self, _: web.Request) -> web.StreamResponse:
        return _static("console.html", "text/html")

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC:
            return problem(404, "no such file")
        return _static(name, STATIC[name])

    async def whoami(self, request: web.Request) -> web.StreamResponse:
        key: ApiKey = request[API_KEY]
        return web.json_response({"name": key.name, "scopes": sorted(key.scopes)})

    async def triggers(self, _: web.Request) -> web.StreamResponse:
        engine = self.backend.live()
        since = time.time() - DAY
        lines, rows = await asyncio.gather(self.backend.decisions_since(since), self.backend.report(since))
        by_reason: dict[str, Counter[str]] = defaultdict(Counter)
        for line in lines:
            d = decided_from_line(line)
            if d is not None and d.at >= since:
                by_reason[d.trigger][d.outcome if d.reason is None else f"{d.outcome}:{d.reason}"] += 1
        reported = {row["trigger"]: row for row in rows}
        items = []
        for spec in sorted(engine.all_specs.values(), key=lambda s: s.id):
            row = reported.get(spec.id, {})
            items.append({
                "id": spec.id, "kind": spec.kind, "category": spec.category, "enabled": spec.enabled,
                "holdout_percent": getattr(spec.policies, "holdout_percent", 0),
                "decisions": dict(by_reason.get(spec.id, {})), "sent": row.get("sent", 0),
                "conversions": row.get("conversions", 0),
            })  # fmt: skip
        return web.json_response({"live_version": engine.config_version, "triggers": items})

    async def files(self, _: web.Request) -> web.StreamResponse:
        found = await asyncio.to_thread(self.backend.workspace.files)
        return web.json_response({"live_version": self.backend.live().config_version, "files": found,
                                  "fields": {name: fields_of(text) for name, text in found.items()}})  # fmt: skip

    async def check(self, request: web.Request) -> web.StreamResponse:
        asked = await _edit_request(request)
        if isinstance(asked, web.Response):
            return asked
        _, edit = asked
        checked = await asyncio.to_thread(self.backend.workspace.check, edit)
        warnings = dangers(self.backend.live(), checked.engine) if checked.engine is not None else []
        return web.json_response({**checked.as_json(), "fields": {n: fields_of(t) for n, t in edit.items()},
                                  "warnings": [w.as_json() for w in warnings]})  # fmt: skip

    async def preview_message(self, request: web.Request) -> web.StreamResponse:
        asked = await _edit_request(request)
        if isinstance(asked, web.Response):
            return asked
        body, edit = asked
        trigger, locale, tier = body.get("trigger"), body.get("locale") or None, body.get("tier") or None
        customer = body.get("customer") or None
        if not isinstance(trigger, str) or not all(v is None or isinstance(v, str) for v in (locale, tier, customer)):
            return problem(400, "trigger: a trigger id; locale, tier, customer: text or null")
        events = None
        if customer is not None:
            bad = customer_id_problem(customer)
            if bad is not None:
                return problem(400, f"customer: {bad}")
            lines = (await self.backend.timeline(customer)).get("events", [])
            if not lines:
                return problem(404, f"no events recorded for customer {customer!r}")
            events = [json.loads(line) for line in lines]
        return await asyncio.to_thread(_preview, self.backend.workspace, edit, trigger, locale, tier, events)

    async def start_backtest(self, request: web.Request) -> web.StreamResponse:
        asked = await _edit_request(request)
        if isinstance(asked, web.Response):
            return asked
        body, edit = asked
        since, until = body.get("since"), body.get("until", time.time())
        if not (isinstance(since, int | float) and isinstance(until, int | float)) or not 0 <= since < until < 2**42:
            return problem(400, "since, until: seconds since the epoch, since before until")
        if until - since > MAX_BACKTEST_DAYS * DAY:
            return problem(400, f"a backtest covers at most {MAX_BACKTEST_DAYS} days")
        try:
            job = self.backtests.start(edit, float(since), float(until))
        except BacktestBusy as exc:
            return problem(409, str(exc))

        async def work() -> None:
            try:
                lines = await self.backend.archive(job.since, job.until)
            except Exception as exc:  # shown in the console
                job.state, job.error = "failed", f"the archive could not be read: {type(exc).__name__}"
                return
            await self.backtests.run(job, edit, lines)

        task = asyncio.get_running_loop().create_task(work())
        self.tasks.add(task)  # kept until done, so that it is not collected while it runs
        task.add_done_callback(self.tasks.discard)
        return web.json_response(job.as_json(), status=202)

    async def get_backtest(self, request: web.Request) -> web.StreamResponse:
        job = self.backtests.get(request.match_info["job"])
        if job is None:
            return problem(404, "no such backtest")
        return web.json_response(job.as_json())

    async def publish(self, request: web.Request) -> web.StreamResponse:
        asked = await _edit_request(request)
        if isinstance(asked, web.Response):
            return asked
        body, edit = asked
        note, acknowledged = body.get("note", ""), body.get("acknowledged", [])
        if not isinstance(note, str) or not note.strip() or len(note) > 2000:
            return problem(400, "note: say what changed and why, in at most 2,000 characters")
        if (
            not isinstance(acknowledged, list)
            or len(acknowledged) > 200
            or not all(isinstance(a, str) and len(a) <= 200 for a in acknowledged)
        ):
            return problem(400, "acknowledged: a list of the warnings' names (trigger:code)")
        key: ApiKey = request[API_KEY]
        try:
            done = await asyncio.to_thread(self.versions.publish, edit, key.name, note.strip(), frozenset(acknowledged))
        except NeedsAcknowledgement as exc:
            return problem(409, str(exc), warnings=[d.as_json() for d in exc.dangers])
        except PublishRefused as exc:
            return problem(422, str(exc), problems=[p.as_json() for p in exc.problems])
        return web.json_response(done.as_json(), status=201)

    async def history(self, _: web.Request) -> web.StreamResponse:
        found = await asyncio.to_thread(self.versions.history)
        return web.json_response({"live_version": self.backend.live().config_version,
                                  "versions": [v.as_json() for v in reversed(found)]})  # fmt: skip

    async def rollback(self, request: web.Request) -> web.StreamResponse:
        number = whole_number(request.match_info["number"], 0, 999_999_999)
        if number is None:
            return problem(400, "a version number")
        acknowledged: object = []
        if request.can_read_body:
            body = await _json_body(request)
            if isinstance(body, web.Response):
                return body
            acknowledged = body.get("acknowledged", [])
        if not _names(acknowledged):
            return problem(400, "acknowledged: a list of the warnings' names (trigger:code)")
        key: ApiKey = request[API_KEY]
        try:
            done = await asyncio.to_thread(
                self.versions.rollback,
                number,
                key.name,
                frozenset(acknowledged),
            )
        except NeedsAcknowledgement as exc:
            return problem(409, str(exc), warnings=[d.as_json() for d in exc.dangers])
        except PublishRefused as exc:
            return problem(422, str(exc), problems=[p.as_json() for p in exc.problems])
        return web.json_response(done.as_json(), status=201)

    async def customer(self, request: web.Request) -> web.StreamResponse:
        customer_id = request.match_info["customer_id"]
        bad = customer_id_problem(customer_id)
        if bad is not None:
            return problem(400, f"customer_id: {bad}")
        return web.json_response(_timeline(await self.backend.timeline(customer_id)))

    async def report(self, request: web.Request) -> web.StreamResponse:
        days = whole_number(request.query.get("days", "7"), 1, 366)
        if days is None:
            return problem(400, "days: a whole number from 1 to 366")
        rows = await self.backend.report(time.time() - days * DAY)
        page_html = await asyncio.to_thread(report_page, rows, f"engagement report: the last {days} days", time.time())
        return web.json_response({"rows": rows, "page": page_html})


def add_console(
    app: web.Application, backend: ConsoleBackend, route: Callable[[str, str, str | None, Handler], None]
) -> None:
    console = ConsoleRoutes(backend)
    route("GET", "/console", None, console.page)
    route("GET", "/console/static/{name}", None, console.static)
    route("GET", "/console/api/whoami", "read", console.whoami)
    route("GET", "/console/api/triggers", "read", console.triggers)
    route("GET", "/console/api/files", "read", console.files)
    route("POST", "/console/api/check", "read", console.check)
    route("POST", "/console/api/preview", "read", console.preview_message)
    route("POST", "/console/api/backtests", "read", console.start_backtest)
    route("GET", "/console/api/backtests/{job}", "read", console.get_backtest)
    route("POST", "/console/api/publish", "admin", console.publish)
    route("GET", "/console/api/versions", "read", console.history)
    route("POST", "/console/api/versions/{number}/rollback", "admin", console.rollback)
    route("GET", "/console/api/customers/{customer_id}", "read", console.customer)
    route("GET", "/console/api/report", "read", console.report)


def _names(value: object) -> TypeGuard[list[str]]:
    """A list of at most 200 short names (acknowledged warnings)."""
    return (
        isinstance(value, list)
        and len(value) <= 200
        and all(isinstance(a, str) and len(a) <= 200 and is_utf8(a) for a in value)
    )


def _static(name: str, content_type: str) -> web.Response:
    text = resources.files("engagement.console").joinpath("static", name).read_text(encoding="utf-8")
    headers = {
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "frame-src 'self' about:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        "Referrer-Policy": "no-referrer",
    }
    return web.Response(text=text, content_type=content_type, charset="utf-8", headers=headers)


async def _json_body(request: web.Request) -> dict[str, Any] | web.Response:
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


async def _edit_request(request: web.Request) -> tuple[dict[str, Any], dict[str, str]] | web.Response:
    """The request's JSON object and the edit in its `files`, or the 400 that says what is wrong."""
    body = await _json_body(request)
    if isinstance(body, web.Response):
        return body
    edit = _edit_of(body)
    if isinstance(edit, web.Response):
        return edit
    return body, edit


def _edit_of(body: dict[str, Any]) -> dict[str, str] | web.Response:
    edit = body.get("files", {})
    if not isinstance(edit, dict):
        return problem(400, "files: an object of file name to text")
    try:
        validate_edit(edit)
    except BadEdit as exc:
        return problem(400, f"files: {exc}")
    return edit


def _preview(
    workspace: Workspace,
    edit: dict[str, str],
    trigger: str,
    locale: str | None,
    tier: str | None,
    events: list[dict[str, Any]] | None = None,
) -> web.Response:
    """The trigger's decisions for the kind's sample customer, or for a recorded customer's `events`."""
    checked = workspace.check(edit)
    if checked.engine is None:
        return problem(422, f"the edit has {checked.errors} errors: fix them to preview", problems=[
            p.as_json() for p in checked.problems])  # fmt: skip
    with workspace.applied(edit) as (_, messages):
        registry = load_registry(messages)
    try:
        result = preview(checked.engine, trigger, events, locale, tier, registry)
    except PreviewError as exc:
        return problem(400, str(exc))
    decisions = []
    for decision in result.decisions:
        item: dict[str, Any] = {"outcome": decision.outcome, "reason": decision.reason, "at": decision.at}
        message = decision.message
        if message is not None:
            bubble: dict[str, Any] = {"locale": message.locale, "category": message.category, "body": message.body,
                                      "buttons": [title for _, title in message.replies], "template": None}  # fmt: skip
            use = message.template
            if use is not None:
                record = registry.find(use.name, use.language) if registry is not None else None
                bubble["template"] = {"name": use.name, "language": use.language,
                                      "status": record.status if record else None,
                                      "category": record.category if record else None}  # fmt: skip
                bubble["buttons"] = [value for _, _, value in use.buttons]
                if record is not None:
                    shown = render(record, use.parameters)
                    bubble.update(header=shown.header, body=shown.body, footer=shown.footer, buttons=shown.buttons)
            item["message"] = bubble
        decisions.append(item)
    return web.json_response({"trigger": trigger, "customer": result.customer, "version": checked.version,
                              "decisions": decisions})  # fmt: skip


def _timeline(found: dict[str, list[Any]]) -> dict[str, Any]:
    """Events, decisions, sends and statuses of one customer, in time order."""
    items: list[dict[str, Any]] = []
    for line in found.get("events", []):
        event = json.loads(line)
        items.append({"at": event.get("occurred_at", ""), "what": "event", "type": event.get("type"), "detail": event})
    statuses: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for status in found.get("statuses", []):
        statuses[status["key"]].append(status)
    sends = {send["key"]: send for send in found.get("sends", [])}
    for line in found.get("decisions", []):
        decision = json.loads(line)
        key = decision.get("key")
        items.append({"at": decision.get("at", ""), "what": "decision", "type": decision.get("trigger"),
                      "detail": decision, "send": sends.get(key), "statuses": statuses.get(key, [])})  # fmt: skip
    items.sort(key=lambda item: str(item["at"]))
    return {"items": items}
