"""Customer states as bytes for the live stores (the SQLite file of `run`, the worker's table)."""

from __future__ import annotations

import pickle

from engagement.core.state import CustomerState


def dump_state(state: CustomerState) -> bytes:
    return pickle.dumps(state, protocol=5)


def load_state(blob: bytes) -> CustomerState:
    # The stores only ever hold states that engagement itself wrote.
    state = pickle.loads(blob)  # noqa: S301
    if not isinstance(state, CustomerState):
        raise TypeError("the state store holds something that is not a customer state")
    return state
