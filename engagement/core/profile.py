"""Customer profile updates, replies (opt-out keywords, reply-reset caps) and the profile a login sees."""

from __future__ import annotations

import sys
from copy import copy

from engagement.core.policies import record_reply
from engagement.core.state import CustomerState, Profile
from engagement.events import CustomerUpdated, MessageReplied

ALWAYS_OPT_OUT = frozenset({"stop", "退訂", "取消訂閱", "退订", "取消订阅", "unsubscribe"})
"""Replies that opt a customer out of marketing whatever the triggers say (casefolded)."""


def apply_update(state: CustomerState, event: CustomerUpdated, t: float) -> None:
    """A partial update at event time `t`: fields absent from the event keep their value, and the
    number, consent and opt-out keep a newer value they already have."""
    if state.profile is None:
        state.profile = Profile()
    _merge(state.profile, event, t)


def _merge(profile: Profile, event: CustomerUpdated, t: float) -> None:
    if event.name is not None:
        profile.name = event.name
    if event.phone is not None and t >= profile.number_at:
        profile.number = int(event.phone[1:])  # E.164, validated at the edge
        profile.number_at = t
    if event.locale is not None:
        profile.locale = sys.intern(event.locale)
    if event.timezone is not None:
        profile.timezone = sys.intern(event.timezone)
    if event.whatsapp_opt_in is not None and t >= profile.opt_in_at:
        profile.opt_in = event.whatsapp_opt_in
        profile.opt_in_at = t
    if event.marketing_opt_out is not None:
        set_opt_out(profile, event.marketing_opt_out, t)
    if event.tier is not None:
        profile.tier = sys.intern(event.tier)
    _merge_channels(profile, event, t)


def _merge_channels(profile: Profile, event: CustomerUpdated, t: float) -> None:
    """LINE and SMS: the address and consent of each (newer by event time wins), and the order."""
    if t >= profile.line_at and (event.line_user_id is not None or event.line_opt_in is not None):
        if event.line_user_id is not None and event.line_user_id != profile.line_user_id:
            profile.line_user_id, profile.line_blocked = event.line_user_id, False
        if event.line_opt_in is not None:
            profile.line_opt_in = event.line_opt_in
        profile.line_at = t
    if event.sms_opt_in is not None and t >= profile.sms_at:
        profile.sms_opt_in, profile.sms_at = event.sms_opt_in, t
        if event.sms_opt_in:
            profile.sms_opt_out = False  # consent given again after a STOP
    if event.channels is not None:
        profile.channels = tuple(sys.intern(c) for c in event.channels)


def set_opt_out(profile: Profile, opted_out: bool, t: float) -> None:
    """The marketing opt-out as of `t`, unless a later change already decided it."""
    if t >= profile.opt_out_at:
        profile.opt_out = opted_out
        profile.opt_out_at = t


def apply_reply(state: CustomerState, event: MessageReplied, t: float, opt_out_keywords: frozenset[str]) -> None:
    record_reply(state, t)
    for said in (event.text, event.button_payload):
        if said is None:
            continue
        word = said.strip().casefold()
        if word in ALWAYS_OPT_OUT or word in opt_out_keywords:
            if state.profile is None:
                state.profile = Profile()
            set_opt_out(state.profile, True, t)


def latest_phone(state: CustomerState) -> str | None:
    """The customer's number as the latest update by event time gives it, including updates still
    waiting in the ordering buffer: the number the phone index must hold for this customer."""
    profile = profile_as_of(state, float("inf"))
    return None if profile is None else profile.phone


def latest_line_id(state: CustomerState) -> str | None:
    """The customer's LINE user id as the latest update by event time gives it (see `latest_phone`)."""
    profile = profile_as_of(state, float("inf"))
    return None if profile is None else profile.line_user_id


def profile_as_of(state: CustomerState, t: float) -> Profile | None:
    """The profile including updates that occurred by `t` but still wait in the ordering buffer."""
    updates = [(et, e) for (et, _, e) in state.pending or () if et <= t and isinstance(e, CustomerUpdated)]
    if not updates:
        return state.profile
    base = state.profile
    profile = Profile() if base is None else copy(base)
    for et, update in updates:
        _merge(profile, update, et)
    return profile
