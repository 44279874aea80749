"""What a provider's error code means for a send, in provider-neutral classes, and the typed
error of the provider port each class raises. Each provider's own table maps its codes here."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from engagement.providers.base import (
    MarketingRefusedError,
    PermanentError,
    ProviderError,
    RecipientUnreachableError,
    SendingHaltedError,
    ThrottledError,
    TransientError,
)


class ErrorClass(StrEnum):
    THROTTLED_NUMBER = "throttled_number"
    THROTTLED_PAIR = "throttled_pair"
    TRANSIENT = "transient"
    UNREACHABLE = "unreachable"
    MARKETING_BACKOFF = "marketing_backoff"
    OPTED_OUT = "opted_out"
    HALT = "halt"
    PERMANENT = "permanent"


FEEDBACK: dict[ErrorClass, str] = {
    ErrorClass.OPTED_OUT: "opted_out",
    ErrorClass.MARKETING_BACKOFF: "marketing_paused",
    ErrorClass.UNREACHABLE: "unreachable",
}


def feedback_for(kinds: Iterable[ErrorClass]) -> str | None:
    """What the engine must hear of a failure with these error classes (the first that says anything)."""
    return next((FEEDBACK[k] for k in kinds if k in FEEDBACK), None)


def port_error(kind: ErrorClass, text: str, code: str | None, wait: float = 0.0) -> ProviderError:
    """The port's typed error for an error of class `kind`; `wait`: seconds before a throttled retry."""
    if kind is ErrorClass.THROTTLED_PAIR:
        return ThrottledError(text, wait, code, scope="recipient")
    if kind is ErrorClass.THROTTLED_NUMBER:
        return ThrottledError(text, wait, code, scope="sender")
    if kind is ErrorClass.TRANSIENT:
        return TransientError(text, code)
    if kind is ErrorClass.UNREACHABLE:
        return RecipientUnreachableError(text, code)
    if kind in (ErrorClass.MARKETING_BACKOFF, ErrorClass.OPTED_OUT):
        return MarketingRefusedError(text, opted_out=kind is ErrorClass.OPTED_OUT, code=code)
    if kind is ErrorClass.HALT:
        return SendingHaltedError(text, code)
    return PermanentError(text, code)
