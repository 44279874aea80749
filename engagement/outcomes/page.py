"""The report as one self-contained HTML page (`engagement report --html FILE`): the table, and
three plots drawn by matplotlib as inline SVG: sends and conversions per day, the delivery funnel
per trigger, and the uplift with its 95 % interval per trigger. No scripts, no external files."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from engagement.outcomes.table import Row, channel_lines

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FUNNEL = (("sent", "sent"), ("delivered", "delivered"), ("read", "read"), ("replied", "replied"),
          ("conversions", "converted"))  # fmt: skip

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #1d2327; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: .3rem .5rem; border-bottom: 1px solid #dde; text-align: right; }
td { white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
tr.version td { color: #555; font-size: .9em; } tr.version td:first-child { padding-left: 1.5rem; }
figure { margin: 1rem 0; } figure svg { max-width: 100%; height: auto; }
p.note { color: #555; }
"""


def _pyplot() -> Any:
    """matplotlib's pyplot on its file-only backend, imported when a page or plot is first drawn (it
    takes longer to import than every other module of a command that draws nothing)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")  # no display: figures are only written to SVG
    from matplotlib import pyplot  # noqa: PLC0415

    return pyplot


def _subplots(**options: Any) -> tuple[Figure, Any]:
    return cast("tuple[Figure, Any]", _pyplot().subplots(**options))


def render(rows: list[Row], title: str = "engagement report", generated: float | None = None) -> str:
    when = datetime.fromtimestamp(generated, UTC).strftime("%Y-%m-%d %H:%M UTC") if generated is not None else ""
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">{html.escape(when)} Conversions are orders within each trigger\'s attribution window '
        "after a send, or after a holdout decision for the baseline. Uplift: conversion-rate points over the "
        "holdout, with a 95 % interval.</p>",
        "<h2>Per trigger</h2>",
        _table(rows),
    ]
    if rows:
        parts += [
            "<h2>Sends and conversions per day</h2>",
            _figure(_per_day(rows), "Sends and conversions per day, all triggers"),
            "<h2>Delivery funnel</h2>",
            _figure(_funnel(rows), "Of the sends: delivered, read, replied, converted, per trigger"),
            "<h2>Uplift over the holdout</h2>",
            _figure(_uplift(rows), "Uplift in conversion-rate points with its 95 % interval"),
        ]
    channels = channel_lines(rows)
    if channels:
        parts += [
            "<h2>Channels</h2>",
            '<p class="note">Per trigger and channel: the sends tried on it, those that moved on to the next '
            "channel (and why: the provider's error code, no delivery report within the trigger's "
            "<code>fallback_after</code>, or an outcome unknown), and those it delivered. A send delivered on "
            "two channels (a late report after it moved on) is counted as delivered twice.</p>",
            _cells_table(CHANNEL_COLUMNS, channels),
        ]
    if any(row.get("answers") for row in rows):
        parts += [
            "<h2>Replies and answers</h2>",
            '<p class="note">Each customer reply, per trigger it answered (<code>_none</code>: a reply to no '
            "message of ours) and per answer: answered automatically, handed to people, or ignored (opt-outs, "
            "floods). Answer time: from the reply to the answer's decision. Automated: answered / (answered + "
            "handed off).</p>",
            _answers_table(rows),
        ]
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _table(rows: list[Row]) -> str:
    head = ("trigger / version", "decided", "sent", "delivered %", "read %", "replied %", "opt-out %", "conv. %",
            "revenue", "holdout", "holdout conv. %", "uplift, pts (95 %)", "incr. orders", "incr. revenue")  # fmt: skip
    lines = ["<table><thead><tr>", *(f'<th scope="col">{html.escape(h)}</th>' for h in head), "</tr></thead><tbody>"]
    for row in rows:
        lines.append(_tr(str(row["trigger"]), row, ""))
        versions = row.get("versions") or []
        if len(versions) > 1:
            lines.extend(_tr(str(v["config_version"]), v, "version") for v in versions)
    lines.append("</tbody></table>")
    return "".join(lines)


CHANNEL_COLUMNS = ("trigger / channel", "tried on", "moved on", "delivered", "delivered %", "why it moved on")


def _cells_table(head: tuple[str, ...], cells: Sequence[tuple[str, ...]]) -> str:
    lines = ["<table><thead><tr>", *(f'<th scope="col">{html.escape(h)}</th>' for h in head), "</tr></thead><tbody>"]
    for row in cells:
        css = ' class="version"' if row[0].startswith("  ") else ""
        lines.append(f"<tr{css}>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in row) + "</tr>")
    lines.append("</tbody></table>")
    return "".join(lines)


def _answers_table(rows: list[Row]) -> str:
    head = ("trigger / answer", "replies", "answered", "handed off", "ignored", "answer p50 s", "answer p99 s",
            "automated %")  # fmt: skip
    lines = ["<table><thead><tr>", *(f'<th scope="col">{html.escape(h)}</th>' for h in head), "</tr></thead><tbody>"]

    def tr(label: str, f: Row, css: str) -> str:
        seconds = ["–" if f[k] is None else f"{f[k]:.2f}" for k in ("answer_seconds_p50", "answer_seconds_p99")]
        cells = [label, f"{f['replies']:,}", f"{f['answered']:,}", f"{f['handed_off']:,}", f"{f['ignored']:,}",
                 *seconds, _rate(f["automation_share"])]  # fmt: skip
        cls = f' class="{css}"' if css else ""
        return f"<tr{cls}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"

    for row in rows:
        figures = row.get("answers")
        if figures:
            lines.append(tr(str(row["trigger"]), figures, ""))
            lines.extend(tr(str(a["answer"]), a, "version") for a in figures["by_answer"])
    lines.append("</tbody></table>")
    return "".join(lines)


def _tr(label: str, row: Row, css: str) -> str:
    sent = int(row["sent"])
    uplift = row.get("uplift")
    cells = [
        label,
        f"{row['decided']:,}",
        f"{sent:,}",
        _share(row.get("delivered"), sent),
        _share(row.get("read"), sent),
        _share(row.get("replied"), sent),
        _share(row.get("opted_out"), sent),
        _rate(row.get("conversion_rate")),
        f"{row['revenue']:,.0f}",
        f"{row['holdout']:,}",
        _rate(row.get("holdout_conversion_rate")),
        "–" if uplift is None else
        f"{100 * uplift['estimate']:+.1f} [{100 * uplift['low']:+.1f}, {100 * uplift['high']:+.1f}]",
        "–" if row.get("incremental_orders") is None else f"{row['incremental_orders']:,.0f}",
        "–" if row.get("incremental_revenue") is None else f"{row['incremental_revenue']:,.0f}",
    ]  # fmt: skip
    cls = f' class="{css}"' if css else ""
    return f"<tr{cls}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"


def _share(part: Any, whole: int) -> str:
    return "–" if part is None or not whole else f"{100 * part / whole:.1f}"


def _rate(rate: Any) -> str:
    return "–" if rate is None else f"{100 * rate:.1f}"


def svg_of(figure: Figure) -> str:
    """The figure as an `<svg>` element to put inside HTML (no prolog, no metadata)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    _pyplot().close(figure)
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]  # the XML prolog and doctype do not belong inside HTML
    return re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.DOTALL)


def sends_before_after_svg(days: list[dict[str, Any]]) -> str:
    """Sends per day under the live configuration and under an edit (the console's backtest)."""
    figure, axes = _subplots(figsize=(8, 2.8))
    positions = range(len(days))
    axes.bar([p - 0.2 for p in positions], [d["before"] for d in days], width=0.4, label="live configuration",
             color="#8a8f98")  # fmt: skip
    axes.bar([p + 0.2 for p in positions], [d["after"] for d in days], width=0.4, label="with the edit",
             color="#3b6ea8")  # fmt: skip
    axes.set_xticks(list(positions), [d["day"] for d in days], rotation=30, ha="right")
    axes.set_ylabel("sends")
    # above the plot, in a row of its own: a legend over the bars would hide one of the colours
    axes.legend(frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2)
    axes.spines[["top", "right"]].set_visible(False)
    return svg_of(figure)


def _figure(figure: Figure, caption: str) -> str:
    svg = svg_of(figure)
    label = html.escape(caption)
    return f'<figure role="img" aria-label="{label}">{svg}<figcaption>{label}</figcaption></figure>'


def _per_day(rows: list[Row]) -> Figure:
    sent: dict[str, int] = {}
    converted: dict[str, int] = {}
    for row in rows:
        for day in row.get("per_day") or []:
            sent[day["day"]] = sent.get(day["day"], 0) + day["sent"]
            converted[day["day"]] = converted.get(day["day"], 0) + day["conversions"]
    days = sorted(set(sent) | set(converted))
    figure, axes = _subplots(figsize=(9, 3.2))
    positions = range(len(days))
    axes.bar([p - 0.2 for p in positions], [sent.get(d, 0) for d in days], width=0.4, label="sends", color="#3b6ea8")
    axes.bar([p + 0.2 for p in positions], [converted.get(d, 0) for d in days], width=0.4, label="conversions",
             color="#e07b39")  # fmt: skip
    axes.set_xticks(list(positions), days, rotation=30, ha="right")
    axes.set_ylabel("count")
    axes.legend(frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    return figure


def _funnel(rows: list[Row]) -> Figure:
    figure, axes = _subplots(figsize=(9, 0.6 + 0.55 * len(rows) * len(FUNNEL) / 2))
    height = 0.8 / len(FUNNEL)
    colours = ("#3b6ea8", "#5b9bd5", "#8fbbe4", "#9ccc65", "#e07b39")
    for step, ((field, label), colour) in enumerate(zip(FUNNEL, colours, strict=True)):
        values = [float(row.get(field) or 0) for row in rows]
        positions = [index + step * height for index in range(len(rows))]
        axes.barh(positions, values, height=height, label=label, color=colour)
    axes.set_yticks([index + 0.4 - height / 2 for index in range(len(rows))], [str(r["trigger"]) for r in rows])
    axes.invert_yaxis()
    axes.set_xlabel("messages")
    axes.legend(frameon=False, loc="lower right")
    axes.spines[["top", "right"]].set_visible(False)
    return figure


def _uplift(rows: list[Row]) -> Figure:
    measured = [row for row in rows if row.get("uplift")]
    figure, axes = _subplots(figsize=(9, 0.8 + 0.5 * max(1, len(measured))))
    if not measured:
        axes.text(0.5, 0.5, "no trigger has both sends and a holdout group", ha="center", va="center")
        axes.set_axis_off()
        return figure
    for index, row in enumerate(measured):
        interval = row["uplift"]
        estimate, low, high = (100 * interval[k] for k in ("estimate", "low", "high"))
        colour = "#2e7d32" if low > 0 else "#c62828" if high < 0 else "#616161"
        axes.errorbar([estimate], [index], xerr=[[estimate - low], [high - estimate]], fmt="o", capsize=5,
                      color=colour)  # fmt: skip
    axes.axvline(0, color="#999", linewidth=1)
    axes.set_yticks(range(len(measured)), [str(r["trigger"]) for r in measured])
    axes.invert_yaxis()
    axes.set_xlabel("uplift, conversion-rate points (95 % interval)")
    axes.spines[["top", "right"]].set_visible(False)
    return figure
