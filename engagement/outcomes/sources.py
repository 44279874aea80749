"""Where the report's records come from.

- a replay of recorded events (`engagement report EVENTS.jsonl`): decisions from the engine,
  orders and replies from the file; no provider statuses, so delivery is not known;
- `run`'s store (its state directory: `engagement.embedded.reports`), or, while `run` holds it,
  its `GET /v1/report` (`--url`, or its own port);
- the workers' topics (`--worker`: `engagement.worker.reports`): `engagement.decisions`,
  `engagement.statuses` and the input topics (orders, replies, page views).

May import: the core, `engagement.outcomes`, `engagement.replay`. Never a runtime.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

from engagement.core.engine import Engine
from engagement.outcomes.attribution import browse_arming_ids, report
from engagement.outcomes.deliveries import Delivery
from engagement.outcomes.records import Decided, StatusSeen, decided, decided_from_line, followed_in
from engagement.replay.command import replay_file

Rows = list[dict[str, Any]]


class ReportUnavailable(RuntimeError):
    """The records cannot be read; the message says why."""


def from_replay(
    engine: Engine, events: Path, jobs: int = 1, since: float | None = None, since_ago: float | None = None
) -> Rows:
    """`since_ago`: decisions from that many seconds before the replay's last decision on."""
    decisions: list[Decided] = []
    replay_file(engine, events, decided, decisions.append, None, jobs=jobs)
    if since_ago is not None and decisions:
        since = max(d.at for d in decisions) - since_ago
    with events.open("rb") as handle:
        followed = followed_in(handle, browse_arming_ids(engine, decisions))
    return report(engine, decisions, followed, None, since)


def from_lines(
    engine: Engine,
    decision_lines: Iterable[str | bytes],
    event_lines: Iterable[str | bytes],
    statuses: Iterable[StatusSeen],
    since: float | None = None,
    deliveries: dict[str, Delivery] | None = None,
) -> Rows:
    """From what a runtime kept: its decision lines, its events, the provider's statuses, where
    each send went (None: from the statuses, as the workers publish them)."""
    decisions = [d for d in map(decided_from_line, decision_lines) if d is not None]
    followed = followed_in(event_lines, browse_arming_ids(engine, decisions))
    return report(engine, decisions, followed, list(statuses), since, deliveries)


def from_api(url: str, since: float | None = None) -> Rows:
    key = os.environ.get("ENGAGEMENT_API_KEY", "")
    if not key:
        raise ReportUnavailable(f"{url}: set ENGAGEMENT_API_KEY to a key with the read scope to ask for the report")
    params = {} if since is None else {"since": str(int(since))}
    try:
        response = httpx.get(
            f"{url.rstrip('/')}/v1/report", params=params, headers={"Authorization": f"Bearer {key}"}, timeout=300
        )
    except httpx.HTTPError as exc:
        raise ReportUnavailable(f"{url}: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise ReportUnavailable(f"{url}: {response.status_code} {response.text[:200]}")
    rows = response.json()
    if not isinstance(rows, list):
        raise ReportUnavailable(f"{url}: not a report")
    return rows


def first_code(errors: str) -> str | None:
    try:
        codes = json.loads(errors)
    except ValueError:
        return None
    return str(codes[0]) if isinstance(codes, list) and codes else None
