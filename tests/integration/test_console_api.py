"""The console's API behind its keys and bounds, on `run` and on a worker: no key, the wrong scope,
file names outside the two directories, an edit with errors, a range too long."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from engagement.config.loader import default_triggers_dir
from engagement.config.messages import default_messages_dir
from engagement.live.api_keys import create_key
from engagement.timefmt import rfc3339
from tests.integration.processes import failed, running
from tests.integration.workers import Namespace, WorkerProcess
from tests.scenario import filled_carts

pytestmark = pytest.mark.integration


def dirs(tmp_path: Path) -> dict[str, str]:
    triggers, messages = tmp_path / "triggers", tmp_path / "messages"
    shutil.copytree(default_triggers_dir(), triggers)
    shutil.copytree(default_messages_dir(), messages)
    return {"ENGAGEMENT_TRIGGERS_DIR": str(triggers), "ENGAGEMENT_MESSAGES_DIR": str(messages),
            "ENGAGEMENT_CONFIG_POLL": "1s"}  # fmt: skip


def test_the_console_api_needs_its_scopes_and_refuses_bad_edits(tmp_path: Path) -> None:
    env = dirs(tmp_path)
    with running(tmp_path / "state", env) as run:
        keys = Path(run.env["ENGAGEMENT_API_KEYS_FILE"])
        reader = {"Authorization": f"Bearer {create_key(keys, 'reader', ('read',))}"}
        ingester = {"Authorization": f"Bearer {create_key(keys, 'ingester', ('ingest',))}"}
        time.sleep(1.5)  # run reads its keys file again each second
        api = f"{run.url}/console/api"
        page = httpx.get(f"{run.url}/console")
        assert page.status_code == 200
        assert "default-src 'self'" in page.headers["Content-Security-Policy"]
        assert httpx.get(f"{run.url}/console/static/../api_keys").status_code == 404
        assert httpx.get(f"{api}/triggers").status_code == 401
        assert httpx.get(f"{api}/triggers", headers=ingester).status_code == 403
        assert httpx.get(f"{api}/triggers", headers=reader).json()["live_version"]
        cart = (Path(env["ENGAGEMENT_TRIGGERS_DIR"]) / "cart_idle.yaml").read_text(encoding="utf-8")
        edit = {"triggers/cart_idle.yaml": cart.replace("idle: 60m", "idle: 45m")}
        refused = httpx.post(f"{api}/publish", headers=reader, json={"files": edit, "note": "n"})
        assert refused.status_code == 403
        assert "admin" in refused.text
        for name in ("triggers/../../etc/passwd.yaml", "../keys.yaml", "triggers/x.txt", "other/x.yaml"):
            bad = httpx.post(f"{api}/check", headers=reader, json={"files": {name: "id: x"}})
            assert bad.status_code == 400, name
            assert "files" in bad.json()["error"]
        huge = httpx.post(f"{api}/check", headers=reader, json={"files": {"triggers/x.yaml": "a" * 70_000}})
        assert huge.status_code == 400
        assert httpx.post(f"{api}/check", headers=reader, content=b"[1, 2").status_code == 400
        deep_json = httpx.post(f"{api}/check", headers=reader, content=b"[" * 100_000 + b"]" * 100_000)
        assert deep_json.status_code == 400
        assert "nested" in deep_json.json()["error"]
        deep_yaml = httpx.post(f"{api}/check", headers=reader, json={"files": {"triggers/deep.yaml": "[" * 50_000}})
        assert deep_yaml.status_code == 200
        assert deep_yaml.json()["errors"] >= 1  # a problem of the file, not a server error
        broken = {"triggers/cart_idle.yaml": cart.replace("idle: 60m", "idle: soon")}
        checked = httpx.post(f"{api}/check", headers=reader, json={"files": broken}).json()
        assert checked["errors"] == 1
        assert checked["problems"][0]["file"] == "triggers/cart_idle.yaml"
        not_published = httpx.post(f"{api}/publish", headers=run.headers, json={"files": broken, "note": "try"})
        assert not_published.status_code == 422
        assert not_published.json()["problems"][0]["where"] == "idle"
        assert "idle: 60m" in (Path(env["ENGAGEMENT_TRIGGERS_DIR"]) / "cart_idle.yaml").read_text(encoding="utf-8")
        no_note = httpx.post(f"{api}/publish", headers=run.headers, json={"files": edit, "note": " "})
        assert no_note.status_code == 400
        # an edit that passes every check and still hurts customers needs each warning acknowledged
        night = {"triggers/cart_idle.yaml": cart.replace('"* 9-20 * * *"', "'* 0-23 * * *'").replace(
            "pacing: 6s", "pacing: 0s")}  # fmt: skip
        checked = httpx.post(f"{api}/check", headers=reader, json={"files": night}).json()
        assert sorted(w["name"] for w in checked["warnings"]) == ["cart_idle:night_sends", "cart_idle:no_pacing"]
        partly = {"files": night, "note": "all night", "acknowledged": ["cart_idle:no_pacing"]}
        unacknowledged = httpx.post(f"{api}/publish", headers=run.headers, json=partly)
        assert unacknowledged.status_code == 409
        assert [w["name"] for w in unacknowledged.json()["warnings"]] == ["cart_idle:night_sends"]
        assert "* 9-20 * * *" in (Path(env["ENGAGEMENT_TRIGGERS_DIR"]) / "cart_idle.yaml").read_text(encoding="utf-8")
        bad_ack = httpx.post(
            f"{api}/publish", headers=run.headers, json={"files": night, "note": "n", "acknowledged": "all"}
        )
        assert bad_ack.status_code == 400
        # a note or a text JSON can carry but no file can (a lone surrogate): refused before anything is written
        as_json = {**run.headers, "Content-Type": "application/json"}
        text = json.dumps(edit["triggers/cart_idle.yaml"])
        lone_note = '{"files": {"triggers/cart_idle.yaml": ' + text + '}, "note": "audit me \\ud800"}'
        assert httpx.post(f"{api}/publish", headers=as_json, content=lone_note).status_code == 400
        lone_text = '{"files": {"triggers/cart_idle.yaml": "id: x \\ud800"}}'
        assert httpx.post(f"{api}/check", headers=as_json, content=lone_text).status_code == 400
        assert "idle: 60m" in (Path(env["ENGAGEMENT_TRIGGERS_DIR"]) / "cart_idle.yaml").read_text(encoding="utf-8")
        assert httpx.get(f"{api}/versions", headers=reader).json()["versions"] == []
        # rolling back to a dangerous version needs its acknowledgement again
        everything = ["cart_idle:night_sends", "cart_idle:no_pacing"]
        first = httpx.post(
            f"{api}/publish", headers=run.headers, json={"files": night, "note": "night", "acknowledged": everything}
        )
        assert first.status_code == 201, first.text
        assert sorted(first.json()["acknowledged"]) == everything
        day = httpx.post(f"{api}/publish", headers=run.headers, json={"files": {"triggers/cart_idle.yaml": cart},
                                                                       "note": "day again"})  # fmt: skip
        assert day.status_code == 201, day.text
        back = httpx.post(f"{api}/versions/{first.json()['number']}/rollback", headers=run.headers)
        assert back.status_code == 409
        assert sorted(w["name"] for w in back.json()["warnings"]) == everything
        back = httpx.post(f"{api}/versions/{first.json()['number']}/rollback", headers=run.headers,
                          json={"acknowledged": everything})  # fmt: skip
        assert back.status_code == 201, back.text
        assert sorted(back.json()["acknowledged"]) == everything
        assert httpx.post(f"{api}/versions/7/rollback", headers=run.headers).status_code == 422
        assert httpx.post(f"{api}/versions/x/rollback", headers=run.headers).status_code == 400
        long_range = httpx.post(f"{api}/backtests", headers=reader, json={"files": {}, "since": 0, "until": 9e9})
        assert long_range.status_code == 400
        backwards = httpx.post(f"{api}/backtests", headers=reader, json={"files": {}, "since": 100, "until": 50})
        assert backwards.status_code == 400
        for since in ("NaN", "Infinity", "-1", "253402300799", '"yesterday"'):  # the last but one: year 9999
            odd = httpx.post(f"{api}/backtests", headers=reader, content=f'{{"files": {{}}, "since": {since}}}')
            assert odd.status_code == 400, since
            assert "since" in odd.json()["error"]
        for days in ("0", "NaN", "99999", "-3", ""):
            assert httpx.get(f"{api}/report?days={days}", headers=reader).status_code == 400, days
        assert httpx.get(f"{api}/backtests/nope", headers=reader).status_code == 404
        assert httpx.get(f"{api}/customers/{'x' * 300}", headers=reader).status_code == 400
        assert httpx.get(f"{api}/report?days=0", headers=reader).status_code == 400
        unknown = httpx.post(f"{api}/preview", headers=reader, json={"files": {}, "trigger": "nope"})
        assert unknown.status_code == 400
        assert "no trigger" in unknown.json()["error"]
        nobody = httpx.post(f"{api}/preview", headers=reader, json={"trigger": "cart_idle", "customer": "c-none"})
        assert nobody.status_code == 404


def test_preview_for_a_recorded_customer(tmp_path: Path) -> None:
    """Preview with a customer id: that customer's recorded events, not the sample customer's."""
    now = time.time()
    start = (now // 86_400 - 1) * 86_400 + 2 * 3600  # yesterday, 10:00 in Taipei
    events = [
        {"event_id": "p", "type": "customer.updated", "customer_id": "c-real", "occurred_at": rfc3339(start),
         "name": "林小華", "phone": "+886912000777", "locale": "zh-TW", "timezone": "Asia/Taipei",
         "whatsapp_opt_in": True},
        {"event_id": "c", "type": "cart.updated", "customer_id": "c-real", "occurred_at": rfc3339(start + 60),
         "cart_id": "k", "currency": "TWD", "items": [{"product_id": "p-9", "name": "羊毛圍巾", "quantity": 1,
                                                       "unit_price": 990}]},
    ]  # fmt: skip
    with running(tmp_path / "state", dirs(tmp_path)) as run:
        run.post_lines([json.dumps(e, ensure_ascii=False) for e in events])
        answer = httpx.post(f"{run.url}/console/api/preview", headers=run.headers,
                            json={"trigger": "cart_idle", "customer": "c-real"})  # fmt: skip
        assert answer.status_code == 200, answer.text
        found = answer.json()
        assert found["customer"] == "c-real"
        (send,) = [d for d in found["decisions"] if d["outcome"] == "send"]
        assert "林小華" in send["message"]["body"]
        assert "羊毛圍巾" in send["message"]["body"]


@pytest.fixture
def worker(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[WorkerProcess]:
    space = Namespace("console")
    space.create_topics()
    process = WorkerProcess(space, tmp_path / "w", tmp_path / "sent.jsonl", dirs(tmp_path))
    (tmp_path / "w").mkdir(exist_ok=True)
    process.start(wait_for_partitions=4)
    yield process
    process.kill()
    if failed(request):
        print(f"----- worker log -----\n{process.log()[-8000:]}")


def test_the_worker_serves_the_console_and_publishes_to_its_directories(worker: WorkerProcess, tmp_path: Path) -> None:
    api = f"{worker.url}/console/api"
    assert httpx.get(f"{worker.url}/console").status_code == 200
    assert httpx.get(f"{api}/triggers").status_code == 401
    live = httpx.get(f"{api}/triggers", headers=worker.headers, timeout=60).json()["live_version"]
    files = httpx.get(f"{api}/files", headers=worker.headers).json()["files"]
    cart = files["triggers/cart_idle.yaml"]
    edit = {"triggers/cart_idle.yaml": cart.replace("idle: 60m", "idle: 45m")}
    done = httpx.post(f"{api}/publish", headers=worker.headers, json={"files": edit, "note": "45 minutes"})
    assert done.status_code == 201, done.text
    published = done.json()["config_version"]
    assert published != live
    for _ in range(60):
        if httpx.get(f"{api}/triggers", headers=worker.headers, timeout=60).json()["live_version"] == published:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the published configuration did not go live on the worker")
    versions = httpx.get(f"{api}/versions", headers=worker.headers).json()["versions"]
    assert [v["number"] for v in versions] == [1, 0]
    report = httpx.get(f"{api}/report?days=1", headers=worker.headers, timeout=60)
    assert report.status_code == 200
    assert json.loads(report.text)["page"].startswith("<!doctype html>")


def _backtest_children(marker: str) -> list[int]:
    """The pids of backtest processes whose command line names `marker` (their scratch directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "engagement.console.backtest_child" in command and marker in command:
            found.append(int(entry.name))
    return found


def test_a_backtest_killed_with_its_server_leaves_no_archive_copy_and_no_child(tmp_path: Path) -> None:
    """The archive holds personal data: `run` killed with -9 in the middle of a backtest leaves no
    file that holds it (anywhere the backtest wrote) and no replay running on."""
    now = time.time()
    start = now - 2 * 86_400
    lines = filled_carts(6000, start, name="Marker Name")
    state = tmp_path / "state"
    with running(state, dirs(tmp_path)) as run:
        for chunk in range(0, len(lines), 4000):
            run.post_lines(lines[chunk : chunk + 4000])
        job = httpx.post(f"{run.url}/console/api/backtests", headers=run.headers,
                         json={"files": {}, "since": start - 60, "until": now}).json()  # fmt: skip
        marker = str(state / "console" / "backtests" / job["id"])
        deadline = time.monotonic() + 60
        while not _backtest_children(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        children = _backtest_children(marker)
        assert children, "the backtest's process never started"
        run.kill()  # -9, in the middle of the backtest
        deadline = time.monotonic() + 10
        while _backtest_children(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _backtest_children(marker) == [], "the backtest outlived its server"
    holding = [
        str(path)
        for folder in (state, Path(tempfile.gettempdir()))
        for path in _files_under(folder)
        if "engagement" in str(path) and _holds(path, b"Marker Name 59")
    ]
    assert holding == [path for path in holding if path.endswith(("engagement.sqlite3", "engagement.sqlite3-wal"))]


def _files_under(folder: Path) -> list[Path]:
    """Every file below `folder`, as it stands: the shared temporary directory changes under other
    processes' feet, and a directory gone while it is walked is passed over."""
    return [Path(root, name) for root, _, names in os.walk(folder) for name in names]


def _holds(path: Path, needle: bytes) -> bool:
    try:
        return needle in path.read_bytes()
    except OSError:
        return False


def _backtest(run: Any, edit: dict[str, str], since: float, until: float) -> dict[str, Any]:
    job = httpx.post(f"{run.url}/console/api/backtests", headers=run.headers,
                     json={"files": edit, "since": since, "until": until}).json()  # fmt: skip
    deadline = time.monotonic() + 120
    while job["state"] in ("reading", "replaying") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = httpx.get(f"{run.url}/console/api/backtests/{job['id']}", headers=run.headers).json()
    assert job["state"] == "done", job
    return dict(job)


def test_a_second_backtest_of_the_same_days_keeps_the_live_side_and_new_traffic_replays_it(tmp_path: Path) -> None:
    """The live side of a backtest is kept: the same days under the same live configuration
    replay the edit only (with the same answer), and new traffic on those days is replayed."""
    now = time.time()
    start = now - 86_400
    lines = []
    for n in range(40):
        customer, t = f"c-{n}", start + n * 600
        profile = {"phone": f"+8869{n:08d}", "whatsapp_opt_in": True}
        lines.append(json.dumps({"event_id": f"p{n}", "type": "customer.updated", "customer_id": customer,
                                 "occurred_at": rfc3339(t), **profile}))  # fmt: skip
        if n % 2:  # half of them fill a cart; the others only look around
            lines.append(json.dumps({"event_id": f"c{n}", "type": "cart.updated", "customer_id": customer,
                                     "occurred_at": rfc3339(t + 1), "cart_id": f"k{n}",
                                     "items": [{"product_id": "p", "name": "Scarf", "quantity": 1}]}))  # fmt: skip
        lines.append(json.dumps({"event_id": f"v{n}", "type": "page.viewed", "customer_id": customer,
                                 "occurred_at": rfc3339(t + 2), "product_id": "p"}))  # fmt: skip
    cart = (default_triggers_dir() / "cart_idle.yaml").read_text(encoding="utf-8")
    edit = {"triggers/cart_idle.yaml": cart.replace("\nidle: 60m ", "\nidle: 45m ")}
    assert edit["triggers/cart_idle.yaml"] != cart
    with running(tmp_path / "state", dirs(tmp_path)) as run:
        run.post_lines(lines)
        first = _backtest(run, edit, start - 60, now)
        again = _backtest(run, edit, start - 60, now)
        assert first["result"]["baseline_kept"] is False
        assert again["result"]["baseline_kept"] is True
        assert first["result"]["customers"] == again["result"]["customers"] == {"replayed": 20, "skipped": 20}
        assert first["result"]["triggers"] == again["result"]["triggers"]
        assert again["customers"] == {"replayed": 20, "skipped": 20}  # shown while it ran, too
        run.post_lines([json.dumps({"event_id": "late", "type": "page.viewed", "customer_id": "c-1",
                                    "occurred_at": rfc3339(now - 30), "product_id": "p"})])  # fmt: skip
        assert _backtest(run, edit, start - 60, now)["result"]["baseline_kept"] is False
