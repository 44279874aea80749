"""`engagement customers forget ID`: erasing a customer (CONTRACT.md §8) wherever the runtime keeps data.

- `--url URL`: through a running `run` or worker (`DELETE /v1/customers/ID`, an `admin` key in
  `ENGAGEMENT_API_KEY`).
- `--worker`: the workers' state. The request goes to the co-partitioned ticks topic, so the
  worker that owns the customer's partition erases the state (a tombstone in the changelog) and
  the Redis keys, in order with the customer's events.
- otherwise: `run`'s state directory. When `run` has it open, the erasure goes through its HTTP
  API on 127.0.0.1 (`ENGAGEMENT_HTTP_PORT`), which needs `ENGAGEMENT_API_KEY`.

May import: the runtimes (`embedded`, `worker`) and everything below.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from urllib.parse import quote

import httpx

from engagement.console.backtests import forget_kept
from engagement.decode import customer_id_problem
from engagement.embedded.store import StoreBusy, existing_store
from engagement.providers.file import FileProvider
from engagement.settings import Settings
from engagement.worker.topics import TopicNames, forget_message


def forget_customer(settings: Settings, customer_id: str, url: str | None, worker: bool) -> int:
    problem = customer_id_problem(customer_id)
    if problem is not None:
        print(f"engagement customers forget: customer_id: {problem}", file=sys.stderr)
        return 2
    if url is not None:
        return _through_api(url, customer_id)
    if worker:
        asyncio.run(request_worker_erasure(settings, customer_id))
        print(f"erasure of {customer_id!r} queued for the workers (topic {TopicNames(settings.topic_prefix).ticks})")
        return 0
    try:
        store = existing_store(settings.state_dir)
    except StoreBusy:
        return _through_api(f"http://127.0.0.1:{settings.http_port}", customer_id)
    try:
        erased = store.forget(customer_id)
    finally:
        store.close()
    log_path = settings.provider_file or settings.state_dir / "sent.jsonl"
    if log_path.exists():
        erased["send_log"] = FileProvider(log_path).erase(customer_id)
    erased["kept_backtests"] = forget_kept(settings.state_dir)
    print(json.dumps({"customer_id": customer_id, "erased": erased}, ensure_ascii=False))
    return 0


async def request_worker_erasure(settings: Settings, customer_id: str) -> None:
    from aiokafka import AIOKafkaProducer  # noqa: PLC0415 (Kafka only for the workers)

    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_brokers, acks="all")
    await producer.start()
    try:
        topic = TopicNames(settings.topic_prefix).ticks
        await producer.send_and_wait(topic, forget_message(customer_id), key=customer_id.encode())
    finally:
        await producer.stop()


def _through_api(url: str, customer_id: str) -> int:
    key = os.environ.get("ENGAGEMENT_API_KEY", "")
    if not key:
        print(
            "engagement customers forget: the runtime is running; set ENGAGEMENT_API_KEY to a key with the "
            "admin scope so the erasure goes through its API",
            file=sys.stderr,
        )
        return 2
    target = f"{url.rstrip('/')}/v1/customers/{quote(customer_id, safe='')}"
    try:
        response = httpx.delete(target, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    except httpx.HTTPError as exc:
        print(f"engagement customers forget: {url}: {exc}", file=sys.stderr)
        return 2
    if response.status_code != 200:
        print(f"engagement customers forget: {response.status_code} {response.text.strip()}", file=sys.stderr)
        return 2
    print(response.text.strip())
    return 0
