"""Anomalous login: decided on arrival from the customer's login history (new device and country,
impossible travel, a burst of failed logins)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import cast

from engagement.core.decisions import Decision
from engagement.core.flat import FlatTimes, dict_as_flat, flat_as_dict, flat_get
from engagement.core.kinds.kind import Decider, TriggerKind
from engagement.core.personalize import when
from engagement.core.profile import profile_as_of
from engagement.core.specs import AnomalousLoginTrigger
from engagement.core.state import CustomerState, Logins, Timer
from engagement.events import Event, LoginFailed, LoginSucceeded

EARTH_RADIUS_KM = 6371.0088
MAX_REMEMBERED = 16


Plans = Sequence[AnomalousLoginTrigger]


def on_login(
    engine: Decider, plans: Plans, state: CustomerState, event: Event, t: float, clock: float, out: list[Decision]
) -> None:
    logins = state.logins
    if logins is None:
        logins = state.logins = Logins()
    state.cursor = max(state.cursor, t)
    if isinstance(event, LoginFailed):
        _remember_failure(plans, logins, t)
        return
    event = cast(LoginSucceeded, event)
    for spec in plans:
        if logins.successes >= spec.min_previous_logins and is_anomalous(spec, logins, event, t):
            window = spec.send_within.total_seconds()
            timer = Timer(spec.id, t, t + window, event.event_id, event.event_id, t)
            engine.fire(state, timer, clock, out, profile_as_of(state, t))
    _remember_success(plans, logins, event, t)


def is_anomalous(spec: AnomalousLoginTrigger, logins: Logins, event: LoginSucceeded, t: float) -> bool:
    rule = spec.new_device_and_country
    if rule.enabled and event.device_id is not None and event.country is not None:
        horizon = t - rule.lookback.total_seconds()
        device_seen = flat_get(logins.devices(), event.device_id)
        country_seen = flat_get(logins.countries(), event.country)
        if (device_seen is None or device_seen < horizon) and (country_seen is None or country_seen < horizon):
            return True
    travel = spec.impossible_travel
    if travel.enabled and _impossible_travel(
        travel.within.total_seconds(), travel.min_speed_kmh, travel.min_distance_km, logins, event, t
    ):
        return True
    failed = spec.failed_logins
    if failed.enabled:
        since = t - failed.within.total_seconds()
        if sum(1 for f in logins.failures if since <= f <= t) >= failed.count:
            return True
    return False


def _impossible_travel(
    within: float, min_speed: float, min_km: float, logins: Logins, event: LoginSucceeded, t: float
) -> bool:
    if logins.last_at is None or logins.last_lat is None or logins.last_lon is None:
        return False
    if event.latitude is None or event.longitude is None:
        return False
    elapsed = t - logins.last_at
    if elapsed < 0 or elapsed > within:
        return False
    km = distance_km(logins.last_lat, logins.last_lon, event.latitude, event.longitude)
    if km <= min_km:
        return False
    return elapsed == 0 or km / (elapsed / 3600.0) > min_speed


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _remember_failure(plans: Plans, logins: Logins, t: float) -> None:
    keep = max((s.failed_logins.within.total_seconds() for s in plans), default=0.0)
    logins.failures = (*[f for f in logins.failures if f > t - keep][-MAX_REMEMBERED:], t)


def _remember_success(plans: Plans, logins: Logins, event: LoginSucceeded, t: float) -> None:
    logins.successes += 1
    if logins.last_at is None or t >= logins.last_at:
        logins.last_at, logins.last_lat, logins.last_lon = t, event.latitude, event.longitude
    lookback = max((s.new_device_and_country.lookback.total_seconds() for s in plans), default=0.0)
    devices, countries = logins.devices(), logins.countries()
    if event.device_id is not None:
        devices = _seen(devices, event.device_id, t, t - lookback)
    if event.country is not None:
        countries = _seen(countries, event.country, t, t - lookback)
    logins.remember(devices, countries)


def _seen(flat: FlatTimes, value: str, t: float, horizon: float) -> FlatTimes:
    seen = flat_as_dict(flat)
    seen[value] = max(t, seen.get(value, t))
    if len(seen) > MAX_REMEMBERED:
        for stale in [k for k, at in seen.items() if at < horizon] or sorted(seen, key=seen.__getitem__)[:1]:
            del seen[stale]
    return dict_as_flat(seen)


def values(
    state: CustomerState, timer: Timer, spec: AnomalousLoginTrigger, zone: str, chinese: bool
) -> Mapping[str, str | None]:
    return {"login_time": when(timer.first_due, zone, chinese, with_time=True)}


KIND = TriggerKind(
    name="anomalous_login",
    hooks={},
    on_arrival={"login.succeeded": on_login, "login.failed": on_login},
    variables=("login_time",),
    values=values,
)
