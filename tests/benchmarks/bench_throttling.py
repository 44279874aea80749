"""Login alerts under throttling: 1,000 anomalous logins while the fake Graph API answers 3 % of calls
with 130429 (the number's throughput reached) and 3 % with a 500.

Usage: python -m tests.benchmarks.bench_throttling [--runtime run|worker|both] [--alerts 1000]

Each customer has a profile and an earlier login; then the 1,000 logins from a new device and
country arrive within a few seconds (posted to `run`, or produced to Kafka for one worker). For
each alert it measures the login (post or produce) to the provider call that WhatsApp accepted.
Targets: every alert accepted exactly once within its 2-minute window; p99 under 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from engagement.timefmt import rfc3339
from tests.chaos.stream import FaultyGraph
from tests.integration.processes import RunProcess, free_port
from tests.integration.workers import Namespace, WorkerProcess

WINDOW_SECONDS = 120.0


def customer_lines(run_id: str, count: int, now: float) -> tuple[list[str], list[str]]:
    """(profiles and first logins, the anomalous logins)."""
    history: list[str] = []
    alerts: list[str] = []
    for n in range(count):
        cid = f"{run_id}-{n}"
        base = {"customer_id": cid}
        history.append(
            json.dumps(
                {
                    **base,
                    "event_id": f"{cid}-p",
                    "type": "customer.updated",
                    "occurred_at": rfc3339(now - 7200),
                    "phone": f"+8869{n:08d}",
                    "locale": "en",
                    "whatsapp_opt_in": True,
                }
            )
        )
        first = {"device_id": f"{cid}-phone", "country": "TW", "type": "login.succeeded"}
        history.append(json.dumps({**base, **first, "event_id": f"{cid}-a", "occurred_at": rfc3339(now - 3600)}))
        alerts.append(
            json.dumps(
                {
                    **base,
                    "event_id": f"{cid}-b",
                    "type": "login.succeeded",
                    "device_id": f"{cid}-laptop",
                    "country": "RU",
                    "occurred_at": "{now}",
                }
            )
        )
    return history, alerts


def stamped(lines: list[str]) -> tuple[list[str], float]:
    now = time.time()
    return [line.replace('"{now}"', json.dumps(rfc3339(now))) for line in lines], now


async def run_bench(alerts: int, faults: FaultyGraph) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        env = whatsapp_env(faults)
        run = RunProcess(Path(tmp), free_port(), env)
        await asyncio.to_thread(run.start)
        try:
            history, logins = customer_lines(f"r{int(time.time())}", alerts, time.time())
            await asyncio.to_thread(run.post_lines, history)
            posted: dict[str, float] = {}
            for start in range(0, len(logins), 100):
                lines, at = stamped(logins[start : start + 100])
                await asyncio.to_thread(run.post_lines, lines)
                posted.update({phone_of(line): at for line in lines})
            return await settle(posted, faults)
        finally:
            await asyncio.to_thread(run.kill)


async def worker_bench(alerts: int, faults: FaultyGraph) -> dict[str, float]:
    space = Namespace("throttle")
    await asyncio.to_thread(space.create_topics)
    with tempfile.TemporaryDirectory() as tmp:
        worker = WorkerProcess(space, Path(tmp) / "w", Path(tmp) / "sent.jsonl", whatsapp_env(faults))
        await asyncio.to_thread(worker.start, 4)
        try:
            history, logins = customer_lines(space.app_id, alerts, time.time())
            await asyncio.to_thread(space.produce, history)
            await asyncio.sleep(3)
            lines, at = stamped(logins)
            await asyncio.to_thread(space.produce, lines)
            posted = {phone_of(line): at for line in lines}
            return await settle(posted, faults)
        finally:
            await asyncio.to_thread(worker.kill)
            await asyncio.to_thread(space.delete_topics)


async def settle(posted: dict[str, float], faults: FaultyGraph) -> dict[str, float]:
    deadline = time.time() + WINDOW_SECONDS + 30
    while time.time() < deadline and len(alert_keys(faults)) < len(posted):
        await asyncio.sleep(0.5)
    keys = alert_keys(faults)
    latencies = [faults.accepted_at[key] - posted[faults.to[key]] for key in keys]
    ordered = sorted(latencies)
    return {
        "alerts": len(posted),
        "accepted": len(keys),
        "twice": sum(1 for key in keys if faults.accepted[key] > 1),
        "late": sum(1 for value in latencies if value > WINDOW_SECONDS),
        "p50": statistics.median(ordered) if ordered else float("nan"),
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan"),
        "max": ordered[-1] if ordered else float("nan"),
    }


def alert_keys(faults: FaultyGraph) -> list[str]:
    return [key for key in faults.accepted if key.startswith("anomalous_login")]


def phone_of(line: str) -> str:
    """The digits of the customer's number (customer `<run>-<n>` has +8869 and n in 8 digits)."""
    return f"8869{int(json.loads(line)['customer_id'].rsplit('-', 1)[1]):08d}"


def whatsapp_env(faults: FaultyGraph) -> dict[str, str]:
    """The shipped triggers, against the faulty Graph API."""
    shipped = str(Path(__file__).resolve().parents[2] / "triggers")
    return {**faults.env(), "ENGAGEMENT_TRIGGERS_DIR": shipped, "ENGAGEMENT_ALLOWED_LATENESS": "2s"}


async def main_async(runtime: str, alerts: int) -> None:
    for name, bench in (("run", run_bench), ("worker", worker_bench)):
        if runtime not in (name, "both"):
            continue
        with FaultyGraph(seed=13) as faults:
            started = time.perf_counter()
            figures = await bench(alerts, faults)
            elapsed = time.perf_counter() - started
        print(
            f"{name}: {figures['accepted']:.0f} of {figures['alerts']:.0f} alerts accepted "
            f"({figures['twice']:.0f} twice, {figures['late']:.0f} after their 2-minute window); "
            f"login -> accepted call p50 {figures['p50']:.1f} s, p99 {figures['p99']:.1f} s, "
            f"max {figures['max']:.1f} s "
            f"(target p99 < 30 s); calls: {dict(faults.calls)}; {elapsed:.0f} s in all"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runtime", choices=("run", "worker", "both"), default="both")
    parser.add_argument("--alerts", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main_async(args.runtime, args.alerts))


if __name__ == "__main__":
    main()
