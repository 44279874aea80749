"""`engagement replay --jobs N` writes what `--jobs 1` writes, byte for byte: decisions, rejects, summary."""

from __future__ import annotations

import io
import json
import random
import tempfile
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engagement.authoring.backtest import collect
from engagement.cli import main
from engagement.core.decisions import Decision
from engagement.replay.command import replay_file
from engagement.replay.shards import ShardFailed, shard_of
from tests.scenario import engine_for
from tests.unit.test_properties import _event

CUSTOMERS = tuple(f"c{n}" for n in range(12))
KINDS: tuple[str, ...] = ("profile", "view", "view", "view", "left", "cart", "empty", "order", "dispatch")
KINDS = (*KINDS, "delay", "delivered", "reply", "stop", "login", "failed")
SAMPLE = Path(__file__).parents[2] / "engagement" / "samples" / "events.jsonl"


@st.composite
def event_files(draw: st.DrawFn) -> list[str]:
    """Lines of an event file: many customers, jittered and late events, repeats, and bad lines."""
    steps = draw(
        st.lists(
            st.tuples(st.sampled_from(CUSTOMERS), st.sampled_from(KINDS), st.integers(0, 900), st.integers(0, 99)),
            min_size=1,
            max_size=120,
        )
    )
    seconds = 0
    lines: list[str] = []
    for n, (customer, kind, gap, luck) in enumerate(steps):
        seconds += gap
        jitter = -45 if luck < 5 else -(luck % 20)  # a few beyond the 30 s lateness, most within it
        event: dict[str, Any] = _event(n, customer, kind, max(seconds + jitter, 0))
        line = json.dumps(event, ensure_ascii=False)
        if luck == 99:
            line = line.replace(
                f'"customer_id": "{customer}"', f'"customer_id": "c\\u00{ord(customer[1]):x}{customer[2:]}"'
            )
        lines.append(line)
        if luck in (7, 8):
            lines.append(line)  # the same event again: a duplicate
        elif luck == 9:
            lines.append('{"event_id": "broken", "type": "page.viewed"')  # malformed
        elif luck == 10:
            lines.append("")
    return lines


def replayed(lines: list[str], jobs: int, until: str | None = None) -> tuple[bytes, bytes, str]:
    with tempfile.TemporaryDirectory() as tmp:
        events, decisions, rejects = Path(tmp, "e.jsonl"), Path(tmp, "d.jsonl"), Path(tmp, "r.jsonl")
        events.write_text("\n".join(lines) + "\n", encoding="utf-8")
        args = ["replay", str(events), "--decisions", str(decisions), "--rejects", str(rejects), "--jobs", str(jobs)]
        summary = io.StringIO()
        with redirect_stdout(summary):
            assert main([*args, *(["--until", until] if until else [])]) == 0
        return decisions.read_bytes(), rejects.read_bytes(), summary.getvalue()


@settings(max_examples=40, deadline=None)
@given(event_files(), st.integers(2, 4))
def test_any_number_of_jobs_writes_the_same_bytes(lines: list[str], jobs: int) -> None:
    assert replayed(lines, jobs) == replayed(lines, 1)


def test_a_shop_day_is_the_same_in_one_process_and_in_three(tmp_path: Path) -> None:
    rng = random.Random(5)
    lines = []
    for n in range(3_000):
        customer = rng.choice(CUSTOMERS + tuple(f"x{k}" for k in range(40)))
        lines.append(json.dumps(_event(n, customer, rng.choice(KINDS), n * 7 - rng.randrange(20))))
    one = replayed(lines, 1)
    assert one[0].count(b"\n") > 100, "the day must make decisions for the comparison to mean something"
    assert replayed(lines, 3) == one
    assert replayed(lines, 3, until="2026-11-20T03:00:00Z") == replayed(lines, 1, until="2026-11-20T03:00:00Z")


def test_the_sample_with_its_rejects_is_the_same_in_two_processes() -> None:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    one = replayed(lines, 1)
    assert one[1].count(b"\n") == 3  # the sample's three bad lines
    assert replayed(lines, 2) == one


def test_an_escaped_customer_id_reaches_the_shard_that_owns_it() -> None:
    """The cheap look-up reads `c\\u0031` as another customer than `c1`: the line is forwarded."""
    assert shard_of(b"c\\u0031", 2) != shard_of(b"c1", 2)
    lines = [
        json.dumps(_event(0, "c1", "profile", 0)),
        json.dumps(_event(1, "c1", "cart", 60)).replace('"customer_id": "c1"', '"customer_id": "c\\u0031"'),
        json.dumps(_event(2, "c9", "view", 7200)),
    ]
    decisions, _, summary = replayed(lines, 2)
    assert decisions == replayed(lines, 1)[0]
    records = [json.loads(line) for line in decisions.splitlines()]
    assert [(r["trigger"], r["customer_id"], r["outcome"]) for r in records] == [("cart_idle", "c1", "send")]
    assert "customers: 2;" in summary


def test_the_backtest_collects_the_same_outcomes_with_jobs(tmp_path: Path) -> None:
    engine = engine_for()
    events = tmp_path / "e.jsonl"
    events.write_bytes(SAMPLE.read_bytes())
    assert collect(engine, events, None, jobs=2) == collect(engine, events, None, jobs=1)


def _explode(decision: Decision) -> str:
    raise RuntimeError(f"cannot project {decision.trigger}")


def test_a_failing_worker_is_reported_not_waited_for(tmp_path: Path) -> None:
    events = tmp_path / "e.jsonl"
    events.write_bytes(SAMPLE.read_bytes())
    with pytest.raises(ShardFailed, match="cannot project"):
        replay_file(engine_for(), events, _explode, print, None, jobs=2)
