"""`engagement run` ingest over HTTP: a real process, batches of NDJSON posted by concurrent clients.

Usage: python -m tests.benchmarks.bench_run_ingest [--events N] [--batch 500] [--clients 4]

Each answer (202) comes after the batch is decided and committed to the SQLite store.
Target: >= 5,000 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx

from tests.benchmarks.bench_worker import shop_lines
from tests.integration.processes import ROOT, RunProcess, free_port


async def post_all(url: str, batches: list[list[str]], clients: int, headers: dict[str, str]) -> float:
    queue: asyncio.Queue[list[str]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)

    async def client(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            batch = queue.get_nowait()
            body = ("\n".join(batch) + "\n").encode()
            response = await http.post(url, content=body, headers={"Content-Type": "application/x-ndjson", **headers})
            if response.status_code != 202:
                raise SystemExit(f"ingest answered {response.status_code}: {response.text[:200]}")

    async with httpx.AsyncClient(timeout=60) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    lines = shop_lines(args.events, f"ingest{int(time.time())}")
    batches = [lines[i : i + args.batch] for i in range(0, len(lines), args.batch)]
    with tempfile.TemporaryDirectory() as tmp:
        run = RunProcess(
            Path(tmp),
            free_port(),
            {"ENGAGEMENT_TRIGGERS_DIR": str(ROOT / "triggers"), "ENGAGEMENT_ALLOWED_LATENESS": "30s"},
        )
        run.start()
        try:
            elapsed = asyncio.run(post_all(f"{run.url}/v1/events", batches, args.clients, run.headers))
            accepted = httpx.get(f"{run.url}/metrics").text
        finally:
            run.kill()
    count = next(
        float(line.split()[-1])
        for line in accepted.splitlines()
        if line.startswith('engagement_events_total{result="accepted"}')
    )
    print(
        f"run ingest: {len(lines):,} events in {len(batches):,} batches of {args.batch} from {args.clients} clients: "
        f"{elapsed:.1f} s = {len(lines) / elapsed:,.0f} events/s (target >= 5,000); accepted {count:,.0f}"
    )


if __name__ == "__main__":
    main()
