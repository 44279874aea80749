"""Edits that pass every check and can still hurt customers: each must be acknowledged, by name,
before it is published (the console's publish review), and the acknowledgement is kept with the
version.

A danger is judged on the edited configuration against the live one: a marketing trigger without
quiet hours or allowed to send at night, no opt-out keywords of its own, no pacing between two
messages to one number, a security or utility trigger switched off or removed, a frequency cap
removed or raised above the shipped one, a holdout lowered to 0; a message edited where no
registry synced from WhatsApp can tell whether its templates exist and are approved; a backtest
of the edit that moved a trigger's sends by more than 20 %.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engagement.config.template_registry import TemplateRegistry
from engagement.core.engine import Engine
from engagement.core.quiet_hours import AllowedMinutes
from engagement.core.specs import TriggerSpec

NIGHT_HOURS = frozenset({22, 23, 0, 1, 2, 3, 4, 5, 6, 7})
SHIPPED_CAP = 3  # the shipped marketing_per_24h and business_since_reply


@dataclass(frozen=True, slots=True)
class Danger:
    trigger: str
    code: str  # no_quiet_hours, night_sends, no_opt_out_keywords, no_pacing, cap_raised, holdout_removed, turned_off
    message: str

    @property
    def name(self) -> str:
        """What an acknowledgement names: `trigger:code`."""
        return f"{self.trigger}:{self.code}"

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "trigger": self.trigger, "code": self.code, "message": self.message}


def dangers(live: Engine, edited: Engine) -> list[Danger]:
    """What the edited configuration does that needs an acknowledgement, trigger by trigger (only
    what the edit changes: a live trigger's danger was acknowledged when it was published)."""
    found: list[Danger] = []
    for spec in sorted(edited.specs.values(), key=lambda s: s.id):
        before = live.specs.get(spec.id)
        for danger in _of(spec, before):
            if before is None or danger not in _of(before, None):  # the same, live already: acknowledged then
                found.append(danger)
    for spec in sorted(live.specs.values(), key=lambda s: s.id):
        if spec.id not in edited.specs and spec.category in CUSTOMERS_COUNT_ON:
            words = f"a {spec.category} trigger switched off or removed: its customers stop getting its messages"
            found.append(Danger(spec.id, "turned_off", words))
    return found


# what customers count on getting (a security alert, a parcel's delay): switching it off is a danger
CUSTOMERS_COUNT_ON = frozenset({"security", "utility"})


MOVED_SHARE = 0.2


def unverified_templates(registry: TemplateRegistry | None, edit: Iterable[str]) -> list[Danger]:
    """An edit of a message file, when no registry synced from WhatsApp checks its templates."""
    if not any(name.startswith("messages/") for name in edit):
        return []
    if registry is not None and not registry.example:
        return []
    why = "no template registry" if registry is None else "only the shipped example registry"
    return [
        Danger(
            "messages",
            "templates_unverified",
            f"{why}: nothing here checks that the templates this edit sends exist at WhatsApp and are "
            "approved (engagement templates sync)",
        )
    ]


def moved_by_backtest(result: Mapping[str, Any] | None) -> list[Danger]:
    """The triggers whose sends a backtest of the edit moved by more than `MOVED_SHARE`."""
    found = []
    for row in (result or {}).get("triggers", []):
        before, after = int(row.get("sends_before", 0)), int(row.get("sends_after", 0))
        if before == after:
            continue
        change = (after - before) / before if before else 1.0
        if abs(change) > MOVED_SHARE:
            share = f"{change:+.0%}" if before else "none before"
            words = f"the backtest moved its sends from {before:,} to {after:,} ({share})"
            found.append(Danger(str(row.get("trigger", "")), "backtest_moved", words))
    return found


def _of(spec: TriggerSpec, before: TriggerSpec | None) -> list[Danger]:
    policies = spec.policies
    out: list[Danger] = []
    if spec.policies.pacing.total_seconds() <= 0:
        out.append(Danger(spec.id, "no_pacing", "no pacing: two messages may reach one number in the same second"))
    if spec.category != "marketing":
        return out
    quiet = getattr(policies, "quiet_hours", None)
    if quiet is None:
        out.append(Danger(spec.id, "no_quiet_hours", "marketing without quiet hours: it may send at 3 a.m."))
    else:
        night = sorted(AllowedMinutes(quiet.allowed).hours & NIGHT_HOURS)
        if night:
            shown = ", ".join(f"{h:02d}:00" for h in night)
            out.append(Danger(spec.id, "night_sends", f"marketing allowed at night, in the customer's zone: {shown}"))
    if not getattr(policies, "opt_out_keywords", ("STOP",)):
        words = "no opt-out keywords of its own: only STOP, 退訂 and 取消訂閱 opt a customer out"
        out.append(Danger(spec.id, "no_opt_out_keywords", words))
    cap = getattr(policies, "frequency_cap", None)
    for field in ("marketing_per_24h", "business_since_reply"):
        value = getattr(cap, field, SHIPPED_CAP)
        if value is None or value > SHIPPED_CAP:
            shown = "removed" if value is None else f"raised to {value}"
            out.append(Danger(spec.id, "cap_raised", f"frequency_cap.{field} {shown} (shipped: {SHIPPED_CAP})"))
            break
    holdout = getattr(policies, "holdout_percent", 0.0)
    was = getattr(before.policies, "holdout_percent", 0.0) if before is not None else 0.0
    if holdout <= 0 < was:
        out.append(
            Danger(spec.id, "holdout_removed", f"holdout lowered from {was:g} % to 0: uplift can no longer be measured")
        )
    return out
