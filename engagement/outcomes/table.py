"""The report as a text table: one line per trigger, and one per configuration version under it
when the trigger ran under more than one."""

from __future__ import annotations

import json
from typing import Any

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
    return lines


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
