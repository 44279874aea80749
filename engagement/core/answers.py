"""Answers to a customer's reply, decided the moment it arrives: pure, the clock passed in.

Every reply gets exactly one decision:

* `answer`: a free-form service text (the message's `answers:` for the button or the whole
  reply, else a keyword of `_answers.yaml`, else the message's `default:`), inside the 24 h
  window the reply opened, at most `MAX_ANSWERS_PER_HOUR` per customer;
* `handoff`: to people, with the context they need (asked for, nothing matched, outside the
  window, over the hourly limit, a text that cannot be filled, or a hand-off still open);
* `ignore` with a reason: an opt-out or "not me" (acted on by the profile and the security
  report), an empty reply, a number we cannot answer, or a flood while people have it.

A reply is matched to the send it answers: the send its WhatsApp `context.id` names (the
webhook turns it into our send's key), else the latest send of the 24 h before it whose
message answers the tapped button, else the latest send of those 24 h. Only this customer's own
sends are looked at: a context id of another customer's message matches nothing of theirs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from engagement.core import personalize
from engagement.core.catalog import Answer, MessageCatalog, MessageSpec
from engagement.core.decisions import Decision, Handoff, Message
from engagement.core.keys import idempotency_key
from engagement.core.profile import profile_as_of, set_opt_out
from engagement.core.state import Conversation, CustomerState, Profile, SentNote
from engagement.core.text_template import TemplateError, TextTemplate
from engagement.events import MessageReplied

MAX_ANSWERS_PER_HOUR = 5
MAX_FORWARDED_PER_HOUR = 20  # replies handed to people while a hand-off is open; beyond, a flood
HANDOFF_PAUSE = 86_400.0  # automatic answers pause this long after a hand-off, unless resolved
SERVICE_WINDOW = 86_400.0
HOUR = 3_600.0
SENT_KEPT = 5  # the latest sends a reply may answer
SENT_FOR = 7 * 86_400.0
NOTE_TEXT_LIMIT = 1024
NOTE_VALUE_LIMIT = 512
LINK_LIMIT = 2048
STALE_AFTER = 7 * 86_400.0  # a reply older than this is history (an import), not a conversation
NO_TRIGGER = "_none"  # the trigger of a decision about a reply to nothing of ours
NOT_ME_PAYLOADS = frozenset({"NOT_ME"})

# The values answer texts may use beyond their message's (from the send answered, else the
# customer's latest cart, order and shipment).
ANSWER_VALUES = ("cart_url", "cart_items", "order_url", "tracking_url", "order_id", "tracking_number", "carrier")

# Outcomes and reasons
ANSWER, HANDOFF, IGNORE = "answer", "handoff", "ignore"
ASKED = "asked"
NO_ANSWER = "no_answer"
OUTSIDE_WINDOW = "outside_window"
RATE_LIMITED = "rate_limited"
CONVERSATION_OPEN = "conversation_open"
ANSWER_INCOMPLETE = "answer_incomplete"
UNVERIFIED = "unverified"  # a keyword answer with the customer's links, to a number we have not written to lately
OPT_OUT, NOT_ME, EMPTY, NO_NUMBER, FLOOD, STALE = "opt_out", "not_me", "empty", "no_number", "flood", "stale"
HANDOFF_REASONS = (ASKED, NO_ANSWER, OUTSIDE_WINDOW, RATE_LIMITED, CONVERSATION_OPEN, ANSWER_INCOMPLETE, UNVERIFIED)
IGNORE_REASONS = (OPT_OUT, NOT_ME, EMPTY, NO_NUMBER, FLOOD, STALE)


def not_me_words_of(catalog: MessageCatalog) -> frozenset[str]:
    """Replies (a button's value, or the whole reply, casefolded) that report a login as not the
    customer's: `NOT_ME`, and every answer whose action is `not_me`."""
    words = {p.casefold() for p in NOT_ME_PAYLOADS}
    for message in catalog.messages.values():
        words.update(key for key, answer in message.answers.items() if answer.action == "not_me")
    return frozenset(words)


def remember_send(
    state: CustomerState, key: str, trigger: str, at: float, locale: str, text: str, values: Mapping[str, str | None]
) -> None:
    """Keep what a reply to this send needs: what the customer read and its values."""
    conversation = state.conversation or Conversation()
    kept = tuple(
        (name, value)
        for name, value in sorted(values.items())
        if value is not None and len(value) <= (LINK_LIMIT if name in personalize.LINKS else NOTE_VALUE_LIMIT)
    )  # a value is kept whole or not at all: never a link cut short
    note = SentNote(key, trigger, at, locale, text[:NOTE_TEXT_LIMIT], kept)
    recent = [n for n in conversation.sent if n.key != key and at - n.at < SENT_FOR]
    conversation.sent = (*recent[-(SENT_KEPT - 1) :], note)
    state.conversation = conversation


def resolve(state: CustomerState) -> None:
    """The people side is done: automatic answers resume."""
    if state.conversation is not None:
        state.conversation.handoff_at = None
        state.conversation.forwarded = ()


@dataclass(frozen=True, slots=True)
class Answering:
    """What decides answers: the messages (with their answers and the keywords), each trigger's
    kind (a trigger's message may be its kind's), and the words that always opt out."""

    catalog: MessageCatalog
    kinds: Mapping[str, str]  # trigger id -> kind, every trigger of the configuration
    opt_out_keywords: frozenset[str]
    config_version: str
    link_domains: tuple[str, ...] = ()
    not_me_words: frozenset[str] = frozenset()  # `not_me_words_of(catalog)`, kept with the configuration

    def decide(self, state: CustomerState, reply: MessageReplied, t: float, now: float) -> Decision:
        said = [s.strip() for s in (reply.button_payload, reply.text) if s is not None and s.strip()]
        profile = profile_as_of(state, float("inf"))
        note = self._answered(state, reply, t)
        decide = _Deciding(self, state, reply, t, now, note, profile)
        if not said:
            return decide.ignore(EMPTY)
        if now - t >= STALE_AFTER:
            return decide.ignore(STALE)
        words = {s.casefold() for s in said}
        if words & self.opt_out_keywords:
            return decide.ignore(OPT_OUT)  # the profile applies it, in event-time order
        if words & self.not_me_words:
            return decide.ignore(NOT_ME)  # the webhook reports it to the security team
        if profile is None or profile.phone is None:
            return decide.ignore(NO_NUMBER)
        answer = self._answer(note, reply)
        if answer is None:
            return decide.handoff(NO_ANSWER)
        if answer.action == "opt_out":
            opted = state.profile if state.profile is not None else Profile()
            set_opt_out(opted, True, t)
            state.profile = opted
            return decide.ignore(OPT_OUT, answer.name)
        if answer.action == "not_me":
            return decide.ignore(NOT_ME, answer.name)
        if answer.action == "handoff":
            return decide.handoff(ASKED, answer.name)
        return decide.answer(answer)

    def message_of(self, trigger: str) -> MessageSpec | None:
        kind = self.kinds.get(trigger)
        return None if kind is None else self.catalog.message_for(trigger, kind)

    def _answered(self, state: CustomerState, reply: MessageReplied, t: float) -> SentNote | None:
        sent = state.conversation.sent if state.conversation is not None else ()
        if reply.in_reply_to is not None:
            named = next((n for n in sent if n.key == reply.in_reply_to), None)
            if named is not None:
                return named
        recent = [n for n in sent if t - SERVICE_WINDOW <= n.at <= t + 60.0]
        if reply.button_payload is not None:
            for note in reversed(recent):
                message = self.message_of(note.trigger)
                if message is not None and message.answer_to(reply.button_payload) is not None:
                    return note
        return recent[-1] if recent else None

    def _answer(self, note: SentNote | None, reply: MessageReplied) -> Answer | None:
        message = self.message_of(note.trigger) if note is not None else None
        if message is not None:
            own = message.answer_to(reply.button_payload) or message.answer_to(reply.text)
            if own is not None:
                return own
        keyword = self._keyword(reply)
        if keyword is not None:
            return keyword
        return message.default_answer if message is not None else None

    def _keyword(self, reply: MessageReplied) -> Answer | None:
        text = (reply.text or "").casefold()
        payload = (reply.button_payload or "").strip().casefold()
        for entry in self.catalog.keywords:
            if any(term == payload or (text and contains(text, term)) for term in entry.terms):
                return entry.answer
        return None


class _Deciding:
    """One reply's decision, with the conversation's limits."""

    def __init__(
        self,
        answering: Answering,
        state: CustomerState,
        reply: MessageReplied,
        t: float,
        now: float,
        note: SentNote | None,
        profile: Profile | None,
    ) -> None:
        self.answering, self.state, self.reply, self.t, self.now = answering, state, reply, t, now
        self.note, self.profile = note, profile
        self.conversation = state.conversation or Conversation()
        self.trigger = note.trigger if note is not None else NO_TRIGGER

    def decision(
        self, outcome: str, reason: str | None, message: Message | None = None, handoff: Handoff | None = None
    ) -> Decision:
        return Decision(
            trigger=self.trigger,
            customer_id=self.state.customer_id,
            outcome=outcome,  # type: ignore[arg-type]
            reason=reason,
            at=self.now,
            due_at=self.t,
            key=idempotency_key(
                HANDOFF if outcome == HANDOFF else "answer", self.state.customer_id, self.reply.event_id
            ),
            event_id=self.reply.event_id,
            deadline=(self.t + SERVICE_WINDOW) if outcome == ANSWER else (self.now + HANDOFF_PAUSE),
            config_version=self.answering.config_version,
            message=message,
            handoff=handoff,
        )

    def ignore(self, reason: str, answer: str | None = None) -> Decision:
        return self.decision(IGNORE, reason if answer is None else f"{reason}:{answer}")

    def paused(self) -> bool:
        at = self.conversation.handoff_at
        return at is not None and self.now - at < HANDOFF_PAUSE

    def handoff(self, reason: str, answer: str | None = None) -> Decision:
        conversation, now = self.conversation, self.now
        forwarded = tuple(x for x in conversation.forwarded if now - x < HOUR)
        if self.paused():
            if len(forwarded) >= MAX_FORWARDED_PER_HOUR:
                return self.ignore(FLOOD)
            reason = CONVERSATION_OPEN  # people have the conversation: every reply goes to them
        elif reason != OUTSIDE_WINDOW:  # a late reply goes to people without pausing the answers
            conversation.handoff_at = now
        conversation.forwarded = (*forwarded, now)
        self.state.conversation = conversation
        profile, note, reply = self.profile, self.note, self.reply
        phone = profile.phone if profile is not None and profile.phone is not None else ""
        locale = (note.locale if note is not None else None) or (profile.locale if profile else None) or ""
        record = Handoff(
            reply_text=reply.text,
            reply_button=reply.button_payload,
            received_at=self.t,
            sent_text=note.text if note is not None else None,
            sent_key=note.key if note is not None else None,
            context=self.context(),
            channel=reply.channel,
        )
        body = reply.text or reply.button_payload or ""
        message = Message(phone, locale, "handoff", body)
        return self.decision(HANDOFF, reason if answer is None else f"{reason}:{answer}", message, record)

    def answer(self, answer: Answer) -> Decision:
        now, conversation = self.now, self.conversation
        if self.paused():
            return self.handoff(CONVERSATION_OPEN, answer.name)
        if now - self.t >= SERVICE_WINDOW:
            return self.handoff(OUTSIDE_WINDOW, answer.name)
        answered = tuple(x for x in conversation.answered if now - x < HOUR)
        if len(answered) >= MAX_ANSWERS_PER_HOUR:
            return self.handoff(RATE_LIMITED, answer.name)
        profile = self.profile
        if profile is None or profile.phone is None:  # `decide` ruled this out
            return self.ignore(NO_NUMBER)
        found = _text_for(answer, self.answering.catalog, profile.locale, self.note)
        if found is None:
            return self.handoff(ANSWER_INCOMPLETE, answer.name)
        locale, text = found
        personal = set(text.names()) & {*ANSWER_VALUES, "customer_name"}
        if personal and self.note is None and not self.written_lately():
            return self.handoff(UNVERIFIED, answer.name)
        values = personalize.safe_values(self.values(), self.answering.link_domains)
        try:
            body = text.render(values)
        except TemplateError:
            return self.handoff(ANSWER_INCOMPLETE, answer.name)
        conversation.answered = (*answered, now)
        self.state.conversation = conversation
        return self.decision(ANSWER, answer.name, Message(profile.phone, locale, "service", body))

    def written_lately(self) -> bool:
        """Whether we sent this customer something in the last week: only then may a keyword answer
        carry their links (whoever holds a recycled number must not get the last holder's)."""
        sent = self.conversation.sent
        return any(self.t - SENT_FOR <= n.at <= self.t for n in sent)

    def values(self) -> dict[str, str | None]:
        """The send's own values, then the customer's latest cart, order and shipment."""
        values: dict[str, str | None] = personalize.common_values(self.profile)
        values.update(latest_context(self.state))
        if self.note is not None:
            values.update(dict(self.note.values))
        return values

    def context(self) -> tuple[tuple[str, str], ...]:
        """What people see beside the reply: the send's values, else the latest cart, order, shipment."""
        merged = {k: v for k, v in latest_context(self.state).items() if v is not None}
        if self.note is not None:
            merged.update(dict(self.note.values))
        return tuple(sorted(merged.items()))


def contains(text: str, term: str) -> bool:
    """`term` in `text`: as a whole word or phrase where words are spaced ("agent", not "reagent"),
    anywhere for a term of CJK characters (written without spaces: 包裹 in 我的包裹到了嗎)."""
    if not term:
        return False
    if all(_unspaced(c) for c in term if not c.isspace()):
        return term in text
    return re.search(rf"(?<!\w){re.escape(term)}(?!\w)", text) is not None


def _unspaced(char: str) -> bool:
    return "\u3040" <= char <= "\u30ff" or "\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff"


def latest_context(state: CustomerState) -> dict[str, str | None]:
    """The customer's latest cart, order and shipment, as answer values."""
    values: dict[str, str | None] = {}
    if state.cart is not None:
        values["cart_url"] = state.cart.url
        values["cart_items"] = "、".join(state.cart.item_names) or None
    if state.last_order is not None:
        values["order_id"] = state.last_order.order_id
        values["order_url"] = state.last_order.url
    shipments = list((state.shipments or {}).values())
    if shipments:
        latest = max(shipments, key=lambda s: s.promised_at)
        values["tracking_url"] = latest.tracking_url
        values["tracking_number"] = latest.tracking_number
        values["carrier"] = latest.carrier
        values.setdefault("order_id", latest.order_id)
    return values


def _text_for(
    answer: Answer, catalog: MessageCatalog, locale: str | None, note: SentNote | None
) -> tuple[str, TextTemplate] | None:
    """The answer's text in the locale the customer read (the send's, else the profile's), along
    the fallback chain."""
    chain: Iterable[str] = catalog.locales.chain(note.locale if note is not None else locale)
    for candidate in chain:
        text = answer.texts.get(candidate)
        if text is not None:
            return candidate, text
    return None
