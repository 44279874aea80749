"""The report as a text table: one line per trigger, and one per configuration version under it
when the trigger ran under more than one."""

from __future__ import annotations

import json
from typing import Any

from engagement.outcomes.deliveries import WHY_WORDS

Row = dict[str, Any]

HEADER = (
    f"{'trigger / version':24} {'decided':>8} {'sent':>7} {'deliv %':>7} {'read %':>6} {'reply %':>7} "
    f"{'opt-out %':>9} {'conv %':>6} {'revenue':>11} {'holdout':>7} {'conv %':>6} "
    f"{'uplift, pts (95 % interval)':>27} {'incr. orders':>12} {'incr. revenue':>13} {'bought anyway':>13}"
)


def describe(rows: list[Row]) -> list[str]:
    lines = [HEADER, "-" * len(HEADER)]
    for row in rows:
        lines.append(_line(row["trigger"], row))
        versions = row.get("versions") or []
        if len(versions) > 1:
            lines.extend(_line(f"  {v['config_version'][:22]}", v) for v in versions)
    channels = channel_lines(rows)
    if channels:
        lines.extend(["", CHANNELS_HEADER, "-" * len(CHANNELS_HEADER)])
        lines.extend(f"{a:28} {b:>8} {c:>8} {d:>9} {e:>7}  {f}".rstrip() for a, b, c, d, e, f in channels)
    answered = [row for row in rows if row.get("answers")]
    if answered:
        lines.extend(["", ANSWERS_HEADER, "-" * len(ANSWERS_HEADER)])
        for row in answered:
            figures = row["answers"]
            lines.append(_answers_line(row["trigger"], figures))
            lines.extend(_answers_line(f"  {a['answer'][:22]}", a) for a in figures["by_answer"])
    return lines


ANSWERS_HEADER = (
    f"{'replies: trigger / answer':26} {'replies':>7} {'answered':>8} {'handed off':>10} {'ignored':>7} "
    f"{'answer p50 s':>12} {'answer p99 s':>12} {'automated %':>11}"
)


def _answers_line(label: str, figures: Row) -> str:
    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    return (
        f"{label:26} {figures['replies']:>7,} {figures['answered']:>8,} {figures['handed_off']:>10,} "
        f"{figures['ignored']:>7,} {seconds(figures['answer_seconds_p50']):>12} "
        f"{seconds(figures['answer_seconds_p99']):>12} {_percent(figures['automation_share']):>11}"
    )


CHANNELS_HEADER = (
    f"{'channels: trigger / channel':28} {'tried on':>8} {'moved on':>8} {'delivered':>9} {'deliv %':>7}  "
    "why it moved on"
)


def channel_lines(rows: list[Row]) -> list[tuple[str, str, str, str, str, str]]:
    """The channels table's cells (label, tried on, moved on, delivered, delivered %, why), when any
    trigger sent on more than WhatsApp; else none. A trigger's line counts its sends delivered twice."""
    if not any(_beyond_whatsapp(row) for row in rows):
        return []
    out = []
    for row in rows:
        channels = row.get("channels") or []
        if not channels:
            continue
        twice = row.get("delivered_twice")
        doubled = f"{twice:,} delivered twice" if twice else ""
        out.append((str(row["trigger"]), f"{row['sent']:,}", "", "", "", doubled))
        for c in channels:
            moved = c["moved_on"]
            delivered = c["delivered"]
            why = ", ".join(f"{WHY_WORDS.get(k, k)}: {n:,}" for k, n in (moved or {}).items())
            out.append((
                f"  {c['channel']}", f"{c['tried']:,}", "-" if moved is None else f"{sum(moved.values()):,}",
                "-" if delivered is None else f"{delivered:,}", _share(delivered, c["tried"]), why,
            ))  # fmt: skip
    return out


def _beyond_whatsapp(row: Row) -> bool:
    channels = row.get("channels") or []
    return any(c["channel"] != "whatsapp" or c["moved_on"] for c in channels)


def as_json(rows: list[Row]) -> str:
    return json.dumps(rows, ensure_ascii=False, indent=1)


def _line(label: str, row: Row) -> str:
    sent = row["sent"]
    uplift = row.get("uplift")
    lift = "-" if uplift is None else _points(uplift)
    incremental = "-" if row.get("incremental_orders") is None else f"{row['incremental_orders']:,.0f}"
    revenue_up = "-" if row.get("incremental_revenue") is None else f"{row['incremental_revenue']:,.0f}"
    anyway = "-" if row.get("bought_anyway") is None else f"{row['bought_anyway']:,.0f}"
    return (
        f"{label:24} {row['decided']:>8,} {sent:>7,} {_share(row.get('delivered'), sent):>7} "
        f"{_share(row.get('read'), sent):>6} {_share(row.get('replied'), sent):>7} "
        f"{_share(row.get('opted_out'), sent):>9} {_percent(row.get('conversion_rate')):>6} {row['revenue']:>11,.0f} "
        f"{row['holdout']:>7,} {_percent(row.get('holdout_conversion_rate')):>6} {lift:>27} {incremental:>12} "
        f"{revenue_up:>13} {anyway:>13}"
    )


def _points(interval: dict[str, float]) -> str:
    return f"{100 * interval['estimate']:+.1f} [{100 * interval['low']:+.1f}, {100 * interval['high']:+.1f}]"


def _share(part: int | None, whole: int) -> str:
    return "-" if part is None or not whole else f"{100 * part / whole:.1f}"


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f}"
