"""`engagement report` without an events file: what `run` stored (decisions, the orders it took,
the provider's statuses), read from its state directory, or through `GET /v1/report` of a
running `run` (`--url`, or its own port when it has the directory open)."""

from __future__ import annotations

import os

import httpx

from engagement.authoring.report import TriggerOutcome, from_json, report_stored
from engagement.core.engine import Engine
from engagement.embedded.store import EmbeddedStore, StoreBusy
from engagement.event_export import ExportError
from engagement.settings import Settings


def stored_report(engine: Engine, settings: Settings, url: str | None) -> list[TriggerOutcome]:
    if url is None:
        try:
            store = EmbeddedStore(settings.state_dir)
        except StoreBusy:
            url = f"http://127.0.0.1:{settings.http_port}"
        else:
            try:
                return report_stored(engine, *store.report_sources())
            finally:
                store.close()
    return _through_api(url)


def _through_api(url: str) -> list[TriggerOutcome]:
    key = os.environ.get("ENGAGEMENT_API_KEY", "")
    if not key:
        raise ExportError(f"{url}: set ENGAGEMENT_API_KEY to a key with the read scope to ask for the report")
    try:
        response = httpx.get(f"{url.rstrip('/')}/v1/report", headers={"Authorization": f"Bearer {key}"}, timeout=120)
    except httpx.HTTPError as exc:
        raise ExportError(f"{url}: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise ExportError(f"{url}: {response.status_code} {response.text[:200]}")
    return [from_json(item) for item in response.json()]
