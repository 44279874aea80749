"""A generated week with a known effect, reported: what `engagement report` prints for it.

Usage: python -m tests.benchmarks.report_week [--customers N] [--holdout P] [--html FILE] [--json]

Builds a week of shop traffic (shop_day.py, sessions spread over 7 days), with the marketing
triggers holding out P % of customers (default 20). A first replay learns who was reminded and
who was held out; orders are then added within the attribution window after those decisions:
12 % of reminded customers buy, 8 % of held-out ones (seeded), with the product of the cart or
page. The report of the whole file should find about +4 points for the marketing triggers.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

from engagement.config.loader import default_triggers_dir, load_triggers
from engagement.config.messages import default_messages_dir, load_messages
from engagement.core.decisions import HOLDOUT
from engagement.core.engine import Engine, EngineSettings
from engagement.outcomes.page import render
from engagement.outcomes.records import Decided, decided
from engagement.outcomes.sources import from_replay
from engagement.outcomes.table import as_json, describe
from engagement.replay.command import replay_file
from engagement.timefmt import rfc3339
from tests.benchmarks.shop_day import generate

RATES = {"send": 0.12, HOLDOUT: 0.08}


def week_engine(directory: Path, holdout: float) -> Engine:
    triggers = directory / "triggers"
    shutil.copytree(default_triggers_dir(), triggers)
    for path in triggers.glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        if "category: marketing" in text:
            path.write_text(text.replace("holdout_percent: 0", f"holdout_percent: {holdout:g}"), encoding="utf-8")
    return Engine(load_triggers(triggers), load_messages(default_messages_dir()), EngineSettings())


def with_orders(events: Path, decisions: list[Decided], out: Path, seed: int) -> int:
    """`events` plus the orders that follow reminders and holdout decisions; how many were added."""
    rng = random.Random(seed)
    products: dict[str, str] = {}
    lines = events.read_text(encoding="utf-8").splitlines()
    for line in lines:
        if '"page.viewed"' in line:
            event = json.loads(line)
            products[event["event_id"]] = event["product_id"]
    added = []
    for d in decisions:
        group = "send" if d.outcome == "send" else d.reason
        if group not in RATES or d.trigger == "anomalous_login" or rng.random() >= RATES[group]:
            continue
        total = rng.randrange(300, 3000)
        item = {"product_id": products.get(d.event_id, "sku-any"), "quantity": 1, "unit_price": total}
        at = d.at + rng.uniform(600, 20 * 3600)
        added.append({"event_id": f"week-order-{d.key}", "type": "order.placed", "customer_id": d.customer_id,
                      "occurred_at": rfc3339(at), "order_id": f"wo-{d.key}", "items": [item], "total": total,
                      "currency": "TWD"})  # fmt: skip
    merged = [(json.loads(line)["occurred_at"], line) for line in lines]
    merged += [(str(o["occurred_at"]), json.dumps(o)) for o in added]
    merged.sort(key=lambda pair: pair[0])
    out.write_text("\n".join(line for _, line in merged) + "\n", encoding="utf-8")
    return len(added)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--holdout", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--html", type=Path)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", type=Path, help="also keep the generated week's events here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        engine = week_engine(directory, args.holdout)
        traffic, week = directory / "traffic.jsonl", directory / "week.jsonl"
        count = generate(traffic, args.customers, args.seed, days=7)
        decisions: list[Decided] = []
        replay_file(engine, traffic, decided, decisions.append, None, jobs=1)
        orders = with_orders(traffic, decisions, week, args.seed)
        print(f"{count:,} events for {args.customers:,} customers over 7 days, {orders:,} orders added after decisions")
        started = time.perf_counter()
        rows = from_replay(engine, week, jobs=2)
        print(f"report in {time.perf_counter() - started:.1f} s")
        print(as_json(rows) if args.json else "\n".join(describe(rows)))
        if args.html is not None:
            args.html.write_text(render(rows, "engagement report: a generated week", time.time()), encoding="utf-8")
            print(f"wrote {args.html}")
        if args.keep is not None:
            shutil.copyfile(week, args.keep)


if __name__ == "__main__":
    main()
