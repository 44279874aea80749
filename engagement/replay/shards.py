"""`engagement replay --jobs N`: one replay split by customer over N processes, merged back in order.

Customers meet only through the watermark (the largest event time read so far, minus the
allowed lateness). Each worker process reads the whole file, decodes the lines of its own
customers (by a hash of `customer_id`) and keeps their states; the coordinator (this process)
tells every worker, block by block, at which lines the watermark rises and to what, so that
each worker decides what is due at the same lines as a single process would. Every decision
carries its place in the single-process order (the line, the step of that line, and the
wake-up that made it: see `engagement.replay.runner`), and the coordinator merges the workers'
decisions, rejects and counts on it: the output is byte for byte what `--jobs 1` writes.

Per block, a worker sends the rises its own lines could make (a superset of the real ones),
the coordinator keeps the real ones and sends them back; a worker decodes the next block
while the coordinator does this. A line whose cheap `customer_id` look-up disagrees with the
decoded event (escapes, a repeated key) is forwarded to its real owner.
"""

from __future__ import annotations

import heapq
import itertools
import multiprocessing
import os
import queue
import re
import traceback
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

from engagement.core.decisions import Decision
from engagement.core.engine import Engine
from engagement.core.kinds.registry import DECIDED_ON_ARRIVAL
from engagement.decode import Rejection, decode_event
from engagement.events import Event
from engagement.replay.index import IndexBuilder, IndexPart, ReplayIndex, Rises, snapshot_types
from engagement.replay.output import reject_line
from engagement.replay.runner import ReplayCounts, Replayer

T = TypeVar("T")

BLOCK_LINES = 2_048  # every worker reads, decodes and holds a block: small blocks keep that memory small
WORKER_TIMEOUT = 1.0  # seconds between checks that the workers are still alive
_CUSTOMER_ID = re.compile(rb'"customer_id"\s*:\s*"([^"\\]*)"')

Key = tuple[int, int, float, int, int | str, int]  # line, step, wake-up time, wake-up kind, tie, sequence


class ShardFailed(RuntimeError):
    """A worker process failed; the message carries its error."""


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def shard_of(customer_id: bytes, jobs: int) -> int:
    return zlib.crc32(customer_id) % jobs


@dataclass
class Candidates:
    """Lines of one block that may raise the watermark, with their event times and login flags."""

    lines: array[int] = field(default_factory=lambda: array("q"))
    times: array[float] = field(default_factory=lambda: array("d"))
    logins: bytearray = field(default_factory=bytearray)
    forward: list[tuple[int, int, bytes]] = field(default_factory=list)  # (shard, line, raw)


@dataclass
class BlockRises(Rises):
    forwarded: list[tuple[int, bytes]] = field(default_factory=list)


@dataclass
class Finished:
    counts: ReplayCounts
    customers: int
    pending_timers: int
    index: IndexPart | None


@dataclass
class ShardedResult:
    counts: ReplayCounts
    customers: int
    pending_timers: int
    index: ReplayIndex | None = None


Own = list[tuple[int, Event, float]]  # (line, event, epoch seconds), in line order


class _Shard(Generic[T]):
    """One worker's part: its customers' states and the decisions they make, keyed for the merge."""

    def __init__(
        self,
        index: int,
        jobs: int,
        engine: Engine,
        until: float | None,
        project: Callable[[Decision], T],
        indexing: bool = False,
    ):
        self.index, self.jobs, self.until = index, jobs, until
        self.builder = IndexBuilder(snapshot_types(engine), rises=False) if indexing else None
        self.project = project
        self.replayer = Replayer(engine, self._keep)
        self.step: tuple[int, int] = (0, 0)
        self.sequence = itertools.count()
        self.made: list[tuple[Key, T]] = []
        self.rejects: list[tuple[int, str]] = []

    def _keep(self, decision: Decision) -> None:
        when, kind, tie = self.replayer.position
        line, step = self.step
        if self.builder is not None:
            self.builder.decided(decision.customer_id, decision.key, line)
        self.made.append(((line, step, when, kind, tie, next(self.sequence)), self.project(decision)))

    def decode_block(self, base: int, raws: list[bytes]) -> tuple[Own, Candidates]:
        """Decode this shard's lines of a block; every accepted event's time is a candidate rise."""
        own: Own = []
        found = Candidates()
        counts, jobs, index, until = self.replayer.counts, self.jobs, self.index, self.until
        search = _CUSTOMER_ID.search
        top = float("-inf")
        for line, raw in enumerate(raws, base):
            match = search(raw)
            owner = shard_of(match.group(1), jobs) if match is not None else line % jobs
            if owner != index or not raw.strip():
                continue
            counts.lines += 1
            item = decode_event(raw, self.replayer.engine.event_catalogue)
            if isinstance(item, Rejection):
                counts.rejected += 1
                self.rejects.append((line, reject_line(line, item.field, item.reason, raw)))
                continue
            t = item.occurred_at.timestamp()
            real = shard_of(item.customer_id.encode(), jobs)
            if real != index:
                found.forward.append((real, line, raw))
            elif until is not None and t > until:
                counts.after_until += 1
                continue
            else:
                own.append((line, item, t))
            if (until is None or t <= until) and t > top:
                top = t
                found.lines.append(line)
                found.times.append(t)
                found.logins.append(item.type in DECIDED_ON_ARRIVAL)
        return own, found

    def feed_block(self, own: Own, rises: BlockRises) -> None:
        """Replay the block: this shard's events, and every rise of the watermark at its line."""
        if rises.forwarded:
            own = sorted(own + self._forwarded(rises.forwarded), key=itemgetter(0))
        replayer, counts = self.replayer, self.replayer.counts
        lines, times, logins = rises.lines, rises.times, rises.logins
        note = None if self.builder is None else self.builder.note
        i, n = 0, len(lines)
        states = replayer.states

        def rise_at(k: int) -> None:  # where the decisions of a rise go in the single-process order
            self.step = (lines[k], 0 if logins[k] else 2)

        for line, event, t in own:
            end = bisect_left(lines, line, i)  # the rises of the lines before this one
            if end > i:
                replayer.raise_through(times, i, end, rise_at)
                i = end
            if i < n and lines[i] == line:
                i += 1  # this event's own rise, made below as a single process makes it
            if note is not None:
                note(line, event.customer_id, event.type, t, False, states)
            counts.accepted += 1
            if t > replayer.max_seen and event.type in DECIDED_ON_ARRIVAL:
                self.step = (line, 0)
                replayer.raise_to(t)
            self.step = (line, 1)
            replayer.take(event, t, line)
            if t > replayer.max_seen:
                self.step = (line, 2)
                replayer.raise_to(t)
        replayer.raise_through(times, i, n, rise_at)

    def _forwarded(self, forwarded: list[tuple[int, bytes]]) -> Own:
        extra: Own = []
        for line, raw in forwarded:
            item = decode_event(raw, self.replayer.engine.event_catalogue)
            if isinstance(item, Rejection):  # it decoded in the shard that forwarded it
                raise ShardFailed(f"line {line} decoded in one shard and not in another: {item}")
            t = item.occurred_at.timestamp()
            if self.until is not None and t > self.until:
                self.replayer.counts.after_until += 1
            else:
                extra.append((line, item, t))
        return extra

    def finish(self, last_line: int) -> None:
        self.step = (last_line + 1, 0)
        self.replayer.finish(self.until)

    def take_output(self) -> tuple[list[tuple[Key, T]], list[tuple[int, str]]]:
        made, rejects = self.made, self.rejects
        self.made, self.rejects = [], []
        return made, rejects


def _blocks(path: Path) -> Iterator[tuple[int, list[bytes]]]:
    with path.open("rb") as handle:
        base = 1
        while True:
            raws = list(itertools.islice(handle, BLOCK_LINES))
            if not raws:
                return
            yield base, raws
            base += len(raws)


def _work(shard: _Shard[Any], path: Path, inbox: Any, outbox: Any) -> None:
    """A worker: decode a block ahead, then replay the previous one with the rises it is sent."""
    try:
        blocks = _blocks(path)
        last_line = 0
        ahead: tuple[int, list[bytes]] | None = next(blocks, None)
        waiting: Own | None = None
        while True:
            if ahead is not None:
                base, raws = ahead
                last_line = base + len(raws) - 1
                own, found = shard.decode_block(base, raws)
                outbox.put(("candidates", found))
                ahead = next(blocks, None)
            else:
                own = None
                outbox.put(("end", None))
            if waiting is not None:
                rises = inbox.get()
                shard.feed_block(waiting, rises)
                outbox.put(("made", shard.take_output()))
            if own is None:
                break
            waiting = own
        shard.finish(last_line)
        made, rejects = shard.take_output()
        replayer = shard.replayer
        outbox.put(("made", (made, rejects)))
        part = None if shard.builder is None else shard.builder.part
        outbox.put(("finished", Finished(replayer.counts, len(replayer.states), replayer.pending_timers(), part)))
    except BaseException:  # the coordinator reports it; a worker never hangs it
        outbox.put(("error", traceback.format_exc()))


class _Coordinator(Generic[T]):
    def __init__(
        self,
        jobs: int,
        workers: Sequence[multiprocessing.process.BaseProcess],
        inboxes: list[Any],
        outboxes: list[Any],
    ):
        self.jobs, self.workers, self.inboxes, self.outboxes = jobs, workers, inboxes, outboxes
        self.top = float("-inf")
        self.all_rises = Rises()  # every block's, for the index

    def receive(self, k: int, expected: str) -> Any:
        while True:
            try:
                kind, payload = self.outboxes[k].get(timeout=WORKER_TIMEOUT)
            except queue.Empty:
                if not self.workers[k].is_alive():
                    raise ShardFailed(f"replay worker {k} exited with code {self.workers[k].exitcode}") from None
                continue
            if kind == "error":
                raise ShardFailed(f"replay worker {k} failed:\n{payload}")
            if kind != expected and not (expected == "candidates" and kind == "end"):
                raise ShardFailed(f"replay worker {k} sent {kind!r} where {expected!r} was due")
            return kind, payload

    def rises(self, found: list[Candidates]) -> list[BlockRises]:
        """The real rises of one block, from every shard's candidates, and the forwarded lines."""
        lines, times, logins = array("q"), array("d"), bytearray()
        top = self.top
        for line, t, login in heapq.merge(*(zip(f.lines, f.times, f.logins, strict=True) for f in found)):
            if t > top:
                top = t
                lines.append(line)
                times.append(t)
                logins.append(login)
        self.top = top
        self.all_rises.extend(Rises(lines, times, logins))
        forwarded: list[list[tuple[int, bytes]]] = [[] for _ in range(self.jobs)]
        for f in found:
            for shard, line, raw in f.forward:
                forwarded[shard].append((line, raw))
        return [BlockRises(lines, times, logins, sorted(forwarded[k])) for k in range(self.jobs)]


def replay_sharded(
    engine: Engine,
    events: Path,
    jobs: int,
    project: Callable[[Decision], T],
    consume: Callable[[T], object],
    rejects_out: IO[str] | None,
    until: float | None = None,
    progress: Callable[[int], object] | None = None,
    index: bool = False,
) -> ShardedResult:
    """Replay `events` over `jobs` worker processes; `project` runs in the workers on each
    decision, `consume` here on each projection, in the order of a single-process replay."""
    context = multiprocessing.get_context("fork")
    inboxes = [context.Queue() for _ in range(jobs)]
    outboxes = [context.Queue() for _ in range(jobs)]
    workers = [
        context.Process(
            target=_work,
            args=(_Shard(k, jobs, engine, until, project, index), events, inboxes[k], outboxes[k]),
            name=f"engagement-replay-{k}",
            daemon=True,
        )
        for k in range(jobs)
    ]
    for worker in workers:
        worker.start()
    coordinator: _Coordinator[T] = _Coordinator(jobs, workers, inboxes, outboxes)
    try:
        return _coordinate(coordinator, consume, rejects_out, progress)
    except BaseException:
        for k, worker in enumerate(workers):  # the others may wait for rises that will not come
            inboxes[k].cancel_join_thread()
            worker.terminate()
        raise
    finally:
        for worker in workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.terminate()
                worker.join()


def _coordinate(
    c: _Coordinator[T],
    consume: Callable[[T], object],
    rejects_out: IO[str] | None,
    progress: Callable[[int], object] | None,
) -> ShardedResult:
    jobs = range(c.jobs)
    first = [c.receive(k, "candidates") for k in jobs]
    pending = first[0][0] == "candidates"
    if pending:
        for k, rises in enumerate(c.rises([payload for _, payload in first])):
            c.inboxes[k].put(rises)
    blocks = 0
    while pending:
        following = [c.receive(k, "candidates") for k in jobs]
        pending = following[0][0] == "candidates"
        if pending:
            for k, rises in enumerate(c.rises([payload for _, payload in following])):
                c.inboxes[k].put(rises)
        _write([c.receive(k, "made")[1] for k in jobs], consume, rejects_out)
        blocks += 1
        if progress is not None:
            progress(blocks * BLOCK_LINES)
    _write([c.receive(k, "made")[1] for k in jobs], consume, rejects_out)
    counts = ReplayCounts()
    customers = timers = 0
    parts = []
    for k in jobs:
        finished: Finished = c.receive(k, "finished")[1]
        counts.add(finished.counts)
        customers += finished.customers
        timers += finished.pending_timers
        if finished.index is not None:
            parts.append(finished.index)
    return ShardedResult(counts, customers, timers, ReplayIndex.of(parts, c.all_rises) if parts else None)


def _write(
    parts: list[tuple[list[tuple[Key, T]], list[tuple[int, str]]]],
    consume: Callable[[T], object],
    rejects_out: IO[str] | None,
) -> None:
    for _, made in heapq.merge(*(made for made, _ in parts), key=itemgetter(0)):
        consume(made)
    if rejects_out is not None:
        for _, text in heapq.merge(*(rejects for _, rejects in parts), key=itemgetter(0)):
            rejects_out.write(text)
