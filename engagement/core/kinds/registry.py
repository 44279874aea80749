"""The registered trigger kinds, in the order their hooks run for one event."""

from __future__ import annotations

from collections.abc import Mapping

from engagement.core.kinds import browse, cart, login, logistics, sequence
from engagement.core.kinds.kind import TriggerKind

# Cart before browse: an order's cancellations are listed cart first.
KINDS: tuple[TriggerKind, ...] = (cart.KIND, browse.KIND, logistics.KIND, login.KIND, sequence.KIND)
BY_NAME: Mapping[str, TriggerKind] = {kind.name: kind for kind in KINDS}

COMMON_VARIABLES = ("customer_name",)
VARIABLES: Mapping[str, tuple[str, ...]] = {kind.name: (*COMMON_VARIABLES, *kind.variables) for kind in KINDS}
"""Kind -> the personalization values its messages may use."""

DECIDED_ON_ARRIVAL = frozenset(event_type for kind in KINDS for event_type in kind.on_arrival)
"""Event types some kind decides on arrival, without waiting for the watermark."""
