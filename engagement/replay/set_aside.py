"""An idle customer's state as a replay keeps it: the stored form (`engagement.state_codec`) with
its most common field names written as one byte each.

A replay keeps the state of a customer idle for a while as bytes (`engagement.replay.runner`);
on a shop day those bytes are most of its memory, and a quarter of them are field names. The
stored form is `1;` and compact JSON, which holds no byte from 0x01 to 0x1f (JSON writes control
characters inside strings as escapes), so each of those bytes can stand for one `"name":`, and
`stored_form` gives back the stored form exactly. These bytes never leave the process: what is
kept on disk (a backtest's index) is the stored form.
"""

from __future__ import annotations

import re

from engagement.core.state import CustomerState
from engagement.state_codec import dump_state, load_state

FIELD_NAMES = (
    "customer_id",
    "recent_ids",
    "cursor",
    "successes",
    "locale",
    "last_lat",
    "last_lon",
    "number_at",
    "opt_in_at",
    "currency",
    "last_at",
    "logins",
    "places",
    "profile",
    "timezone",
    "changed_at",
    "item_count",
    "item_names",
    "number",
    "closed_at",
    "total",
    "opt_in",
    "cart_id",
    "episode",
    "name",
    "done_shipments",
    "last_send_at",
    "conversation",
    "fired",
    "shipping_fee",
    "cart",
)
"""The 31 field names that take the most bytes in the idle states of a shop day
(`tests.benchmarks.shop_day`), one for each byte from 0x01 to 0x1f."""

_TOKENS = tuple((f'"{name}":'.encode(), bytes([n])) for n, name in enumerate(FIELD_NAMES, 1))
_FIELD = re.compile(b"|".join(re.escape(key) for key, _ in _TOKENS))
_TOKEN_OF = dict(_TOKENS).__getitem__


def _token(match: re.Match[bytes]) -> bytes:
    return _TOKEN_OF(match.group())


def set_aside(state: CustomerState) -> bytes:
    return _FIELD.sub(_token, dump_state(state))


def stored_form(blob: bytes) -> bytes:
    """The `dump_state` bytes of a state set aside."""
    for key, token in _TOKENS:
        blob = blob.replace(token, key)
    return blob


def taken_back(blob: bytes) -> CustomerState:
    return load_state(stored_form(blob))
