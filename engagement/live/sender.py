"""Carrying out `send` decisions: wait for the decision's time, claim the key, call the provider once.

The claim store is a port: the embedded outbox for `run`, Redis for `worker`. Whatever happens,
one key reaches the provider at most once: a claim is taken before the call, and a call whose
outcome is unknown (a read timeout, a crash in between) is never repeated.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from engagement.core.decisions import Decision, Message
from engagement.events import EVENT_ADAPTER, Event
from engagement.live.metrics import PROVIDER_CALL, SEND_DELAY, Metrics
from engagement.live.rate_limit import LONG_BLOCK_SECONDS, RateLimiter, throttled
from engagement.live.recipient_budget import RecipientBudget
from engagement.providers.base import (
    MarketingRefusedError,
    OutboundMessage,
    OutcomeUnknownError,
    PermanentError,
    Provider,
    RecipientUnreachableError,
    SendingHaltedError,
    TemplateButton,
    TemplateParameter,
    TemplateSend,
    ThrottledError,
    TransientError,
)

log = logging.getLogger("engagement.sender")

_PERMANENT_RESULTS: dict[type[PermanentError], str] = {
    SendingHaltedError: "halted",
    RecipientUnreachableError: "unreachable",
    MarketingRefusedError: "marketing_refused",
}
RETRY_BASE_SECONDS = 1.0
RETRY_MAX_SECONDS = 60.0
SERVICE_RETRY_BASE_SECONDS = 0.25  # an answer: the customer who wrote is waiting
SERVICE_RETRY_FIRST_SECONDS = 0.5  # a throttled answer's first retries come sooner than the number's backoff


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """`status`: sent, failed, unknown, expired, retry (then `retry_at`), or failover (then `next`:
    the same send on its next channel, due at `retry_at`). `feedback`: what the
    engine must hear of a refusal (opted_out, marketing_paused, unreachable), with the provider's `code`."""

    status: str
    detail: str | None = None
    retry_at: float | None = None
    feedback: str | None = None
    code: str | None = None
    pause: float | None = None  # seconds every send must wait (the provider throttled the whole number)
    next: OutboundMessage | None = None  # the same send on its next channel, due at `retry_at` (see below)

    @property
    def waits(self) -> bool:
        """A call that went out (sent) or may have (unknown), whose next channel is tried at
        `retry_at` unless a delivery report comes first."""
        return self.next is not None and self.status in ("sent", "unknown")


Feedback = Callable[[list[Event]], Awaitable[object]]  # where refusals go: the runtime's ingest


async def follow_up(
    outcome: SendOutcome, message: OutboundMessage, limiter: RateLimiter, feedback: Feedback, now: float
) -> None:
    """What both runtimes do after a provider call, whatever their store: a throttled number slows
    every send down (a long block holds them), and a refusal the engine must hear of goes back in
    as a `message.failed` event."""
    if outcome.pause is not None:
        await throttled(limiter, outcome.pause)
    if outcome.feedback is not None:
        event = failure_event(message.key, message.customer_id, outcome.feedback, outcome.code, now, message.channel)
        await feedback([event])


def feedback_of(exc: PermanentError) -> str | None:
    if isinstance(exc, MarketingRefusedError):
        return "opted_out" if exc.opted_out else "marketing_paused"
    if isinstance(exc, RecipientUnreachableError):
        return "unreachable"
    return None


def failure_event(
    key: str, customer_id: str, reason: str, code: str | None, at: float, channel: str = "whatsapp"
) -> Event:
    """The `message.failed` event that tells the engine about a refusal (one per send: its id
    derives from the send's key, so hearing of it twice counts once). A key echoed by a webhook
    is bounded like any event's text."""
    key = "".join(c for c in key if c.isprintable())
    return EVENT_ADAPTER.validate_python(
        {
            "event_id": (f"failed-{key}" if channel == "whatsapp" else f"failed-{channel}-{key}")[:128],
            "type": "message.failed",
            "customer_id": customer_id,
            "occurred_at": datetime.fromtimestamp(at, UTC),
            "key": key[:256],
            "reason": reason,
            "code": code[:64] if code is not None else None,
            "channel": channel,
        }
    )


METERED_CATEGORIES = frozenset({"marketing", "utility", "security"})  # the WhatsApp tier counts these
UNKNOWN_WAIT_SECONDS = 60.0  # a security alert whose call's outcome is unknown: the next channel after this
NO_DELIVERY_REPORTS = frozenset({"line"})  # an accepted push is as far as these channels report
IDEMPOTENT_CHANNELS = frozenset({"line"})  # a repeated call is executed once (X-Line-Retry-Key): safe to retry


def count_delivery(metrics: Metrics, message: OutboundMessage, said: str | None) -> None:
    """A delivery (or an accepted push, on a channel without delivery reports) counted by channel;
    `twice`: the send had gone out on another channel that reported it delivered too."""
    if said is not None:
        metrics.inc("engagement_deliveries_total", channel=message.channel, result=said)
        if said == "twice":
            log.warning("send %s: delivered on %s and on another channel", message.key, message.channel)


def watch_after(
    message: OutboundMessage, now: float, deadline: float, why: str
) -> tuple[OutboundMessage, float] | None:
    """After a call on `message.channel` that went out (`why` no_report) or may have (`unknown`):
    the same send on its next channel and when to try it unless a delivery report names the
    send first; None when there is no next channel, the channel reports no deliveries (an accepted
    push counts as delivered), or the time would fall past the send window."""
    if not message.fallbacks or message.handoff is not None:
        return None
    if why == "no_report" and message.channel in NO_DELIVERY_REPORTS:
        return None
    wait = UNKNOWN_WAIT_SECONDS if why == "unknown" and message.category == "security" else message.fallback_after
    at = now + wait
    following = message.next_channel(why)
    if at > deadline or following is None:
        return None
    return following, at


QUEUED_OUTCOMES = frozenset({"send", "answer", "handoff"})  # decisions the outbox carries out
UNMETERED = frozenset({"handoff"})  # not a WhatsApp message: no send rate, no recipient budget
HANDOFF_KEYS = "handoff-"  # a hand-off's key: retried even after a crash during its call


def outbound_for(decision: Decision) -> OutboundMessage | None:
    """What a `send`, `answer` or `handoff` decision hands over (None for a decision without one)."""
    message = decision.message
    if message is None or decision.outcome not in QUEUED_OUTCOMES:
        return None
    handoff = decision.handoff
    record = None
    if handoff is not None:
        record = {
            "id": decision.event_id,
            "trigger": decision.trigger,
            "decision_key": handoff.sent_key,
            "message": handoff.sent_text,
            "reply": {"text": handoff.reply_text, "button": handoff.reply_button},
            "received_at": handoff.received_at,
            "reason": decision.reason,
            "context": dict(handoff.context),
            "channel": handoff.channel,
        }
    return _outbound(decision, message, record)


def _outbound(decision: Decision, message: Message, record: dict[str, Any] | None = None) -> OutboundMessage:
    template = None
    if message.template is not None:
        use = message.template
        template = TemplateSend(
            use.name,
            use.language,
            tuple(TemplateParameter(text, name=name) for name, text in use.parameters),
            (),
            tuple(TemplateButton(sub_type, index, value) for sub_type, index, value in use.buttons),
        )
    return OutboundMessage(
        decision.key,
        decision.trigger,
        decision.customer_id,
        message.to,
        message.locale,
        message.category,
        message.body,
        template,
        message.replies,
        record,
        channel=message.channel,
        flex=message.flex,
        fallbacks=tuple(_outbound(decision, m) for m in message.fallbacks),
        fallback_after=message.fallback_after,
    )


async def deliver(
    provider: Provider,
    message: OutboundMessage,
    now: float,
    deadline: float,
    attempts: int,
    metrics: Metrics,
    budget: RecipientBudget | None = None,
    due_at: float | None = None,
) -> SendOutcome:
    """One provider call for an already-claimed key, and what became of it. `due_at`: when the
    send was decided (its first call observes the delay since)."""
    if now > deadline:
        metrics.inc("engagement_sends_total", result="deadline_missed")
        return SendOutcome("expired", "deadline_missed")
    if budget is not None and message.channel == "whatsapp" and message.category in METERED_CATEGORIES:
        free_at = await budget.admit(message.to, now)
        if free_at is not None:
            metrics.inc("engagement_sends_total", result="over_budget")
            return SendOutcome("retry", "the messaging tier's unique recipients per 24 h are spent", free_at)
    if attempts == 1 and due_at is not None:
        metrics.observe(SEND_DELAY, max(0.0, now - due_at))
    started = time.perf_counter()
    try:
        receipt = await provider.send(message)
    except Exception as exc:
        metrics.observe(PROVIDER_CALL, time.perf_counter() - started, result=type(exc).__name__)
        return _refused(exc, message, now, deadline, attempts, metrics)
    metrics.observe(PROVIDER_CALL, time.perf_counter() - started, result="sent")
    metrics.inc("engagement_sends_total", result="sent")
    metrics.inc("engagement_channel_sends_total", channel=message.channel, result="sent")
    watch = watch_after(message, now, deadline, "no_report")
    if watch is None:
        return SendOutcome("sent", receipt.provider_message_id)
    return SendOutcome("sent", receipt.provider_message_id, watch[1], next=watch[0])


def _refused(
    exc: Exception, message: OutboundMessage, now: float, deadline: float, attempts: int, metrics: Metrics
) -> SendOutcome:
    """What a provider's exception means for the send (anything not of the port's is raised)."""
    service = message.category == "service"
    if isinstance(exc, ThrottledError):
        metrics.inc("engagement_sends_total", result="throttled")
        pause = exc.retry_after if exc.scope == "sender" else None
        wait = exc.retry_after
        if service and attempts <= 2 and exc.retry_after < LONG_BLOCK_SECONDS:
            wait = min(wait, SERVICE_RETRY_FIRST_SECONDS * attempts)
        return SendOutcome("retry", f"throttled: {exc}", now + wait, pause=pause)
    if isinstance(exc, OutcomeUnknownError) and message.channel in IDEMPOTENT_CHANNELS:
        metrics.inc("engagement_sends_total", result="unknown_retried")
        log.warning("send %s: outcome unknown on %s (%s); retried under the same retry key", message.key,
                    message.channel, exc)  # fmt: skip
        return SendOutcome("retry", f"unknown: {exc}", now + RETRY_BASE_SECONDS)
    if isinstance(exc, OutcomeUnknownError):
        metrics.inc("engagement_sends_total", result="unknown")
        log.warning("send %s: outcome unknown (%s); not resent on %s", message.key, exc, message.channel)
        watch = watch_after(message, now, deadline, "unknown")
        if watch is None:
            return SendOutcome("unknown", str(exc))
        return SendOutcome("unknown", str(exc), watch[1], next=watch[0])
    if isinstance(exc, TransientError):
        metrics.inc("engagement_sends_total", result="transient_error")
        base = SERVICE_RETRY_BASE_SECONDS if service else RETRY_BASE_SECONDS
        backoff = min(RETRY_MAX_SECONDS, base * 2 ** max(attempts - 1, 0))
        backoff *= random.uniform(0.8, 1.2)  # noqa: S311 (spreading retries, not security)
        return SendOutcome("retry", f"transient: {exc}", now + backoff)
    if isinstance(exc, PermanentError):
        following = message.next_channel(exc.code or type(exc).__name__)
        metrics.inc("engagement_channel_sends_total", channel=message.channel, result="refused")
        if following is not None and not message.handoff:
            metrics.inc("engagement_failovers_total", source=message.channel, to=following.channel, reason="refused")
            log.warning("send %s refused on %s (%s); trying %s", message.key, message.channel, exc, following.channel)
            return SendOutcome("failover", str(exc), now, feedback=feedback_of(exc), code=exc.code, next=following)
        result = _PERMANENT_RESULTS.get(type(exc), "failed")
        if isinstance(exc, MarketingRefusedError) and exc.opted_out:
            result = "opted_out"
        metrics.inc("engagement_sends_total", result=result)
        if isinstance(exc, SendingHaltedError):
            log.error("send %s: the provider refuses all sending (%s); alert", message.key, exc)
        else:
            log.warning("send %s failed: %s", message.key, exc)
        return SendOutcome("failed", str(exc), feedback=feedback_of(exc), code=exc.code)
    raise exc
