"""`engagement worker` processes and Kafka helpers for the integration tests.

Every test gets its own app id (consumer group, changelog, Redis namespace) and topic prefix, so
tests never see each other's state on the shared broker. The topics are deleted when the test ends
(see `Namespace.delete_topics`), so the broker's storage does not grow run after run. The broker
and Redis are the ones `deploy/local/services` starts (KAFKA_PORT, REDIS_PORT); a missing service
fails the test.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import ClassVar

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from engagement.worker.admin import ensure_topics
from engagement.worker.topics import TopicNames
from tests.integration.processes import DEMO_TRIGGERS, api_key, free_port

KAFKA = f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}"
REDIS_URL = f"redis://127.0.0.1:{os.environ.get('REDIS_PORT', '6379')}/0"
PARTITIONS = 4


class Namespace:
    """One test's app id and topics. Every namespace made is listed in `Namespace.made`, so the
    integration tests' fixture deletes their topics after each test."""

    made: ClassVar[list[Namespace]] = []

    def __init__(self, label: str) -> None:
        self.unique = f"t{uuid.uuid4().hex[:10]}"
        self.app_id = f"{self.unique}-{label}"
        self.names = TopicNames(f"{self.unique}.")
        Namespace.made.append(self)

    def create_topics(self) -> None:
        asyncio.run(ensure_topics(KAFKA, PARTITIONS, self.names, self.app_id))

    def delete_topics(self) -> list[str]:
        """Delete every topic of this namespace: its inputs and outputs, and the changelog and other
        internal topics faust made for its app id (all start with the namespace's unique prefix)."""
        return asyncio.run(_delete_topics(self.unique))

    def produce(self, lines: list[str]) -> None:
        """Each event to its topic, keyed by customer id (as a backend would)."""
        asyncio.run(_produce(self.names, lines))

    def produce_raw(self, topic: str, key: bytes, value: bytes) -> None:
        asyncio.run(_produce_raw(topic, key, value))

    def read(self, topic: str) -> list[bytes]:
        """Every message of a topic so far (all partitions, up to their current end)."""
        return [value for _, value in asyncio.run(_read_all(topic)) if value is not None]

    def records(self, topic: str) -> list[tuple[bytes | None, bytes | None]]:
        """Every (key, value) of a topic so far, tombstones (value None) included."""
        return asyncio.run(_read_all(topic))

    def decisions(self) -> list[dict[str, object]]:
        return [json.loads(value) for value in self.read(self.names.decisions)]


class WorkerProcess:
    def __init__(
        self,
        namespace: Namespace,
        state_dir: Path,
        sent_file: Path,
        extra_env: dict[str, str] | None = None,
        module: str = "engagement",
    ) -> None:
        self.namespace, self.state_dir, self.sent_file, self.module = namespace, state_dir, sent_file, module
        self.port = free_port()
        keys_file, self.key = api_key(state_dir)
        self.headers = {"Authorization": f"Bearer {self.key}"}
        self.env = {
            **os.environ,
            "ENGAGEMENT_API_KEYS_FILE": str(keys_file),
            "ENGAGEMENT_APP_ID": namespace.app_id,
            "ENGAGEMENT_TOPIC_PREFIX": namespace.names.prefix,
            "ENGAGEMENT_KAFKA_BROKERS": KAFKA,
            "ENGAGEMENT_REDIS_URL": REDIS_URL,
            "ENGAGEMENT_PARTITIONS": str(PARTITIONS),
            "ENGAGEMENT_STATE_DIR": str(state_dir),
            "ENGAGEMENT_HTTP_PORT": str(self.port),
            "ENGAGEMENT_TRIGGERS_DIR": str(DEMO_TRIGGERS),
            "ENGAGEMENT_ALLOWED_LATENESS": "1s",
            "ENGAGEMENT_KAFKA_SESSION_TIMEOUT": "6s",
            "ENGAGEMENT_PROVIDER": "file",
            "ENGAGEMENT_PROVIDER_FILE": str(sent_file),
            **(extra_env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, wait_for_partitions: int = 1) -> None:
        with (self.state_dir / "worker.log").open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 (the tests' own module)
                [sys.executable, "-m", self.module, "worker"], env=self.env, stdout=log, stderr=log
            )
        self.wait_assigned(wait_for_partitions, 90)

    def assigned(self) -> int:
        try:
            text = httpx.get(f"{self.url}/metrics", timeout=2).text
        except httpx.TransportError:
            return -1
        for line in text.splitlines():
            if line.startswith("engagement_assigned_partitions "):
                return int(float(line.split()[1]))
        return 0

    def wait_assigned(self, at_least: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"engagement worker exited: {self.log()[-3000:]}")
            if self.assigned() >= at_least:
                return
            time.sleep(0.3)
        raise RuntimeError(f"the worker held < {at_least} partitions after {timeout:.0f} s: {self.log()[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        self.proc = None

    def metric(self, name: str, **labels: str) -> float:
        wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
        for line in httpx.get(f"{self.url}/metrics", timeout=5).text.splitlines():
            if line.startswith(wanted + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def events_handled(self) -> float:
        """Input messages taken so far: accepted, repeated or rejected."""
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        results = ('result="accepted"', 'result="duplicate"', 'result="rejected"')
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("engagement_events_total{") and any(r in line for r in results)
        )

    def log(self) -> str:
        path = self.state_dir / "worker.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def sent(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def _produce(names: TopicNames, lines: list[str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all")
    await producer.start()
    try:
        for line in lines:
            event = json.loads(line)
            topic = names.for_event(event["type"])
            await producer.send(topic, key=event["customer_id"].encode(), value=line.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def _delete_topics(prefix: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        doomed = sorted(topic for topic in await admin.list_topics() if topic.startswith(prefix))
        if doomed:
            await admin.delete_topics(doomed, timeout_ms=30_000)
        return doomed
    finally:
        await admin.close()


async def _produce_raw(topic: str, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, key=key, value=value)
    finally:
        await producer.stop()


async def _read_all(topic: str) -> list[tuple[bytes | None, bytes | None]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        values: list[tuple[bytes | None, bytes | None]] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            positions = [await consumer.position(tp) for tp in partitions]
            if all(position >= ends[tp] for position, tp in zip(positions, partitions, strict=True)):
                break
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                values.extend((record.key, record.value) for record in records)
        return values
    finally:
        await consumer.stop()


class RedisServer:
    """A redis-server of the test's own (Debian's binary), to stop and restart under a running worker."""

    def __init__(self, directory: Path) -> None:
        self.directory, self.port = directory, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        args = ["--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.directory)]
        args += ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
        with (self.directory / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen([_redis_server(), *args], stdout=log, stderr=log)  # noqa: S603
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("redis-server did not listen within 20 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        self.proc = None


def _redis_server() -> str:
    path = shutil.which("redis-server")
    if path is None:
        raise RuntimeError("redis-server is missing: run deploy/local/services start (it installs it)")
    return path
