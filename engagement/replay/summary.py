"""The summary table printed after a replay: counts per trigger, outcome and reason."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engagement.replay.command import ReplayResult


def summary_table(result: ReplayResult, config_version: str) -> list[str]:
    c = result.counts
    lines = [
        f"events: {c.lines:,} read, {c.accepted:,} accepted, {c.rejected:,} rejected, "
        f"{c.duplicates:,} duplicate, {c.late:,} late, {c.after_until:,} after --until",
        f"customers: {result.customers:,}; timers still pending at the end: {result.pending_timers:,}; "
        f"config {config_version}",
        "",
    ]
    rows = sorted(c.outcomes.items())
    header = ("trigger", "outcome", "reason", "count")
    width = [max([len(header[i])] + [len(str(k[i])) for k, _ in rows]) for i in range(3)]
    count_width = max([len(header[3])] + [len(f"{n:,}") for _, n in rows])
    lines.append(
        "  ".join(h.ljust(w) for h, w in zip(header, width, strict=False)) + "  " + header[3].rjust(count_width)
    )
    lines.append("  ".join("-" * w for w in width) + "  " + "-" * count_width)
    for (trigger, outcome, reason), n in rows:
        lines.append(
            f"{trigger.ljust(width[0])}  {outcome.ljust(width[1])}  {reason.ljust(width[2])}  {n:>{count_width},}"
        )
    if not rows:
        lines.append("(no decisions)")
    return lines
