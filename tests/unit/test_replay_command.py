"""`engagement replay` and `engagement schema` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engagement.cli import main

SAMPLE = Path(__file__).parents[2] / "engagement" / "samples" / "events.jsonl"


def test_replay_of_the_sample_is_byte_identical_and_reports_rejects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = []
    for run in range(2):
        decisions, rejects = tmp_path / f"d{run}.jsonl", tmp_path / f"r{run}.jsonl"
        assert main(["replay", str(SAMPLE), "--decisions", str(decisions), "--rejects", str(rejects)]) == 0
        outputs.append((decisions.read_bytes(), rejects.read_bytes()))
    assert outputs[0] == outputs[1]
    records = [json.loads(line) for line in outputs[0][0].splitlines()]
    summary = capsys.readouterr().out
    assert {(r["trigger"], r["outcome"]) for r in records} >= {
        ("cart_idle", "send"),
        ("browse_abandonment", "send"),
        ("logistics_delay", "send"),
        ("anomalous_login", "send"),
        ("cart_idle", "cancel"),
        ("logistics_delay", "cancel"),
    }
    for r in records:
        assert set(r) >= {"trigger", "customer_id", "outcome", "reason", "at", "due_at", "key", "event_id", "message"}
        assert r["at"].endswith("Z")
        assert (r["message"] is not None) == (r["outcome"] == "send")
    rejected = [json.loads(line) for line in outputs[0][1].splitlines()]
    assert [(r["line"], r["field"]) for r in rejected] == [(25, "body"), (26, "occurred_at"), (27, "type")]
    assert "3 rejected" in summary
    assert "1 duplicate" in summary
    assert "cart_idle" in summary


def test_until_stops_the_clock(tmp_path: Path) -> None:
    out = tmp_path / "d.jsonl"
    assert main(["replay", str(SAMPLE), "--decisions", str(out), "--until", "2026-11-20T02:00:00Z"]) == 0
    ats = [json.loads(line)["at"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert ats
    assert all(at <= "2026-11-20T02:00:00Z" for at in ats)


@pytest.mark.parametrize("what", ["events", "triggers"])
def test_schemas_are_printed_as_json(what: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", what]) == 0
    schema = json.loads(capsys.readouterr().out)
    text = json.dumps(schema)
    assert ("page.viewed" in text) if what == "events" else ("cart_idle" in text)


def test_a_replay_starts_without_the_reports_or_the_providers_libraries() -> None:
    """`engagement replay` loads what a replay needs: the report's numpy and plotting and the
    providers' HTTP client come with the commands that use them (half a second of every start)."""
    heavy = "{'numpy', 'matplotlib', 'httpx', 'faust', 'aiohttp'}"
    probe = f"import sys, engagement.cli; print(sorted({heavy} & sys.modules.keys()))"
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)  # noqa: S603
    assert found.stdout.strip() == "[]"
