"""`/healthz` while `engagement run` takes maximum-size batches: the event loop must stay responsive.

Usage: python -m tests.benchmarks.bench_ingest_pressure [--batches 3] [--rounds 3]

Three clients post a batch of shop events of just under `MAX_BODY_BYTES` (4 MiB) each, at once,
while another process asks `/healthz` every 10 ms for 6 s around them. Target: healthz p99 < 100 ms.
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

import httpx

from tests.benchmarks.bench_worker import shop_lines
from tests.integration.processes import ROOT, RunProcess, free_port

MAX_BODY = 4 * 1024 * 1024


def batches_of(lines: list[str], count: int) -> list[bytes]:
    out: list[bytes] = []
    it = iter(lines)
    for _ in range(count):
        body, size = [], 0
        for line in it:
            if size + len(line) + 1 > MAX_BODY - 1024:
                break
            body.append(line)
            size += len(line.encode()) + 1
        out.append(("\n".join(body) + "\n").encode())
    return out


PROBE = """
import json, sys, time, httpx
url, seconds = sys.argv[1], float(sys.argv[2])
out = []
with httpx.Client(timeout=30) as http:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.perf_counter()
        assert http.get(url).status_code == 200
        out.append(time.perf_counter() - started)
        time.sleep(0.01)
print(json.dumps(out))
"""


async def round_trip(url: str, headers: dict[str, str], bodies: list[bytes]) -> tuple[list[float], float, int]:
    """The batches posted at once; meanwhile a separate process (so the posting client's own work
    cannot delay it) asks `/healthz` every 10 ms."""
    probe = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PROBE, f"{url}/healthz", "6", stdout=asyncio.subprocess.PIPE
    )
    async with httpx.AsyncClient(timeout=120) as http:

        async def post(body: bytes) -> int:
            answer = await http.post(
                f"{url}/v1/events", content=body, headers={"Content-Type": "application/x-ndjson", **headers}
            )
            if answer.status_code != 202:
                raise SystemExit(f"ingest answered {answer.status_code}: {answer.text[:200]}")
            return int(answer.json()["accepted"])

        await asyncio.sleep(0.5)
        started = time.perf_counter()
        accepted = await asyncio.gather(*(post(body) for body in bodies))
        elapsed = time.perf_counter() - started
    output, _ = await probe.communicate()
    return [float(x) for x in json.loads(output)], elapsed, sum(accepted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    lines = shop_lines(60_000 * args.batches * args.rounds, f"pressure{int(time.time())}")
    bodies = batches_of(lines, args.batches * args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        run = RunProcess(Path(tmp), free_port(), {"ENGAGEMENT_TRIGGERS_DIR": str(ROOT / "triggers")})
        run.start()
        try:
            for n in range(args.rounds):
                chunk = bodies[n * args.batches : (n + 1) * args.batches]
                latencies, elapsed, accepted = asyncio.run(round_trip(run.url, run.headers, chunk))
                ordered = sorted(latencies)
                p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
                print(
                    f"round {n + 1}: {len(chunk)} batches of {statistics.mean(len(b) for b in chunk) / 2**20:.2f} MiB "
                    f"({accepted:,} events) in {elapsed:.2f} s; healthz {len(latencies)} probes: "
                    f"p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
                    f"max {ordered[-1] * 1000:.1f} ms (target p99 < 100 ms)"
                )
        finally:
            run.kill()


if __name__ == "__main__":
    main()
