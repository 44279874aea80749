"""The one table of Cloud API error codes (WHATSAPP.md §1.5): what each means for a send.

- throttled_number (130429, 4, 80007): slow the whole number, retry later.
- throttled_pair (131056): hold this recipient, 6 s and more.
- transient (1, 2, 131000, 131016, 131057, 133004): retry with backoff, inside the send window.
- unreachable (131026, 130472): mark the number unreachable.
- marketing_backoff (131049) and opted_out (131050): feed back into the engine.
- halt (0, 10, 190, 200-299, 368, 131031, 131042, 131048, 131064): stop sending, alert.
- permanent (100, 131047, 131051, 132000, 132001, 132005, 132007, 132012, 132015, 132016,
  133010): give up on this message.

An unknown code follows the HTTP status: 429 and 5xx are transient, anything else permanent;
`is_transient: true` makes any code not listed transient.
"""

from __future__ import annotations

from engagement.providers.error_classes import ErrorClass

ERROR_TABLE: dict[int, ErrorClass] = {
    130429: ErrorClass.THROTTLED_NUMBER,
    4: ErrorClass.THROTTLED_NUMBER,
    80007: ErrorClass.THROTTLED_NUMBER,
    131056: ErrorClass.THROTTLED_PAIR,
    1: ErrorClass.TRANSIENT,
    2: ErrorClass.TRANSIENT,
    131000: ErrorClass.TRANSIENT,
    131016: ErrorClass.TRANSIENT,
    131057: ErrorClass.TRANSIENT,
    133004: ErrorClass.TRANSIENT,
    131026: ErrorClass.UNREACHABLE,
    130472: ErrorClass.UNREACHABLE,
    131049: ErrorClass.MARKETING_BACKOFF,
    131050: ErrorClass.OPTED_OUT,
    0: ErrorClass.HALT,
    10: ErrorClass.HALT,
    190: ErrorClass.HALT,
    368: ErrorClass.HALT,
    131031: ErrorClass.HALT,
    131042: ErrorClass.HALT,
    131048: ErrorClass.HALT,
    131064: ErrorClass.HALT,
    100: ErrorClass.PERMANENT,
    131047: ErrorClass.PERMANENT,
    131051: ErrorClass.PERMANENT,
    132000: ErrorClass.PERMANENT,
    132001: ErrorClass.PERMANENT,
    132005: ErrorClass.PERMANENT,
    132007: ErrorClass.PERMANENT,
    132012: ErrorClass.PERMANENT,
    132015: ErrorClass.PERMANENT,
    132016: ErrorClass.PERMANENT,
    133010: ErrorClass.PERMANENT,
}


def classify(code: int | None, http_status: int, is_transient: bool | None = None) -> ErrorClass:
    if code is not None:
        known = ERROR_TABLE.get(code)
        if known is not None:
            return known
        if 200 <= code <= 299:
            return ErrorClass.HALT
    if is_transient:
        return ErrorClass.TRANSIENT
    if http_status == 429 or http_status >= 500:
        return ErrorClass.TRANSIENT
    return ErrorClass.PERMANENT
