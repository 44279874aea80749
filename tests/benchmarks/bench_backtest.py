"""Backtest benchmark: a one-trigger edit (the cart reminder after 50 minutes instead of 60)
backtested on a shop day, against the plain replay of the same file, side by side in each round.

Usage: python -m tests.benchmarks.bench_backtest [EVENTS.jsonl] [--customers N] [--repeat N] [--jobs N]
Without a file it generates a synthetic shop day first (see shop_day.py; 65,000 customers make
about a million events). Each round times `json.loads` of every line, `engagement replay` (the
default jobs, decisions written), a Bytewax dataflow doing only cart and browse on the file
(bytewax_cart_browse.py; the faster of one and two workers; only where `bytewax` is installed),
the backtest with no baseline kept, and the same backtest again with the baseline kept; every
round and the medians are printed.
Targets: the replay at most 2.5x json.loads and 1.0x the Bytewax dataflow; the backtest at most
1.0x the plain replay; again, with the baseline kept, at most 0.5x.
"""

from __future__ import annotations

import importlib.util
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from engagement.authoring.backtest import backtest, report, scope_line
from engagement.authoring.baselines import BaselineCache
from engagement.cli import build_engine
from engagement.core.engine import Engine
from engagement.replay.command import replay_file
from engagement.replay.output import decision_line
from engagement.settings import Settings
from tests.benchmarks.bench_replay import json_loads_seconds
from tests.benchmarks.shop_day import day_arguments

ROOT = Path(__file__).resolve().parents[2]


def edited_triggers(into: Path) -> Path:
    """The shipped triggers with the cart reminder after 50 minutes."""
    into.mkdir()
    for source in (ROOT / "triggers").glob("*.yaml"):
        text = source.read_text(encoding="utf-8")
        if source.name == "cart_idle.yaml":
            assert "\nidle: 60m " in text
            text = text.replace("\nidle: 60m ", "\nidle: 50m ")
        (into / source.name).write_text(text, encoding="utf-8")
    return into


def plain_replay_seconds(engine: Engine, path: Path, jobs: int) -> float:
    sink = io.StringIO()
    started = time.perf_counter()
    replay_file(engine, path, decision_line, sink.write, None, jobs=jobs)
    return time.perf_counter() - started


def bytewax_seconds(path: Path) -> float | None:
    """The faster of one and two Bytewax workers on the file; None where Bytewax is not installed."""
    if importlib.util.find_spec("bytewax") is None:
        return None
    best = float("inf")
    for workers in ("1", "2"):
        command = [sys.executable, "-m", "bytewax.run", "tests.benchmarks.bytewax_cart_browse:flow", "-w", workers]
        started = time.perf_counter()
        subprocess.run(command, env={**os.environ, "EVENTS": str(path)}, check=True, cwd=ROOT)  # noqa: S603
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    args, path = day_arguments(__doc__.splitlines()[0] if __doc__ else "", "rounds")
    lines = sum(1 for _ in path.open("rb"))
    settings = Settings()
    live = build_engine(None, None, settings)
    rounds: list[tuple[float, float, float, float, float | None]] = []
    printed: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        edit = build_engine(edited_triggers(Path(tmp) / "triggers"), None, settings)
        for n in range(max(1, args.repeat)):
            loads = json_loads_seconds(path)
            plain = plain_replay_seconds(live, path, args.jobs)
            dataflow = bytewax_seconds(path)
            cache = BaselineCache(Path(tmp) / f"baselines-{n}")
            started = time.perf_counter()
            first = backtest(live, edit, path, None, args.jobs, None, cache)
            fresh = time.perf_counter() - started
            started = time.perf_counter()
            again = backtest(live, edit, path, None, args.jobs, None, cache)
            kept = time.perf_counter() - started
            assert again.baseline_kept, "the second backtest must find the baseline kept"
            printed.add("\n".join(report(first)))
            printed.add("\n".join(report(again)))
            rounds.append((loads, plain, fresh, kept, dataflow))
            versus = "" if dataflow is None else f"; Bytewax {dataflow:.2f} s (replay {plain / dataflow:.2f}x)"
            print(
                f"round {n + 1}: json.loads {loads:.2f} s; replay {plain:.2f} s ({plain / loads:.2f}x json.loads)"
                f"{versus}; "
                f"backtest {fresh:.2f} s ({fresh / plain:.2f}x replay); again, baseline kept {kept:.2f} s "
                f"({kept / plain:.2f}x replay)",
                flush=True,
            )
    assert len(printed) == 1, "every backtest of the same edit must print the same report"
    loads_m = statistics.median(r[1] / r[0] for r in rounds)
    fresh_m = statistics.median(r[2] / r[1] for r in rounds)
    kept_m = statistics.median(r[3] / r[1] for r in rounds)
    print(f"file: {path} ({lines:,} events); --jobs {args.jobs}; {len(rounds)} rounds, medians:")
    print(f"  replay / json.loads:                        {loads_m:.2f}x (target <= 2.5x)")
    print(f"  backtest of a one-trigger edit / replay:    {fresh_m:.2f}x (target <= 1.0x)")
    print(f"  the same backtest, baseline kept / replay:  {kept_m:.2f}x (target <= 0.5x)")
    if rounds[0][4] is None:
        print("  replay / a Bytewax dataflow doing cart and browse: not measured (pip install bytewax)")
    else:
        bytewax_m = statistics.median(r[1] / (r[4] or 1.0) for r in rounds)
        print(f"  replay / a Bytewax dataflow doing cart and browse: {bytewax_m:.2f}x (target <= 1.0x)")
    print(f"  {scope_line(again)}")


if __name__ == "__main__":
    main()
