"""The report from what `run` stored: its store, or, while `run` holds the store, its API."""

from __future__ import annotations

from engagement.core.engine import Engine
from engagement.embedded.store import EmbeddedStore, StoreBusy, StoredSources, existing_store
from engagement.outcomes.deliveries import delivery_of
from engagement.outcomes.records import StatusSeen
from engagement.outcomes.sources import Rows, first_code, from_api, from_lines
from engagement.settings import Settings


def from_stored(engine: Engine, sources: StoredSources, since: float | None = None) -> Rows:
    """From what `run` stored (`StoreReads.report_sources`)."""
    statuses = [StatusSeen(key, status, first_code(errors)) for key, status, errors in sources.statuses]
    deliveries = {key: delivery_of(stored) for key, stored in sources.deliveries.items()}
    return from_lines(engine, sources.decisions, sources.events, statuses, since, deliveries)


def from_store(engine: Engine, store: EmbeddedStore, since: float | None = None) -> Rows:
    return from_stored(engine, store.report_sources(), since)


def stored(engine: Engine, settings: Settings, url: str | None, since: float | None = None) -> Rows:
    """`engagement report` without an events file: `run`'s store, or its API when `run` holds it."""
    if url is None:
        try:
            store = existing_store(settings.state_dir)
        except StoreBusy:
            url = f"http://127.0.0.1:{settings.http_port}"
        else:
            try:
                return from_store(engine, store, since)
            finally:
                store.close()
    return from_api(url, since)
