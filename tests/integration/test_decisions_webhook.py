"""Decisions pushed to the shop's webhook by `run` and by workers, at least once across kill -9: while
the receiver is down the decisions wait; the runtime is killed; once the receiver is back, a new
process posts every decision, each signed and with the id the receiver drops repeats by."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from engagement.decision_feed.webhook import decision_id
from tests.integration.processes import RunProcess, free_port, wait_for
from tests.integration.test_sources_live import ENV, shop_traffic
from tests.integration.workers import Namespace, WorkerProcess

pytestmark = pytest.mark.integration

SECRET = "decisions-webhook-secret-for-tests"  # noqa: S105 (a test fixture)


class Receiver:
    """The shop's endpoint on loopback, in a thread: refuses with 503 while `down`."""

    def __init__(self) -> None:
        self.down = True
        self.attempts = 0
        self.forged = 0
        self.ids: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp = self.headers["X-Engagement-Timestamp"]
                mac = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
                receiver.attempts += 1
                if self.headers["X-Engagement-Signature"] != f"sha256={mac}":
                    receiver.forged += 1
                    self.send_response(401)
                elif receiver.down:
                    self.send_response(503)
                else:
                    receiver.ids.extend(d["id"] for d in json.loads(body)["decisions"])
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/decisions"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Any:
    server = Receiver()
    yield server
    server.close()


def env(receiver: Receiver) -> dict[str, str]:
    return {**ENV, "ENGAGEMENT_DECISIONS_WEBHOOK_URL": receiver.url, "ENGAGEMENT_DECISIONS_WEBHOOK_SECRET": SECRET}


def test_run_posts_every_decision_at_least_once_across_kill_9(tmp_path: Path, receiver: Receiver) -> None:
    run = RunProcess(tmp_path, free_port(), env(receiver))
    run.start()
    try:
        shop_traffic(run.url, time.time())
        wait_for(lambda: len(run.decisions()) >= 2, 60, "the cart decisions")
        wait_for(lambda: receiver.attempts >= 1, 30, "a post to the receiver that is down")
        made = [json.dumps(d, ensure_ascii=False) for d in run.decisions()]
        run.kill()  # SIGKILL while the receiver is down
        receiver.down = False
        run.start()
        wanted = {decision_id(_stored(run, n)) for n in range(len(made))}
        wait_for(lambda: wanted <= set(receiver.ids), 60, "every decision at the receiver")
        assert receiver.forged == 0
    finally:
        run.kill()


def _stored(run: RunProcess, index: int) -> str:
    """The stored line of a decision (what the feed posts, without its delivery)."""
    import sqlite3  # noqa: PLC0415

    with sqlite3.connect(run.state_dir / "engagement.sqlite3") as db:
        rows = db.execute("SELECT line FROM decisions ORDER BY seq").fetchall()
    return str(rows[index][0])


def test_workers_post_every_decision_at_least_once_across_kill_9(
    tmp_path: Path, receiver: Receiver, workers: list[WorkerProcess]
) -> None:
    space = Namespace("feed")
    space.create_topics()
    (tmp_path / "w1").mkdir()
    first = WorkerProcess(space, tmp_path / "w1", tmp_path / "sent.jsonl", env(receiver))
    workers.append(first)
    first.start(wait_for_partitions=4)
    time.sleep(3)  # the feed's consumer group joins and commits where it starts
    shop_traffic(first.url, time.time())
    wait_for(lambda: len(space.decisions()) >= 2, 90, "the cart decisions")
    wait_for(lambda: receiver.attempts >= 1, 30, "a post to the receiver that is down")
    first.kill()  # SIGKILL with the batch not taken
    receiver.down = False
    (tmp_path / "w2").mkdir()
    second = WorkerProcess(space, tmp_path / "w2", tmp_path / "sent.jsonl", env(receiver))
    workers.append(second)
    second.start(wait_for_partitions=4)
    wanted = {decision_id(line.decode()) for line in space.read(space.names.decisions)}
    assert len(wanted) >= 2
    wait_for(lambda: wanted <= set(receiver.ids), 90, "every decision at the receiver")
    assert receiver.forged == 0
