"""Some customers of a file replayed again, each exactly as the whole file's replay decided them.

A customer's decisions depend on their own events and on the watermark alone (see
`engagement.replay.runner`); the `ReplayIndex` of an earlier replay of the same file says which
lines are whose and where the watermark rose, so only the chosen customers' lines are read
and decoded, and the watermark rises at the same lines to the same times. Each customer's
decisions come out in the order the whole replay made them; customers split over processes
come back one process after the other (a backtest keys them by customer, so it needs no more).
"""

from __future__ import annotations

import multiprocessing
import queue
import traceback
from bisect import bisect_left
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from engagement.core.decisions import Decision
from engagement.core.engine import Engine
from engagement.core.kinds.registry import DECIDED_ON_ARRIVAL
from engagement.decode import Rejection, decode_event
from engagement.events import Event
from engagement.replay.index import ReplayIndex
from engagement.replay.runner import Replayer
from engagement.replay.shards import ShardFailed
from engagement.state_codec import load_state

T = TypeVar("T")

PROGRESS_EVERY = 16_384  # chosen lines between two progress reports
KEEP_IN_USE = 50_000  # states in use before idle ones are set aside (about 1.2 KB each: up to ~60 MB)
WAIT = 1.0  # seconds between checks that the worker processes are alive


class IndexMismatch(RuntimeError):
    """The file no longer matches the index it was replayed with (it changed since)."""


def replay_customers(
    engine: Engine,
    events: Path,
    index: ReplayIndex,
    chosen: bytearray,
    until: float | None,
    sink: Callable[[Decision], object],
    progress: Callable[[int], object] | None = None,
    starts: Mapping[int, tuple[int, bytes]] | None = None,
) -> int:
    """Replay the customers whose number is flagged in `chosen`; returns how many lines were
    replayed. `starts` (customer number -> line, state before it; see `ReplayIndex.start_of`):
    a customer's replay starts at that line from that state (their timers then counted as armed
    under `engine`), and their lines before it are not read."""
    starts = starts or {}
    replayer = Replayer(engine, sink, keep_up_to=KEEP_IN_USE)
    owner, customers = index.customer_of_line, index.customers
    rise_lines, rise_times = index.rises.lines, index.rises.times
    catalogue = engine.event_catalogue
    i, n, last, done = 0, len(rise_lines), len(owner) - 1, 0
    with events.open("rb") as handle:
        for line, raw in enumerate(handle, 1):
            if line > last:
                break
            number = owner[line]
            if number < 0 or not chosen[number]:
                continue
            start = starts.get(number)
            if start is not None and line < start[0]:
                continue  # before their first event the change can reach: decided as the whole replay did
            end = bisect_left(rise_lines, line, i)  # the rises of the lines before this one
            if end > i:
                replayer.raise_through(rise_times, i, end)
                i = end
            if i < n and rise_lines[i] == line:
                i += 1  # this event's own rise, made below as the whole replay made it
            if start is not None and line == start[0] and start[1]:
                _adopt(replayer, engine, customers[number], start[1], line)
            item = decode_event(raw, catalogue)
            if isinstance(item, Rejection) or item.customer_id != customers[number]:
                raise IndexMismatch(f"line {line} is not the event the index names: has the file changed?")
            _take(replayer, item, line)
            done += 1
            if progress is not None and done % PROGRESS_EVERY == 0:
                progress(done)
    replayer.raise_through(rise_times, i, n)
    replayer.finish(until)
    return done


def _take(replayer: Replayer, event: Event, line: int) -> None:
    """One event at its line, as the whole replay took it (a login after its rise, others before)."""
    t = event.occurred_at.timestamp()
    if t > replayer.max_seen and event.type in DECIDED_ON_ARRIVAL:
        replayer.raise_to(t)
    replayer.take(event, t, line)
    if t > replayer.max_seen:
        replayer.raise_to(t)


def _adopt(replayer: Replayer, engine: Engine, customer_id: str, blob: bytes, line: int) -> None:
    """The customer's state as the whole replay had it before `line`, its timers armed under `engine`
    (the timers of triggers the change does not touch, the same under either configuration)."""
    state = load_state(blob)
    for timer in state.timers or ():
        timer.version = engine.config_version
    replayer.adopt(customer_id, state, line)


def replay_customers_split(
    engine: Engine,
    events: Path,
    index: ReplayIndex,
    chosen: bytearray,
    until: float | None,
    project: Callable[[Decision], T],
    jobs: int,
    progress: Callable[[int], object] | None = None,
    starts: Mapping[int, tuple[int, bytes]] | None = None,
) -> list[T]:
    """`replay_customers` over `jobs` processes (customers dealt out by number); the projections
    of each process's decisions, one process after the other. `progress` gets the chosen lines
    replayed so far, over all processes."""
    if jobs <= 1:
        made: list[T] = []
        replay_customers(engine, events, index, chosen, until, lambda d: made.append(project(d)), progress, starts)
        return made
    context = multiprocessing.get_context("fork")
    outbox: Any = context.Queue()
    workers = []
    for k in range(jobs):
        mine = bytearray(len(chosen))
        mine[k::jobs] = chosen[k::jobs]
        worker = context.Process(
            target=_work, args=(k, engine, events, index, mine, until, project, outbox, starts), daemon=True,
            name=f"engagement-replay-{k}",
        )  # fmt: skip
        worker.start()
        workers.append(worker)
    try:
        return _gather(workers, outbox, progress)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join()


def _work(
    k: int,
    engine: Engine,
    events: Path,
    index: ReplayIndex,
    chosen: bytearray,
    until: float | None,
    project: Callable[[Decision], Any],
    outbox: Any,
    starts: Mapping[int, tuple[int, bytes]] | None,
) -> None:
    try:
        made: list[Any] = []
        replay_customers(
            engine, events, index, chosen, until, lambda d: made.append(project(d)),
            lambda _done: outbox.put((k, "progress", PROGRESS_EVERY)), starts,
        )  # fmt: skip
        outbox.put((k, "made", made))
    except BaseException:  # the parent reports it; a worker never hangs it
        outbox.put((k, "error", traceback.format_exc()))


def _gather(workers: list[Any], outbox: Any, progress: Callable[[int], object] | None) -> list[Any]:
    parts: dict[int, list[Any]] = {}
    done = 0
    while len(parts) < len(workers):
        try:
            k, kind, payload = outbox.get(timeout=WAIT)
        except queue.Empty:
            for k, worker in enumerate(workers):
                if k not in parts and not worker.is_alive():
                    raise ShardFailed(f"replay worker {k} exited with code {worker.exitcode}") from None
            continue
        if kind == "error":
            raise ShardFailed(f"replay worker {k} failed:\n{payload}")
        if kind == "progress":
            done += payload
            if progress is not None:
                progress(done)
        else:
            parts[k] = payload
    return [item for k in sorted(parts) for item in parts[k]]
