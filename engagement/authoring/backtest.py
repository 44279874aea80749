"""`engagement replay EVENTS --triggers NEW --baseline OLD`: the same events replayed under two
configurations, and per trigger what the change does: sends gained, sends lost, decisions moved
between reasons, with example customers.

Decisions are matched by their idempotency key (trigger, customer, and what the message is
about: the cart episode, the visit, the shipment, the login), so a changed window or policy
shows as the same moment decided differently. A send whose customer would read something else
(another template or other parameters; the text for free-form messages) counts as reworded.
"""

from __future__ import annotations

import json
import time
import zlib
from bisect import insort
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from engagement.core.decisions import Decision
from engagement.core.engine import Engine
from engagement.replay.command import replay_file

EXAMPLES = 3
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


Outcome = tuple[str, str, str, int, str]  # trigger, customer, result, hash of the message text, UTC day


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
    out: dict[str, Outcome] = {}

    def keep(item: tuple[str, Outcome]) -> None:
        out[item[0]] = item[1]

    replay_file(engine, events, outcome_of, keep, None, until, progress, jobs=jobs)
    return out


def backtest(
    baseline: Engine,
    new: Engine,
    events: Path,
    until: float | None = None,
    jobs: int = 1,
    progress: IO[str] | None = None,
) -> Backtest:
    """`progress`: where each of the two replays shows how far it is (see `replay_file`)."""
    before = collect(baseline, events, until, jobs, progress)
    after = collect(new, events, until, jobs, progress)
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
    return Backtest(baseline.config_version, new.config_version, dict(changes), (len(before), len(after)), days)


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
