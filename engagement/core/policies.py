"""The policy chain applied when a trigger fires, in CONTRACT.md §2 order, and the send ledger it reads."""

from __future__ import annotations

from dataclasses import dataclass

from engagement.core import decisions as r
from engagement.core.channels import Refusals, marketing_refusal, ordered, overall, reach_refusal
from engagement.core.flat import flat_get, flat_set
from engagement.core.keys import in_holdout
from engagement.core.quiet_hours import AllowedMinutes
from engagement.core.specs import MarketingPolicies, SecurityPolicies, TriggerSpec
from engagement.core.state import CustomerState, Ledger, Profile

DAY = 86_400.0
GLOBAL_GROUP = ""  # the global control group's draw: no trigger id is empty


@dataclass(frozen=True, slots=True)
class Verdict:
    """`reason` None means send at `at`; `wait_until` set means hold the timer until then and decide again."""

    reason: str | None
    at: float
    wait_until: float | None = None
    channels: tuple[str, ...] = ("whatsapp",)  # where the send may go, in order
    refused: Refusals = ()  # the channels left out, each with its reason


class PolicyChain:
    """One trigger's compiled policies."""

    __slots__ = (
        "_business_cap",
        "_cooldown",
        "_global_holdout",
        "_holdout",
        "_marketing_cap",
        "_pacing",
        "_quiet",
        "category",
        "channels",
        "default_timezone",
        "marketing",
        "trigger_id",
    )

    def __init__(self, spec: TriggerSpec, default_timezone: str, global_holdout: float = 0.0) -> None:
        policies = spec.policies
        self.trigger_id = spec.id
        self.category = spec.category
        self.marketing = spec.category == "marketing"
        self.default_timezone = default_timezone
        self.channels: tuple[str, ...] = tuple(spec.channels)
        self._cooldown = policies.cooldown.total_seconds() if policies.cooldown else None
        self._pacing = policies.pacing.total_seconds()
        self._holdout = policies.holdout_percent if isinstance(policies, MarketingPolicies) else 0.0
        self._global_holdout = global_holdout if self.marketing else 0.0  # security and utility are exempt
        self._marketing_cap: int | None = None
        self._business_cap: int | None = None
        if not isinstance(policies, SecurityPolicies):
            self._business_cap = policies.frequency_cap.business_since_reply
            if isinstance(policies, MarketingPolicies):
                self._marketing_cap = policies.frequency_cap.marketing_per_24h
        quiet = policies.quiet_hours
        self._quiet = AllowedMinutes(quiet.allowed) if quiet is not None else None

    def evaluate(self, state: CustomerState, profile: Profile | None, at: float, deadline: float) -> Verdict:
        if profile is None:
            return Verdict(r.NO_CONSENT, at, channels=())
        channels, refused_channels = self._reachable(state, profile, at)
        refused = r.NO_CONSENT if not channels else self._refused(profile)
        if refused is None:
            channels, refused_channels = self._not_paused(state, channels, refused_channels, at)
            refused = None if channels else r.MARKETING_PAUSED
        if refused is None:
            refused = self._held_out(state)
        if refused is not None:
            if not channels:
                refused = overall(refused_channels)
            return Verdict(refused, at, channels=channels, refused=refused_channels)
        verdict = self._timing(state, profile, at, deadline)
        return Verdict(verdict.reason, verdict.at, verdict.wait_until, channels, refused_channels)

    def _reachable(self, state: CustomerState, profile: Profile, at: float) -> tuple[tuple[str, ...], Refusals]:
        usable: list[str] = []
        refused: list[tuple[str, str]] = []
        for channel in ordered(self.channels, profile.channels):
            why = reach_refusal(channel, profile, state.ledger, at)
            if why is None:
                usable.append(channel)
            else:
                refused.append((channel, why))
        return tuple(usable), tuple(refused)

    def _not_paused(
        self, state: CustomerState, channels: tuple[str, ...], refused: Refusals, at: float
    ) -> tuple[tuple[str, ...], Refusals]:
        if not self.marketing:
            return channels, refused
        usable: list[str] = []
        more = list(refused)
        for channel in channels:
            why = marketing_refusal(channel, state.ledger, at)
            if why is None:
                usable.append(channel)
            else:
                more.append((channel, why))
        return tuple(usable), tuple(more)

    def _timing(self, state: CustomerState, profile: Profile, at: float, deadline: float) -> Verdict:
        """Cooldown, caps, quiet hours and pacing, for a customer who may be messaged."""
        ledger = state.ledger
        if ledger is not None:
            last = flat_get(ledger.last_sent, self.trigger_id)
            if self._cooldown is not None and last is not None and at - last < self._cooldown:
                return Verdict(r.COOLDOWN, at)
            if self._capped(ledger, at):
                return Verdict(r.FREQUENCY_CAP, at)
        if self._quiet is not None:
            zone = profile.timezone or self.default_timezone
            allowed = self._quiet.next_allowed(at, deadline, zone)
            if allowed is None:
                return Verdict(r.QUIET_HOURS, at)
            if allowed > at:
                return Verdict(None, at, wait_until=allowed)
        send_at = at
        if ledger is not None and ledger.last_send_at is not None:
            send_at = max(at, ledger.last_send_at + self._pacing)
        if send_at > deadline:
            return Verdict(r.DEADLINE_MISSED, at)
        return Verdict(None, send_at)

    def _refused(self, profile: Profile) -> str | None:
        """The marketing opt-out: the customer's choice, whatever the channel."""
        if self.marketing and profile.opt_out:
            return r.MARKETING_OPT_OUT
        return None

    def _held_out(self, state: CustomerState) -> str | None:
        """The holdout groups: the global one, then the trigger's."""
        if self._global_holdout and in_holdout(GLOBAL_GROUP, state.customer_id, self._global_holdout):
            return r.HOLDOUT
        if self._holdout and in_holdout(self.trigger_id, state.customer_id, self._holdout):
            return r.HOLDOUT
        return None

    def _capped(self, ledger: Ledger, at: float) -> bool:
        if self._marketing_cap is not None:
            since = at - DAY
            if sum(1 for t in ledger.marketing if t > since) >= self._marketing_cap:
                return True
        if self._business_cap is not None:
            return len(ledger.business) >= self._business_cap
        return False

    def record_send(self, state: CustomerState, at: float) -> None:
        ledger = state.ledger
        if ledger is None:
            ledger = state.ledger = Ledger()
        ledger.last_sent = flat_set(ledger.last_sent, self.trigger_id, at)
        ledger.last_send_at = at
        if self.category == "security":
            return
        ledger.business = (*ledger.business, at)
        if self.marketing:
            since = at - DAY
            ledger.marketing = (*[t for t in ledger.marketing if t > since], at)


UNREACHABLE_FOR = 7 * DAY
MARKETING_PAUSED_FOR = DAY  # WHATSAPP.md: integrators wait at least 24 h after 131049


def record_failure(state: CustomerState, reason: str, at: float, channel: str = "whatsapp") -> None:
    """What a provider's refusal (a `message.failed` event) means for later sends."""
    if channel != "whatsapp":
        _channel_failure(state, reason, at, channel)
        return
    if reason == "opted_out":
        if state.profile is None:
            state.profile = Profile()
        if at >= state.profile.opt_out_at:
            state.profile.opt_out, state.profile.opt_out_at = True, at
        return
    ledger = state.ledger
    if ledger is None:
        ledger = state.ledger = Ledger()
    if reason == "unreachable":
        ledger.unreachable_until = max(ledger.unreachable_until or 0.0, at + UNREACHABLE_FOR)
    elif reason == "marketing_paused":
        ledger.marketing_paused_until = max(ledger.marketing_paused_until or 0.0, at + MARKETING_PAUSED_FOR)


def _channel_failure(state: CustomerState, reason: str, at: float, channel: str) -> None:
    """LINE: blocked (`unreachable`) or followed again (`reachable`); SMS: STOP (`opted_out`, for
    SMS only: the customer's marketing choice is theirs to make elsewhere) or a number that cannot
    take SMS (`unreachable`, for a week, like WhatsApp's)."""
    profile = state.profile
    if profile is None:
        profile = state.profile = Profile()
    if channel == "line" and reason in ("unreachable", "reachable") and at >= profile.line_at:
        profile.line_blocked, profile.line_at = reason == "unreachable", at
    elif channel == "sms" and reason == "opted_out" and at >= profile.sms_at:
        profile.sms_opt_out, profile.sms_at = True, at
    elif channel == "sms" and reason == "unreachable":
        ledger = state.ledger
        if ledger is None:
            ledger = state.ledger = Ledger()
        ledger.sms_unreachable_until = max(ledger.sms_unreachable_until or 0.0, at + UNREACHABLE_FOR)


def record_reply(state: CustomerState, at: float) -> None:
    """A customer reply restarts the business-initiated count."""
    ledger = state.ledger
    if ledger is None:
        ledger = state.ledger = Ledger()
    if ledger.last_reply_at is None or at > ledger.last_reply_at:
        ledger.last_reply_at = at
        ledger.business = tuple(t for t in ledger.business if t > at)
