"""`engagement run` probed as an attacker on loopback would: every probe gets a 4xx with a reason
or a clean recovery, and what is erased leaves no copy under the state directory."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from engagement.live.api_keys import create_key
from engagement.timefmt import rfc3339
from tests.integration.processes import RunProcess, free_port, running, wait_for
from tests.integration.whatsapp_payloads import ENV, PHONE, signed, webhook

pytestmark = pytest.mark.integration


def event(kind: str, customer: str, n: int, at: float | None = None, **fields: object) -> dict[str, object]:
    stamp = rfc3339(time.time() - 5 if at is None else at)
    return {"event_id": f"{customer}-{n}", "type": kind, "customer_id": customer, "occurred_at": stamp, **fields}


def post(run: RunProcess, items: object, headers: dict[str, str] | None = None) -> httpx.Response:
    body = json.dumps(items).encode()
    chosen = run.headers if headers is None else headers
    return httpx.post(f"{run.url}/v1/events", content=body, headers={"Content-Type": "application/json", **chosen})


def watermark(run: RunProcess) -> float:
    for line in httpx.get(f"{run.url}/metrics").text.splitlines():
        if line.startswith("engagement_watermark_seconds "):
            return float(line.split()[1])
    return float("-inf")


def test_every_endpoint_but_webhooks_health_and_metrics_needs_a_key_with_its_scope(tmp_path: Path) -> None:
    with running(tmp_path, ENV) as run:
        reader = create_key(tmp_path / "api_keys", "reader", ("read",))
        profile = [event("customer.updated", "c1", 1, name="Mei")]
        for headers, code in [
            ({}, 401),
            ({"Authorization": "Bearer egk_guessed"}, 401),
            ({"Authorization": f"Basic {run.key}"}, 401),
            ({"Authorization": f"Bearer {reader}"}, 403),
            (run.headers, 202),
        ]:
            time.sleep(1.1 if code == 403 else 0)  # the keys file is read again at most once a second
            answer = post(run, profile, headers)
            assert answer.status_code == code, answer.text
            if code >= 400:
                assert answer.json()["error"]
        assert httpx.get(f"{run.url}/v1/decisions").status_code == 401
        assert httpx.get(f"{run.url}/v1/decisions", headers={"Authorization": f"Bearer {reader}"}).status_code == 200
        assert (
            httpx.delete(f"{run.url}/v1/customers/c1", headers={"Authorization": f"Bearer {reader}"}).status_code == 403
        )
        assert httpx.get(f"{run.url}/healthz").status_code == 200
        assert httpx.get(f"{run.url}/metrics").status_code == 200
        assert httpx.get(f"{run.url}/v1/webhooks/whatsapp", params={"hub.mode": "x"}).status_code == 403  # no key asked


def test_decision_paging_takes_only_sane_numbers(tmp_path: Path) -> None:
    with running(tmp_path) as run:
        for query in ({"limit": "-1"}, {"limit": "0"}, {"limit": "10001"}, {"after": "abc"}, {"after": "-5"}):
            answer = httpx.get(f"{run.url}/v1/decisions", params=query, headers=run.headers)
            assert answer.status_code == 400, query
            assert "limit" in answer.json()["error"]


def test_an_event_from_the_future_never_moves_the_clock(tmp_path: Path) -> None:
    with running(tmp_path) as run:
        before = watermark(run)
        for stamp in ("9999-12-31T00:00:00Z", rfc3339(time.time() + 3600)):
            item = {**event("page.left", "c9", 1), "occurred_at": stamp}
            answer = post(run, [item])
            assert answer.status_code == 400
            assert answer.json()["rejections"][0]["field"] == "occurred_at"
        assert watermark(run) < time.time() + 60
        assert watermark(run) >= before
    with running(tmp_path) as run:  # and nothing of it came back after a restart
        assert watermark(run) < time.time() + 60


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"type": "order.placed", "order_id": "o", "items": [], "currency": "TWD", "total": 1e400}, "total"),
        ({"type": "customer.updated", "name": "Alice\nURGENT: verify at http://x.example"}, "name"),
        ({"type": "page.left", "session_id": "s\u0000"}, "session_id"),
    ],
)
def test_values_out_of_bounds_are_rejected_naming_the_field(
    tmp_path: Path, fields: dict[str, object], field: str
) -> None:
    with running(tmp_path) as run:
        answer = post(run, [{**event("page.left", "c1", 1), **fields}])
        assert answer.status_code == 400
        assert answer.json()["rejections"][0]["field"] == field
        mixed = post(run, [{**event("page.left", "c1", 2), **fields}, event("page.left", "c1", 3)])
        assert mixed.status_code == 202
        assert (mixed.json()["accepted"], mixed.json()["rejected"]) == (1, 1)


def test_a_phone_number_cannot_be_taken_over_and_replies_reach_its_owner(tmp_path: Path) -> None:
    with running(tmp_path, ENV) as run:
        owner = event("customer.updated", "alice", 1, phone=PHONE, whatsapp_opt_in=True, name="Alice")
        assert post(run, [owner]).status_code == 202
        thief = post(run, [event("customer.updated", "mallory", 1, phone=PHONE, whatsapp_opt_in=True)])
        assert thief.status_code == 400
        assert thief.json()["rejections"][0]["field"] == "phone"
        stop = {"from": PHONE[1:], "id": "wamid.STOP1", "timestamp": str(int(time.time())), "type": "text"}
        body = webhook({"messages": [{**stop, "text": {"body": "STOP"}}]})
        assert httpx.post(f"{run.url}/v1/webhooks/whatsapp", content=body, headers=signed(body)).status_code == 200
        assert 'engagement_whatsapp_inbound_total{result="reply"} 1.0' in httpx.get(f"{run.url}/metrics").text
        time.sleep(2.5)  # the reply waits for the watermark (lateness 1 s), then opts its customer out
        moved = event("customer.updated", "alice", 2, phone="+886912000999")
        assert post(run, [moved]).status_code == 202  # the owner moves to another number: the old one is free
        again = post(run, [event("customer.updated", "mallory", 2, phone=PHONE)])
        assert again.status_code == 202
    from engagement.embedded.store import EmbeddedStore  # noqa: PLC0415 (read after the process stopped)

    store = EmbeddedStore(tmp_path)
    try:
        alice, mallory = store.load_state("alice"), store.load_state("mallory")
        assert alice is not None
        assert alice.profile is not None
        assert alice.profile.opt_out  # the STOP from the number reached its owner
        assert mallory is not None
        assert mallory.profile is None or not mallory.profile.opt_out
        assert store.customer_for_phone(PHONE) == "mallory"
        assert store.customer_for_phone("+886912000999") == "alice"
    finally:
        store.close()


def test_deep_huge_and_slow_bodies_get_a_4xx(tmp_path: Path) -> None:
    env = {**ENV, "ENGAGEMENT_MAX_BODY_BYTES": str(1024 * 1024), "ENGAGEMENT_HTTP_BODY_TIMEOUT": "2s"}
    with running(tmp_path, env) as run:
        deep = b"[" * 100_000 + b"]" * 100_000
        answer = httpx.post(
            f"{run.url}/v1/events", content=deep, headers={"Content-Type": "application/json", **run.headers}
        )
        assert answer.status_code == 400
        assert "malformed JSON" in answer.json()["rejections"][0]["reason"]
        hook = f"{run.url}/v1/webhooks/whatsapp"
        assert httpx.post(hook, content=deep[:150_000], headers=signed(deep[:150_000])).status_code == 400
        big = b"[" + b" " * (1024 * 1024) + b"]"
        answer = httpx.post(
            f"{run.url}/v1/events", content=big, headers={"Content-Type": "application/json", **run.headers}
        )
        assert answer.status_code == 413
        assert "limit" in answer.json()["error"]
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", run.port), timeout=10) as sock:
            sock.sendall(b"POST /v1/webhooks/whatsapp HTTP/1.1\r\nHost: x\r\nContent-Length: 62914560\r\n\r\n")
            reply = sock.recv(4096)  # refused on its declared size, before any of it is read
        assert reply.startswith(b"HTTP/1.1 413"), reply[:80]
        assert time.monotonic() - started < 5
        with socket.create_connection(("127.0.0.1", run.port), timeout=10) as sock:
            head = f"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {run.key}\r\n"
            sock.sendall(f"{head}Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n[".encode())
            reply = sock.recv(4096)  # the rest of the body never comes
        assert reply.startswith(b"HTTP/1.1 408"), reply[:80]
        assert httpx.get(f"{run.url}/healthz").status_code == 200


def test_a_client_that_never_finishes_its_request_is_cut_off(tmp_path: Path) -> None:
    with running(tmp_path, {"ENGAGEMENT_HTTP_IDLE_TIMEOUT": "2s"}) as run:
        with socket.create_connection(("127.0.0.1", run.port), timeout=15) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # headers never end
            started = time.monotonic()
            assert sock.recv(4096) == b""  # closed by the server
            assert time.monotonic() - started < 10
        assert httpx.get(f"{run.url}/healthz").status_code == 200


def test_an_erased_customer_leaves_no_number_or_name_in_any_file(tmp_path: Path) -> None:
    name, phone = "Wonder Alice", "+886955501234"
    with running(tmp_path, {"ENGAGEMENT_PROVIDER_FILE": str(tmp_path / "sent.jsonl")}) as run:
        start = time.time() - 20
        profile = event("customer.updated", "alice", 1, start, name=name, phone=phone, whatsapp_opt_in=True)
        logins = [
            event("login.succeeded", "alice", 2, start + 1, device_id="d1", country="TW"),
            event("login.succeeded", "alice", 3, start + 2, device_id="d2", country="RU"),
        ]
        assert post(run, [profile, *logins]).status_code == 202
        wait_for(lambda: bool(run.sent()), 30, "the login alert")
        assert phone in json.dumps(run.sent())
        # a console backtest keeps its live side, Alice's state at her first login with it
        job = httpx.post(f"{run.url}/console/api/backtests", headers=run.headers,
                         json={"files": {}, "since": start - 60, "until": time.time()}).json()  # fmt: skip
        deadline = time.monotonic() + 60
        while job["state"] in ("reading", "replaying") and time.monotonic() < deadline:
            time.sleep(0.2)
            job = httpx.get(f"{run.url}/console/api/backtests/{job['id']}", headers=run.headers).json()
        assert job["state"] == "done", job
        kept = list((tmp_path / "console" / "baselines").glob("*"))
        assert any(phone.encode() in path.read_bytes() for path in kept), "the live side kept holds her number"
        assert httpx.delete(f"{run.url}/v1/customers/alice").status_code == 401  # no key
        assert httpx.delete(f"{run.url}/v1/customers/a%00b", headers=run.headers).status_code == 400
        too_long = httpx.delete(f"{run.url}/v1/customers/{'x' * 200}", headers=run.headers)
        assert too_long.status_code == 400
        assert "at most 128 characters" in too_long.json()["error"]
        erased = httpx.delete(f"{run.url}/v1/customers/alice", headers=run.headers)
        assert erased.status_code == 200
        assert erased.json()["erased"]["state"] == 1
        assert erased.json()["erased"]["kept_backtests"] == len(kept)
        assert [d["outcome"] for d in run.decisions()] == ["send"]  # the decision stays, its message goes
        assert run.decisions()[0]["message"] == {"erased": True}
    found = [
        path.name
        for path in tmp_path.rglob("*")
        if path.is_file()
        and path.name != "run.log"
        and any(secret in path.read_bytes() for secret in (phone.encode(), phone[1:].encode(), name.encode()))
    ]
    assert found == []
    log = (tmp_path / "run.log").read_text()
    assert phone not in log
    assert phone[1:] not in log


def test_state_files_are_the_owners_only(tmp_path: Path) -> None:
    with running(tmp_path) as run:
        assert post(run, [event("page.left", "c1", 1)]).status_code == 202
    state_files = [p for p in tmp_path.iterdir() if p.name.startswith("engagement.")]
    assert state_files
    assert {stat.S_IMODE(p.stat().st_mode) for p in state_files} == {0o600}
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700


def test_listening_beyond_loopback_without_keys_is_refused_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "ENGAGEMENT_STATE_DIR": str(tmp_path), "ENGAGEMENT_HTTP_PORT": str(free_port())}
    done = subprocess.run(
        [sys.executable, "-m", "engagement", "run", "--host", "0.0.0.0"],  # noqa: S104
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("engagement run: refusing to listen on 0.0.0.0")
    assert "Traceback" not in done.stderr


def test_keys_create_prints_the_key_once_and_the_cli_erases_offline(tmp_path: Path) -> None:
    env = {**os.environ, "ENGAGEMENT_STATE_DIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "engagement", "keys", "create", "backend", "--scope", "ingest,read"]
    made = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=True)  # noqa: S603
    key = made.stdout.strip()
    assert key.startswith("egk_")
    assert key not in (tmp_path / "api_keys").read_text()
    bad = subprocess.run([*cmd[:-1], "root"], env=env, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
    assert bad.returncode == 2
    assert "unknown scope" in bad.stderr
    with running(tmp_path) as run:
        assert (
            post(
                run, [event("customer.updated", "bob", 1, phone="+886955500001")], {"Authorization": f"Bearer {key}"}
            ).status_code
            == 202
        )
        busy = subprocess.run(
            [sys.executable, "-m", "engagement", "customers", "forget", "bob"],
            env={**env, "ENGAGEMENT_HTTP_PORT": str(run.port), "ENGAGEMENT_API_KEY": run.key},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert busy.returncode == 0, busy.stderr  # run holds the store: the CLI went through its API
        assert json.loads(busy.stdout)["erased"]["phones"] == 1
    offline = subprocess.run(
        [sys.executable, "-m", "engagement", "customers", "forget", "bob"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(offline.stdout)["erased"]["state"] == 0  # already gone


def test_event_export_needs_an_admin_key_the_report_a_read_key_and_paging_is_sane(tmp_path: Path) -> None:
    with running(tmp_path) as run:
        ingest_only = create_key(tmp_path / "api_keys", "backend", ("ingest",))
        reader = create_key(tmp_path / "api_keys", "analyst", ("read",))
        time.sleep(1.1)  # the keys file is read again at most once a second
        for path, scope, below in (("/v1/events", "admin", reader), ("/v1/report", "read", ingest_only)):
            assert httpx.get(f"{run.url}{path}").status_code == 401
            wrong = httpx.get(f"{run.url}{path}", headers={"Authorization": f"Bearer {below}"})
            assert wrong.status_code == 403
            assert scope in wrong.json()["error"]
        for query in ({"since": "NaN"}, {"since": "-1"}, {"since": "1e400"}, {"limit": "0"}, {"after": "x" * 5000}):
            answer = httpx.get(f"{run.url}/v1/events", params=query, headers=run.headers)
            assert answer.status_code == 400, query
            assert "since" in answer.json()["error"]
        far = httpx.get(f"{run.url}/v1/events", params={"since": "253402300799"}, headers=run.headers)  # 9999
        assert (far.status_code, far.text) == (200, "")
