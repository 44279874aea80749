"""The decision engine: a pure function of (configuration, customer state, event or time) -> decisions.

Two entry points, both free of I/O and of any clock but the ones passed in:

* `handle(state, event, now, watermark)` takes one decoded event. Logins are decided on
  arrival (the contract says "at once"); every other event is buffered in the customer's
  state and applied in event-time order once the watermark passes it, so that events
  shuffled within the allowed lateness give the same decisions.
* `advance(state, upto, now)` applies buffered events and fires timers up to `upto` (the
  watermark), in event-time order; at equal times events go before timers.

`now` is the engine clock for decisions: `None` in replay (a decision is made as of the
time it fell due), the wall clock live. Both calls take ownership of `state` and return
it updated in the `Step`; the caller keeps only the returned one.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from hashlib import blake2b

from engagement.core import decisions as r
from engagement.core import personalize
from engagement.core.answers import Answering, not_me_words_of, remember_send, resolve
from engagement.core.catalog import MessageCatalog
from engagement.core.channel_messages import on_channel
from engagement.core.configured import Configured, TriggerSet, combined_version
from engagement.core.decisions import Decision, Message, Step, TemplateUse
from engagement.core.event_types import merged
from engagement.core.keys import EVENT_DIGEST_SIZE, idempotency_key, seen_before
from engagement.core.kinds.kind import Hook, Plan, TriggerKind
from engagement.core.kinds.registry import BY_NAME, DECIDED_ON_ARRIVAL, KINDS
from engagement.core.policies import PolicyChain, Verdict, record_failure
from engagement.core.profile import ALWAYS_OPT_OUT, apply_reply, apply_update
from engagement.core.specs import TriggerSpec
from engagement.core.state import CustomerState, Profile, Timer
from engagement.core.text_template import TemplateError
from engagement.events import Event


@dataclass(frozen=True, slots=True)
class EngineSettings:
    default_timezone: str = "UTC"
    allowed_lateness: float = 30.0
    dedupe_window: int = 32
    global_holdout_percent: float = 0.0  # customers no marketing trigger messages (the global control group)
    link_domains: tuple[str, ...] = ()  # the shop's own domains: the only hosts a link in a message may name


class Engine:
    """Compiled triggers plus the logic that applies them; one instance serves any number of customers."""

    def __init__(
        self,
        triggers: TriggerSet,
        catalog: MessageCatalog,
        settings: EngineSettings | None = None,
        version: str | None = None,
    ) -> None:
        self.settings = settings or EngineSettings()
        self.config_version = version if version is not None else combined_version(triggers, catalog)
        self.catalog = catalog
        self.event_catalogue = triggers.catalogue  # the event types and fields beyond the contract's
        self.accepted_events = triggers.catalogue  # with those of the earlier configurations still kept
        self.source_options = triggers.sources  # how the platforms' webhooks map (read by the sources)
        self.all_specs: dict[str, TriggerSpec] = {spec.id: spec for spec in triggers.triggers}
        enabled = [spec for spec in triggers.triggers if spec.enabled]
        self.specs: dict[str, TriggerSpec] = {spec.id: spec for spec in enabled}
        self.chains = {
            spec.id: PolicyChain(spec, self.settings.default_timezone, self.settings.global_holdout_percent)
            for spec in enabled
        }
        # each enabled trigger as its kind and its plan (what the kind compiled from its spec)
        self.plans: dict[str, tuple[TriggerKind, Plan]] = {}
        for spec in enabled:
            kind = BY_NAME[spec.kind]
            self.plans[spec.id] = (kind, kind.plan(spec, triggers.catalogue))
        keywords = {
            kw.casefold()
            for s in enabled
            if s.category == "marketing"
            for kw in getattr(s.policies, "opt_out_keywords", ())
        }
        self.opt_out_keywords = ALWAYS_OPT_OUT | keywords  # a trigger may add keywords, never remove these
        self.answering = Answering(
            catalog,
            {spec.id: spec.kind for spec in triggers.triggers},
            self.opt_out_keywords,
            self.config_version,
            self.settings.link_domains,
            not_me_words_of(catalog),
        )
        self.earlier: dict[str, Engine] = {}  # engines of earlier configurations, for timers they armed
        self._appliers = self._hooks_by_event(lambda kind: kind.hooks, self._core_appliers())
        self._on_arrival = self._hooks_by_event(lambda kind: kind.on_arrival, {})
        self._ring_bytes = self.settings.dedupe_window * EVENT_DIGEST_SIZE

    @classmethod
    def of(cls, configuration: Configured, settings: EngineSettings | None = None) -> Engine:
        return cls(configuration.triggers, configuration.messages, settings, configuration.version)

    def succeeded_by(self, successor: Engine, keep: int = 8) -> Engine:
        """`successor` goes live; it keeps this engine (and up to `keep` earlier ones) for the
        timers armed under them (`in_flight: keep`)."""
        earlier = {**self.earlier, self.config_version: self}
        self.earlier = {}
        successor.earlier = {v: e for v, e in list(earlier.items())[-keep:] if v != successor.config_version}
        successor.accepted_events = merged(
            successor.event_catalogue, *(e.event_catalogue for e in successor.earlier.values())
        )
        return successor

    # ---- entry points -------------------------------------------------------------

    def handle(
        self, state: CustomerState | None, event: Event, now: float | None, watermark: float, t: float | None = None
    ) -> Step:
        """`t` is `event.occurred_at` as epoch seconds, when the caller has it already."""
        if state is None:
            state = CustomerState(event.customer_id)
        out: list[Decision] = []
        fresh = self.admit(state, event, now, watermark, out, event.occurred_at.timestamp() if t is None else t)
        return Step(state, out, not fresh)

    def advance(self, state: CustomerState, upto: float, now: float | None = None) -> Step:
        out: list[Decision] = []
        self.run_until(state, upto, now, out)
        return Step(state, out)

    def admit(
        self, state: CustomerState, event: Event, now: float | None, watermark: float, out: list[Decision], t: float
    ) -> bool:
        """`handle` without the allocations, for runners: False (and nothing done) for a repeated event_id.
        Live (`now` given), a profile update dated ahead of the clock counts as of its arrival: a
        producer whose clock runs fast cannot make it outrank a reply that came after it."""
        if now is not None and t > now and event.type == "customer.updated":
            t = now
        digest = blake2b(event.event_id.encode(), digest_size=EVENT_DIGEST_SIZE).digest()
        ring = state.recent_ids
        if digest in ring and seen_before(ring, digest):
            return False
        ring += digest
        excess = len(ring) - self._ring_bytes
        if excess > 0:
            ring = ring[excess:]  # the newest `dedupe_window` digests
        state.recent_ids = ring
        event_type = event.type
        if event_type in DECIDED_ON_ARRIVAL:
            clock = now if now is not None else (t if t > watermark else watermark)
            self._on_arrival[event_type](state, event, t, clock, out)
            return True
        if event_type == "message.replied":  # answered at once; the profile takes it in time order
            clock = now if now is not None else (t if t > watermark else watermark)
            if state.pending is not None and state.pending[0][0] <= watermark:
                self.run_until(state, watermark, now, out)  # the answer sees what the watermark passed
            out.append(self.answering.decide(state, event, t, clock))  # type: ignore[arg-type]
        elif event_type == "conversation.resolved":
            resolve(state)
            return True
        event_id = event.event_id
        item = (t, event_id, event)
        pending = state.pending
        if pending is None:
            state.pending = [item]
        else:
            last = pending[-1]
            if last[0] < t or (last[0] == t and last[1] <= event_id):
                pending.append(item)
            else:
                insort(pending, item, key=_pending_order)
        if t <= watermark:
            self.run_until(state, watermark, now, out)
        return True

    @staticmethod
    def seen(state: CustomerState, event: Event) -> bool:
        """Whether the customer's state has taken this event already (it would be a duplicate)."""
        digest = blake2b(event.event_id.encode(), digest_size=EVENT_DIGEST_SIZE).digest()
        return digest in state.recent_ids and seen_before(state.recent_ids, digest)

    # ---- the ordered loop ----------------------------------------------------------

    def run_until(self, state: CustomerState, upto: float, now: float | None, out: list[Decision]) -> float:
        """Apply buffered events and fire timers up to `upto`, in time order (events first at equal times).
        Returns when the earliest timer left falls due (infinity when none is left)."""
        apply = self._appliers
        while True:
            timers = state.timers
            if timers:
                timer = timers[0] if len(timers) == 1 else _earliest(timers)
                due = timer.due
            else:
                timer, due = None, _NEVER
            pending = state.pending
            if pending is not None:
                t = pending[0][0]
                if t <= upto and t <= due:
                    if len(pending) == 1:
                        event = pending[0][2]
                        state.pending = None
                    else:
                        event = pending.pop(0)[2]
                    cursor = state.cursor
                    if t > cursor:
                        state.cursor = cursor = t
                    applier = apply.get(event.type)
                    if applier is not None:  # a declared type no trigger reacts to: kept in order, no more
                        applier(state, event, t, cursor if now is None else (t if t > now else now), out)
                    continue
            if timer is None or due > upto:
                return due
            cursor = state.cursor
            if due > cursor:
                state.cursor = cursor = due
            self.fire(state, timer, cursor if now is None else (due if due > now else now), out)

    def _hooks_by_event(
        self, hooks_of: Callable[[TriggerKind], dict[str, Hook] | object], core: dict[str, _Applier]
    ) -> dict[str, _Applier]:
        """Event type -> one applier: the core's, then every kind's hook (in registry order), each
        bound to this engine and the kind's enabled triggers."""
        bound: dict[str, list[_Applier]] = {event_type: [applier] for event_type, applier in core.items()}
        for kind in KINDS:
            plans = [plan for k, plan in self.plans.values() if k is kind]
            for event_type, hook in hooks_of(kind).items():  # type: ignore[attr-defined]
                bound.setdefault(event_type, []).append(partial(hook, self, plans))
            if hooks_of(kind) is kind.hooks:  # the hooks for the event types its triggers name
                for event_type, hook in kind.hooks_of(plans).items():
                    bound.setdefault(event_type, []).append(partial(hook, self, plans))
        return {event_type: _together(appliers) for event_type, appliers in bound.items()}

    def _core_appliers(self) -> dict[str, _Applier]:
        """What every customer's state keeps whatever the triggers: profile, replies, refusals."""
        keywords = self.opt_out_keywords

        def customer_updated(state: CustomerState, event: Event, t: float, clock: float, out: list[Decision]) -> None:
            apply_update(state, event, t)  # type: ignore[arg-type]

        def replied(state: CustomerState, event: Event, t: float, clock: float, out: list[Decision]) -> None:
            apply_reply(state, event, t, keywords)  # type: ignore[arg-type]

        def failed(state: CustomerState, event: Event, t: float, clock: float, out: list[Decision]) -> None:
            record_failure(state, event.reason, t, event.channel)  # type: ignore[union-attr]

        return {"customer.updated": customer_updated, "message.replied": replied, "message.failed": failed}

    # ---- deciding -------------------------------------------------------------------

    def fire(
        self, state: CustomerState, timer: Timer, at: float, out: list[Decision], profile_: Profile | None = None
    ) -> None:
        """Decide a due timer. No timer can stop the others: one whose decision fails (a bug, or a
        configuration that passed validation and still cannot be evaluated) is suppressed with
        `internal_error`, and the timers after it are decided as usual."""
        try:
            self._fire(state, timer, at, out, profile_)
        except Exception:  # a decision is data: the runtimes count internal_error and go on
            self.drop_timer(state, timer)
            out.append(self._decision(state, timer, "suppress", r.INTERNAL_ERROR, at))

    def _fire(
        self, state: CustomerState, timer: Timer, at: float, out: list[Decision], profile_: Profile | None = None
    ) -> None:
        """Run the policy chain, then send, suppress, or hold the timer for quiet hours."""
        if timer.version and timer.version != self.config_version and self._hand_over(state, timer, at, out, profile_):
            return
        spec = self.specs[timer.trigger_id]
        kind, plan = self.plans[spec.id]
        if not kind.may_fire(state, plan, timer):
            self.drop_timer(state, timer)
            return
        chain = self.chains[spec.id]
        profile_ = profile_ or state.profile
        verdict = chain.evaluate(state, profile_, at, timer.deadline)
        if verdict.wait_until is not None:
            timer.due = verdict.wait_until
            if state.timers is None or timer not in state.timers:
                state.timers = [*(state.timers or []), timer]
            return
        reason, message, refused = verdict.reason, None, verdict.refused
        if reason is None:
            message, values, skipped = self._render_channels(spec, state, timer, profile_, verdict)
            refused = (*refused, *skipped)
            if message is None:
                reason = skipped[0][1] if skipped else r.TEMPLATE_ERROR
        self.drop_timer(state, timer)
        kind.decided(state, plan, timer)
        shown = refused if len(chain.channels) > 1 else ()
        if reason is not None or message is None:
            out.append(self._decision(state, timer, "suppress", reason, verdict.at, channels=shown))
            return
        chain.record_send(state, verdict.at)
        decision = self._decision(state, timer, "send", None, verdict.at, message, shown)
        remember_send(state, decision.key, spec.id, verdict.at, message.locale, message.body, values)
        out.append(decision)

    def _hand_over(
        self, state: CustomerState, timer: Timer, at: float, out: list[Decision], profile_: Profile | None
    ) -> bool:
        """A timer armed under another configuration: decided by that one (`in_flight: keep`, while
        it is known), cancelled (`cancel`, or the trigger is gone or disabled), or else by this one."""
        current = self.all_specs.get(timer.trigger_id)
        if current is None or not current.enabled:
            self.cancel(state, timer, r.TRIGGER_REMOVED, at, out)
            return True
        if current.in_flight == "cancel":
            self.cancel(state, timer, r.CONFIG_CHANGED, at, out)
            return True
        earlier = self.earlier.get(timer.version)
        if current.in_flight == "keep" and earlier is not None and timer.trigger_id in earlier.specs:
            earlier._fire(state, timer, at, out, profile_)
            return True
        timer.version = self.config_version  # migrate (or an armed version no longer known)
        return False

    def cancel(self, state: CustomerState, timer: Timer, reason: str, at: float, out: list[Decision]) -> None:
        self.drop_timer(state, timer)
        self.record_cancel(state, timer, reason, at, out)

    def record_cancel(self, state: CustomerState, timer: Timer, reason: str, at: float, out: list[Decision]) -> None:
        """The cancellation decision alone; the caller decides what becomes of the timer."""
        out.append(self._decision(state, timer, "cancel", reason, at))

    @staticmethod
    def drop_timer(state: CustomerState, timer: Timer) -> None:
        if state.timers and timer in state.timers:
            state.timers.remove(timer)
            if not state.timers:
                state.timers = None

    def add_timer(self, state: CustomerState, timer: Timer) -> None:
        if not timer.version:
            timer.version = self.config_version
        if state.timers is None:
            state.timers = [timer]
        else:
            state.timers.append(timer)

    @staticmethod
    def timer_for(state: CustomerState, trigger_id: str, subject: str | None = None) -> Timer | None:
        for timer in state.timers or ():
            if timer.trigger_id == trigger_id and (subject is None or timer.subject == subject):
                return timer
        return None

    def _decision(
        self,
        state: CustomerState,
        timer: Timer,
        outcome: r.Outcome,
        reason: str | None,
        at: float,
        message: Message | None = None,
        channels: tuple[tuple[str, str], ...] = (),
    ) -> Decision:
        return Decision(
            trigger=timer.trigger_id,
            customer_id=state.customer_id,
            outcome=outcome,
            reason=reason,
            at=at,
            due_at=timer.first_due,
            key=idempotency_key(timer.trigger_id, state.customer_id, timer.subject),
            event_id=timer.event_id,
            deadline=timer.deadline,
            config_version=self.config_version,
            message=message,
            channels=channels,
        )

    def _render_channels(
        self, spec: TriggerSpec, state: CustomerState, timer: Timer, profile_: Profile | None, verdict: Verdict
    ) -> tuple[Message | None, dict[str, str | None], tuple[tuple[str, str], ...]]:
        """The message on each channel the verdict allows, in order: the first, with the others as
        its fall-backs; a channel whose message cannot be filled (or whose WhatsApp template is
        paused) is left out with its reason."""
        rendered: list[Message] = []
        skipped: list[tuple[str, str]] = []
        values: dict[str, str | None] = {}
        for channel in verdict.channels:
            try:
                message, values = self._render(spec, state, timer, profile_, verdict.at, channel)
            except TemplateError:
                skipped.append((channel, r.TEMPLATE_ERROR))
                continue
            template = message.template
            if template is not None and (template.name, template.language) in self.catalog.held:
                skipped.append((channel, r.TEMPLATE_PAUSED))
                continue
            rendered.append(message)
        if not rendered:
            return None, values, tuple(skipped)
        first = rendered[0]
        if len(rendered) > 1:
            after = spec.fallback_seconds(spec.category)
            first = replace(first, fallbacks=tuple(rendered[1:]), fallback_after=after)
        return first, values, tuple(skipped)

    def render(
        self, spec: TriggerSpec, state: CustomerState, timer: Timer, profile_: Profile | None, at: float
    ) -> Message:
        return self._render(spec, state, timer, profile_, at)[0]

    def _render(
        self,
        spec: TriggerSpec,
        state: CustomerState,
        timer: Timer,
        profile_: Profile | None,
        at: float,
        channel: str = "whatsapp",
    ) -> tuple[Message, dict[str, str | None]]:
        """The message of a send on `channel`, filled from the customer's state; raises
        `TemplateError` when it cannot be (a value is missing, or a WhatsApp message without an
        approved template would go out of the customer's 24 h service window, where WhatsApp
        takes only templates)."""
        to = None if profile_ is None else (profile_.line_user_id if channel == "line" else profile_.phone)
        if profile_ is None or to is None:  # the consent policy rules this out
            raise TemplateError(f"a send on {channel} needs an address there")
        message = self.catalog.message_for(spec.id, spec.kind)
        if message is None:
            raise TemplateError(f"no message for trigger {spec.id!r}")
        if channel == "whatsapp" and message.template is None and not _in_service_window(state, at):
            raise TemplateError("free-form text outside the 24 h service window")
        found = self.catalog.wording(message, profile_.locale)
        if found is None:
            raise TemplateError(f"no wording for locale {profile_.locale!r}")
        locale, wording = found
        zone = profile_.timezone or self.settings.default_timezone
        kind, plan = self.plans[spec.id]
        values = personalize.common_values(profile_)
        values.update(kind.values(state, timer, plan, zone, locale.lower().startswith("zh")))
        values = personalize.safe_values(values, self.settings.link_domains)
        chosen = message.variant(locale, wording, profile_.tier)
        if channel != "whatsapp":
            return on_channel(channel, to, message, locale, wording, chosen.text, values, spec.category), values
        body = chosen.text.render(values)
        template = None
        if message.template is not None and chosen.template is not None:
            wa = message.template
            template = TemplateUse(
                chosen.template,
                wording.language,
                tuple((name, text.render(values)) for name, text in chosen.parameters),
                tuple((b.sub_type, i, b.value.render(values)) for i, b in enumerate(wa.buttons)),
            )
        replies = wording.replies if template is None else ()
        return Message(to, locale, spec.category, body, template, replies), values


_NEVER = float("inf")
_Applier = Callable[[CustomerState, Event, float, float, list[Decision]], None]


SERVICE_WINDOW = 86_400.0  # after the customer's last message, WhatsApp takes free-form text


def _in_service_window(state: CustomerState, at: float) -> bool:
    ledger = state.ledger
    return ledger is not None and ledger.last_reply_at is not None and at - ledger.last_reply_at < SERVICE_WINDOW


def _pending_order(item: tuple[float, str, Event]) -> tuple[float, str]:
    return (item[0], item[1])


def _timer_order(timer: Timer) -> tuple[float, str, str]:
    return (timer.due, timer.trigger_id, timer.subject)


def _earliest(timers: list[Timer]) -> Timer:
    """The timer that falls due first (ties by trigger and subject): `min` by `_timer_order`,
    comparing due times alone while they differ, as they nearly always do."""
    best = timers[0]
    best_due = best.due
    for timer in timers[1:]:
        due = timer.due
        if due < best_due or (due == best_due and _timer_order(timer) < _timer_order(best)):
            best, best_due = timer, due
    return best


def _together(appliers: Sequence[_Applier]) -> _Applier:
    if len(appliers) == 1:
        return appliers[0]

    def apply_all(state: CustomerState, event: Event, t: float, clock: float, out: list[Decision]) -> None:
        for applier in appliers:
            applier(state, event, t, clock, out)

    return apply_all
