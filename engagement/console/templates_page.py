"""The console's templates page: the template registry (name, language, category, status,
quality, when it was synced) beside the templates the live messages are sent as; a sync from the
WhatsApp Business Account, submitting a message's templates for approval, and a test message to
one of the numbers ENGAGEMENT_TEST_NUMBERS allows (all three with the admin scope)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from engagement.authoring.template_submission import SubmissionError, submissions, template_payload, test_message
from engagement.config.template_registry import load_registry, write_registry
from engagement.console.bodies import json_body
from engagement.console.workspace import Workspace, as_named
from engagement.core.engine import Engine
from engagement.live.api_keys import ApiKey
from engagement.live.guard import API_KEY, Handler, problem
from engagement.privacy import mask_phone
from engagement.providers.base import OutboundMessage, ProviderError
from engagement.providers.whatsapp.templates import TemplateSyncError, fetch_templates, submit_template
from engagement.settings import Settings
from engagement.timefmt import rfc3339

log = logging.getLogger("engagement.console")

SendTest = Callable[[OutboundMessage], Awaitable[str]]  # the provider's message id


@dataclass(frozen=True)
class GraphAccount:
    """Where the WhatsApp Business Account's templates are read and submitted."""

    base_url: str
    version: str
    account_id: str
    token: str


def graph_account(settings: Settings) -> GraphAccount | None:
    """The WhatsApp Business Account the settings name, or None when they name none."""
    token = settings.whatsapp_token.get_secret_value()
    if not settings.whatsapp_business_account_id or not token:
        return None
    return GraphAccount(
        settings.whatsapp_api_base, settings.whatsapp_api_version, settings.whatsapp_business_account_id, token
    )


class TemplateRoutes:
    def __init__(
        self,
        workspace: Workspace,
        live: Callable[[], Engine],
        graph: GraphAccount | None,
        send_test: SendTest | None,
        test_numbers: frozenset[str],
    ) -> None:
        self.workspace, self.live, self.graph, self.send_test = workspace, live, graph, send_test
        self.test_numbers = test_numbers

    async def list(self, _: web.Request) -> web.StreamResponse:
        registry = await asyncio.to_thread(load_registry, self.workspace.messages_dir)
        engine = self.live()
        needed = []
        for trigger in sorted(engine.specs):
            spec = engine.specs[trigger]
            message = engine.catalog.message_for(spec.id, spec.kind)
            for variant in message.variants() if message is not None else []:
                if variant.template is None:
                    continue
                record = registry.find(variant.template, variant.language) if registry is not None else None
                needed.append({"trigger": trigger, "locale": variant.locale, "tier": variant.tier,
                               "name": variant.template, "language": variant.language,
                               "status": record.status if record else None})  # fmt: skip
        records = [] if registry is None else [
            {"name": r.name, "language": r.language, "category": r.category, "status": r.status,
             "quality": r.quality_score, "id": r.id}
            for r in sorted(registry.records.values(), key=lambda r: (r.name, r.language))
        ]  # fmt: skip
        about = None if registry is None else {"source": registry.source, "synced_at": registry.synced_at,
                                                "example": registry.example}  # fmt: skip
        return web.json_response({"registry": about, "templates": records, "needed": needed,
                                  "can_sync": self.graph is not None, "can_test": self.send_test is not None,
                                  "test_numbers": sorted(mask_phone(n) for n in self.test_numbers)})  # fmt: skip

    async def sync(self, request: web.Request) -> web.StreamResponse:
        graph = self.graph
        if graph is None:
            return problem(409, "no WhatsApp Business Account here: set ENGAGEMENT_WHATSAPP_BUSINESS_ACCOUNT_ID "
                           "and ENGAGEMENT_WHATSAPP_TOKEN")  # fmt: skip
        key: ApiKey = request[API_KEY]
        try:
            records = await asyncio.to_thread(
                fetch_templates, graph.base_url, graph.version, graph.account_id, graph.token
            )
        except TemplateSyncError as exc:
            return problem(502, str(exc))
        source = f"whatsapp:{graph.account_id}"
        await asyncio.to_thread(
            write_registry, self.workspace.messages_dir, source, rfc3339(round(time.time())), records
        )
        statuses = Counter(r.status for r in records)
        log.info("console: %s synced %d templates from WhatsApp (%s)", key.name, len(records), dict(statuses))
        return web.json_response({"templates": len(records), "statuses": dict(statuses)})

    async def submit(self, request: web.Request) -> web.StreamResponse:
        graph = self.graph
        if graph is None:
            return problem(409, "no WhatsApp Business Account here: set ENGAGEMENT_WHATSAPP_BUSINESS_ACCOUNT_ID "
                           "and ENGAGEMENT_WHATSAPP_TOKEN")  # fmt: skip
        body = await json_body(request)
        if isinstance(body, web.Response):
            return body
        trigger, locale = body.get("trigger"), body.get("locale") or None
        if not isinstance(trigger, str) or not (locale is None or isinstance(locale, str)):
            return problem(400, "trigger: a trigger id; locale: a locale or null for all")
        engine = self.live()
        answers = []
        key: ApiKey = request[API_KEY]
        try:
            for each_locale, tier in submissions(engine, trigger, locale):
                payload = template_payload(engine, trigger, each_locale, tier)
                answer = await asyncio.to_thread(
                    submit_template, graph.base_url, graph.version, graph.account_id, graph.token, payload
                )
                answers.append({"name": payload["name"], "language": payload["language"],
                                "status": answer.get("status"), "id": answer.get("id")})  # fmt: skip
        except SubmissionError as exc:
            return problem(422, as_named(str(exc)))
        except TemplateSyncError as exc:
            return problem(502, str(exc), submitted=answers)
        log.info("console: %s submitted %d templates of %s for approval", key.name, len(answers), trigger)
        return web.json_response({"submitted": answers})

    async def test(self, request: web.Request) -> web.StreamResponse:
        """One real message to an allowed number, marked as a test, counted nowhere."""
        if self.send_test is None:
            return problem(409, "this runtime has no provider to send a test with")
        body = await json_body(request)
        if isinstance(body, web.Response):
            return body
        trigger, to = body.get("trigger"), body.get("to")
        locale, tier = body.get("locale") or None, body.get("tier") or None
        if not all(isinstance(v, str) for v in (trigger, to)) or not all(
            v is None or isinstance(v, str) for v in (locale, tier)
        ):
            return problem(400, "trigger, to: text; locale, tier: text or null")
        to = re.sub(r"[\s().-]", "", str(to))  # as people write numbers: +886 912-000-001
        if to not in self.test_numbers:
            return problem(403, "a test goes only to a number of ENGAGEMENT_TEST_NUMBERS")
        key: ApiKey = request[API_KEY]
        try:
            message = test_message(self.live(), str(trigger), str(to), locale, tier)
            receipt = await self.send_test(message)
        except SubmissionError as exc:
            return problem(422, as_named(str(exc)))
        except ProviderError as exc:
            return problem(502, f"the provider refused the test message: {exc}")
        log.info("console: %s sent a test of %s to %s", key.name, trigger, mask_phone(str(to)))
        return web.json_response({"sent": receipt, "to": mask_phone(str(to))})


def add_templates(routes: TemplateRoutes, route: Callable[[str, str, str | None, Handler], None]) -> None:
    route("GET", "/console/api/templates", "read", routes.list)
    route("POST", "/console/api/templates/sync", "admin", routes.sync)
    route("POST", "/console/api/templates/submit", "admin", routes.submit)
    route("POST", "/console/api/templates/test", "admin", routes.test)
