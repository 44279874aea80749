"""Customer states as bytes for the live stores (the SQLite file of `run`, the worker's table).

A stored state is `1;` followed by its JSON, checked field by field against the state's types
when it is read (pydantic), so a blob is data and never code: a forged or damaged blob fails
with `StateDecodeError` and nothing of it runs. The leading number is the format's version.

May import: `core`, `decode`.
"""

from __future__ import annotations

from pydantic import TypeAdapter, ValidationError

from engagement.core.state import CustomerState
from engagement.decode import Rejection

FORMAT = b"1;"
MAX_STATE_BYTES = 4 * 1024 * 1024
TOO_LARGE = Rejection(
    "body",
    f"this customer's state would exceed {MAX_STATE_BYTES:,} bytes (too many or too large events waiting "
    "for the watermark); none of their events in this batch was kept",
)
"""Why a customer's events of a batch are refused when their state would grow past what is read back."""

_STATE: TypeAdapter[CustomerState] = TypeAdapter(CustomerState)
_TO_JSON = _STATE.serializer.to_json  # what `_STATE.dump_json` calls, without its wrapper


class StateDecodeError(ValueError):
    """A stored blob is not a customer state this release can read (the reason names no customer data)."""


def dump_state(state: CustomerState) -> bytes:
    return FORMAT + _TO_JSON(state, exclude_defaults=True)


def load_state(blob: bytes) -> CustomerState:
    if not blob.startswith(FORMAT):
        raise StateDecodeError("not a stored customer state (unknown format; pickled states are not read)")
    if len(blob) > MAX_STATE_BYTES:
        raise StateDecodeError(f"a stored state of {len(blob)} bytes is over the {MAX_STATE_BYTES}-byte limit")
    try:
        return _STATE.validate_json(blob[len(FORMAT) :])
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "state"
        raise StateDecodeError(f"a stored state does not read back: {where}: {first['type']}") from None
