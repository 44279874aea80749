"""Trigger kinds are modules in a registry: the engine names none, and a new kind needs no engine change."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Literal

import pytest

from engagement.config.messages import load_messages
from engagement.core import engine as engine_module
from engagement.core.configured import TriggerSet
from engagement.core.decisions import Decision
from engagement.core.durations import Duration
from engagement.core.engine import Engine, EngineSettings
from engagement.core.kinds.kind import Decider, TriggerKind
from engagement.core.kinds.registry import KINDS, VARIABLES
from engagement.core.specs import TRIGGER_KINDS, UtilityPolicies, _Trigger
from engagement.core.state import CustomerState, Timer
from engagement.events import EVENT_TYPES, Event, ShipmentDelivered
from tests.scenario import Events, replay

ENGINE_SOURCE = Path(engine_module.__file__).read_text(encoding="utf-8")


def test_the_engine_names_no_trigger_kind() -> None:
    for kind in TRIGGER_KINDS:
        assert kind not in ENGINE_SOURCE
    assert not re.search(r"kinds\.(cart|browse|login|logistics)\b", ENGINE_SOURCE)


def test_every_configurable_kind_is_registered_with_known_events() -> None:
    assert [kind.name for kind in KINDS] == list(TRIGGER_KINDS)
    for kind in KINDS:
        assert set(kind.hooks) | set(kind.on_arrival) <= set(EVENT_TYPES), kind.name
        assert VARIABLES[kind.name][0] == "customer_name"


# ---- a kind the product does not ship: a review request some days after delivery -------------


class ReviewRequestTrigger(_Trigger):
    kind: Literal["review_request"]
    category: Literal["utility"] = "utility"
    after: Duration = timedelta(days=3)
    policies: UtilityPolicies = UtilityPolicies()


def _on_delivered(
    engine: Decider,
    plans: Sequence[ReviewRequestTrigger],
    state: CustomerState,
    event: Event,
    t: float,
    clock: float,
    out: list[Decision],
) -> None:
    assert isinstance(event, ShipmentDelivered)
    for spec in plans:
        due = t + spec.after.total_seconds()
        deadline = due + spec.send_within.total_seconds()
        engine.add_timer(state, Timer(spec.id, due, deadline, event.event_id, event.order_id, due))


def _values(
    state: CustomerState, timer: Timer, spec: ReviewRequestTrigger, zone: str, chinese: bool
) -> Mapping[str, str | None]:
    return {"order_id": timer.subject}


REVIEW_REQUEST = TriggerKind(
    name="review_request",
    hooks={"shipment.delivered": _on_delivered},
    variables=("order_id",),
    values=_values,
)

MESSAGE = """\
trigger: review_request
category: utility
whatsapp:
  template: review_request
  parameters:
    - "{{customer_name|there}}"
    - "{{order_id}}"
locales:
  en:
    text: "Hi {{customer_name|there}}, how is your order {{order_id}}? A review helps other shoppers."
"""


def test_a_new_kind_is_one_module_and_its_config_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "KINDS", (*KINDS, REVIEW_REQUEST))
    monkeypatch.setattr(engine_module, "BY_NAME", {kind.name: kind for kind in (*KINDS, REVIEW_REQUEST)})
    (tmp_path / "review_request.yaml").write_text(MESSAGE, encoding="utf-8")
    spec = ReviewRequestTrigger(id="review_request", kind="review_request", send_within=timedelta(hours=8))
    engine = Engine(
        TriggerSet((spec,), "test"),  # type: ignore[arg-type]  # a model outside the shipped union
        load_messages(tmp_path),
        EngineSettings(default_timezone="Asia/Taipei"),
    )
    events = Events()
    events.profile(0)
    delivered = events.add(60, "shipment.delivered", order_id="o-7", shipment_id="s-7")
    events.add(60 * 24 * 4, "page.viewed", product_id="p1")  # moves the clock past the request
    decisions = replay(events, engine)
    assert [(d.trigger, d.outcome, d.reason) for d in decisions] == [("review_request", "send", None)]
    sent = decisions[0]
    assert sent.message is not None
    assert sent.message.body.startswith("Hi ")
    assert "o-7" in sent.message.body
    assert sent.event_id == delivered["event_id"]
    assert sent.message.template is not None
    assert sent.message.template.parameters[1][1] == "o-7"
