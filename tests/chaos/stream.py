"""What the chaos tests share: a mixed stream of customers at live pace, a fake Graph API with the
fault mix in a thread of its own, a feeder that keeps sending until each event is acknowledged,
and the comparison with what replay decides for the same events."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from engagement.config.loader import load_triggers
from engagement.config.messages import default_messages_dir, load_messages
from engagement.core.decisions import Decision
from engagement.core.engine import Engine, EngineSettings
from engagement.decode import Rejection, decode_event
from engagement.replay.runner import Replayer
from engagement.timefmt import parse_rfc3339, rfc3339
from tests.integration.fake_graph import FakeGraph, Received, error, server_error

TRIGGERS = Path(__file__).resolve().parent / "triggers"  # the demo's, with 2-minute send windows

CUSTOMERS = 1000
SPAN_SECONDS = 30.0  # the stream's events happen over this long
INFLIGHT_PER_KILL = 8  # provider calls a runtime has in flight at most (its send lanes)


def mixed_stream(run_id: str, start: float, seed: int = 5) -> list[dict[str, object]]:
    """Per customer: a profile and a history an hour back, then within `SPAN_SECONDS` of `start`
    one moment: an anomalous login, an idle cart, a cart that converts, or a late parcel."""
    rng = random.Random(seed)
    events: list[dict[str, object]] = []
    for n in range(CUSTOMERS):
        cid = f"{run_id}-{n:04d}"

        def add(kind: str, at: float, suffix: str, cid: str = cid, **fields: object) -> None:
            events.append(
                {"event_id": f"{cid}-{suffix}", "type": kind, "customer_id": cid, "occurred_at": rfc3339(at), **fields}
            )

        add(
            "customer.updated",
            start - 3600,
            "p",
            name=f"C{n}",
            phone=f"+8869{n:08d}",
            locale="en",
            whatsapp_opt_in=True,
        )
        add("login.succeeded", start - 3000, "l0", device_id=f"{cid}-phone", country="TW")
        t = start + rng.uniform(0, SPAN_SECONDS)
        kind = n % 4
        if kind == 0:
            add("login.succeeded", t, "l1", device_id=f"{cid}-laptop", country="RU")
        elif kind in (1, 2):
            items = [{"product_id": "p1", "name": "Shirt", "quantity": 1, "unit_price": 30.0}]
            add("cart.updated", t, "c1", cart_id=f"{cid}-k", items=items, currency="TWD")
            if kind == 2:
                add("order.placed", t + 3, "o1", order_id=f"{cid}-o", items=items, total=30.0, currency="TWD")
        else:
            add(
                "shipment.dispatched",
                t,
                "s1",
                order_id=f"{cid}-o",
                shipment_id=f"{cid}-s",
                promised_delivery_at=rfc3339(t - 5),
                carrier="Post",
            )
    events.sort(key=lambda e: str(e["occurred_at"]))
    return events


def replayed(events: list[dict[str, object]], until: float) -> list[Decision]:
    engine = Engine(
        load_triggers(TRIGGERS), load_messages(default_messages_dir()), EngineSettings(allowed_lateness=1.0)
    )
    out: list[Decision] = []
    replayer = Replayer(engine, out.append)
    for record in events:
        item = decode_event(json.dumps(record))
        assert not isinstance(item, Rejection), item
        replayer.feed(item)
    replayer.finish(until)
    return out


@dataclass
class FaultyGraph:
    """A fake Graph API in a thread of its own: 3 % of calls 130429, 3 % a 500."""

    seed: int = 3
    accepted: Counter[str] = field(default_factory=Counter)  # send key -> calls accepted
    accepted_at: dict[str, float] = field(default_factory=dict)  # send key -> when first accepted
    to: dict[str, str] = field(default_factory=dict)  # send key -> the number's digits
    calls: Counter[str] = field(default_factory=Counter)
    graph: FakeGraph = field(default_factory=FakeGraph)
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)

        def answer(request: Received) -> web.Response | None:
            roll = rng.random()
            if roll < 0.03:
                self.calls["130429"] += 1
                throttle: web.Response = error(130429)(request)
                return throttle
            if roll < 0.06:
                self.calls["500"] += 1
                failure: web.Response = server_error(500)(request)
                return failure
            self.calls["accepted"] += 1
            key = str(request.body.get("biz_opaque_callback_data"))
            self.accepted[key] += 1
            self.accepted_at.setdefault(key, time.time())
            self.to[key] = str(request.body.get("to", "")).lstrip("+")
            return None

        self.graph.default = answer

    def __enter__(self) -> FaultyGraph:
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.graph.start(), self._loop).result(10)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self.graph.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop.close()

    def env(self) -> dict[str, str]:
        return {
            "ENGAGEMENT_PROVIDER": "whatsapp",
            "ENGAGEMENT_WHATSAPP_API_BASE": self.graph.base_url,
            "ENGAGEMENT_WHATSAPP_PHONE_NUMBER_ID": "1065",
            "ENGAGEMENT_WHATSAPP_TOKEN": "token",
            "ENGAGEMENT_TRIGGERS_DIR": str(TRIGGERS),
        }


def feed_at_live_pace(
    events: list[dict[str, object]], send: Callable[[list[str]], bool], stop_at: float
) -> dict[str, int]:
    """Send each event once its time has come, in small batches; a batch that is not acknowledged
    (the runtime is down) is sent again until it is. Returns what that took."""
    cost = Counter[str]()
    pending = list(events)
    while pending and time.time() < stop_at:
        now = time.time()
        due = [e for e in pending[:500] if float_time(e) <= now]
        if not due:
            time.sleep(0.05)
            continue
        lines = [json.dumps(e) for e in due]
        while time.time() < stop_at:
            if send(lines):
                break
            cost["batches sent again"] += 1
            time.sleep(0.2)
        pending = pending[len(due) :]
    cost["events"] = len(events) - len(pending)
    return dict(cost)


def float_time(event: dict[str, object]) -> float:
    return parse_rfc3339(str(event["occurred_at"]))


@dataclass
class Verdict:
    """Live decisions against replay's for the same events."""

    expected: dict[str, Decision]
    live: dict[str, dict[str, object]]
    accepted: Counter[str]
    unknown: set[str]
    statuses: dict[str, str] = field(default_factory=dict)  # the runtime's status of each send

    def problems(self, kills: int) -> list[str]:
        found = []
        missing = sorted(set(self.expected) - set(self.live))
        if missing:
            kinds = Counter(f"{self.expected[k].trigger} {self.expected[k].outcome}" for k in missing)
            found.append(f"{len(missing)} timers never decided ({dict(kinds)}), e.g. {missing[:3]}")
        twice = sorted(k for k, n in self.accepted.items() if n > 1)
        if twice:
            found.append(f"{len(twice)} sends accepted twice, e.g. {twice[:3]}")
        for key, decision in self.expected.items():
            live = self.live.get(key)
            if decision.outcome != "send" or live is None:
                continue
            if live["outcome"] == "send":
                if self.accepted[key] != 1 and key not in self.unknown:
                    status = self.statuses.get(key)
                    found.append(f"{key}: decided send, accepted {self.accepted[key]} times, status {status}")
            elif live["reason"] != "deadline_missed":
                found.append(f"{key}: replay sends, live {live['outcome']} {live['reason']}")
        if len(self.unknown) > INFLIGHT_PER_KILL * kills:
            found.append(f"{len(self.unknown)} unknown sends for {kills} kills")
        return found

    def table(self, costs: dict[str, int]) -> str:
        sends = [k for k, d in self.expected.items() if d.outcome == "send"]
        late = sum(1 for k in sends if self.live.get(k, {}).get("reason") == "deadline_missed")
        rows = {
            "timers decided (replay / live)": f"{len(self.expected)} / {len(set(self.expected) & set(self.live))}",
            "sends due (replay)": str(len(sends)),
            "sends accepted once by the provider": str(sum(1 for k in sends if self.accepted[k] == 1)),
            "sends unknown (in flight at a kill)": str(len(self.unknown)),
            "sends late (deadline_missed)": str(late),
            **{k: str(v) for k, v in costs.items()},
        }
        width = max(len(k) for k in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows.items())


def decided(decisions: list[Decision]) -> dict[str, Decision]:
    """Replay's decisions by key: one per timer (sends, suppressions, cancellations)."""
    return {d.key: d for d in decisions}


def lines_of(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []
