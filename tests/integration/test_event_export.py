"""`engagement events export`: recent real traffic as replayable JSON lines, from run (its API while it
runs, its store after) and from the workers' input topics; an erased customer's events are gone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from engagement.timefmt import rfc3339
from tests.integration.processes import running
from tests.integration.workers import KAFKA, Namespace

pytestmark = pytest.mark.integration


def events(now: float, prefix: str) -> list[dict[str, object]]:
    def event(n: int, minutes_ago: float, type_: str, customer: str, **fields: object) -> dict[str, object]:
        return {
            "event_id": f"{prefix}-{n}",
            "type": type_,
            "customer_id": customer,
            "occurred_at": rfc3339(now - minutes_ago * 60),
            **fields,
        }

    return [
        event(1, 180, "page.viewed", "c-old", product_id="p-1"),  # three hours ago: outside a 2h window
        event(2, 30, "customer.updated", "c-ann", name="Ann", phone="+886912000101", whatsapp_opt_in=True),
        event(3, 20, "page.viewed", "c-ann", product_id="p-2", product_name="Linen shirt"),
        event(4, 10, "cart.updated", "c-bo", cart_id="k", items=[{"product_id": "p-3", "quantity": 2}]),
        event(5, 5, "page.viewed", "c-bo", product_id="p-3"),
    ]


def export(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (the project's own command)
        [sys.executable, "-m", "engagement", "events", "export", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )


def exported_ids(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, done.stderr
    return [json.loads(line)["event_id"] for line in done.stdout.splitlines()]


def test_run_keeps_accepted_events_for_export_and_forgets_them_with_the_customer(tmp_path: Path) -> None:
    now = time.time()
    sent = events(now, "ex")
    lines = [json.dumps(e) for e in sent]
    with running(tmp_path) as run:
        answer = run.post_lines([*lines, lines[2], '{"type": "page.viewed"}'])  # a repeat and a reject
        assert (answer["accepted"], answer["duplicates"], answer["rejected"]) == (5, 1, 1)
        env = {
            "ENGAGEMENT_STATE_DIR": str(tmp_path),
            "ENGAGEMENT_API_KEY": run.key,
            "ENGAGEMENT_HTTP_PORT": str(run.port),
        }
        live = export(env, "--since", "2h", "--url", run.url)
        assert exported_ids(live) == ["ex-2", "ex-3", "ex-4", "ex-5"]
        assert "exported 4 events" in live.stderr
        busy = export(env, "--since", "1d")  # run holds the store: the export goes through its API
        assert exported_ids(busy) == ["ex-1", "ex-2", "ex-3", "ex-4", "ex-5"]
        erased = httpx.delete(f"{run.url}/v1/customers/c-ann", headers=run.headers, timeout=30)
        assert erased.status_code == 200, erased.text
        assert erased.json()["erased"]["events"] == 2
        keyless = export({"ENGAGEMENT_STATE_DIR": str(tmp_path), "ENGAGEMENT_API_KEY": ""}, "--since", "1d")
        assert keyless.returncode == 2
        assert "ENGAGEMENT_API_KEY" in keyless.stderr
        assert "Traceback" not in keyless.stderr
    stored = export({"ENGAGEMENT_STATE_DIR": str(tmp_path)}, "--since", "1d")
    assert exported_ids(stored) == ["ex-1", "ex-4", "ex-5"]
    window = tmp_path / "window.jsonl"
    window.write_text(stored.stdout, encoding="utf-8")
    replayed = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "engagement", "replay", str(window), "--jobs", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert replayed.returncode == 0, replayed.stderr
    assert "3 accepted, 0 rejected" in replayed.stderr


def test_workers_export_their_input_topics(tmp_path: Path) -> None:
    space = Namespace("export")
    space.create_topics()
    now = time.time()
    space.produce([json.dumps(e) for e in events(now, "wx")])
    env = {"ENGAGEMENT_KAFKA_BROKERS": KAFKA, "ENGAGEMENT_TOPIC_PREFIX": space.names.prefix}
    done = export(env, "--since", "2h", "--worker")
    assert sorted(exported_ids(done)) == ["wx-2", "wx-3", "wx-4", "wx-5"]
    for line in done.stdout.splitlines():
        assert json.loads(line)["occurred_at"].endswith("Z")
