"""What a hostile client tries against the HTTP API of `run` and of a worker (the code is shared;
each runtime is checked): fake provider feedback with an ingest key, non-ASCII signatures and
tokens, Unicode digits, `.` and `..` as customer ids, a keys file broken to keep a deleted key
alive. Each gets a 4xx with a reason (or a 503 that names the keys file), never a 5xx; every
answer is no-store, nosniff and names no versions."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engagement.live.api_keys import create_key
from engagement.timefmt import rfc3339
from tests.integration.processes import failed, running, wait_for
from tests.integration.whatsapp_payloads import ENV
from tests.integration.workers import Namespace, WorkerProcess

pytestmark = pytest.mark.integration

TWILIO = {"ENGAGEMENT_TWILIO_AUTH_TOKEN": "twilio-token", "ENGAGEMENT_TWILIO_WEBHOOK_URL": "https://x.test/tw"}


class Server:
    """What the checks need of a runtime: its URL, its keys file and an admin key, its log."""

    def __init__(self, url: str, keys_file: Path, key: str, log: Path) -> None:
        self.url, self.keys_file, self.key, self.log = url, keys_file, key, log

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}", "Content-Type": "application/json"}


@pytest.fixture(params=["run", "worker"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    env = {**ENV, **TWILIO}
    if request.param == "run":
        with running(tmp_path / "run", env) as run:
            yield Server(run.url, Path(run.env["ENGAGEMENT_API_KEYS_FILE"]), run.key, run.state_dir / "run.log")
        return
    space = Namespace("hostile")
    space.create_topics()
    worker = WorkerProcess(space, tmp_path / "w1", tmp_path / "w1" / "sent.jsonl", env)
    worker.start(wait_for_partitions=4)
    try:
        keys_file = Path(worker.env["ENGAGEMENT_API_KEYS_FILE"])
        yield Server(worker.url, keys_file, worker.key, tmp_path / "w1" / "worker.log")
    finally:
        worker.kill()
        if failed(request):
            print(f"----- worker log -----\n{worker.log()[-12000:]}")


def event(kind: str, n: int, customer: str = "c1", **fields: object) -> dict[str, object]:
    return {"event_id": f"h{n}", "type": kind, "customer_id": customer, "occurred_at": rfc3339(time.time() - 5),
            **fields}  # fmt: skip


def post(server: Server, items: list[dict[str, object]], key: str | None = None) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/events", content=json.dumps(items), headers=server.headers(key))


def test_hostile_clients_get_a_4xx_with_a_reason(server: Server) -> None:
    ingest = create_key(server.keys_file, "ingest-only", ("ingest",))
    reader = create_key(server.keys_file, "reader", ("read",))
    time.sleep(1.2)  # the keys file is read again at most once a second

    # provider feedback comes from providers: an ingest key cannot fake an opt-out or a failure
    fakes = [event("message.replied", 1, text="STOP"), event("message.failed", 2, key="k", reason="unreachable")]
    refused = post(server, fakes, ingest)
    assert refused.status_code == 400, refused.text
    assert [r["field"] for r in refused.json()["rejections"]] == ["type", "type"]
    assert "admin scope" in refused.json()["rejections"][0]["reason"]
    assert post(server, [event("customer.updated", 3, name="Mei")], ingest).status_code == 202
    assert post(server, fakes).status_code == 202  # an admin key may import them

    # non-ASCII signatures and tokens are refused, not a crash
    hook = f"{server.url}/v1/webhooks/whatsapp"
    body = b'{"object": "whatsapp_business_account"}'
    for signature in ("sha256=ü", "sha256=" + "é" * 64, "ünïcödé"):
        answer = httpx.post(hook, content=body, headers={b"X-Hub-Signature-256": signature.encode()})
        assert answer.status_code == 401, (signature, answer.text)
    handshake = httpx.get(hook, params={"hub.mode": "subscribe", "hub.verify_token": "vérifié", "hub.challenge": "1"})
    assert handshake.status_code == 403
    twilio = httpx.post(f"{server.url}/v1/webhooks/twilio", content=b"MessageSid=SM1",
                        headers={b"X-Twilio-Signature": "sïgnature".encode(),
                                 b"Content-Type": b"application/x-www-form-urlencoded"})  # fmt: skip
    assert twilio.status_code == 401

    # Unicode digits pass str.isdigit and crash int(): each is a 400
    for path, query in [
        ("/console/api/report", {"days": "²"}),
        ("/console/api/report", {"days": "٣"}),
        ("/v1/report", {"since": "²"}),
    ]:
        answer = httpx.get(f"{server.url}{path}", params=query, headers=server.headers(reader))
        assert answer.status_code == 400, (path, query, answer.text)
    rollback = httpx.post(f"{server.url}/console/api/versions/%C2%B2/rollback", headers=server.headers())
    assert rollback.status_code == 400

    # `.` and `..` are no customer ids: they name paths
    dots = post(server, [event("customer.updated", 4, customer=".."), event("customer.updated", 5, customer=".")])
    assert [r["field"] for r in dots.json()["rejections"]] == ["customer_id", "customer_id"]
    assert httpx.delete(f"{server.url}/v1/customers/%2E%2E", headers=server.headers()).status_code == 400
    assert httpx.get(f"{server.url}/console/api/customers/%2E", headers=server.headers(reader)).status_code == 400

    # every answer: not cached, not sniffed, no versions named
    for answer in (
        httpx.get(f"{server.url}/console/api/whoami", headers=server.headers(reader)),
        httpx.get(f"{server.url}/healthz"),
        httpx.get(f"{server.url}/v1/report"),  # 401
        dots,
    ):
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Server"] == "engagement"


def test_a_keys_file_that_stops_parsing_accepts_no_key(server: Server) -> None:
    """Revocation fails closed: a deleted key must never keep working because the same edit broke
    another line."""
    leaving = create_key(server.keys_file, "leaving", ("ingest",))
    time.sleep(1.2)
    profile = [event("customer.updated", 1, name="Mei")]
    assert post(server, profile, leaving).status_code == 202
    lines = server.keys_file.read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if not line.startswith("leaving ")]
    server.keys_file.write_text("\n".join([*kept, "bob ingest sha256:not-hex"]) + "\n", encoding="utf-8")
    time.sleep(1.2)
    for key in (leaving, server.key):
        answer = post(server, profile, key)
        assert answer.status_code == 503, answer.text
        assert "keys file" in answer.json()["error"]
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'engagement_auth_failures_total{reason="keys_file_broken"}' in metrics
    wait_for(lambda: f"api_keys:{len(kept) + 1}: digest" in server.log.read_text(encoding="utf-8"), 10, "the log line")
    assert leaving not in server.log.read_text(encoding="utf-8")
    server.keys_file.write_text("\n".join(kept) + "\n", encoding="utf-8")  # mended, without the deleted key
    time.sleep(1.2)
    assert post(server, profile, leaving).status_code == 401
    assert post(server, profile).status_code == 202
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'engagement_auth_failures_total{reason="unknown_key"}' in metrics


def test_run_s_decision_paging_takes_ascii_digits_only(tmp_path: Path) -> None:
    with running(tmp_path, ENV) as run:
        for query in ({"limit": "²"}, {"after": "٣"}, {"limit": "1²"}):
            answer = httpx.get(f"{run.url}/v1/decisions", params=query, headers=run.headers)
            assert answer.status_code == 400, query


def raw_exchange(url: str, request: bytes) -> bytes:
    """One request written as bytes on a socket (what no HTTP client library lets one send)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def test_compressed_broken_and_unparsable_requests_get_a_4xx_naming_no_versions(server: Server) -> None:
    """Found by an attack: a gzip Content-Encoding with a body that is not gzip was a 500 with a
    traceback; a request aiohttp itself cannot parse was answered naming aiohttp's version."""
    for path in ("/v1/events", "/v1/webhooks/whatsapp", "/console/api/check"):
        answer = httpx.post(f"{server.url}{path}", content=b"not gzip at all",
                            headers={**server.headers(), "Content-Encoding": "gzip"})  # fmt: skip
        assert answer.status_code == 415, (path, answer.text)
    key = server.key.encode()
    chunked = b"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key
    broken = raw_exchange(server.url, chunked + b"\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nbad\r\n0\r\n\r\n")
    assert broken.split(b" ")[1].startswith(b"4"), broken[:200]
    garbage = raw_exchange(server.url, b"\x16\x03\x01 not http at all\r\n\r\n")
    assert garbage.split(b" ")[1] == b"400", garbage[:200]
    head = garbage.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    assert "aiohttp" not in head
    assert "Python/" not in head
    log = server.log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log
