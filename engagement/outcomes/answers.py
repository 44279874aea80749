"""Replies and what answered them, per trigger and per answer (the report's `answers`): replies,
answered automatically, handed off, ignored, the time from the reply to its answer (p50, p99),
and the automation share (answered / (answered + handed off))."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from engagement.outcomes.records import Decided

REPLY_OUTCOMES = frozenset({"answer", "handoff", "ignore"})


def answer_rows(decisions: Iterable[Decided]) -> dict[str, dict[str, Any]]:
    """Trigger -> its replies' figures, with one row per answer (`by_answer`)."""
    by_trigger: dict[str, list[Decided]] = defaultdict(list)
    for d in decisions:
        if d.outcome in REPLY_OUTCOMES:
            by_trigger[d.trigger].append(d)
    out: dict[str, dict[str, Any]] = {}
    for trigger, replies in sorted(by_trigger.items()):
        per_answer: dict[str, list[Decided]] = defaultdict(list)
        for d in replies:
            per_answer[answer_of(d)].append(d)
        out[trigger] = {
            **_figures(replies),
            "by_answer": [{"answer": name, **_figures(group)} for name, group in sorted(per_answer.items())],
        }
    return out


def answer_of(decision: Decided) -> str:
    """The answer a decision used (`CHECKOUT`, `keyword:物流`, `default`), else its reason's head."""
    reason = decision.reason or ""
    if decision.outcome == "answer":
        return reason or "-"
    head, _, answer = reason.partition(":")
    return answer or f"({head or '-'})"


def _figures(replies: list[Decided]) -> dict[str, Any]:
    answered = [d for d in replies if d.outcome == "answer"]
    handed = sum(d.outcome == "handoff" for d in replies)
    waits = sorted(max(0.0, d.at - d.due_at) for d in answered)
    decided = len(answered) + handed
    return {
        "replies": len(replies),
        "answered": len(answered),
        "handed_off": handed,
        "ignored": sum(d.outcome == "ignore" for d in replies),
        "answer_seconds_p50": _quantile(waits, 0.50),
        "answer_seconds_p99": _quantile(waits, 0.99),
        "automation_share": round(len(answered) / decided, 4) if decided else None,
    }


def _quantile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return round(sorted_values[index], 3)
