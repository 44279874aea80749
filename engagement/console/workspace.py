"""The live configuration files, and an edit of them checked before anything goes live.

An edit names files as `triggers/NAME.yaml` or `messages/NAME.yaml` with their new text. It is
checked in a scratch copy of both live directories with the edit applied: loaded as `run` would
load it (every problem of either directory, with its line), then linted like `messages lint`.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from engagement.authoring.lint import lint, load_rules
from engagement.authoring.samples import for_samples
from engagement.config.bundle import load_configuration
from engagement.config.loader import InvalidConfig
from engagement.config.template_registry import TemplateRegistry, load_registry
from engagement.core.engine import Engine, EngineSettings

EDITABLE = re.compile(r"^(triggers|messages)/[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}\.ya?ml\Z")
MAX_FILE_BYTES = 64 * 1024
MAX_FILES = 64


class BadEdit(ValueError):
    """An edit that cannot even be checked: a file name or size out of bounds."""


@dataclass
class Problem:
    file: str  # triggers/cart_idle.yaml
    line: int
    severity: str  # error, warning
    where: str
    message: str

    def as_json(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "severity": self.severity, "where": self.where,
                "message": self.message}  # fmt: skip


@dataclass
class Checked:
    problems: list[Problem] = field(default_factory=list)
    version: str | None = None  # the combined version the edit would go live as
    engine: Engine | None = None
    registry: TemplateRegistry | None = None  # the edited messages' template registry, if any

    @property
    def errors(self) -> int:
        return sum(p.severity == "error" for p in self.problems)

    def as_json(self) -> dict[str, object]:
        return {"version": self.version, "errors": self.errors, "problems": [p.as_json() for p in self.problems]}


@dataclass(frozen=True)
class Workspace:
    triggers_dir: Path
    messages_dir: Path
    settings: EngineSettings

    def files(self) -> dict[str, str]:
        """Every editable file of both live directories, by its name in an edit."""
        found: dict[str, str] = {}
        for prefix, directory in (("triggers", self.triggers_dir), ("messages", self.messages_dir)):
            for path in sorted(directory.glob("*.y*ml")):
                name = f"{prefix}/{path.name}"
                if EDITABLE.match(name) and path.is_file():
                    found[name] = path.read_text(encoding="utf-8")
        return found

    def read_only(self) -> str | None:
        """Why publishing is refused here, or None: the package's own directories (the demo's, or
        the defaults shipped inside an installed package) are never written."""
        package = Path(__file__).resolve().parent.parent
        for directory in (self.triggers_dir, self.messages_dir):
            if directory.resolve().is_relative_to(package):
                return (
                    f"{directory} belongs to the installed package: set ENGAGEMENT_TRIGGERS_DIR and "
                    "ENGAGEMENT_MESSAGES_DIR to directories of your own to publish"
                )
        return None

    def directory_of(self, name: str) -> Path:
        return self.triggers_dir if name.startswith("triggers/") else self.messages_dir

    def check(self, edit: dict[str, str], removed: Collection[str] = ()) -> Checked:
        """The live files with `edit` written over them and the files named in `removed` gone."""
        with self.applied(edit, removed) as (triggers, messages):
            return _check(triggers, messages, self.settings)

    @contextmanager
    def applied(self, edit: dict[str, str], removed: Collection[str] = ()) -> Iterator[tuple[Path, Path]]:
        """Scratch copies of both directories with the edit applied (and `removed` files gone)."""
        validate_edit(edit)
        validate_edit(dict.fromkeys(removed, ""))
        with tempfile.TemporaryDirectory(prefix="engagement-console-") as scratch:
            root = Path(scratch)
            triggers, messages = root / "triggers", root / "messages"
            shutil.copytree(self.triggers_dir, triggers)
            shutil.copytree(self.messages_dir, messages)
            for name, text in edit.items():
                (root / name).write_text(text, encoding="utf-8")
            for name in removed:
                (root / name).unlink(missing_ok=True)
            yield triggers, messages


_FILE_PATH = re.compile(r"(?:/[^\s/'\"]+)*/(triggers|messages)/([^\s/'\"]+\.ya?ml)")


def as_named(text: str) -> str:
    """A message with each file's path (a scratch copy's, or the live directory's) written as the
    console names the file: `messages/cart_idle.yaml`, nothing of the server's directories."""
    return _FILE_PATH.sub(r"\1/\2", text)


def validate_edit(edit: dict[str, str]) -> None:
    if len(edit) > MAX_FILES:
        raise BadEdit(f"at most {MAX_FILES} files in one edit")
    for name, text in edit.items():
        if not isinstance(name, str) or not EDITABLE.match(name):
            raise BadEdit(f"{str(name)[:100]!r}: files are named triggers/NAME.yaml or messages/NAME.yaml")
        if not isinstance(text, str):
            raise BadEdit(f"{name}: the file's text expected, not {type(text).__name__}")
        if len(text.encode("utf-8", errors="replace")) > MAX_FILE_BYTES:
            raise BadEdit(f"{name}: text of at most {MAX_FILE_BYTES} bytes expected")
        if not is_utf8(text):
            raise BadEdit(f"{name}: the text holds a lone surrogate (\\ud800 to \\udfff), which no file can hold")


def is_utf8(text: str) -> bool:
    """Whether `text` can be written as UTF-8 (JSON may carry lone surrogates, which cannot)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check(triggers: Path, messages: Path, settings: EngineSettings) -> Checked:
    root = str(triggers.parent) + "/"

    def named(file: str) -> str:
        return file[len(root) :] if file.startswith(root) else Path(file).name

    try:
        configuration = load_configuration(triggers, messages, settings.allowed_lateness)
    except InvalidConfig as exc:
        return Checked([Problem(named(p.file), p.line, "error", p.path, p.message) for p in exc.problems])
    engine = Engine.of(configuration, for_samples(settings))
    problems = []
    registry = load_registry(messages)
    try:
        findings = lint(configuration, load_rules(messages), engine, registry)
    except InvalidConfig as exc:
        problems = [Problem(named(p.file), p.line, "error", p.path, p.message) for p in exc.problems]
        return Checked(problems, configuration.version, engine, registry)
    for finding in findings:
        problems.append(Problem(named(finding.file), finding.line, finding.severity, finding.where,
                                f"{finding.message} [{finding.rule}]"))  # fmt: skip
    return Checked(problems, configuration.version, engine, registry)
