"""Twilio error codes (REST answers and status callbacks) mapped to what they mean for a send,
in the same classes as the Cloud API's table (WHATSAPP.md §3).

- throttled (20429, 63018; HTTP 429): slow the whole sender, retry later.
- transient (HTTP 5xx, 20500, 20503): retry with backoff inside the send window.
- unreachable (21211, 21614, 63003, 63024, 63032): mark the number unreachable.
- marketing_backoff (63049, Meta's 131049) and opted_out (21610: the recipient sent STOP).
- halt (20003, 20005, 20008, 63112, 63113): the account cannot send; stop and alert.
- permanent (anything else, e.g. 63016: outside the 24 h window; 63028: parameter count).
"""

from __future__ import annotations

from engagement.providers.error_classes import ErrorClass

ERROR_TABLE: dict[int, ErrorClass] = {
    20429: ErrorClass.THROTTLED_NUMBER,
    63018: ErrorClass.THROTTLED_NUMBER,
    20500: ErrorClass.TRANSIENT,
    20503: ErrorClass.TRANSIENT,
    21211: ErrorClass.UNREACHABLE,
    21614: ErrorClass.UNREACHABLE,
    63003: ErrorClass.UNREACHABLE,
    63024: ErrorClass.UNREACHABLE,
    63032: ErrorClass.UNREACHABLE,
    63049: ErrorClass.MARKETING_BACKOFF,
    21610: ErrorClass.OPTED_OUT,
    20003: ErrorClass.HALT,
    20005: ErrorClass.HALT,
    20008: ErrorClass.HALT,
    63112: ErrorClass.HALT,
    63113: ErrorClass.HALT,
}


def classify(code: int | None, http_status: int) -> ErrorClass:
    if code is not None and code in ERROR_TABLE:
        return ERROR_TABLE[code]
    if http_status == 429:
        return ErrorClass.THROTTLED_NUMBER
    if http_status >= 500:
        return ErrorClass.TRANSIENT
    return ErrorClass.PERMANENT
