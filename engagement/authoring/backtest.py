"""`engagement replay EVENTS --triggers NEW --baseline OLD`: the same events replayed under two
configurations, and per trigger what the change does: sends gained, sends lost, decisions moved
between reasons, with example customers.

Decisions are matched by their idempotency key (trigger, customer, and what the message is
about: the cart episode, the visit, the shipment, the login), so a changed window or policy
shows as the same moment decided differently. A send whose customer would read something else
(another template or other parameters; the text for free-form messages) counts as reworded.

Only the customers the edit can change are replayed under it (`engagement.authoring.edit_scope`):
the others' outcomes are the live side's, unchanged by construction, and counted as skipped. The
live side can come from a `BaselineCache` (`engagement.authoring.baselines`).
"""

from __future__ import annotations

import json
import re
import time
import zlib
from array import array
from bisect import insort
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from engagement.authoring.baselines import Baseline, BaselineCache, Outcome, archive_facts, entry_name
from engagement.authoring.edit_scope import EVERYONE, EditScope, scope_of
from engagement.core.decisions import Decision
from engagement.core.engine import Engine
from engagement.replay.command import replay_file
from engagement.replay.index import ReplayIndex
from engagement.replay.subset import replay_customers_split

EXAMPLES = 3
CLEAR = "\r" + " " * 78 + "\r"
_EVENTS_READ = re.compile(r"([\d,]+) events")
NONE = "none"  # no decision at all


def result_of(decision: Decision) -> str:
    """`send`, or `suppress:quiet_hours`, `cancel:converted`, ..."""
    return decision.outcome if decision.reason is None else f"{decision.outcome}:{decision.reason}"


@dataclass
class TriggerChange:
    baseline_sends: int = 0
    new_sends: int = 0
    reworded: int = 0  # sends in both whose customer reads something else
    moves: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    @property
    def gained(self) -> int:
        return sum(n for (old, new), n in self.moves.items() if new == "send" and old != "send")

    @property
    def lost(self) -> int:
        return sum(n for (old, new), n in self.moves.items() if old == "send" and new != "send")


@dataclass
class Backtest:
    baseline_version: str
    new_version: str
    changes: dict[str, TriggerChange]
    decisions: tuple[int, int]
    sends_per_day: dict[str, tuple[int, int]] = field(default_factory=dict)  # UTC day -> sends before, after
    customers: tuple[int, int] = (0, 0)  # replayed under the edit, skipped as unchanged
    baseline_kept: bool = False  # the live side came from the cache
    not_kept: str | None = None  # why the live side could not be kept for the next backtest


@dataclass
class Progress:
    """Where a backtest is: its phase (`live`, then `edit`), and the share of the phase done;
    `customers` replayed under the edit and skipped, once known."""

    phase: str
    share: float
    customers: tuple[int, int] = (0, 0)


ProgressSink = Callable[[Progress], object]


def outcome_of(decision: Decision) -> tuple[str, Outcome]:
    """A decision as its key and outcome, with a hash of what the customer would read (the same in
    every process): for a template send, the template and its parameters (WhatsApp shows the
    approved body, not the message file's text); for free-form text, the text."""
    message = decision.message
    if message is None:
        delivered = ""
    elif message.template is not None:
        use = message.template
        delivered = json.dumps([use.name, use.language, use.parameters, use.buttons], ensure_ascii=False)
    else:
        delivered = message.body
    day = time.strftime("%Y-%m-%d", time.gmtime(decision.at))
    return decision.key, (
        decision.trigger,
        decision.customer_id,
        result_of(decision),
        zlib.crc32(delivered.encode()),
        day,
    )


def collect(
    engine: Engine, events: Path, until: float | None, jobs: int = 1, progress: IO[str] | None = None
) -> dict[str, Outcome]:
    """key -> (trigger, customer, result, text hash): the last decision made for each key."""
    return _outcomes(engine, events, until, jobs, progress)[0]


def live_side(
    engine: Engine, events: Path, until: float | None, jobs: int = 1, progress: IO[str] | None = None
) -> Baseline:
    """Every customer replayed: the outcomes, and the file's index for replaying some of them again."""
    out, _, index = _outcomes(engine, events, until, jobs, progress, index=True)
    assert index is not None  # noqa: S101 (asked for)
    return Baseline(engine.config_version, out, index)


def _outcomes(
    engine: Engine, events: Path, until: float | None, jobs: int, progress: IO[str] | None, index: bool = False
) -> tuple[dict[str, Outcome], int, ReplayIndex | None]:
    """The whole file replayed: each key's last outcome, the customers, and the index if asked."""
    out: dict[str, Outcome] = {}

    def keep(item: tuple[str, Outcome]) -> None:
        out[item[0]] = item[1]

    result = replay_file(engine, events, outcome_of, keep, None, until, progress, jobs=jobs, index=index)
    return out, result.customers, result.index


def _edit_side_scoped(
    new: Engine,
    events: Path,
    live: Baseline,
    scope: EditScope,
    until: float | None,
    jobs: int,
    progress: ProgressSink | None,
) -> tuple[dict[str, Outcome], tuple[int, int]]:
    """The customers in `scope` replayed under the edit; how many were, and how many skipped."""
    index = live.index
    chosen = index.touching(scope.types)
    customers = (sum(chosen), len(chosen) - sum(chosen))
    starts = {}
    for number, flag in enumerate(chosen):
        start = index.start_of(number, scope.types) if flag else None
        if start is not None:
            starts[number] = start
    edit_progress = None
    if progress is not None:
        begin = array("q", (starts[n][0] if n in starts else 0 for n in range(len(chosen))))
        owner = index.customer_of_line
        own_lines = max(1, sum(1 for line, n in enumerate(owner) if n >= 0 and chosen[n] and line >= begin[n]))
        progress(Progress("edit", 0.0, customers))

        def edit_progress(done: int) -> None:
            progress(Progress("edit", min(1.0, done / own_lines), customers))

    return edit_side(new, events, live, chosen, until, jobs, edit_progress, starts), customers


def edit_side(
    new: Engine,
    events: Path,
    live: Baseline,
    chosen: bytearray,
    until: float | None,
    jobs: int = 1,
    progress: Callable[[int], object] | None = None,
    starts: Mapping[int, tuple[int, bytes]] | None = None,
) -> dict[str, Outcome]:
    """The edit's outcomes: the `chosen` customers (a flag per customer number of the live side's
    index) replayed under it, each from its start if it has one (`ReplayIndex.start_of`), the
    others' kept from the live side, and so are the outcomes of keys decided only before a start
    (until the edit's replay decides them again)."""
    index, starts = live.index, starts or {}
    number = {customer: n for n, customer in enumerate(index.customers)}
    after = {}
    for key, outcome in live.outcomes.items():
        customer = number[outcome[1]]
        start = starts.get(customer)
        if not chosen[customer] or (start is not None and index.decided_before(key, start[0])):
            after[key] = outcome
    for key, outcome in replay_customers_split(
        new, events, live.index, chosen, until, outcome_of, jobs, progress, starts
    ):
        after[key] = outcome
    return after


def backtest(
    baseline: Engine,
    new: Engine,
    events: Path,
    until: float | None = None,
    jobs: int = 1,
    progress: ProgressSink | None = None,
    cache: BaselineCache | None = None,
    scoped: bool = True,
) -> Backtest:
    """`progress` hears how far each side is; `cache` keeps the live side; `scoped=False` replays
    the whole file under the edit, as a plain replay does (the same answer, only slower)."""
    live, kept, lines, not_kept = _live_or_kept(baseline, events, until, jobs, progress, cache)
    scope = scope_of(baseline, new) if scoped else EVERYONE
    if scope.everyone:  # the whole file again (another event catalogue may accept other lines)
        if progress is not None:
            progress(Progress("edit", 0.0, (len(live.index.customers), 0)))
        shown = _ReplayProgress(progress, "edit", lines) if progress is not None else None
        after, everyone, _ = _outcomes(new, events, until, jobs, shown)  # type: ignore[arg-type]
        customers = (everyone, 0)
    else:
        after, customers = _edit_side_scoped(new, events, live, scope, until, jobs, progress)
    before = live.outcomes
    changes: dict[str, TriggerChange] = defaultdict(TriggerChange)
    for trigger in sorted(baseline.specs.keys() | new.specs.keys()):  # every trigger, those that decided nothing too
        changes[trigger] = TriggerChange()
    per_day: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for side, outcomes in enumerate((before, after)):
        for _, _, result, _, day in outcomes.values():
            if result == "send":
                per_day[day][side] += 1
    for key in before.keys() | after.keys():
        trigger, customer, old, old_text, _ = before.get(key) or (*after[key][:2], NONE, 0, "")
        _, _, new_result, new_text, _ = after.get(key) or (trigger, customer, NONE, 0, "")
        change = changes[trigger]
        change.baseline_sends += old == "send"
        change.new_sends += new_result == "send"
        change.reworded += old == new_result == "send" and old_text != new_text
        if old != new_result:
            move = (old, new_result)
            change.moves[move] += 1
            examples = change.examples.setdefault(move, [])
            if customer not in examples:
                insort(examples, customer)  # the first customers by id: the same examples every run
                del examples[EXAMPLES:]
    days = {day: (counts[0], counts[1]) for day, counts in sorted(per_day.items())}
    return Backtest(
        baseline.config_version, new.config_version, dict(changes), (len(before), len(after)), days, customers, kept,
        not_kept,
    )  # fmt: skip


def _live_or_kept(
    baseline: Engine,
    events: Path,
    until: float | None,
    jobs: int,
    progress: ProgressSink | None,
    cache: BaselineCache | None,
) -> tuple[Baseline, bool, int, str | None]:
    """The live side from the cache (True), or replayed (and kept there, or why not); the
    archive's lines."""
    digest, lines = archive_facts(events)
    name = entry_name(digest, baseline, until)
    live = cache.get(name) if cache is not None else None
    if live is not None and live.version == baseline.config_version:
        return live, True, lines, None
    shown = None
    if progress is not None:
        progress(Progress("live", 0.0))
        shown = _ReplayProgress(progress, "live", lines)
    live = live_side(baseline, events, until, jobs, shown)  # type: ignore[arg-type]
    not_kept = cache.put(name, live) if cache is not None else None
    return live, False, lines, not_kept


class _ReplayProgress:
    """A whole-file replay's progress lines ("replaying: ... 12,000 events ...") as
    `Progress(phase, share of the archive's lines)`."""

    def __init__(self, sink: ProgressSink, phase: str, lines: int) -> None:
        self.sink, self.phase, self.lines = sink, phase, max(lines, 1)

    def write(self, text: str) -> int:
        found = _EVENTS_READ.search(text)
        if found:
            self.sink(Progress(self.phase, min(1.0, int(found.group(1).replace(",", "")) / self.lines)))
        return len(text)

    def flush(self) -> None:
        return None


def scope_line(result: Backtest) -> str:
    """How much of the archive the edit side replayed (not part of the report: the report is the
    same whichever way it was computed)."""
    replayed, skipped = result.customers
    kept = "; the baseline's side kept from an earlier backtest" if result.baseline_kept else ""
    not_kept = f"\nbacktest: {result.not_kept}" if result.not_kept else ""
    return f"backtest: {replayed:,} customers replayed under the edit, {skipped:,} skipped as unchanged{kept}{not_kept}"


def show_progress(out: IO[str]) -> ProgressSink:
    """Progress as one line rewritten in place (for a terminal; clear it with `CLEAR`)."""

    def show(progress: Progress) -> None:
        if progress.phase == "live":
            out.write(f"\rbacktest: baseline side {100 * progress.share:5.1f}%")
        else:
            replayed, skipped = progress.customers
            out.write(
                f"\rbacktest: edit side {100 * progress.share:5.1f}% of {replayed:,} customers "
                f"({skipped:,} skipped as unchanged)"
            )
        out.flush()

    return show


def ranked(moves: Counter[tuple[str, str]]) -> list[tuple[tuple[str, str], int]]:
    """The moves, most first; equal counts in the order of their text, so the same backtest prints
    the same bytes whatever order the decisions were compared in."""
    return sorted(moves.items(), key=lambda item: (-item[1], item[0]))


def report(result: Backtest) -> list[str]:
    lines = [
        f"backtest: baseline configuration {result.baseline_version} ({result.decisions[0]:,} decisions) "
        f"-> new {result.new_version} ({result.decisions[1]:,} decisions)",
        "",
        f"{'trigger':<24} {'sends before':>12} {'sends after':>12} {'gained':>8} {'lost':>8} {'moved':>8} "
        f"{'reworded':>9}",
    ]
    for trigger, change in sorted(result.changes.items()):
        moved = sum(change.moves.values()) - change.gained - change.lost
        lines.append(
            f"{trigger:<24} {change.baseline_sends:>12,} {change.new_sends:>12,} "
            f"{'+' + format(change.gained, ','):>8} {'-' + format(change.lost, ','):>8} {moved:>8,} "
            f"{change.reworded:>9,}"
        )
    for trigger, change in sorted(result.changes.items()):
        if not change.moves:
            continue
        lines.extend(["", f"{trigger}:"])
        for (old, new), count in ranked(change.moves):
            examples = ", ".join(change.examples[(old, new)])
            lines.append(f"  {old:<28} -> {new:<28} {count:>8,}   e.g. {examples}")
    if not any(change.moves or change.reworded for change in result.changes.values()):
        lines.extend(["", "no decision changes"])
    return lines
