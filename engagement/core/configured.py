"""A configuration as the engine takes it: the triggers (with the event catalogue and the sources'
mapping options beside them) and the messages, each named by a version of its exact content.
`engagement.config` reads them from their directories."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

from engagement.core.catalog import MessageCatalog
from engagement.core.event_types import EMPTY, EventCatalogue
from engagement.core.specs import TriggerSpec


@dataclass(frozen=True, slots=True)
class TriggerSet:
    """Every trigger of one configuration, and a version that names its exact content."""

    triggers: tuple[TriggerSpec, ...]
    version: str
    catalogue: EventCatalogue = EMPTY  # the event types and fields beyond the contract (`_events.yaml`)
    sources: Any = None  # how the platforms' webhooks map (`_sources.yaml`: a SourceOptions)

    def by_id(self, trigger_id: str) -> TriggerSpec:
        for spec in self.triggers:
            if spec.id == trigger_id:
                return spec
        raise KeyError(trigger_id)


class Configured(Protocol):
    """Triggers and messages that go live together (`engagement.config.bundle.Configuration`)."""

    @property
    def triggers(self) -> TriggerSet: ...

    @property
    def messages(self) -> MessageCatalog: ...

    @property
    def version(self) -> str: ...


def combined_version(triggers: TriggerSet, messages: MessageCatalog) -> str:
    """Names the exact content of both directories."""
    return hashlib.sha256(f"{triggers.version}:{messages.version}".encode()).hexdigest()[:12]
