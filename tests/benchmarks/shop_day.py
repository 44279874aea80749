"""A synthetic shop day: customers' sessions of logins, browsing, carts, orders and shipments.

Usage: python -m tests.benchmarks.shop_day OUT.jsonl [--customers N] [--seed S]

The mix follows a shop's traffic: mostly page views, then logins, cart changes, orders
and shipments. Events are written in time order with the small disorder of real streams
(a few seconds of jitter, well inside the allowed lateness).
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from engagement.replay.shards import default_jobs

DAY_START = datetime(2026, 11, 20, tzinfo=UTC).timestamp()
DAY = 86_400.0
ZONES = ["Asia/Taipei", "Asia/Taipei", "Asia/Taipei", "Asia/Shanghai", "Asia/Hong_Kong", "Europe/London", None]
LOCALES = ["zh-TW", "zh-TW", "zh-TW", "zh-CN", "zh-HK", "en"]
COUNTRIES = [
    ("TW", 25.03, 121.56),
    ("TW", 22.63, 120.30),
    ("HK", 22.32, 114.17),
    ("CN", 31.23, 121.47),
    ("JP", 35.68, 139.69),
]


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def customer_events(rng: random.Random, cid: str, days: int = 1) -> Iterator[tuple[float, dict[str, object]]]:
    seq = 0

    def ev(t: float, type_: str, **fields: object) -> tuple[float, dict[str, object]]:
        nonlocal seq
        seq += 1
        return t, {"event_id": f"{cid}-{seq}", "type": type_, "customer_id": cid, "occurred_at": _iso(t), **fields}

    t = DAY_START + DAY * rng.randrange(days) + rng.random() * DAY * 0.9
    if rng.random() < 0.6:
        yield ev(
            t - 1,
            "customer.updated",
            name=f"Customer {cid}",
            phone=f"+8869{rng.randrange(10**8):08d}",
            locale=rng.choice(LOCALES),
            timezone=rng.choice(ZONES),
            whatsapp_opt_in=rng.random() < 0.8,
        )
    home = rng.choice(COUNTRIES)
    device = f"dev-{cid}"
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
        if rng.random() < 0.55:
            if rng.random() < 0.08:
                for _ in range(rng.randrange(1, 7)):
                    t += rng.uniform(5, 40)
                    yield ev(t, "login.failed", device_id=device, country=home[0])
            country = home if rng.random() < 0.97 else rng.choice(COUNTRIES)
            t += rng.uniform(1, 20)
            yield ev(
                t,
                "login.succeeded",
                device_id=device if rng.random() < 0.95 else f"new-{seq}",
                country=country[0],
                latitude=country[1],
                longitude=country[2],
                ip="203.0.113.9",
            )
        cart: list[dict[str, object]] = []
        for _ in range(rng.randrange(2, 12)):
            t += rng.uniform(10, 150)
            pid = f"sku-{rng.randrange(5000)}"
            yield ev(t, "page.viewed", product_id=pid, product_name=f"Product {pid}", session_id=f"s-{cid}")
            if rng.random() < 0.1:
                cart.append(
                    {
                        "product_id": pid,
                        "name": f"Product {pid}",
                        "quantity": rng.randrange(1, 3),
                        "unit_price": rng.randrange(100, 3000),
                    }
                )
                t += rng.uniform(5, 30)
                yield ev(t, "cart.updated", cart_id=f"cart-{cid}", currency="TWD", items=list(cart))
        if rng.random() < 0.4:
            t += rng.uniform(5, 60)
            yield ev(t, "page.left", session_id=f"s-{cid}")
        if cart and rng.random() < 0.35:
            t += rng.uniform(30, 600)
            total = sum(int(i["quantity"]) * int(i["unit_price"]) for i in cart)  # type: ignore[call-overload]
            oid = f"ord-{cid}-{seq}"
            yield ev(
                t,
                "order.placed",
                order_id=oid,
                cart_id=f"cart-{cid}",
                items=cart,
                total=total,
                currency="TWD",
                shipping_fee=60,
            )
            yield ev(t + 1, "cart.updated", cart_id=f"cart-{cid}", items=[])
            ship_at = t + rng.uniform(600, 3600)
            promised = ship_at + rng.uniform(1800, 7200)
            sid = f"shp-{oid}"
            yield ev(
                ship_at,
                "shipment.dispatched",
                order_id=oid,
                shipment_id=sid,
                carrier="Black Cat",
                tracking_number=f"TW{seq:09d}",
                promised_delivery_at=_iso(promised),
            )
            if rng.random() < 0.2:
                yield ev(
                    ship_at + 900,
                    "shipment.status_changed",
                    order_id=oid,
                    shipment_id=sid,
                    status="delayed",
                    new_eta=_iso(promised + 2 * DAY),
                )
            elif rng.random() < 0.7:
                yield ev(promised - rng.uniform(0, 1800), "shipment.delivered", order_id=oid, shipment_id=sid)
        t += rng.uniform(600, 4 * 3600)


def generate(out: Path, customers: int, seed: int, days: int = 1) -> int:
    """Each customer's sessions start on one of `days` days."""
    rng = random.Random(seed)
    streams = (customer_events(random.Random(rng.random()), f"c{n:07d}", days) for n in range(customers))
    jittered = ((t + rng.uniform(0, 3), e) for stream in streams for t, e in stream)
    count = 0
    with out.open("w", encoding="utf-8") as handle:
        for _, event in heapq.merge(*_chunks(jittered), key=lambda item: item[0]):
            handle.write(json.dumps(event, separators=(",", ":")) + "\n")
            count += 1
    return count


def _chunks(
    items: Iterator[tuple[float, dict[str, object]]], size: int = 200_000
) -> list[list[tuple[float, dict[str, object]]]]:
    chunks: list[list[tuple[float, dict[str, object]]]] = []
    chunk: list[tuple[float, dict[str, object]]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            chunks.append(sorted(chunk, key=lambda i: i[0]))
            chunk = []
    chunks.append(sorted(chunk, key=lambda i: i[0]))
    return chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path)
    parser.add_argument("--customers", type=int, default=110_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    count = generate(args.out, args.customers, args.seed)
    print(f"{args.out}: {count:,} events for {args.customers:,} customers")


if __name__ == "__main__":
    main()


def day_arguments(description: str, repeat_help: str) -> tuple[argparse.Namespace, Path]:
    """The benchmarks' common arguments ([EVENTS] --customers --repeat --jobs), and the events
    file: the one given, or a synthetic day generated once into the temporary directory."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("events", type=Path, nargs="?")
    parser.add_argument("--customers", type=int, default=65_000, help="of the generated day (about 1M events)")
    parser.add_argument("--repeat", type=int, default=3, help=repeat_help)
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="processes, as `engagement replay --jobs`")
    args = parser.parse_args()
    path = args.events
    if path is None:
        path = Path(tempfile.gettempdir()) / f"engagement-shop-day-{args.customers}.jsonl"
        if not path.exists():
            print(f"generating {path} ...", flush=True)
            generate(path, args.customers, seed=7)
    return args, path
