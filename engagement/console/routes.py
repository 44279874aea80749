"""The console's page and its JSON API, added to the runtime's aiohttp application.

The page (`/console`, its CSS and script) is static and holds no data; every `/console/api/...`
route needs an API key (`read` to look, `admin` to publish and roll back), sent by the page as
`Authorization: Bearer` from what the user typed at sign-in (kept in the tab's session storage,
never in a cookie, so no other site can make the browser act with it).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from engagement.authoring.channel_checks import flex_texts, sms_parts
from engagement.authoring.preview import PreviewError, preview
from engagement.authoring.samples import sample_events
from engagement.config.template_registry import TemplateRegistry, load_registry, render
from engagement.console.approval import ProposalRefused, Proposals
from engagement.console.backtests import BacktestBusy, Backtests, Job
from engagement.console.bodies import edit_request, json_body, names
from engagement.console.customers import CustomerRoutes, add_customers
from engagement.console.dangers import Danger, moved_by_backtest
from engagement.console.fields import described
from engagement.console.new_trigger import NewTriggerRefused, kinds, skeleton
from engagement.console.templates_page import GraphAccount, SendTest, TemplateRoutes, add_templates
from engagement.console.versions import (
    LiveChanged,
    NeedsAcknowledgement,
    PublishRefused,
    Review,
    Versions,
    files_digest,
    unified_diff,
)
from engagement.console.workspace import Checked, Workspace, as_named, is_utf8
from engagement.core.catalog import MessageSpec
from engagement.core.decisions import Message
from engagement.core.engine import Engine
from engagement.core.state import CustomerState
from engagement.decode import customer_id_problem
from engagement.events import CHANNELS
from engagement.live.api_keys import ApiKey
from engagement.live.guard import API_KEY, Handler, problem, whole_number
from engagement.live.heavy_reads import HeavyReads
from engagement.outcomes.page import render as report_page
from engagement.outcomes.records import decided_from_line

T = TypeVar("T")
DAY = 86_400.0
MAX_BACKTEST_DAYS = 31
STATIC = {"console.css": "text/css", "console.js": "text/javascript"}

Rows = list[dict[str, Any]]


async def _no_state(_: str) -> CustomerState | None:
    return None


async def _no_owner(_: str) -> str | None:
    return None


async def _alone() -> None:
    return None


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
    state_of: Callable[[str], Awaitable[CustomerState | None]] = _no_state  # a customer's state, if held here
    owner_of: Callable[[str], Awaitable[str | None]] = _no_owner  # who holds a phone number
    send_test: SendTest | None = None  # a test message through the runtime's provider
    graph: GraphAccount | None = None  # the WhatsApp Business Account (template sync and submit)
    test_numbers: frozenset[str] = frozenset()  # the numbers a test message may go to
    require_approval: bool = False  # maker/checker
    # erasures by other processes taken up (their kept backtests deleted) before a backtest starts
    erasures_elsewhere: Callable[[], Awaitable[object]] = _alone


class ConsoleRoutes:
    """The handlers, over one runtime's backend, its published versions and its backtests."""

    def __init__(self, backend: ConsoleBackend) -> None:
        self.backend = backend
        self.versions = Versions(self.backend.state_dir, self.backend.workspace)
        self.backtests = Backtests(self.backend.workspace, self.backend.live, self.backend.state_dir)
        self.proposals = Proposals(self.backend.state_dir)
        self.tasks: set[asyncio.Task[None]] = set()
        # checking an edit loads and lints a whole configuration (seconds for a large one): a few at
        # once, a few more waiting, then 429, so that no key keeps the cores busy
        self.checks = HeavyReads(what="checks of edits")

    async def _checking(self, work: Callable[..., T], *args: Any) -> T:
        """`work(*args)` (which checks a configuration) in a worker thread, bounded by `checks`."""
        async with self.checks.slot():
            return await asyncio.to_thread(work, *args)

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
                                  "fields": {name: described(name, text) for name, text in found.items()}})  # fmt: skip

    async def options(self, _: web.Request) -> web.StreamResponse:
        """What the pages offer to choose from: the locales and tiers the live messages are written
        in, the kinds a new trigger can have, and how this console publishes."""
        catalog = self.backend.live().catalog
        locales = sorted({locale for m in catalog.messages.values() for locale in m.locales})
        tiers = sorted({tier for m in catalog.messages.values() for w in m.locales.values() for tier in w.tiers})
        return web.json_response({"locales": locales, "tiers": tiers, "kinds": kinds(),
                                  "require_approval": self.backend.require_approval,
                                  "default_timezone": self.backend.live().settings.default_timezone})  # fmt: skip

    async def check(self, request: web.Request) -> web.StreamResponse:
        asked = await edit_request(request)
        if isinstance(asked, web.Response):
            return asked
        _, edit = asked

        def checked_and_warned() -> tuple[Checked, list[Danger]]:
            checked = self.backend.workspace.check(edit)
            return checked, (self.versions.dangers(checked, edit) if checked.engine is not None else [])

        checked, warnings = await self._checking(checked_and_warned)
        return web.json_response({**checked.as_json(), "fields": {n: described(n, t) for n, t in edit.items()},
                                  "warnings": [w.as_json() for w in warnings]})  # fmt: skip

    async def review(self, request: web.Request) -> web.StreamResponse:
        """What publishing the edit would do: each changed file's diff against the live one, the
        checks' summary, and the warnings to acknowledge (with those of the backtest named)."""
        asked = await edit_request(request)
        if isinstance(asked, web.Response):
            return asked
        body, edit = asked
        job_id = body.get("backtest")
        job = self.backtests.get(job_id) if isinstance(job_id, str) else None
        return web.json_response(await self._checking(self._reviewed, edit, job))

    def _reviewed(self, edit: dict[str, str], job: Job | None = None, whole: bool = False) -> dict[str, Any]:
        """What publishing `edit` would do against the live files (`whole`: the edit is every file,
        as a roll back's, and the live files it lacks go): diffs, checks and warnings."""
        live = self.backend.workspace.files()
        removed = sorted(live.keys() - edit.keys()) if whole else []
        changed = {name: text for name, text in edit.items() if live.get(name) != text}
        checked = self.backend.workspace.check(edit, removed)
        found = self.versions.dangers(checked, changed) if checked.engine is not None else []
        if job is not None and job.state == "done":
            found.extend(moved_by_backtest(job.result))
        diffs = [{"file": name, "new": name not in live, "diff": unified_diff(live.get(name, ""), text, name)}
                 for name, text in sorted(changed.items())]  # fmt: skip
        diffs += [{"file": name, "new": False, "removed": True, "diff": unified_diff(live[name], "", name)}
                  for name in removed]  # fmt: skip
        return {**checked.as_json(), "warnings": [d.as_json() for d in found], "diffs": diffs,
                "base": files_digest(live), "warnings_count": sum(p.severity == "warning" for p in checked.problems),
                "backtest": job.as_json() if job is not None else None}  # fmt: skip

    async def new_trigger(self, request: web.Request) -> web.StreamResponse:
        """The files of a new trigger of a kind (`?kind=cart_idle&id=cart_reminder_30m`), to edit."""
        taken = set(await asyncio.to_thread(self.backend.workspace.files))
        try:
            files = skeleton(request.query.get("kind", ""), request.query.get("id", ""), taken)
        except NewTriggerRefused as exc:
            return problem(400, str(exc))
        return web.json_response({"files": files})

    async def preview_message(self, request: web.Request) -> web.StreamResponse:
        asked = await edit_request(request)
        if isinstance(asked, web.Response):
            return asked
        body, edit = asked
        trigger, locale, tier = body.get("trigger"), body.get("locale") or None, body.get("tier") or None
        customer, channel = body.get("customer") or None, body.get("channel") or None
        if not isinstance(trigger, str) or not all(v is None or isinstance(v, str) for v in (locale, tier, customer)):
            return problem(400, "trigger: a trigger id; locale, tier, customer: text or null")
        if channel is not None and channel not in CHANNELS:
            return problem(400, f"channel: one of {', '.join(CHANNELS)}, or null (the trigger's own)")
        events = None
        if customer is not None:
            bad = customer_id_problem(customer)
            if bad is not None:
                return problem(400, f"customer: {bad}")
            lines = (await self.backend.timeline(customer)).get("events", [])
            if not lines:
                return problem(404, f"no events recorded for customer {customer!r}")
            events = [json.loads(line) for line in lines]
        return await self._checking(_preview, self.backend.workspace, edit, trigger, locale, tier, events, channel)

    async def start_backtest(self, request: web.Request) -> web.StreamResponse:
        asked = await edit_request(request)
        if isinstance(asked, web.Response):
            return asked
        body, edit = asked
        since, until = body.get("since"), body.get("until", time.time())
        if not (isinstance(since, int | float) and isinstance(until, int | float)) or not 0 <= since < until < 2**42:
            return problem(400, "since, until: seconds since the epoch, since before until")
        if until - since > MAX_BACKTEST_DAYS * DAY:
            return problem(400, f"a backtest covers at most {MAX_BACKTEST_DAYS} days")
        if since > time.time():
            return problem(400, "since: a time that has come (there is no recorded traffic after now)")
        await self.backend.erasures_elsewhere()  # a kept live side cannot outlive an erasure elsewhere
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
        asked = await edit_request(request)
        if isinstance(asked, web.Response):
            return asked
        body, edit = asked
        if self.backend.require_approval:
            return problem(403, "this console publishes with approval: propose the edit, and another admin key "
                           "approves it")  # fmt: skip
        review = self._review(body)
        if isinstance(review, web.Response):
            return review
        key: ApiKey = request[API_KEY]
        try:
            done = await self._checking(self.versions.publish, edit, key.name, review[0], review[1])
        except NeedsAcknowledgement as exc:
            return problem(409, str(exc), warnings=[d.as_json() for d in exc.dangers])
        except LiveChanged as exc:
            return problem(409, str(exc), code="live_changed")
        except PublishRefused as exc:
            return problem(422, str(exc), problems=[p.as_json() for p in exc.problems])
        return web.json_response(done.as_json(), status=201)

    def _review(self, body: dict[str, Any]) -> tuple[str, Review] | web.Response:
        """A publish request's note, the warnings it acknowledges, and the dangers its backtest found."""
        note, acknowledged, job_id = body.get("note", ""), body.get("acknowledged", []), body.get("backtest")
        if not isinstance(note, str) or not note.strip() or len(note) > 2000 or not is_utf8(note):
            return problem(400, "note: say what changed and why, in at most 2,000 characters")
        if not names(acknowledged):
            return problem(400, "acknowledged: a list of the warnings' names (trigger:code)")
        job = self.backtests.get(job_id) if isinstance(job_id, str) else None
        found = tuple(moved_by_backtest(job.result)) if job is not None and job.state == "done" else ()
        base = body.get("base")
        if base is not None and not (isinstance(base, str) and re.fullmatch(r"[0-9a-f]{16}", base)):
            return problem(400, "base: the review's base (16 hexadecimal digits), or none")
        return note.strip(), Review(frozenset(acknowledged), found, base=base)

    async def propose(self, request: web.Request) -> web.StreamResponse:
        """An edit for another admin key to approve (maker/checker); checked as a publish would be."""
        asked = await edit_request(request)
        if isinstance(asked, web.Response):
            return asked
        body, edit = asked
        review = self._review(body)
        if isinstance(review, web.Response):
            return review
        checked = await self._checking(self.backend.workspace.check, edit)
        if checked.errors or not edit:
            return problem(422, f"the edit has {checked.errors} errors; nothing was proposed",
                           problems=[p.as_json() for p in checked.problems])  # fmt: skip
        key: ApiKey = request[API_KEY]
        try:
            base, acknowledged = self.backend.live().config_version, sorted(review[1].acknowledged)
            proposal = await asyncio.to_thread(self.proposals.add, key.name, review[0], edit, base, acknowledged)
        except ProposalRefused as exc:
            return problem(409, str(exc))
        return web.json_response(proposal.as_json(), status=201)

    async def proposals_list(self, _: web.Request) -> web.StreamResponse:
        found = await asyncio.to_thread(self.proposals.all)
        return web.json_response({"proposals": [p.as_json() for p in found]})

    async def proposal(self, request: web.Request) -> web.StreamResponse:
        """A proposal with what approving it would do now: its diffs against the live files, the
        checks' summary and the warnings the approver acknowledges."""
        try:
            found = await asyncio.to_thread(self.proposals.get, request.match_info["id"])
        except ProposalRefused as exc:
            return problem(404, str(exc))
        review = await self._checking(self._reviewed, found.files, None, found.rollback is not None)
        stale = found.base_version != self.backend.live().config_version
        return web.json_response({**found.as_json(with_files=True), "review": review, "stale": stale})

    async def approve(self, request: web.Request) -> web.StreamResponse:
        """Publish a proposal, by an admin key that is not its proposer's."""
        body: dict[str, Any] = {}
        if request.can_read_body:
            read = await json_body(request)
            if isinstance(read, web.Response):
                return read
            body = read
        acknowledged = body.get("acknowledged", [])
        if not names(acknowledged):
            return problem(400, "acknowledged: a list of the warnings' names (trigger:code)")
        key: ApiKey = request[API_KEY]
        try:
            proposal = await asyncio.to_thread(self.proposals.get, request.match_info["id"])
        except ProposalRefused as exc:
            return problem(404, str(exc))
        if proposal.author == key.name:
            return problem(403, "a proposer cannot approve their own edit: another admin key approves it")
        if proposal.base_version != self.backend.live().config_version:
            return problem(409, "the live configuration changed since this was proposed: propose it again")
        review = Review(frozenset(acknowledged), approved_by=key.name)
        try:
            if proposal.rollback is not None:
                done = await self._checking(
                    self.versions.rollback, proposal.rollback, proposal.author, review.acknowledged, key.name
                )
            else:
                done = await self._checking(
                    self.versions.publish, proposal.files, proposal.author, proposal.note, review
                )
        except NeedsAcknowledgement as exc:
            return problem(409, str(exc), warnings=[d.as_json() for d in exc.dangers])
        except PublishRefused as exc:
            return problem(422, str(exc), problems=[p.as_json() for p in exc.problems])
        await asyncio.to_thread(self.proposals.remove, proposal.id)
        return web.json_response(done.as_json(), status=201)

    async def withdraw(self, request: web.Request) -> web.StreamResponse:
        """A proposal withdrawn by its proposer, or turned down by an admin key."""
        key: ApiKey = request[API_KEY]
        try:
            proposal = await asyncio.to_thread(self.proposals.get, request.match_info["id"])
        except ProposalRefused as exc:
            return problem(404, str(exc))
        if proposal.author != key.name and "admin" not in key.scopes:
            return problem(403, "only its proposer or an admin key withdraws a proposal")
        await asyncio.to_thread(self.proposals.remove, proposal.id)
        return web.json_response({"withdrawn": proposal.id})

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
            body = await json_body(request)
            if isinstance(body, web.Response):
                return body
            acknowledged = body.get("acknowledged", [])
        if not names(acknowledged):
            return problem(400, "acknowledged: a list of the warnings' names (trigger:code)")
        key: ApiKey = request[API_KEY]
        if self.backend.require_approval:  # a roll back changes what is live: another admin key approves it
            return await self._propose_rollback(number, key.name, sorted(acknowledged))
        try:
            done = await self._checking(
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

    async def _propose_rollback(self, number: int, author: str, acknowledged: list[str]) -> web.StreamResponse:
        try:
            files = await asyncio.to_thread(self.versions.files_of, number)
            base = self.backend.live().config_version
            proposal = await asyncio.to_thread(
                self.proposals.add, author, f"roll back to version {number}", files, base, acknowledged, number
            )
        except PublishRefused as exc:
            return problem(404, str(exc))
        except ProposalRefused as exc:
            return problem(409, str(exc))
        return web.json_response({"proposed": proposal.as_json()}, status=202)

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
    route("GET", "/console/api/options", "read", console.options)
    route("GET", "/console/api/new-trigger", "read", console.new_trigger)
    route("POST", "/console/api/check", "read", console.check)
    route("POST", "/console/api/review", "read", console.review)
    route("POST", "/console/api/preview", "read", console.preview_message)
    route("POST", "/console/api/backtests", "read", console.start_backtest)
    route("GET", "/console/api/backtests/{job}", "read", console.get_backtest)
    route("POST", "/console/api/publish", "admin", console.publish)
    route("GET", "/console/api/versions", "read", console.history)
    route("POST", "/console/api/versions/{number}/rollback", "admin", console.rollback)
    route("POST", "/console/api/proposals", "read", console.propose)
    route("GET", "/console/api/proposals", "read", console.proposals_list)
    route("GET", "/console/api/proposals/{id}", "read", console.proposal)
    route("POST", "/console/api/proposals/{id}/approve", "admin", console.approve)
    route("DELETE", "/console/api/proposals/{id}", "read", console.withdraw)
    route("GET", "/console/api/report", "read", console.report)
    zone = lambda: backend.live().settings.default_timezone  # noqa: E731
    add_customers(CustomerRoutes(backend.state_of, backend.owner_of, backend.timeline, zone), route)
    templates = TemplateRoutes(backend.workspace, backend.live, backend.graph, backend.send_test, backend.test_numbers)
    add_templates(templates, route)


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


def _preview(
    workspace: Workspace,
    edit: dict[str, str],
    trigger: str,
    locale: str | None,
    tier: str | None,
    events: list[dict[str, Any]] | None = None,
    channel: str | None = None,
) -> web.Response:
    """The trigger's decisions for the kind's sample customer, or for a recorded customer's `events`."""
    checked = workspace.check(edit)
    if checked.engine is None:
        return problem(422, f"the edit has {checked.errors} errors: fix them to preview", problems=[
            p.as_json() for p in checked.problems])  # fmt: skip
    with workspace.applied(edit) as (_, messages):
        registry = load_registry(messages)
    try:
        result = preview(checked.engine, trigger, events, locale, tier, registry, channel)
    except PreviewError as exc:
        return problem(400, as_named(str(exc)))
    spec = checked.engine.all_specs[trigger]
    spec_message = checked.engine.catalog.message_for(spec.id, spec.kind)
    decisions = []
    for decision in result.decisions:
        item: dict[str, Any] = {"outcome": decision.outcome, "reason": decision.reason, "at": decision.at}
        if decision.message is not None:
            item["message"] = _bubble(decision.message, registry, spec_message)
            item["fallbacks"] = [_bubble(m, registry, spec_message) for m in decision.message.fallbacks]
            item["fallback_after"] = decision.message.fallback_after
        if decision.channels:
            item["refused"] = dict(decision.channels)
        decisions.append(item)
    samples = sample_events(spec.kind, spec, checked.engine.event_catalogue) if events is None else events
    zone = _zone_of(samples, checked.engine)
    answers = [
        {"reply": said, "outcome": d.outcome, "reason": d.reason, "body": d.message.body if d.outcome == "answer"
         and d.message is not None else None}
        for said, d in result.answers
    ]  # fmt: skip
    return web.json_response({"trigger": trigger, "customer": result.customer, "version": checked.version,
                              "timezone": zone, "decisions": decisions, "enabled": spec.enabled,
                              "answers": answers})  # fmt: skip


def _bubble(message: Message, registry: TemplateRegistry | None, spec: MessageSpec | None) -> dict[str, Any]:
    """A message as the customer's chat shows it: the approved template when the registry has it
    (header, body, footer and its buttons' texts), else the message file's text and labels."""
    bubble: dict[str, Any] = {"locale": message.locale, "category": message.category, "body": message.body,
                              "buttons": [title for _, title in message.replies], "template": None,
                              "channel": message.channel}  # fmt: skip
    if message.channel == "line" and message.flex is not None:
        bubble["flex"] = flex_texts(message.flex)
    if message.channel == "sms":
        parts = sms_parts(message.body)
        bubble["sms"] = {"parts": parts.count, "encoding": parts.encoding, "units": parts.units}
    use = message.template
    if use is None:
        return bubble
    record = registry.find(use.name, use.language) if registry is not None else None
    bubble["template"] = {"name": use.name, "language": use.language,
                          "status": record.status if record else None,
                          "category": record.category if record else None,
                          "example": bool(registry and registry.example)}  # fmt: skip
    buttons = spec.template.buttons if spec is not None and spec.template is not None else ()
    bubble["buttons"] = [b.label_for(message.locale) for b in buttons] or [value for _, _, value in use.buttons]
    if record is not None:
        shown = render(record, use.parameters)
        bubble.update(header=shown.header, body=shown.body, footer=shown.footer, buttons=shown.buttons)
    return bubble


def _zone_of(events: list[dict[str, Any]], engine: Engine) -> str:
    """The customer's time zone, as their last profile update gives it (else the default)."""
    zones = [
        e["timezone"] for e in events if e.get("type") == "customer.updated" and isinstance(e.get("timezone"), str)
    ]
    return zones[-1] if zones else engine.settings.default_timezone
