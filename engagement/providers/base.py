"""The provider port: what a sender hands a provider, what comes back, and the typed errors.

ProviderError                 any failure to hand a message over
├── PermanentError            the provider refused it; retrying cannot help
├── ThrottledError            too many requests; retry after `retry_after` seconds
└── TransientError            a network or server fault; retrying may help
    └── OutcomeUnknownError   the request may have reached the provider (a read timeout):
                              never resent blindly
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    key: str
    trigger: str
    customer_id: str
    to: str
    locale: str
    category: str
    body: str


@dataclass(frozen=True, slots=True)
class SendReceipt:
    provider_message_id: str


class ProviderError(Exception):
    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class PermanentError(ProviderError):
    pass


class ThrottledError(ProviderError):
    def __init__(self, message: str, retry_after: float, code: str | None = None) -> None:
        super().__init__(message, code)
        self.retry_after = retry_after


class TransientError(ProviderError):
    pass


class OutcomeUnknownError(TransientError):
    pass


class Provider(Protocol):
    name: str

    async def send(self, message: OutboundMessage) -> SendReceipt: ...

    async def close(self) -> None: ...
