"""A backtest that replays only the customers an edit can change prints what a backtest replaying
every customer prints: the table, the moves, the examples and the sends per day, for random
edits of every trigger kind (and of messages) over random streams; and a kept baseline changes
nothing either."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from engagement.authoring.backtest import Backtest, backtest, live_side, report
from engagement.authoring.baselines import Baseline, BaselineCache
from engagement.authoring.edit_scope import scope_of
from engagement.config.loader import default_triggers_dir
from engagement.config.messages import default_messages_dir, load_messages
from engagement.console.backtests import as_json
from engagement.core.catalog import MessageCatalog
from engagement.core.configured import TriggerSet
from engagement.core.engine import Engine, EngineSettings
from engagement.core.specs import TriggerSpec
from engagement.core.text_template import TextTemplate
from engagement.events import Event
from engagement.replay import subset
from engagement.replay.command import iter_decisions
from engagement.replay.runner import Replayer
from engagement.state_codec import load_state
from tests.scenario import custom_triggers
from tests.unit.test_properties import _event
from tests.unit.test_sharded_replay import event_files

QUICK_SEQUENCE = """\
id: left_without_buying
kind: sequence
category: marketing
start: page.left
stop: [order.placed]
remind:
  - after: 20m
send_within: 1h
policies:
  cooldown: 2h
  quiet_hours: {allowed: "* 0-23 * * *"}
"""


def _shipped_and_a_quick_sequence() -> TriggerSet:
    """The shipped triggers, and a sequence that decides within a day of the streams below."""
    with tempfile.TemporaryDirectory() as tmp:
        return custom_triggers(Path(tmp), {"left_without_buying.yaml": QUICK_SEQUENCE})


TRIGGERS = _shipped_and_a_quick_sequence()
MESSAGES = load_messages(default_messages_dir())
LIVE = Engine(TRIGGERS, MESSAGES, EngineSettings())
QUIET = ("* 9-20 * * *", "* 0-23 * * *", "* 12-13 * * *")


def _changed(value: Any, rng: random.Random) -> Any:
    """Another value of the same kind, or the same value when there is none to pick."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, timedelta):
        return value * rng.choice((0.25, 0.5, 2, 3)) if value else timedelta(minutes=rng.choice((1, 30)))
    if isinstance(value, int):
        return rng.choice([n for n in (0, 1, 2, 5, 50) if n != value])
    if isinstance(value, float):
        return rng.choice((0.0, 10.0, 50.0))
    return value


def _mutated(model: BaseModel, rng: random.Random, depth: int = 0) -> BaseModel:
    """The model with one of its settings (or one of a nested model's) changed."""
    names = [name for name in type(model).model_fields if name not in ("id", "kind", "category", "description")]
    rng.shuffle(names)
    for name in names:
        value = getattr(model, name)
        if isinstance(value, BaseModel) and depth < 2:
            return model.model_copy(update={name: _mutated(value, rng, depth + 1)})
        if name == "allowed" and isinstance(value, str):
            return model.model_copy(update={name: rng.choice([q for q in QUIET if q != value])})
        if name == "opt_out_keywords":
            return model.model_copy(update={name: (*value, "UNSUBSCRIBE")})
        changed = _changed(value, rng)
        if changed != value:
            return model.model_copy(update={name: changed})
    return model


def _edited_messages(catalog: MessageCatalog, rng: random.Random) -> MessageCatalog:
    """One message's text in one locale changed."""
    owner = rng.choice(sorted(catalog.messages))
    message = catalog.messages[owner]
    locale = rng.choice(sorted(message.locales))
    wording = message.locales[locale]
    text = TextTemplate.parse(wording.text.source + " (edited)")
    locales = {**message.locales, locale: dataclasses.replace(wording, text=text)}
    messages = {**catalog.messages, owner: dataclasses.replace(message, locales=locales)}
    return dataclasses.replace(catalog, messages=messages, version="edited")


def edit(seed: int) -> Engine:
    """A random edit: one to three triggers changed (any kind), sometimes a message too."""
    rng = random.Random(seed)
    specs = list(TRIGGERS.triggers)
    for _ in range(rng.randint(1, 3)):
        k = rng.randrange(len(specs))
        specs[k] = cast(TriggerSpec, _mutated(specs[k], rng))
    catalog = _edited_messages(MESSAGES, rng) if rng.random() < 0.3 else MESSAGES
    triggers = dataclasses.replace(TRIGGERS, triggers=tuple(specs), version=f"edit-{seed}")
    return Engine(triggers, catalog, EngineSettings())


def both(lines: list[str], new: Engine, jobs: int = 1) -> tuple[Backtest, Backtest]:
    with tempfile.TemporaryDirectory() as tmp:
        events = Path(tmp, "e.jsonl")
        events.write_text("\n".join(lines) + "\n", encoding="utf-8")
        scoped = backtest(LIVE, new, events, jobs=jobs)
        full = backtest(LIVE, new, events, jobs=jobs, scoped=False)
    return scoped, full


SCOPE_FIELDS = ("chart", "customers", "baseline_kept")  # how it was computed, and the drawing


def printed(result: Backtest) -> tuple[str, Any]:
    """What a backtest shows: the report, and the console's table, moves, examples and chart data
    (the chart's picture is drawn from the data, with ids of its own in every drawing)."""
    shown = {name: value for name, value in as_json(result).items() if name not in SCOPE_FIELDS}
    return "\n".join(report(result)), json.dumps(shown, sort_keys=True)


KINDS: tuple[str, ...] = ("profile", "view", "left", "cart", "empty", "order", "dispatch", "delay", "delivered")
KINDS = (*KINDS, "reply", "stop", "login", "failed")


@st.composite
def sparse_files(draw: st.DrawFn) -> list[str]:
    """Customers who each send a few kinds of events (some only views, some only logins, ...),
    so that an edit leaves some of them out; jittered and late events, and repeats."""
    habits = draw(st.lists(st.sets(st.sampled_from(KINDS), min_size=1, max_size=4), min_size=2, max_size=10))
    steps = draw(
        st.lists(st.tuples(st.integers(0, len(habits) - 1), st.integers(0, 3), st.integers(0, 1_800),
                           st.integers(0, 99)), min_size=1, max_size=150)
    )  # fmt: skip
    consenting = draw(st.lists(st.booleans(), min_size=len(habits), max_size=len(habits)))
    lines = [json.dumps(_event(-1 - who, f"c{who}", "profile", 0)) for who, yes in enumerate(consenting) if yes]
    seconds = 0
    for n, (who, pick, gap, luck) in enumerate(steps):
        seconds += gap
        kinds = sorted(habits[who])
        jitter = -45 if luck < 5 else -(luck % 20)
        line = json.dumps(_event(n, f"c{who}", kinds[pick % len(kinds)], max(seconds + jitter, 0)))
        lines.extend([line, line] if luck == 7 else [line])
    return lines


@settings(max_examples=150, deadline=None)
@given(st.one_of(sparse_files(), event_files()), st.integers(0, 10_000))
def test_replaying_only_the_customers_an_edit_can_change_prints_the_same(lines: list[str], seed: int) -> None:
    new = edit(seed)
    scoped, full = both(lines, new)
    assert printed(scoped) == printed(full)
    assert full.customers[1] == 0  # the full backtest replayed everyone


@settings(max_examples=40, deadline=None)
@given(st.one_of(sparse_files(), event_files()), st.integers(0, 10_000))
def test_an_edit_side_that_sets_every_idle_state_aside_prints_the_same(lines: list[str], seed: int) -> None:
    """The edit side keeps its customers as objects up to `KEEP_IN_USE`; past it, it sets idle ones
    aside as a plain replay does (here before every event, from both sides): the same answer."""
    with pytest.MonkeyPatch.context() as aside:
        aside.setattr(subset, "KEEP_IN_USE", 0)
        aside.setattr(Replayer.__init__, "__defaults__", (0.0, 1, 0))  # idle after 0 s, looked at every event
        scoped, full = both(lines, edit(seed))
    assert printed(scoped) == printed(full)


class _CountingReplayer(Replayer):
    """The edit side's replayer, counting the states it sets aside and reads back."""

    aside = 0
    back = 0

    def set_aside_idle(self) -> None:
        before = len(self._in_use)
        super().set_aside_idle()
        _CountingReplayer.aside += before - len(self._in_use)

    def take(self, event: Event, t: float, arrival: int) -> None:
        _CountingReplayer.back += isinstance(self.states.get(event.customer_id), bytes)
        super().take(event, t, arrival)


@pytest.mark.parametrize("cap", [0, 10**9])
def test_an_edit_side_past_its_cap_sets_states_aside_and_reads_them_back(cap: int) -> None:
    """On a day of many customers the edit side past its cap does set idle states aside and read
    them back, and below it does not; the answer is the same either way."""
    _CountingReplayer.aside = _CountingReplayer.back = 0
    with pytest.MonkeyPatch.context() as aside:
        aside.setattr(subset, "Replayer", _CountingReplayer)
        aside.setattr(subset, "KEEP_IN_USE", cap)
        aside.setattr(Replayer.__init__, "__defaults__", (0.0, 1, 0))  # idle after 0 s, looked at every event
        scoped, full = both(_day(0), edit(0))
    assert printed(scoped) == printed(full)
    assert scoped.customers[0] > 0, "the edit must replay some customers"
    if cap:
        assert (_CountingReplayer.aside, _CountingReplayer.back) == (0, 0)
    else:
        assert _CountingReplayer.aside > 100
        assert _CountingReplayer.back > 100


def _day(seed: int, events: int = 2_000, customers: int = 30) -> list[str]:
    """A day of customers with habits of their own (see `sparse_files`), all reachable."""
    rng = random.Random(seed)
    habits = [rng.sample(KINDS[1:], rng.randint(1, 3)) for _ in range(customers)]
    lines = [json.dumps(_event(-1 - who, f"c{who}", "profile", 0)) for who in range(customers)]
    for n in range(events):
        who = rng.randrange(customers)
        lines.append(json.dumps(_event(n, f"c{who}", rng.choice(habits[who]), n * 15 - rng.randrange(40))))
    return lines


@pytest.mark.parametrize("trigger", sorted(spec.id for spec in TRIGGERS.triggers))
def test_switching_any_trigger_on_or_off_is_the_same_either_way(trigger: str) -> None:
    """Each trigger switched off (or on, if it is off) moves its decisions from or to none: the
    customers it decides for are replayed, whatever kind it is."""
    specs = tuple(s.model_copy(update={"enabled": not s.enabled}) if s.id == trigger else s for s in TRIGGERS.triggers)
    new = Engine(dataclasses.replace(TRIGGERS, triggers=specs, version=f"off-{trigger}"), MESSAGES, EngineSettings())
    scoped, full = both(_day(5), new)
    assert printed(scoped) == printed(full)
    if full.changes[trigger].baseline_sends or full.changes[trigger].moves:
        assert full.changes[trigger].moves, "its decisions moved to none"
        assert scoped.customers[1] > 0, "customers who never sent what starts it are skipped"


def test_the_edits_reach_every_kind_and_skip_customers() -> None:
    """The random edits are not all alike: they change triggers of every kind, and some leave
    customers out of the edit's replay while others reach everyone."""
    kinds: set[str] = set()
    for seed in range(300):
        scope = scope_of(LIVE, edit(seed))
        kinds |= {LIVE.all_specs[trigger].kind for trigger in scope.changed if trigger in LIVE.all_specs}
    assert kinds == {spec.kind for spec in TRIGGERS.triggers}


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_day_with_decisions_moved_is_the_same_either_way(jobs: int) -> None:
    rng = random.Random(11)
    kinds = ("profile", "view", "view", "left", "cart", "order", "dispatch", "delay", "delivered", "login", "reply")
    lines = [
        json.dumps(_event(n, f"c{rng.randrange(60)}", rng.choice(kinds), n * 40 - rng.randrange(20)))
        for n in range(2_500)
    ]
    cart = TRIGGERS.by_id("cart_idle")
    faster = cart.model_copy(update={"idle": timedelta(minutes=20)})
    specs = tuple(faster if spec.id == "cart_idle" else spec for spec in TRIGGERS.triggers)
    new = Engine(dataclasses.replace(TRIGGERS, triggers=specs, version="faster"), MESSAGES, EngineSettings())
    scoped, full = both(lines, new, jobs)
    assert printed(scoped) == printed(full)
    assert sum(len(change.moves) for change in full.changes.values()) > 0, "the edit must move decisions"
    replayed, skipped = scoped.customers
    assert replayed > 0, "the customers with a cart are replayed"
    assert skipped > 0, "some customers sent no cart: they are skipped"


def test_a_kept_baseline_gives_the_same_answer_and_a_new_archive_is_replayed(tmp_path: Path) -> None:
    rng = random.Random(3)
    kinds = ("view", "left", "cart", "order", "dispatch", "delivered", "login")
    lines = [json.dumps(_event(n, f"c{rng.randrange(30)}", rng.choice(kinds), n * 60)) for n in range(800)]
    events = tmp_path / "e.jsonl"
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cache = BaselineCache(tmp_path / "cache", keep=2)
    new = edit(7)
    first = backtest(LIVE, new, events, cache=cache)
    again = backtest(LIVE, new, events, cache=cache)
    assert not first.baseline_kept
    assert again.baseline_kept
    assert printed(again) == printed(first)
    assert (tmp_path / "cache").stat().st_mode & 0o777 == 0o700
    events.write_text("\n".join(lines[:-100]) + "\n", encoding="utf-8")  # new archive data: another entry
    shorter = backtest(LIVE, new, events, cache=cache)
    assert not shorter.baseline_kept
    assert printed(shorter) == printed(backtest(LIVE, new, events, scoped=False))
    other_live = edit(8)
    assert not backtest(other_live, new, events, cache=cache).baseline_kept  # another live version
    assert len(list((tmp_path / "cache").glob("*.engagement-baseline"))) == 2  # bounded: the oldest went


def test_a_damaged_cache_entry_is_replayed_not_believed(tmp_path: Path) -> None:
    events = tmp_path / "e.jsonl"
    events.write_text(json.dumps(_event(0, "c1", "cart", 0)) + "\n", encoding="utf-8")
    cache = BaselineCache(tmp_path / "cache")
    first = backtest(LIVE, edit(1), events, cache=cache)
    for entry in (tmp_path / "cache").glob("*.engagement-baseline"):
        entry.write_bytes(entry.read_bytes()[:40])
    again = backtest(LIVE, edit(1), events, cache=cache)
    assert not again.baseline_kept
    assert printed(again) == printed(first)


QUOTE_EVENT = """quote.requested:
  description: the customer asked for a quote
  fields: {quote_id: string}
"""
QUOTE_SEQUENCE = """id: quote_followup
kind: sequence
category: utility
start: quote.requested
remind:
  - after: 20m
send_within: 1h
policies:
  quiet_hours: {allowed: "* 0-23 * * *"}
"""
QUOTE_MESSAGE = """trigger: quote_followup
category: utility
locales:
  en:
    text: "About your quote"
"""


def test_an_edit_of_the_event_catalogue_replays_the_whole_file_again(tmp_path: Path) -> None:
    """Lines of a type only the edit declares were rejected under the live configuration: the
    edit side reads the file again, whichever way the edit goes."""
    events_yaml = (default_triggers_dir() / "_events.yaml").read_text(encoding="utf-8") + QUOTE_EVENT
    (tmp_path / "t").mkdir()
    triggers = custom_triggers(tmp_path / "t", {"_events.yaml": events_yaml, "quote_followup.yaml": QUOTE_SEQUENCE})
    shutil.copytree(default_messages_dir(), tmp_path / "m")
    (tmp_path / "m" / "quote_followup.yaml").write_text(QUOTE_MESSAGE, encoding="utf-8")
    quoting = Engine(triggers, load_messages(tmp_path / "m"), EngineSettings())
    lines = [
        json.dumps(_event(0, "c1", "profile", 0)),
        json.dumps(
            {
                "event_id": "q",
                "customer_id": "c1",
                "occurred_at": "2026-11-20T03:00:00Z",
                "type": "quote.requested",
                "quote_id": "Q1",
            }
        ),
        json.dumps(_event(2, "c2", "view", 9_000)),
    ]
    events = tmp_path / "e.jsonl"
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    adding = backtest(LIVE, quoting, events)
    assert printed(adding) == printed(backtest(LIVE, quoting, events, scoped=False))
    assert adding.changes["quote_followup"].moves, "the new sequence decided for c1"
    dropping = backtest(quoting, LIVE, events)
    assert printed(dropping) == printed(backtest(quoting, LIVE, events, scoped=False))


def test_triggers_reordered_by_their_files_are_replayed() -> None:
    """A kind's triggers act in the order of their files (the first to send paces the next):
    the same files under other names are an edit of every trigger of that kind."""
    carts = [spec for spec in TRIGGERS.triggers if spec.kind == "cart_idle"]
    second = carts[0].model_copy(update={"id": "cart_idle_second"})
    one = dataclasses.replace(TRIGGERS, triggers=(*TRIGGERS.triggers, second), version="one")
    other = dataclasses.replace(TRIGGERS, triggers=(second, *TRIGGERS.triggers), version="other")
    scope = scope_of(Engine(one, MESSAGES, EngineSettings()), Engine(other, MESSAGES, EngineSettings()))
    assert scope.changed == {"cart_idle", "cart_idle_second"}
    assert "cart.updated" in scope.types


def test_customers_replayed_from_their_first_cart_carry_on_from_the_live_state() -> None:
    """Customers who browse for a while before filling a cart are replayed under a cart edit (the
    reminder switched off) from
    their first cart, from the live side's state there: with events still waiting for the
    watermark and browse timers armed (under `in_flight: cancel`, which counts them as armed under
    the edit: the live configuration's version on them would cancel them)."""
    browse = TRIGGERS.by_id("browse_abandonment").model_copy(update={"in_flight": "cancel"})
    cart = TRIGGERS.by_id("cart_idle")
    live_specs = tuple(browse if s.id == browse.id else s for s in TRIGGERS.triggers)
    edit_specs = tuple(cart.model_copy(update={"enabled": False}) if s.id == cart.id else s for s in live_specs)
    live = Engine(dataclasses.replace(TRIGGERS, triggers=live_specs, version="live"), MESSAGES, EngineSettings())
    new = Engine(dataclasses.replace(TRIGGERS, triggers=edit_specs, version="edit"), MESSAGES, EngineSettings())
    rng = random.Random(2)
    lines = [json.dumps(_event(-1 - k, f"c{k}", "profile", 0)) for k in range(12)]
    for n in range(1_500):
        who = rng.randrange(12)
        kind = "cart" if n > 300 and rng.random() < 0.1 else rng.choice(("view", "view", "left", "view"))
        lines.append(json.dumps(_event(n, f"c{who}", kind, 600 + n * 4)))  # a few seconds apart
    lines.append(json.dumps(_event(9_999, "late", "view", 600 + 1_500 * 4 + 4 * 3_600)))  # the clock runs on
    with tempfile.TemporaryDirectory() as tmp:
        events = Path(tmp, "e.jsonl")
        events.write_text("\n".join(lines) + "\n", encoding="utf-8")
        scoped = backtest(live, new, events)
        full = backtest(live, new, events, scoped=False)
        index = live_side(live, events, None).index
    assert printed(scoped) == printed(full)
    assert sum(len(change.moves) for change in full.changes.values()) > 0, "the edit must move decisions"
    states = [load_state(start[1]) for n in range(len(index.customers))
              if (start := index.start_of(n, frozenset({"cart.updated"}))) is not None and start[1]]  # fmt: skip
    assert any(state.pending for state in states), "some start with events waiting for the watermark"
    assert any(state.timers for state in states), "some start with timers armed"
    cart_types = frozenset({"cart.updated"})
    decided_earlier = {number for number, first, _ in index.decided.values()
                       if (start := index.start_of(number, cart_types)) is not None and first < start[0]}  # fmt: skip
    assert decided_earlier, "some start after decisions about them, whose outcomes are kept from the live side"


def test_a_key_decided_on_both_sides_of_a_start_replays_its_customer_from_their_first_line() -> None:
    """Outcomes are kept per key, the last one; a key decided before a customer's start and again
    after it has no outcome of its own up to there, so that customer is replayed whole."""
    with tempfile.TemporaryDirectory() as tmp:
        events = Path(tmp, "e.jsonl")
        events.write_text("\n".join(_day(4, events=600, customers=10)) + "\n", encoding="utf-8")
        index = live_side(LIVE, events, None).index
    cart = frozenset({"cart.updated"})
    starts = {n: start[0] for n in range(len(index.customers)) if (start := index.start_of(n, cart)) is not None}
    key, (number, _, _) = next((k, span) for k, span in index.decided.items() if span[0] in starts)
    line = starts[number]
    before = dataclasses.replace(index, decided={**index.decided, key: (number, line - 1, line - 1)})
    assert before.start_of(number, cart) is not None
    assert before.decided_before(key, line)
    across = dataclasses.replace(index, decided={**index.decided, key: (number, line - 1, line)})  # again at the start
    assert across.start_of(number, cart) is None
    assert not across.decided_before(key, line)


def test_a_forged_cache_entry_is_a_miss_and_a_writer_killed_half_way_leaves_nothing_read(tmp_path: Path) -> None:
    """A flipped bit, a length past the end of the file, a customer number the index does not
    list, an outcome the index gives to another customer or not at all, decision lines that are
    not whole numbers, an outcome of the wrong shape, and the half-written file of a writer killed
    with -9 (a day old) are each replayed, never believed."""
    events = tmp_path / "e.jsonl"
    events.write_text("\n".join(_day(3, events=300, customers=8)) + "\n", encoding="utf-8")
    cache = BaselineCache(tmp_path / "cache")
    first = backtest(LIVE, edit(2), events, cache=cache)
    (entry,) = (tmp_path / "cache").glob("*.engagement-baseline")
    name = entry.name.removesuffix(".engagement-baseline")
    good = entry.read_bytes()
    day = re.search(rb'"\d{4}-\d{2}-\d{2}"', good)
    assert day is not None
    flipped = bytearray(good)
    flipped[day.end() - 2] ^= 0x01  # an outcome's day that still reads as a day: only the digest tells
    entry.write_bytes(bytes(flipped))
    assert cache.get(name) is None
    again = backtest(LIVE, edit(2), events, cache=cache)
    assert not again.baseline_kept
    assert printed(again) == printed(first)
    body = (2**62).to_bytes(8, "little") + good[8:-32]  # a huge length prefix, sealed with its own digest
    entry.write_bytes(body + hashlib.sha256(body).digest())
    assert cache.get(name) is None

    def forged(change: Callable[[Baseline], object]) -> Baseline | None:
        """The entry as `backtest` kept it, changed, and kept again with a digest that matches."""
        entry.write_bytes(good)
        live = cache.get(name)
        assert live is not None
        change(live)
        cache.put(name, live)
        return cache.get(name)

    def unknown_customer(live: Baseline) -> None:
        live.index.customer_of_line[-1] = len(live.index.customers) + 5

    def below_nobody(live: Baseline) -> None:
        live.index.customer_of_line[-1] = -7

    def anothers(live: Baseline) -> None:
        key, (number, first_line, last_line) = next(iter(live.index.decided.items()))
        live.index.decided[key] = ((number + 1) % len(live.index.customers), first_line, last_line)

    def unlisted(live: Baseline) -> None:
        del live.index.decided[next(iter(live.index.decided))]

    def endless(live: Baseline) -> None:
        key, (number, first_line, _) = next(iter(live.index.decided.items()))
        live.index.decided[key] = (number, first_line, cast(int, float("inf")))

    def misshapen(live: Baseline) -> None:
        key = next(iter(live.outcomes))
        live.outcomes[key] = cast(Any, live.outcomes[key][:2])

    for change in (unknown_customer, below_nobody, anothers, unlisted, endless, misshapen):
        assert forged(change) is None, change.__name__
    assert forged(lambda live: None) is not None, "kept again unchanged, it reads back"
    stale = tmp_path / "cache" / ".writing-killed"
    stale.write_bytes(good[:1000])
    os.utime(stale, (time.time() - 2 * 86_400,) * 2)
    backtest(LIVE, edit(3), events, until=2e9, cache=cache)  # keeping another entry sweeps it
    assert not stale.exists()


def test_the_index_says_whose_each_line_is_under_jitter_and_redelivery() -> None:
    """Events shuffled within the lateness and delivered twice: every accepted line is its own
    customer's, each customer's types are those they sent, a rejected line is nobody's, and each
    key a replay decides is listed under its customer, with the same lines split over jobs or not."""
    rng = random.Random(9)
    lines = []
    for n in range(400):
        line = json.dumps(_event(n, f"c{rng.randrange(9)}", rng.choice(KINDS), n * 20 - rng.randrange(25)))
        lines.extend([line, line] if n % 7 == 0 else [line])
    lines.insert(50, '{"event_id": "broken"')
    with tempfile.TemporaryDirectory() as tmp:
        events = Path(tmp, "e.jsonl")
        events.write_text("\n".join(lines) + "\n", encoding="utf-8")
        index = live_side(LIVE, events, None, jobs=2).index
        alone = live_side(LIVE, events, None, jobs=1).index
    decisions = iter_decisions(LIVE, iter(line.encode() for line in lines))
    assert decisions, "the stream must decide something"
    # each key decided is listed under its own customer, the same split or not, and lines go forward
    assert index.decided.keys() == {d.key for d in decisions}
    for decision in decisions:
        number, first, last = index.decided[decision.key]
        assert index.customers[number] == decision.customer_id
        assert 0 < first <= last
    assert {k: (index.customers[n], f, la) for k, (n, f, la) in index.decided.items()} == {
        k: (alone.customers[n], f, la) for k, (n, f, la) in alone.decided.items()
    }
    sent: dict[str, set[str]] = {}
    for number, raw in enumerate(lines, 1):
        owner = index.customer_of_line[number]
        if raw.startswith('{"event_id": "broken"'):
            assert owner == -1
            continue
        event = json.loads(raw)
        assert index.customers[owner] == event["customer_id"]
        sent.setdefault(event["customer_id"], set()).add(event["type"])
    for number, customer in enumerate(index.customers):
        assert {name for n, name in enumerate(index.types) if index.seen[number] >> n & 1} == sent[customer]


@settings(max_examples=40, deadline=None)
@given(st.one_of(sparse_files(), event_files()))
def test_the_index_keeps_the_states_the_replay_had_whether_set_aside_or_not(lines: list[str]) -> None:
    """Under jitter and redelivery, the states an index keeps for late starts (and the keys it
    lists) are the same when the replay sets every idle state aside before each event as when it
    never does: a state set aside is kept in its stored form, which reads back."""
    with tempfile.TemporaryDirectory() as tmp:
        events = Path(tmp, "e.jsonl")
        events.write_text("\n".join(lines) + "\n", encoding="utf-8")
        kept = live_side(LIVE, events, None, jobs=1).index
        with pytest.MonkeyPatch.context() as aside:
            aside.setattr(Replayer.__init__, "__defaults__", (0.0, 1, 0))  # idle after 0 s, looked at every event
            set_aside = live_side(LIVE, events, None, jobs=1).index
    assert set_aside.firsts == kept.firsts
    assert set_aside.decided == kept.decided
    for starts in set_aside.firsts.values():
        for _, blob in starts.values():
            assert not blob or load_state(blob).customer_id
