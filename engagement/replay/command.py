"""`engagement replay EVENTS.jsonl`: read, decode, replay, and report decisions, rejects and a summary."""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

from engagement.core.decisions import Decision
from engagement.core.engine import Engine
from engagement.core.kinds.registry import DECIDED_ON_ARRIVAL
from engagement.decode import Rejection, decode_event
from engagement.replay.index import IndexBuilder, ReplayIndex, Rises, snapshot_types
from engagement.replay.output import decision_line, reject_line
from engagement.replay.runner import ReplayCounts, Replayer
from engagement.replay.shards import replay_sharded
from engagement.replay.summary import summary_table

T = TypeVar("T")

PROGRESS_EVERY = 50_000


@dataclass
class ReplayResult:
    """What a replay counted; `replayer` holds the states when it ran in this process."""

    counts: ReplayCounts
    customers: int
    pending_timers: int
    replayer: Replayer | None = None
    index: ReplayIndex | None = None  # asked for: who sent each line, and where the watermark rose


def replay_file(
    engine: Engine,
    events: Path,
    project: Callable[[Decision], T],
    consume: Callable[[T], object],
    rejects_out: IO[str] | None,
    until: float | None = None,
    progress: IO[str] | None = None,
    jobs: int = 1,
    index: bool = False,
) -> ReplayResult:
    """Replay a JSONL file: each decision goes through `project` and then `consume`, in the
    order a single process makes them, also when `jobs` processes share the work. With `index`,
    the result carries the file's `ReplayIndex` (for replaying some customers again)."""
    started = time.monotonic()
    total = events.stat().st_size if progress is not None else 0
    with _few_collections():
        if jobs > 1:
            show = (lambda lines: _show_progress(progress, lines, None, total, started)) if progress else None
            sharded = replay_sharded(engine, events, jobs, project, consume, rejects_out, until, show, index)
            result = ReplayResult(sharded.counts, sharded.customers, sharded.pending_timers, index=sharded.index)
        else:
            builder = IndexBuilder(snapshot_types(engine)) if index else None
            if builder is None:
                replayer = Replayer(engine, lambda decision: consume(project(decision)))
            else:
                replayer = Replayer(engine, lambda decision: _noted(builder, decision, consume(project(decision))))
            _replay_lines(replayer, events, rejects_out, until, progress, started, total, builder)
            if builder is not None:
                builder.line += 1  # what the end of the clock decides comes after the last line
            replayer.finish(until)
            built = None if builder is None else ReplayIndex.of([builder.part], builder.rises or Rises())
            result = ReplayResult(replayer.counts, len(replayer.states), replayer.pending_timers(), replayer, built)
    if progress is not None:
        progress.write("\r" + " " * 72 + "\r")
    return result


def _noted(builder: IndexBuilder, decision: Decision, _: object) -> None:
    builder.decided(decision.customer_id, decision.key)


@contextmanager
def _few_collections() -> Iterator[None]:
    """Customer states hold no reference cycles, so the cyclic collector has nothing to find in them;
    scanning millions of young objects over and over costs a fifth of the replay. Collect rarely."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(200_000, 50, 1_000)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _replay_lines(
    replayer: Replayer,
    events: Path,
    rejects_out: IO[str] | None,
    until: float | None,
    progress: IO[str] | None,
    started: float,
    total: int,
    index: IndexBuilder | None = None,
) -> None:
    counts, feed = replayer.counts, replayer.feed
    note = None if index is None else index.note
    states = replayer.states
    catalogue = replayer.engine.event_catalogue  # the event types this configuration declares
    lines = accepted = 0  # kept in locals while the loop runs: an attribute write per event costs
    with events.open("rb") as handle:
        read = 0
        for line_no, raw in enumerate(handle, 1):
            if progress is not None:
                read += len(raw)
            if not raw.strip():
                continue
            lines += 1
            item = decode_event(raw, catalogue)
            if isinstance(item, Rejection):
                counts.rejected += 1
                if rejects_out is not None:
                    rejects_out.write(reject_line(line_no, item.field, item.reason, raw))
                continue
            t = item.occurred_at.timestamp()
            if until is not None and t > until:
                counts.after_until += 1
                continue
            accepted += 1
            if note is not None:
                note(line_no, item.customer_id, item.type, t, item.type in DECIDED_ON_ARRIVAL, states)
            feed(item, t)
            if progress is not None and lines % PROGRESS_EVERY == 0:
                _show_progress(progress, lines, read, total, started)
    counts.lines += lines
    counts.accepted += accepted


def _show_progress(out: IO[str], lines: int, read: int | None, total: int, started: float) -> None:
    elapsed = max(time.monotonic() - started, 1e-9)
    share = f" {100 * read / total:5.1f}%" if total and read is not None else ""
    out.write(f"\rreplaying:{share} {lines:,} events, {lines / elapsed:,.0f} events/s")
    out.flush()


def run_replay(
    engine: Engine,
    events: Path,
    decisions: Path | None,
    rejects: Path | None,
    until: float | None,
    jobs: int = 1,
) -> int:
    with ExitStack() as stack:
        decisions_out: IO[str] = stack.enter_context(decisions.open("w", encoding="utf-8")) if decisions else sys.stdout
        rejects_out = stack.enter_context(rejects.open("w", encoding="utf-8")) if rejects else None
        progress = sys.stderr if sys.stderr.isatty() else None
        result = replay_file(engine, events, decision_line, decisions_out.write, rejects_out, until, progress, jobs)
    for line in summary_table(result, engine.config_version):
        print(line, file=sys.stderr if decisions is None else sys.stdout)
    return 0


def iter_decisions(engine: Engine, lines: Iterator[bytes]) -> list[Decision]:
    """Replay in memory (for tests and tools): the decisions, in the order they were made."""
    out: list[Decision] = []
    replayer = Replayer(engine, out.append)
    for raw in lines:
        item = decode_event(raw, engine.event_catalogue)
        if not isinstance(item, Rejection):
            replayer.feed(item)
    replayer.finish()
    return out
