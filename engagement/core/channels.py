"""Which channels a send may use, in order: the trigger's channels re-ordered by the customer's
preference, each kept only where the customer has consent and is reachable.

A channel's refusal is one of the policy reasons: `no_consent` (no consent on that channel, or
no address for it), `unreachable` (the provider said it cannot reach the customer there, or the
customer blocked the LINE account) or `marketing_paused` (WhatsApp holds back marketing).
"""

from __future__ import annotations

from engagement.core import decisions as r
from engagement.core.state import Ledger, Profile

Refusals = tuple[tuple[str, str], ...]


def ordered(trigger_channels: tuple[str, ...], preferred: tuple[str, ...]) -> tuple[str, ...]:
    """The trigger's channels, those the customer prefers first (in the customer's order)."""
    if not preferred:
        return trigger_channels
    first = tuple(c for c in preferred if c in trigger_channels)
    return (*first, *(c for c in trigger_channels if c not in first))


def reach_refusal(channel: str, profile: Profile, ledger: Ledger | None, at: float) -> str | None:
    """Why the customer cannot get a message on `channel` now (None: they can)."""
    if channel == "whatsapp":
        if not profile.opt_in or profile.number is None:
            return r.NO_CONSENT
        if ledger is not None and ledger.unreachable_until is not None and at < ledger.unreachable_until:
            return r.UNREACHABLE
        return None
    if channel == "line":
        if not profile.line_opt_in or profile.line_user_id is None:
            return r.NO_CONSENT
        return r.UNREACHABLE if profile.line_blocked else None
    if not profile.sms_opt_in or profile.number is None or profile.sms_opt_out:
        return r.NO_CONSENT
    if ledger is not None and ledger.sms_unreachable_until is not None and at < ledger.sms_unreachable_until:
        return r.UNREACHABLE
    return None


def marketing_refusal(channel: str, ledger: Ledger | None, at: float) -> str | None:
    """WhatsApp's own pause on marketing to this customer (131049) holds on WhatsApp only."""
    if channel == "whatsapp" and ledger is not None and at < (ledger.marketing_paused_until or 0.0):
        return r.MARKETING_PAUSED
    return None


def overall(refusals: Refusals) -> str:
    """The reason of a suppression when every channel refused: `no_consent` when none has
    consent, else `unreachable` when any cannot be reached, else the refusal they share."""
    reasons = {reason for _, reason in refusals}
    if reasons == {r.NO_CONSENT}:
        return r.NO_CONSENT
    if r.UNREACHABLE in reasons:
        return r.UNREACHABLE
    return next(reason for _, reason in refusals if reason != r.NO_CONSENT)
