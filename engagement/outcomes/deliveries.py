"""Where a send went: the channel of its latest call, the channels it moved on from (each with
why: an error code, `no_report`, `unknown`) and the channels that reported it delivered.

`run` keeps this in its outbox (`EmbeddedStore.deliveries`). The workers publish it to the
statuses topic beside the provider's statuses: a `failover` line when a send is called on its
next channel (`channel`, `tried`), a `delivered` line when a channel without delivery reports
accepts it (LINE), and each webhook status with the `channel` that reported it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

DEFAULT_CHANNEL = "whatsapp"
FAILOVER = "failover"  # a statuses-topic line: the send moved on to `channel` after `tried`
DELIVERED = frozenset({"delivered", "read"})
WHY_WORDS = {"no_report": "no report in time", "unknown": "outcome unknown"}  # else a provider's error code


@dataclass(frozen=True, slots=True)
class Delivery:
    channel: str
    tried: tuple[tuple[str, str], ...] = ()
    delivered: tuple[str, ...] = ()

    @property
    def twice(self) -> bool:
        """Reported delivered on two channels: the counted `delivered_twice`."""
        return len(self.delivered) > 1

    def as_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "tried": [list(t) for t in self.tried], "delivered": list(self.delivered)}


def delivery_of(stored: dict[str, Any]) -> Delivery:
    """From a stored `delivery` (`EmbeddedStore.deliveries`, `/v1/decisions`)."""
    tried = tuple((str(c), str(why)) for c, why in stored.get("tried") or ())
    delivered = tuple(str(c) for c in stored.get("delivered") or ())
    return Delivery(str(stored.get("channel") or DEFAULT_CHANNEL), tried, delivered)


def deliveries_from_statuses(records: Iterable[dict[str, Any]], first: dict[str, str]) -> dict[str, Delivery]:
    """Each send's delivery from the statuses topic's lines (in topic order); `first`: the channel
    each send's decision chose, for the sends that never moved on."""
    moved: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {}
    delivered: dict[str, list[str]] = {}
    for record in records:
        key = record.get("key")
        if not isinstance(key, str):
            continue
        status, channel = record.get("status"), str(record.get("channel") or DEFAULT_CHANNEL)
        if status == FAILOVER or (status in DELIVERED and record.get("tried")):  # the sender's lines name the path
            tried = tuple((str(c), str(why)) for c, why in record.get("tried") or ())
            if len(tried) >= len(moved.get(key, ("", ()))[1]):  # a line published twice, or late: the furthest
                moved[key] = (channel, tried)
        if status in DELIVERED:
            got = delivered.setdefault(key, [])
            if channel not in got:
                got.append(channel)
    out: dict[str, Delivery] = {}
    for key in first.keys() | moved.keys() | delivered.keys():
        channel, tried = moved.get(key, (first.get(key, DEFAULT_CHANNEL), ()))
        out[key] = Delivery(channel, tried, tuple(delivered.get(key, ())))
    return out
