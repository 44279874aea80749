"""A new trigger from the console: any registered kind, or one of the shipped sequence examples
(moments written without code), with its message file, as an edit the console checks like any
other. The starting point is the shipped trigger and message of that kind or example, renamed,
disabled (enabling it is a one-line edit) and with a message file of its own, so that it never
changes what the shipped message says."""

from __future__ import annotations

import re

from engagement.config.event_catalogue import CATALOGUE_FILE
from engagement.config.loader import default_triggers_dir, load_triggers
from engagement.config.messages import default_messages_dir
from engagement.core.kinds.registry import COMMON_VARIABLES, VARIABLES
from engagement.core.kinds.sequence import variables_of as sequence_variables
from engagement.core.specs import TRIGGER_KINDS, SequenceTrigger

NEW_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}\Z")


class NewTriggerRefused(ValueError):
    """An id that is not a trigger id, or a kind that does not exist."""


def kinds() -> list[dict[str, object]]:
    """Every starting point: each kind with a shipped trigger file, then each shipped sequence
    example, with the values its messages may use."""
    shipped = load_triggers(default_triggers_dir())
    out: list[dict[str, object]] = [
        {"kind": kind, "label": kind, "values": list(VARIABLES.get(kind, ()))}
        for kind in TRIGGER_KINDS
        if (default_triggers_dir() / f"{kind}.yaml").is_file()
    ]
    for spec in shipped.triggers:
        if isinstance(spec, SequenceTrigger):
            values = [*COMMON_VARIABLES, *sequence_variables(spec, shipped.catalogue)]
            out.append({"kind": spec.id, "label": f"sequence, like {spec.id}: {spec.description}", "values": values})
    return out


def skeleton(kind: str, trigger_id: str, taken: set[str]) -> dict[str, str]:
    """`triggers/{id}.yaml` and `messages/{id}.yaml` for a new trigger of `kind`."""
    starts = [str(k["kind"]) for k in kinds()]
    if kind not in starts:
        raise NewTriggerRefused(f"kind: one of {', '.join(starts)}")
    if not NEW_ID.match(trigger_id):
        raise NewTriggerRefused("id: lowercase letters, digits and _, starting with a letter, at most 63")
    if f"triggers/{trigger_id}.yaml" in taken or f"messages/{trigger_id}.yaml" in taken:
        raise NewTriggerRefused(f"id: {trigger_id!r} is taken; choose another")
    trigger = (default_triggers_dir() / f"{kind}.yaml").read_text(encoding="utf-8")
    message = (default_messages_dir() / f"{kind}.yaml").read_text(encoding="utf-8")
    trigger = re.sub(r"(?m)^id: .*$", f"id: {trigger_id}", trigger, count=1)
    trigger = re.sub(r"(?m)^enabled: .*$", "enabled: false     # a one-line edit turns it on", trigger, count=1)
    trigger = re.sub(r"(?m)^description: .*$", f"description: A new {kind} trigger.", trigger, count=1)
    message = re.sub(r"(?m)^trigger: .*$", f"trigger: {trigger_id}", message, count=1)
    files = {f"triggers/{trigger_id}.yaml": trigger, f"messages/{trigger_id}.yaml": message}
    catalogue = f"triggers/{CATALOGUE_FILE}"
    if kind not in TRIGGER_KINDS and catalogue not in taken:  # a sequence needs the events it names declared
        files[catalogue] = (default_triggers_dir() / CATALOGUE_FILE).read_text(encoding="utf-8")
    return files
