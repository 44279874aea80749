"""Loading message texts from a directory of YAML files into a `MessageCatalog`."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engagement.config.loader import ConfigProblem, InvalidConfig
from engagement.core.catalog import MessageCatalog


class MessageFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    trigger: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$", description="a trigger id or kind")]
    texts: dict[
        Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")],
        Annotated[str, Field(min_length=1, max_length=1024)],
    ]


def default_messages_dir() -> Path:
    here = Path(__file__).resolve().parent.parent
    for candidate in (here.parent / "messages", here / "defaults" / "messages"):
        if candidate.is_dir():
            return candidate
    return here.parent / "messages"


def load_messages(directory: Path) -> MessageCatalog:
    if not directory.is_dir():
        raise InvalidConfig([ConfigProblem(str(directory), 0, "-", "not a directory")])
    texts: dict[str, dict[str, str]] = {}
    problems: list[ConfigProblem] = []
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml")):
        raw = path.read_text(encoding="utf-8")
        digest.update(path.name.encode() + b"\0" + raw.encode() + b"\0")
        try:
            parsed = MessageFile.model_validate(yaml.safe_load(raw))
        except yaml.YAMLError as exc:
            problems.append(ConfigProblem(str(path), 1, "-", f"not valid YAML: {exc}"))
            continue
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                where = ".".join(str(p) for p in err["loc"]) or "-"
                problems.append(ConfigProblem(str(path), 1, where, err["msg"]))
            continue
        texts.setdefault(parsed.trigger, {}).update(parsed.texts)
    if problems:
        raise InvalidConfig(problems)
    return MessageCatalog(texts, digest.hexdigest()[:12])
