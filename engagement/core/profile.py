"""Customer profile updates, replies (opt-out keywords, reply-reset caps) and the profile a login sees."""

from __future__ import annotations

import sys

from engagement.core.policies import record_reply
from engagement.core.state import CustomerState, Profile
from engagement.events import CustomerUpdated, MessageReplied


def apply_update(state: CustomerState, event: CustomerUpdated) -> None:
    """A partial update: fields absent from the event keep their value."""
    if state.profile is None:
        state.profile = Profile()
    _merge(state.profile, event)


def _merge(profile: Profile, event: CustomerUpdated) -> None:
    if event.name is not None:
        profile.name = event.name
    if event.phone is not None:
        profile.number = int(event.phone[1:])  # E.164, validated at the edge
    if event.locale is not None:
        profile.locale = sys.intern(event.locale)
    if event.timezone is not None:
        profile.timezone = sys.intern(event.timezone)
    if event.whatsapp_opt_in is not None:
        profile.opt_in = event.whatsapp_opt_in
    if event.marketing_opt_out is not None:
        profile.opt_out = event.marketing_opt_out
    if event.tier is not None:
        profile.tier = sys.intern(event.tier)


def apply_reply(state: CustomerState, event: MessageReplied, t: float, opt_out_keywords: frozenset[str]) -> None:
    record_reply(state, t)
    for said in (event.text, event.button_payload):
        if said is not None and said.strip().casefold() in opt_out_keywords:
            if state.profile is None:
                state.profile = Profile()
            state.profile.opt_out = True


def profile_as_of(state: CustomerState, t: float) -> Profile | None:
    """The profile including updates that occurred by `t` but still wait in the ordering buffer."""
    updates = [e for (et, _, e) in state.pending or () if et <= t and isinstance(e, CustomerUpdated)]
    if not updates:
        return state.profile
    base = state.profile
    profile = (
        Profile()
        if base is None
        else Profile(base.name, base.number, base.locale, base.timezone, base.opt_in, base.opt_out, base.tier)
    )
    for update in updates:
        _merge(profile, update)
    return profile
