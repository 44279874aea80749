"""The worker's HTTP API behind keys, phone numbers owned by one customer whatever path an event
takes, and erasure carried out by the worker that owns the customer (changelog tombstone, Redis),
reaching every worker's kept backtests."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis import Redis

from engagement.timefmt import rfc3339
from engagement.worker.admin import changelog_topic
from tests.integration.processes import failed, wait_for
from tests.integration.whatsapp_payloads import ENV, PHONE
from tests.integration.workers import REDIS_URL, Namespace, WorkerProcess, sent

pytestmark = pytest.mark.integration


@pytest.fixture
def worker(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Namespace, WorkerProcess]]:
    space = Namespace("sec")
    space.create_topics()
    process = WorkerProcess(space, tmp_path / "w1", tmp_path / "w1" / "sent.jsonl", ENV)
    process.start(wait_for_partitions=4)
    yield space, process
    process.kill()
    if failed(request):
        print(f"----- worker log -----\n{process.log()[-12000:]}")


def event(kind: str, customer: str, n: int, at: float, **fields: object) -> dict[str, object]:
    return {"event_id": f"{customer}-{n}", "type": kind, "customer_id": customer, "occurred_at": rfc3339(at), **fields}


def test_keys_phone_ownership_and_erasure_on_a_worker(tmp_path: Path, worker: tuple[Namespace, WorkerProcess]) -> None:
    space, process = worker
    url, headers = process.url, {"Content-Type": "application/json", **process.headers}
    start = time.time() - 30
    alice = [
        event("customer.updated", "alice", 1, start, name="Alice Wonder", phone=PHONE, whatsapp_opt_in=True),
        event("login.succeeded", "alice", 2, start + 1, device_id="d1", country="TW"),
        event("login.succeeded", "alice", 3, start + 2, device_id="d2", country="RU"),
    ]
    body = json.dumps(alice)
    assert httpx.post(f"{url}/v1/events", content=body, headers={"Content-Type": "application/json"}).status_code == 401
    assert httpx.post(f"{url}/v1/events", content=body, headers=headers).status_code == 202
    wait_for(lambda: bool(sent(tmp_path / "w1" / "sent.jsonl")), 60, "alice's login alert")

    thief = event("customer.updated", "mallory", 1, start + 3, phone=PHONE, whatsapp_opt_in=True)
    refused = httpx.post(f"{url}/v1/events", content=json.dumps([thief]), headers=headers)
    assert refused.status_code == 400
    assert refused.json()["rejections"][0]["field"] == "phone"
    space.produce([json.dumps({**thief, "event_id": "mallory-2"})])  # straight to Kafka, as a backend may
    wait_for(lambda: bool(space.read(space.names.dead_letter)), 30, "the dead letter")
    letter = json.loads(space.read(space.names.dead_letter)[0])
    assert letter["field"] == "phone"

    def holding() -> list[str]:
        return [
            p.name
            for p in (tmp_path / "w1").rglob("*")
            if p.is_file()
            and p.name != "worker.log"
            and (PHONE[1:].encode() in p.read_bytes() or b"Alice Wonder" in p.read_bytes())
        ]

    wait_for(lambda: len(holding()) > 1, 30, "the state in the worker's store")  # the send log and RocksDB
    redis = Redis.from_url(REDIS_URL)
    assert redis.hget(f"{space.app_id}:phones", PHONE) == b"alice"

    def sends_for_alice() -> list[bytes]:
        return [k for k in redis.scan_iter(f"{space.app_id}:sent-to:*") if redis.get(k) == b"alice"]

    assert sends_for_alice()  # who the login alert was for: what a late status is checked against
    assert httpx.delete(f"{url}/v1/customers/alice").status_code == 401  # no key
    assert httpx.delete(f"{url}/v1/customers/a%00b", headers=process.headers).status_code == 400
    erased = httpx.delete(f"{url}/v1/customers/alice", headers=process.headers)
    assert erased.status_code == 200
    wait_for(lambda: process.metric("engagement_customers_erased_total") == 1, 30, "the erasure")
    assert redis.hget(f"{space.app_id}:phones", PHONE) is None
    assert redis.hget(f"{space.app_id}:phone-owners", "alice") is None
    assert sends_for_alice() == []
    changelog = space.records(changelog_topic(space.app_id))
    last = {key: value for key, value in changelog}
    assert last[b"alice"] is None  # a tombstone: compaction drops the state
    mark = redis.get(f"{space.app_id}:erasures")  # a new random mark, for every worker's kept backtests
    assert mark is not None
    assert len(mark) == 32
    kept = tmp_path / "w1" / "console" / "baselines"  # a kept backtest live side, as the console leaves
    kept.mkdir(parents=True, exist_ok=True)
    planted = kept / "planted.engagement-baseline"
    planted.write_bytes(b"a live side holding customers' states")
    redis.set(f"{space.app_id}:erasures", "a mark another worker's erasure left")
    wait_for(lambda: not planted.exists(), 30, "the kept backtest deleted after an erasure elsewhere")
    planted.write_bytes(b"kept again")  # and an erasure elsewhere a moment ago: a backtest starts now
    redis.set(f"{space.app_id}:erasures", "the mark of yet another erasure")
    started = httpx.post(f"{url}/console/api/backtests", headers=process.headers,
                         json={"files": {}, "since": time.time() - 3_600, "until": time.time()})  # fmt: skip
    assert started.status_code == 202, started.text
    assert not planted.exists()  # looked at before the backtest started, not up to 5 s later
    process.kill()
    assert holding() == []


def test_a_worker_creates_its_state_directory(tmp_path: Path) -> None:
    space = Namespace("newdir")
    space.create_topics()
    fresh = tmp_path / "not" / "yet" / "there"
    process = WorkerProcess(space, tmp_path / "w", tmp_path / "sent.jsonl", {"ENGAGEMENT_STATE_DIR": str(fresh)})
    try:
        process.start(wait_for_partitions=4)
        assert (fresh / "worker").is_dir()
        assert oct((fresh / "worker").stat().st_mode & 0o777) == oct(0o700)
    finally:
        process.kill()
