"""Hot reload in a running `engagement run` and `engagement worker`: an edited, valid message set
goes live without a restart; a timer armed before keeps its configuration; an invalid set is
rejected whole, shows in the metrics, and the last good set stays live."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from engagement.config.messages import default_messages_dir
from engagement.timefmt import rfc3339
from tests.integration.processes import DEMO_TRIGGERS, running, wait_for
from tests.integration.workers import Namespace, WorkerProcess, sent

pytestmark = pytest.mark.integration

PHONES = {"c-before": "+886912300001", "c-after": "+886912300002", "c-rejected": "+886912300003"}
OLD_LOGIN = "請確認是否本人操作。"
NEW_LOGIN = "若非本人,請立即回覆。"


def config_dirs(tmp_path: Path) -> dict[str, str]:
    triggers, messages = tmp_path / "triggers", tmp_path / "messages"
    shutil.copytree(DEMO_TRIGGERS, triggers)
    shutil.copytree(default_messages_dir(), messages)
    return {
        "ENGAGEMENT_TRIGGERS_DIR": str(triggers),
        "ENGAGEMENT_MESSAGES_DIR": str(messages),
        "ENGAGEMENT_CONFIG_POLL": "200ms",
    }


def customer(cid: str, t: float) -> list[dict[str, object]]:
    """A profile, a cart (the demo cart reminder falls due 10 s later) and an anomalous login."""
    base = {"customer_id": cid}
    home = {"device_id": "d1", "country": "TW"}
    return [
        {**base, "event_id": f"{cid}-1", "type": "customer.updated", "occurred_at": rfc3339(t - 60), "name": cid,
         "phone": PHONES[cid], "locale": "zh-TW", "whatsapp_opt_in": True},
        {**base, "event_id": f"{cid}-2", "type": "login.succeeded", "occurred_at": rfc3339(t - 50), **home},
        {**base, "event_id": f"{cid}-3", "type": "cart.updated", "occurred_at": rfc3339(t), "cart_id": f"k-{cid}",
         "items": [{"product_id": "p1", "name": "帆布鞋", "quantity": 1, "unit_price": 990}], "currency": "TWD"},
        {**base, "event_id": f"{cid}-4", "type": "login.succeeded", "occurred_at": rfc3339(t + 1),
         "device_id": "d9", "country": "JP"},
    ]  # fmt: skip


def reloads(metrics_text: str, result: str) -> float:
    for line in metrics_text.splitlines():
        if line.startswith(f'engagement_config_reloads_total{{result="{result}"}} '):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def check_reload(
    env: dict[str, str],
    post: Callable[[list[dict[str, object]]], None],
    metrics: Callable[[], str],
    sends: Callable[[], list[dict[str, object]]],
) -> None:
    """The scenario both runtimes go through."""
    messages, triggers = Path(env["ENGAGEMENT_MESSAGES_DIR"]), Path(env["ENGAGEMENT_TRIGGERS_DIR"])

    def sent_to(cid: str, trigger: str) -> list[dict[str, object]]:
        return [m for m in sends() if m["customer_id"] == cid and m["trigger"] == trigger]

    # its cart timer is armed under the first configuration: the cart occurred 2 s ago, so the watermark
    # (which never leads the wall clock) has passed it already and the cart is applied on arrival
    post(customer("c-before", time.time() - 2))
    wait_for(lambda: sent_to("c-before", "anomalous_login"), 30, "the first login alert")
    [alert] = sent_to("c-before", "anomalous_login")
    assert str(alert["body"]).endswith(OLD_LOGIN)

    edit(messages / "anomalous_login.yaml", OLD_LOGIN, NEW_LOGIN)
    edit(messages / "cart_idle.yaml", "需要幫您完成結帳嗎?", "要幫您結帳嗎?")
    wait_for(lambda: reloads(metrics(), "applied") == 1, 20, "the reload")
    post(customer("c-after", time.time()))
    wait_for(lambda: sent_to("c-after", "anomalous_login"), 30, "the second login alert")
    assert str(sent_to("c-after", "anomalous_login")[0]["body"]).endswith(NEW_LOGIN)

    wait_for(lambda: sent_to("c-before", "cart_idle") and sent_to("c-after", "cart_idle"), 60, "both cart reminders")
    assert str(sent_to("c-before", "cart_idle")[0]["body"]).endswith("需要幫您完成結帳嗎?")  # armed before: kept
    assert str(sent_to("c-after", "cart_idle")[0]["body"]).endswith("要幫您結帳嗎?")

    edit(triggers / "cart_idle.yaml", "idle: 10s", "idle: ten seconds")  # invalid: the whole set is rejected ...
    edit(messages / "anomalous_login.yaml", NEW_LOGIN, "這段文字不會上線。")  # ... this valid edit with it
    wait_for(lambda: reloads(metrics(), "rejected") == 1, 20, "the rejection")
    post(customer("c-rejected", time.time()))
    wait_for(lambda: sent_to("c-rejected", "anomalous_login"), 30, "the third login alert")
    assert str(sent_to("c-rejected", "anomalous_login")[0]["body"]).endswith(NEW_LOGIN)
    assert reloads(metrics(), "applied") == 1


def test_run_takes_a_valid_edit_live_and_rejects_an_invalid_one(tmp_path: Path) -> None:
    env = config_dirs(tmp_path)
    (tmp_path / "state").mkdir()
    with running(tmp_path / "state", env) as run:

        def post(events: list[dict[str, object]]) -> None:
            run.post_lines([json.dumps(e, ensure_ascii=False) for e in events])

        check_reload(env, post, lambda: httpx.get(f"{run.url}/metrics", timeout=5).text, run.sent)
        versions = {d["trigger"]: d["config_version"] for d in run.decisions() if d["customer_id"] == "c-before"}
        assert versions["cart_idle"] == versions["anomalous_login"]  # the cart kept the first configuration
        after = {d["config_version"] for d in run.decisions() if d["customer_id"] == "c-after"}
        assert len(after) == 1
        assert after != {versions["cart_idle"]}


def test_worker_takes_a_valid_edit_live_and_rejects_an_invalid_one(tmp_path: Path) -> None:
    env = config_dirs(tmp_path)
    space = Namespace("reload")
    space.create_topics()
    worker = WorkerProcess(space, tmp_path / "w1", tmp_path / "sent.jsonl", env)
    try:
        worker.start(wait_for_partitions=4)

        def post(events: list[dict[str, object]]) -> None:
            space.produce([json.dumps(e, ensure_ascii=False) for e in events])

        check_reload(
            env,
            post,
            lambda: httpx.get(f"{worker.url}/metrics", timeout=5).text,
            lambda: sent(tmp_path / "sent.jsonl"),
        )
    except BaseException:
        print(worker.log()[-12000:])
        raise
    finally:
        worker.kill()
