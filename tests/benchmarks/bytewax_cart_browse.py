"""A yardstick for the replay: a Bytewax dataflow that does only the cart and browse part of the
job on the same file (decode each line, keep per customer the cart and the page in view, and
emit a reminder when a customer comes back after an hour with a filled cart or leaves a page
viewed for more than five minutes). It has no watermark, no policies, no messages.

Run: python -m bytewax.run tests.benchmarks.bytewax_cart_browse:flow -w 2   (EVENTS in the environment)
Bytewax is not a dependency of the project: `pip install bytewax` to measure against it.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import bytewax.operators as op
from bytewax.connectors.files import FileSource
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink

WATCHED = frozenset({"cart.updated", "page.viewed", "page.left", "order.placed"})
IDLE = 3_600.0
DWELL = 300.0


def decoded(line: str) -> dict[str, Any] | None:
    event = json.loads(line)
    return event if event.get("type") in WATCHED else None


def step(state: dict[str, Any] | None, event: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    state = state or {"cart": False, "at": 0.0, "viewed": None}
    t = datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00")).timestamp()
    kind, said = event["type"], None
    if state["cart"] and t - state["at"] >= IDLE:
        said = "cart_idle"
    viewed = state["viewed"]
    if viewed is not None and t - viewed >= DWELL:
        said = said or "browse_abandonment"
    if kind == "cart.updated":
        state["cart"] = bool(event.get("items"))
    elif kind == "order.placed":
        state["cart"], state["viewed"] = False, None
    state["viewed"] = t if kind == "page.viewed" else None
    state["at"] = t
    return state, said


out: list[Any] = []
flow = Dataflow("cart_and_browse")
lines = op.input("lines", flow, FileSource(Path(os.environ.get("EVENTS", "/dev/null"))))
events = op.filter_map("decode", lines, decoded)
keyed = op.key_on("customer", events, lambda event: event["customer_id"])
said = op.stateful_map("cart_and_browse", keyed, step)
op.output("out", op.filter_map_value("said", said, lambda value: value), TestingSink(out))
