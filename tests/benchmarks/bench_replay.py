"""Replay benchmark: events/s, the cost relative to bare `json.loads`, peak RSS, state bytes per customer.

Usage: python -m tests.benchmarks.bench_replay [EVENTS.jsonl] [--customers N] [--repeat N] [--jobs N]
Without a file it generates a synthetic shop day first (see shop_day.py; 65,000 customers make
about a million events). Each round times `json.loads` of every line, the replay with the
default jobs (one process per CPU) and with `--jobs 1`, back to back, so that the ratios compare
runs made under the same load of a shared machine; every round, the best and the medians are printed.
Targets: the default jobs at most 2.5x the time of json.loads, `--jobs 1` at most 4.5x; under
1 KiB of memory per active customer in each process (each `engagement replay` run in a process
of its own for that figure, its peak RSS less that of a replay of an empty file).
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from engagement.cli import build_engine
from engagement.core.engine import Engine
from engagement.replay.command import ReplayResult, replay_file
from engagement.replay.output import decision_line
from engagement.settings import Settings
from tests.benchmarks.shop_day import day_arguments


def json_loads_seconds(path: Path) -> float:
    started = time.perf_counter()
    with path.open("rb") as handle:
        for line in handle:
            json.loads(line)
    return time.perf_counter() - started


def deep_size(obj: object, seen: set[int]) -> int:
    """Bytes reachable from `obj` and not already counted (shared interned strings count once)."""
    stack = [obj]
    total = 0
    while stack:
        item = stack.pop()
        if id(item) in seen or item is None or isinstance(item, bool):
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        elif hasattr(item, "__slots__"):
            stack.extend(getattr(item, s) for s in item.__slots__ if hasattr(item, s))
    return total


def timed_replay(engine: Engine, path: Path, jobs: int) -> tuple[float, ReplayResult]:
    """One replay as `engagement replay --decisions /dev/null` makes it: every decision line written."""
    gc.collect()
    with open(os.devnull, "w", encoding="utf-8") as sink:
        started = time.perf_counter()
        result = replay_file(engine, path, decision_line, sink.write, None, jobs=jobs)
        return time.perf_counter() - started, result


def peak_mib(events: Path, jobs: int) -> float:
    """Peak resident memory of `engagement replay --jobs N` run in a process of its own (the
    largest of its processes when it has workers), in MiB, sampled every 20 ms from /proc."""
    command = [sys.executable, "-m", "engagement", "replay", str(events), "--decisions", os.devnull]
    proc = subprocess.Popen([*command, "--jobs", str(jobs)], stdout=subprocess.DEVNULL)  # noqa: S603
    peak = 0
    while proc.poll() is None:
        for pid in [proc.pid, *_children(proc.pid)]:
            peak = max(peak, _resident_kib(pid))
        time.sleep(0.02)
    if proc.returncode != 0:
        raise SystemExit(f"engagement replay --jobs {jobs} exited with {proc.returncode}")
    return peak / 1024


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _resident_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def memory_lines(path: Path, jobs: int, customers: int) -> list[str]:
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as empty:
        idle = peak_mib(Path(empty.name), 1)  # the interpreter, the engine and the configuration
    lines = []
    for n in sorted({1, jobs}):
        peak = peak_mib(path, n)
        per_process = (peak - idle) * 2**20 / (customers / n)
        lines.append(
            f"memory, --jobs {n}: peak {peak:,.0f} MiB in the largest process ({idle:,.0f} MiB of it before any "
            f"event): {per_process:,.0f} bytes per active customer that process keeps; "
            f"{(peak - idle) * 2**20 / customers:,.0f} bytes per active customer of the whole replay (target < 1024)"
        )
    return lines


def main() -> None:
    args, path = day_arguments(__doc__.splitlines()[0] if __doc__ else "", "rounds of json.loads + replay")
    lines = sum(1 for _ in path.open("rb"))
    engine = build_engine(None, None, Settings())
    rounds: list[tuple[float, float, float]] = []
    sharded: ReplayResult | None = None
    for _ in range(max(1, args.repeat)):
        baseline = json_loads_seconds(path)
        took, sharded = timed_replay(engine, path, args.jobs)
        single, _ = timed_replay(engine, path, 1)
        rounds.append((took, single, baseline))
    _, alone = timed_replay(engine, path, 1)  # once more, for its states
    assert sharded is not None
    assert alone.replayer is not None

    seen: set[int] = set()
    states = alone.replayer.states
    state_bytes = sum(deep_size(state, seen) for state in states.values())
    decisions = sum(alone.counts.outcomes.values())
    customers = len(states)
    took, _, jobs_baseline = min(rounds, key=lambda r: r[0] / r[2])
    _, single, single_baseline = min(rounds, key=lambda r: r[1] / r[2])

    print(f"file: {path} ({lines:,} events, {path.stat().st_size / 2**20:,.0f} MiB)")
    for n, (t_jobs, t_one, loads) in enumerate(rounds, 1):
        print(
            f"round {n}: json.loads {loads:.2f} s; --jobs {args.jobs} {t_jobs:.2f} s ({t_jobs / loads:.2f}x); "
            f"--jobs 1 {t_one:.2f} s ({t_one / loads:.2f}x)"
        )
    print(
        f"replay --jobs {args.jobs}, best round: {took:.2f} s, {lines / took:,.0f} events/s, "
        f"{took / jobs_baseline:.2f}x json.loads of that round (target <= 2.5x)"
    )
    print(
        f"replay --jobs 1, best round: {single:.2f} s, {lines / single:,.0f} events/s, "
        f"{single / single_baseline:.2f}x json.loads of that round (target <= 4.5x)"
    )
    jobs_median = statistics.median(t_jobs / loads for t_jobs, _, loads in rounds)
    one_median = statistics.median(t_one / loads for _, t_one, loads in rounds)
    print(
        f"medians of {len(rounds)} rounds: --jobs {args.jobs} {jobs_median:.2f}x json.loads (target <= 2.5x); "
        f"--jobs 1 {one_median:.2f}x (target <= 4.5x)"
    )
    print(f"decisions: {decisions:,}; customers with state: {customers:,}")
    print(f"state: {state_bytes / customers:,.0f} bytes per active customer as kept at the end (idle ones as bytes)")
    for line in memory_lines(path, args.jobs, customers):
        print(line)
    assert sharded.counts.outcomes == alone.counts.outcomes, "the sharded replay decided differently"
    for (trigger, outcome, reason), n in sorted(alone.counts.outcomes.items()):
        print(f"  {trigger:20s} {outcome:9s} {reason:18s} {n:8,d}")


if __name__ == "__main__":
    main()
