"""The policy chain applied when a trigger fires, in CONTRACT.md §2 order, and the send ledger it reads."""

from __future__ import annotations

from dataclasses import dataclass

from engagement.config.triggers import MarketingPolicies, SecurityPolicies, TriggerSpec
from engagement.core import decisions as r
from engagement.core.flat import flat_get, flat_set
from engagement.core.keys import in_holdout
from engagement.core.quiet_hours import AllowedMinutes
from engagement.core.state import CustomerState, Ledger, Profile

DAY = 86_400.0
GLOBAL_GROUP = ""  # the global control group's draw: no trigger id is empty


@dataclass(frozen=True, slots=True)
class Verdict:
    """`reason` None means send at `at`; `wait_until` set means hold the timer until then and decide again."""

    reason: str | None
    at: float
    wait_until: float | None = None


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
        refused = self._refused(state, profile, at)
        if refused is not None or profile is None:
            return Verdict(refused or r.NO_CONSENT, at)
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

    def _refused(self, state: CustomerState, profile: Profile | None, at: float) -> str | None:
        """The reasons that depend on the customer alone: consent, reachability, opt-out, holdout."""
        if profile is None or not profile.opt_in or not profile.phone:
            return r.NO_CONSENT
        ledger = state.ledger
        if ledger is not None and ledger.unreachable_until is not None and at < ledger.unreachable_until:
            return r.UNREACHABLE
        if self.marketing and profile.opt_out:
            return r.MARKETING_OPT_OUT
        if self.marketing and ledger is not None and at < (ledger.marketing_paused_until or 0.0):
            return r.MARKETING_PAUSED
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


def record_failure(state: CustomerState, reason: str, at: float) -> None:
    """What a provider's refusal (a `message.failed` event) means for later sends."""
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


def record_reply(state: CustomerState, at: float) -> None:
    """A customer reply restarts the business-initiated count."""
    ledger = state.ledger
    if ledger is None:
        ledger = state.ledger = Ledger()
    if ledger.last_reply_at is None or at > ledger.last_reply_at:
        ledger.last_reply_at = at
        ledger.business = tuple(t for t in ledger.business if t > at)
