"""Which customers an edit can change: a backtest replays only them under the edit.

A replay decides each customer from their own events and the watermark alone (customers meet
nowhere else: caps, cooldowns, pacing and holdout live in each customer's state, and a phone
number shared by two customers is paced by the sender, not by the engine). So a customer's
decisions under the edit differ from the live ones only if a trigger that changed could decide
something for them: a trigger whose file or message changed (or that came or went) decides
nothing for a customer without one of the event types that start it (`TriggerKind.started_by`:
the cart reminder needs a cart, the delay alert a dispatched shipment). Everything a changed
trigger shares with the others (the category's caps, the customer's pacing, the ledger of sends)
is reached only through its own sends, so replaying every event of those customers covers it.

Changes that reach every customer (the event catalogue, the locale fall-backs, paused templates,
the engine settings) make the scope everyone; changes to what answers a reply (a message's
answers, the keyword answers, the opt-out words) add the customers who replied.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from engagement.core.catalog import MessageSpec
from engagement.core.engine import Engine
from engagement.core.specs import TriggerSpec

REPLY_TYPES = frozenset({"message.replied"})


@dataclass(frozen=True)
class EditScope:
    everyone: bool
    changed: frozenset[str]  # the triggers whose definition or message differ
    types: frozenset[str]  # a customer with an accepted event of one of these types is replayed

    def touches(self, event_types: Iterable[str]) -> bool:
        return self.everyone or not self.types.isdisjoint(event_types)


def scope_of(live: Engine, edit: Engine) -> EditScope:
    """The customers (by the event types they sent) whose decisions the edit can change."""
    if (
        live.settings != edit.settings
        or live.event_catalogue != edit.event_catalogue
        or live.catalog.locales != edit.catalog.locales
        or live.catalog.held != edit.catalog.held
    ):
        return EditScope(True, frozenset(live.all_specs.keys() | edit.all_specs.keys()), frozenset())
    changed = {
        trigger
        for trigger in live.all_specs.keys() | edit.all_specs.keys()
        if _definition(live, trigger) != _definition(edit, trigger)
    }
    changed |= _reordered(live, edit)
    types: set[str] = set()
    for engine in (live, edit):
        for trigger in changed & engine.plans.keys():
            kind, plan = engine.plans[trigger]
            types |= kind.started_by([plan])
    if _answers(live) != _answers(edit):
        types |= REPLY_TYPES
    return EditScope(False, frozenset(changed), frozenset(types))


def _reordered(live: Engine, edit: Engine) -> set[str]:
    """The triggers of a kind whose order changed (a kind's hooks take its triggers in the order
    of their files, and the first to send paces the next): renamed files, same contents."""
    moved: set[str] = set()
    for kind in {spec.kind for spec in (*live.specs.values(), *edit.specs.values())}:
        before = [t for t, spec in live.specs.items() if spec.kind == kind and t in edit.specs]
        after = [t for t, spec in edit.specs.items() if spec.kind == kind and t in live.specs]
        if before != after:
            moved.update(before)
    return moved


def _definition(engine: Engine, trigger: str) -> tuple[Any, Any] | None:
    """What decides a trigger's outcome and its text: its file (less its description) and message."""
    spec: TriggerSpec | None = engine.all_specs.get(trigger)
    if spec is None:
        return None
    message = engine.catalog.message_for(trigger, spec.kind)
    return spec.model_copy(update={"description": ""}), _without_source(message)


def _answers(engine: Engine) -> tuple[Any, ...]:
    """Everything that answers a reply besides the sends themselves."""
    messages = {owner: _without_source(message) for owner, message in engine.catalog.messages.items()}
    kinds = {trigger: spec.kind for trigger, spec in engine.all_specs.items()}
    return (messages, engine.catalog.keywords, engine.opt_out_keywords, kinds)


def _without_source(message: MessageSpec | None) -> MessageSpec | None:
    return None if message is None else dataclasses.replace(message, source="")


EVERYONE = EditScope(True, frozenset(), frozenset())
"""Every customer replayed under the edit (a full backtest, to compare with)."""
