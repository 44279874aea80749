"""Replay benchmark: events/s, the cost relative to bare `json.loads`, peak RSS, state bytes per customer.

Usage: python -m tests.benchmarks.bench_replay [EVENTS.jsonl] [--customers N] [--repeat N]
Without a file it generates a synthetic shop day first (see shop_day.py). Each round times
`json.loads` and then the replay back to back, so that a ratio compares runs made under the
same load of a shared machine; the best round and every round's figures are printed.
Targets: >= 100,000 events/s on one core including decoding and validation; replay at most 4x the
time of json.loads-ing every line; under 1 KiB of state per active customer.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from engagement.cli import build_engine
from engagement.core.decisions import Decision
from engagement.replay.command import replay_file
from engagement.replay.output import decision_line
from engagement.replay.runner import Replayer
from engagement.settings import Settings
from tests.benchmarks.shop_day import generate


def json_loads_seconds(path: Path) -> float:
    started = time.perf_counter()
    with path.open("rb") as handle:
        for line in handle:
            json.loads(line)
    return time.perf_counter() - started


def lines_into(buffer: io.StringIO) -> Callable[[Decision], object]:
    """The replay's sink: each decision written as its JSON line, as `engagement replay` does."""
    return lambda decision: buffer.write(decision_line(decision))


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("events", type=Path, nargs="?")
    parser.add_argument("--customers", type=int, default=110_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of json.loads + replay")
    args = parser.parse_args()
    path = args.events
    if path is None:
        path = Path(tempfile.gettempdir()) / f"engagement-shop-day-{args.customers}.jsonl"
        if not path.exists():
            print(f"generating {path} ...", flush=True)
            generate(path, args.customers, seed=7)
    lines = sum(1 for _ in path.open("rb"))
    engine = build_engine(None, None, Settings())
    rounds: list[tuple[float, float]] = []
    replayer: Replayer | None = None
    for _ in range(max(1, args.repeat)):
        baseline = json_loads_seconds(path)
        replayer = None  # the previous round's states go before this round's (peak RSS is one replay's)
        gc.collect()
        started = time.perf_counter()
        replayer = replay_file(engine, path, lines_into(io.StringIO()), None)
        rounds.append((time.perf_counter() - started, baseline))
    assert replayer is not None
    elapsed, baseline = min(rounds)
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    seen: set[int] = set()
    states = replayer.states
    state_bytes = sum(deep_size(state, seen) for state in states.values())
    decisions = sum(replayer.counts.outcomes.values())

    print(f"file: {path} ({lines:,} events, {path.stat().st_size / 2**20:,.0f} MiB)")
    for n, (took, loads) in enumerate(rounds, 1):
        rate = lines / took
        print(f"round {n}: replay {took:.2f} s ({rate:,.0f} events/s), json.loads {loads:.2f} s, {took / loads:.2f}x")
    print(f"replay: {elapsed:.2f} s, {lines / elapsed:,.0f} events/s (target >= 100,000)")
    print(f"json.loads alone: {baseline:.2f} s; replay / json.loads = {elapsed / baseline:.2f}x (target <= 4x)")
    print(f"decisions: {decisions:,}; customers with state: {len(states):,}")
    print(f"state: {state_bytes / len(states):,.0f} bytes per active customer (target < 1024)")
    print(f"peak RSS: {peak_rss_mib:,.0f} MiB")
    for (trigger, outcome, reason), n in sorted(replayer.counts.outcomes.items()):
        print(f"  {trigger:20s} {outcome:9s} {reason:18s} {n:8,d}")


if __name__ == "__main__":
    main()
