"""A trigger directory and a message directory loaded together and checked against each other:
the configuration that goes live, or is rejected, whole."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from engagement.config.loader import ConfigProblem, InvalidConfig, default_triggers_dir, load_triggers
from engagement.config.messages import ANSWERS_FILE, load_messages
from engagement.core.answers import ANSWER_VALUES
from engagement.core.catalog import MessageCatalog, MessageSpec
from engagement.core.configured import TriggerSet, combined_version
from engagement.core.kinds.registry import COMMON_VARIABLES, VARIABLES
from engagement.core.kinds.sequence import variables_of as sequence_variables
from engagement.core.specs import SequenceTrigger
from engagement.core.text_template import TextTemplate


@dataclass(frozen=True, slots=True)
class Configuration:
    triggers: TriggerSet
    messages: MessageCatalog
    version: str


def load_configuration(triggers_dir: Path, messages_dir: Path, allowed_lateness: float = 0.0) -> Configuration:
    """Raises `InvalidConfig` with every problem of either directory, or of the two together."""
    problems: list[ConfigProblem] = []
    triggers = messages = None
    try:
        triggers = load_triggers(triggers_dir, allowed_lateness)
    except InvalidConfig as exc:
        problems.extend(exc.problems)
    try:
        messages = load_messages(messages_dir)
    except InvalidConfig as exc:
        problems.extend(exc.problems)
    if triggers is not None and messages is not None:
        problems.extend(cross_check(triggers, messages, messages_dir))
    if problems or triggers is None or messages is None:
        raise InvalidConfig(problems)
    return Configuration(triggers, messages, combined_version(triggers, messages))


def cross_check(triggers: TriggerSet, messages: MessageCatalog, messages_dir: Path) -> list[ConfigProblem]:
    """Every enabled trigger has a message of its category; every message serves a trigger or kind
    and uses only the values that kind has."""
    problems: list[ConfigProblem] = []
    kinds = {spec.kind for spec in triggers.triggers}
    ids = {spec.id: spec.kind for spec in triggers.triggers}
    for spec in triggers.triggers:
        if not spec.enabled:
            continue
        message = messages.message_for(spec.id, spec.kind)
        if message is None:
            problems.append(
                ConfigProblem(
                    str(messages_dir), 0, spec.id, f"no message file for trigger {spec.id!r} or kind {spec.kind!r}"
                )
            )
        elif message.category != spec.category:
            problems.append(
                ConfigProblem(
                    message.source,
                    1,
                    "category",
                    f"{message.category} message for the {spec.category} trigger {spec.id!r}",
                )
            )
    for owner, message in messages.messages.items():
        kind = ids.get(owner) or (owner if owner in VARIABLES else None)
        if kind is None and owner in shipped_examples():
            continue  # a shipped example's message, beside triggers that do not take the example up
        if kind is None:
            known = ", ".join(sorted(set(ids) | kinds))
            problems.append(
                ConfigProblem(message.source, 1, "trigger", f"no trigger or kind {owner!r} (known: {known})")
            )
            continue
        allowed = variables_for(owner, kind, triggers)
        problems.extend(unknown_values(message, kind, allowed))
        problems.extend(unknown_answer_values(message.source, message.answer_texts(), {*allowed, *ANSWER_VALUES}))
        if messages.locales.default not in message.locales:
            problems.append(
                ConfigProblem(
                    message.source, 1, "locales", f"no text for the default locale {messages.locales.default!r}"
                )
            )
        for section, given in (("line", message.line), ("sms", message.sms)):
            problems.extend(
                ConfigProblem(
                    message.source, 1, f"{section}.{locale}", f"{locale!r} is not among the message's locales"
                )
                for locale in given
                if locale not in message.locales
            )
    keyword_texts = [text for entry in messages.keywords for text in entry.answer.texts.values()]
    keyword_values = {*COMMON_VARIABLES, *ANSWER_VALUES}
    problems.extend(unknown_answer_values(str(messages_dir / ANSWERS_FILE), keyword_texts, keyword_values))
    return problems


@lru_cache(maxsize=1)
def shipped_examples() -> frozenset[str]:
    """The ids of the shipped example moments (sequence triggers, off until enabled): their
    message files ship in messages/ whatever trigger directory is in use."""
    directory = default_triggers_dir()
    return frozenset(
        path.stem
        for path in directory.glob("*.yaml")
        if not path.name.startswith("_") and re.search(r"(?m)^kind: sequence\b", path.read_text(encoding="utf-8"))
    )


def unknown_answer_values(source: str, texts: list[TextTemplate], allowed: set[str]) -> list[ConfigProblem]:
    """An answer may use its message's values and those of the customer's latest cart, order and shipment."""
    unknown = dict.fromkeys(name for text in texts for name in text.names() if name not in allowed)
    return [
        ConfigProblem(
            source,
            _line_containing(source, name),
            "answers",
            f"unknown value {{{{{name}}}}} in an answer; known: {', '.join(sorted(allowed))}",
        )
        for name in unknown
    ]


def variables_for(owner: str, kind: str, triggers: TriggerSet) -> tuple[str, ...]:
    """The values a message of a trigger (or kind) may use: the kind's, or for a sequence trigger the
    fields of its start event."""
    spec = next((s for s in triggers.triggers if s.id == owner), None)
    if isinstance(spec, SequenceTrigger):
        return (*COMMON_VARIABLES, *sequence_variables(spec, triggers.catalogue))
    return VARIABLES.get(kind, COMMON_VARIABLES)


def unknown_values(message: MessageSpec, kind: str, names: tuple[str, ...]) -> list[ConfigProblem]:
    allowed = set(names)
    out: list[ConfigProblem] = []
    for text in message.templates():
        for name in text.names():
            if name not in allowed:
                out.append(
                    ConfigProblem(
                        message.source,
                        _line_containing(message.source, name),
                        "locales",
                        f"unknown value {{{{{name}}}}} for {kind}; known: {', '.join(sorted(allowed))}",
                    )
                )
    return out


def _line_containing(path: str, placeholder: str) -> int:
    """The first line that uses the placeholder."""
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return 1
    used = re.compile(r"\{\{\s*" + re.escape(placeholder) + r"\s*[|?}]")
    return next((n for n, line in enumerate(lines, 1) if used.search(line)), 1)
