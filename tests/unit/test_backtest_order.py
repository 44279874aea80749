"""A backtest prints the same bytes from one run to the next: moves of equal count are ordered by
their text, whatever order Python's hash seed iterates the decisions in."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from engagement.authoring.backtest import ranked

ROOT = Path(__file__).resolve().parents[2]


def test_equal_counts_are_ordered_by_their_text() -> None:
    one = Counter({("send", "none"): 2, ("suppress:quiet_hours", "none"): 1, ("cancel:converted", "none"): 1})
    other = Counter({("cancel:converted", "none"): 1, ("suppress:quiet_hours", "none"): 1, ("send", "none"): 2})
    assert ranked(one) == ranked(other)
    assert [move for move, _ in ranked(one)] == [
        ("send", "none"),
        ("cancel:converted", "none"),
        ("suppress:quiet_hours", "none"),
    ]


def test_two_runs_under_different_hash_seeds_print_the_same_backtest(tmp_path: Path) -> None:
    """The cart reminder switched off: each of its decisions on the sample moves to none, one each."""
    triggers = tmp_path / "triggers"
    shutil.copytree(ROOT / "triggers", triggers)
    cart = triggers / "cart_idle.yaml"
    cart.write_text(cart.read_text(encoding="utf-8").replace("enabled: true", "enabled: false"), encoding="utf-8")
    assert "enabled: false" in cart.read_text(encoding="utf-8")
    printed = []
    for seed in ("1", "2", "3"):
        sample, messages = str(ROOT / "engagement/samples/events.jsonl"), str(ROOT / "messages")
        command = [sys.executable, "-m", "engagement", "replay", sample, "--triggers", str(triggers),
                   "--messages", messages, "--baseline", str(ROOT / "triggers"), "--baseline-messages", messages,
                   "--jobs", "1"]  # fmt: skip
        done = subprocess.run(  # noqa: S603 (the project's own command)
            command, capture_output=True, env={**os.environ, "PYTHONHASHSEED": seed}, timeout=120, check=True
        )
        printed.append(done.stdout)
    assert printed[0] == printed[1] == printed[2]
    text = printed[0].decode()
    rows = [line for line in text.splitlines() if line.startswith("  ") and "-> none" in line]
    assert len(rows) >= 3  # equal counts, which the hash seed used to shuffle
    assert rows == sorted(rows, key=lambda row: (-int(row.split()[3].replace(",", "")), row.split()[0]))
