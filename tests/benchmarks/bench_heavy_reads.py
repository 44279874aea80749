"""`/healthz` while `engagement run` answers heavy reads: ten reports at once and a console backtest
over the whole archive. The reads run in worker threads (and the backtest in a child process), a
few at once, so the event loop keeps answering.

Usage: python -m tests.benchmarks.bench_heavy_reads [--events 400000] [--reports 12]

It loads `--events` events of a synthetic shop day into `run` (the archive), then asks for
`--reports` reports at once and starts a backtest of the archive's days, while another process
asks `/healthz` every 10 ms. It prints healthz p50, p99 and max, how many reports were answered
and how many were told to come back (429), and how long the backtest took.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.benchmarks.bench_ingest_pressure import PROBE, batches_of
from tests.benchmarks.bench_worker import shop_lines
from tests.integration.processes import ROOT, RunProcess, free_port


async def storm(url: str, headers: dict[str, str], reports: int, seconds: float) -> dict[str, Any]:
    probe = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PROBE, f"{url}/healthz", str(seconds), stdout=asyncio.subprocess.PIPE
    )
    async with httpx.AsyncClient(timeout=600, headers=headers) as http:
        await asyncio.sleep(0.5)
        now = time.time()
        job = (await http.post(f"{url}/console/api/backtests",
                               json={"files": {}, "since": now - 31 * 86_400, "until": now})).json()  # fmt: skip
        started = time.perf_counter()
        answers = await asyncio.gather(*(http.get(f"{url}/v1/report") for _ in range(reports)))
        reported = time.perf_counter() - started
        while True:
            state = (await http.get(f"{url}/console/api/backtests/{job['id']}")).json()
            if state["state"] in ("done", "failed"):
                break
            await asyncio.sleep(0.5)
        backtest = time.perf_counter() - started
    output, _ = await probe.communicate()
    latencies = sorted(float(x) for x in json.loads(output))
    codes = [a.status_code for a in answers]
    return {
        "probes": len(latencies),
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "max": latencies[-1],
        "reports_ok": codes.count(200),
        "reports_busy": codes.count(429),
        "reports_seconds": reported,
        "backtest": state["state"],
        "backtest_events": state["events"],
        "backtest_seconds": backtest,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=400_000)
    parser.add_argument("--reports", type=int, default=12)
    parser.add_argument("--probe-seconds", type=float, default=60.0)
    args = parser.parse_args()
    lines = shop_lines(args.events, f"heavy{int(time.time())}")
    with tempfile.TemporaryDirectory() as tmp:
        run = RunProcess(Path(tmp), free_port(), {"ENGAGEMENT_TRIGGERS_DIR": str(ROOT / "triggers"),
                                                  "ENGAGEMENT_MESSAGES_DIR": str(ROOT / "messages")})  # fmt: skip
        run.start()
        try:
            loaded = 0
            for body in batches_of(lines, len(lines) // 15_000 + 1):
                if body.strip():
                    answer = httpx.post(f"{run.url}/v1/events", content=body, timeout=300,
                                        headers={"Content-Type": "application/x-ndjson", **run.headers})  # fmt: skip
                    loaded += int(answer.json().get("accepted", 0))
            found = asyncio.run(storm(run.url, run.headers, args.reports, args.probe_seconds))
            print(
                f"{loaded:,} events archived; {args.reports} reports at once: {found['reports_ok']} answered, "
                f"{found['reports_busy']} told to come back (429), in {found['reports_seconds']:.1f} s; "
                f"backtest {found['backtest']} over {found['backtest_events']:,} events in "
                f"{found['backtest_seconds']:.1f} s; healthz {found['probes']} probes: "
                f"p50 {found['p50'] * 1000:.1f} ms, p99 {found['p99'] * 1000:.1f} ms, max {found['max'] * 1000:.1f} ms"
            )
        finally:
            run.kill()


if __name__ == "__main__":
    main()
