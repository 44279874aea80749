"""Publishing an edit, and every published version kept: its author, note, files and diff.

A publish writes the edited files into the live directories (each through a temporary file and a
rename, so the configuration watcher never reads half a file) once the edit has no errors; the
watcher puts it live within `ENGAGEMENT_CONFIG_POLL`. The first publish first keeps the files as
they were, as version 0, so that there is always a version to roll back to. Rolling back
publishes an earlier version's files again (as a new version), and removes the files added since.

Kept under `STATE_DIR/console/`: `versions.jsonl` (one line per version, without the files) and
`v{N}.json` (the files of version N).
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import logging
import os
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engagement.console.dangers import Danger, dangers, unverified_templates
from engagement.console.workspace import Checked, Problem, Workspace, validate_edit
from engagement.privacy import private_directory

MAX_DIFF_CHARS = 200_000

log = logging.getLogger("engagement.console")


class PublishRefused(ValueError):
    """The edit has errors (they are listed), or names a version that does not exist."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class NeedsAcknowledgement(PublishRefused):
    """The edit passes the checks but does something that can hurt customers (`dangers`): it is
    published only once each of them is acknowledged by name."""

    def __init__(self, unacknowledged: list[Danger]) -> None:
        names = ", ".join(d.name for d in unacknowledged)
        super().__init__(f"acknowledge before publishing: {names}")
        self.dangers = unacknowledged


def one_line(text: str) -> str:
    """A note as one quoted line of the log: its line breaks and other controls escaped, so that
    a note cannot write a line of its own (a forged "revealed" or "published" line)."""
    quoted = json.dumps(text, ensure_ascii=False)
    return "".join(c if c.isprintable() or c == " " else f"\\u{ord(c):04x}" for c in quoted)


@dataclass(frozen=True)
class Published:
    number: int
    config_version: str
    author: str
    note: str
    at: float
    changed: list[str]
    diff: str
    acknowledged: list[str] = field(default_factory=list)  # the dangers its author acknowledged
    approved_by: str | None = None  # the second key that approved it (with approval required)

    def as_json(self) -> dict[str, Any]:
        return {"number": self.number, "config_version": self.config_version, "author": self.author,
                "note": self.note, "at": self.at, "changed": self.changed, "diff": self.diff,
                "acknowledged": self.acknowledged, "approved_by": self.approved_by}  # fmt: skip


@dataclass(frozen=True)
class Review:
    """What a publish brings besides the edit: the dangers acknowledged by name, dangers found
    outside the edit itself (a backtest of it), and the approver (maker/checker)."""

    acknowledged: frozenset[str] = frozenset()
    found: tuple[Danger, ...] = ()
    approved_by: str | None = None
    base: str | None = None  # `files_digest` of the live files the edit was reviewed against


class LiveChanged(PublishRefused):
    """Another publish changed the live files since the edit was reviewed: review it again."""


def files_digest(files: dict[str, str]) -> str:
    """Names the exact content of a set of files (the live files a review showed the diff against)."""
    digest = hashlib.sha256()
    for name, text in sorted(files.items()):
        digest.update(name.encode() + b"\0" + text.encode("utf-8", errors="surrogatepass") + b"\0")
    return digest.hexdigest()[:16]


def unified_diff(before: str, after: str, name: str) -> str:
    """The change from `before` to `after` of one file, as `diff -u` shows it."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{name}", f"b/{name}"
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


class Versions:
    def __init__(self, state_dir: Path, workspace: Workspace) -> None:
        self.directory = state_dir / "console"
        self.workspace = workspace
        self._lock = threading.Lock()

    def history(self) -> list[Published]:
        index = self.directory / "versions.jsonl"
        if not index.is_file():
            return []
        found = []
        for line in index.read_text(encoding="utf-8").splitlines():
            try:
                found.append(Published(**json.loads(line)))
            except (ValueError, TypeError):  # a line cut short by a crash while it was appended
                log.warning("%s: an unreadable line is left out of the versions", index)
        return found

    def files_of(self, number: int) -> dict[str, str]:
        path = self.directory / f"v{number}.json"
        if not path.is_file():
            raise PublishRefused(f"no published version {number}")
        files: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        return files

    def publish(self, edit: dict[str, str], author: str, note: str, review: Review | None = None) -> Published:
        """Publish `edit` once it has no errors and each of its dangers is acknowledged."""
        review = review or Review()
        validate_edit(edit)
        self._writable()
        with self._lock:
            checked = self.workspace.check(edit)
            if checked.errors or checked.version is None or checked.engine is None:
                raise PublishRefused(f"the edit has {checked.errors} errors; nothing was published", checked.problems)
            before = self.workspace.files()
            if review.base is not None and review.base != files_digest(before):
                raise LiveChanged("another publish changed the live files since your review: review the edit again")
            if all(before.get(name) == text for name, text in edit.items()):
                raise PublishRefused("nothing to publish: the edit is the same as the live files")
            live = self.workspace.check({})
            changed = {name: text for name, text in edit.items() if before.get(name) != text}
            found = [*self.dangers(checked, changed, live), *review.found]
            missing = [d for d in found if d.name not in review.acknowledged]
            if missing:
                raise NeedsAcknowledgement(missing)
            history = self.history()
            if not history:
                history.append(
                    self._record(0, live.version or "", "engagement", "the files before the first publish", before, {})
                )
            after = {**before, **edit}
            acknowledged = [d.name for d in found]
            done = self._write(
                len(history), checked.version, author, note, before, after, acknowledged, review.approved_by
            )
        approval = f", approved by {review.approved_by}" if review.approved_by else ""
        log.info("console: version %d published by %s%s (%s): %s", done.number, author, approval,
                 ", ".join(done.changed), one_line(note))  # fmt: skip
        for name in done.acknowledged:
            log.warning("console: version %d: %s acknowledged %s", done.number, review.approved_by or author, name)
        return done

    def rollback(
        self, number: int, author: str, acknowledged: frozenset[str] = frozenset(), approved_by: str | None = None
    ) -> Published:
        """Publish an earlier version's files again: checked, and its dangers acknowledged, as any edit."""
        self._writable()
        with self._lock:
            target = self.files_of(number)
            before = self.workspace.files()
            added = before.keys() - target.keys()  # added since: not part of that version
            checked = self.workspace.check(target, added)
            if checked.errors or checked.version is None or checked.engine is None:
                raise PublishRefused(f"version {number} no longer passes the checks", checked.problems)
            changed = {name: text for name, text in target.items() if before.get(name) != text}
            found = self.dangers(checked, changed)
            missing = [d for d in found if d.name not in acknowledged]
            if missing:
                raise NeedsAcknowledgement(missing)
            for name in added:
                (self.workspace.directory_of(name) / Path(name).name).unlink(missing_ok=True)
            number_now = len(self.history())
            done = self._write(
                number_now, checked.version, author, f"roll back to version {number}", before, target,
                [d.name for d in found], approved_by,
            )  # fmt: skip
        approval = f", approved by {approved_by}" if approved_by else ""
        log.info("console: version %d rolls back to version %d, by %s%s (%s)", done.number, number, author, approval,
                 ", ".join(done.changed))  # fmt: skip
        for name in done.acknowledged:
            log.warning("console: version %d: %s acknowledged %s", done.number, approved_by or author, name)
        return done

    def dangers(self, checked: Checked, edit: dict[str, str], live: Checked | None = None) -> list[Danger]:
        """What a checked edit does that needs an acknowledgement, against the live files."""
        live = live or self.workspace.check({})
        found = dangers(live.engine, checked.engine) if live.engine is not None and checked.engine is not None else []
        return [*found, *unverified_templates(checked.registry, edit)]

    def _writable(self) -> None:
        reason = self.workspace.read_only()
        if reason is not None:
            raise PublishRefused(reason)

    def _write(
        self,
        number: int,
        version: str,
        author: str,
        note: str,
        before: dict[str, str],
        after: dict[str, str],
        acknowledged: list[str] | None = None,
        approved_by: str | None = None,
    ) -> Published:
        for name, text in after.items():
            if before.get(name) == text:
                continue
            target = self.workspace.directory_of(name) / Path(name).name
            scratch = target.with_name(f".{target.name}.publishing")
            scratch.write_text(text, encoding="utf-8")
            with contextlib.suppress(FileNotFoundError):  # a file published again keeps its mode
                os.chmod(scratch, stat.S_IMODE(target.stat().st_mode))
            os.replace(scratch, target)
        return self._record(number, version, author, note, after, before, acknowledged or [], approved_by)

    def _record(
        self,
        number: int,
        version: str,
        author: str,
        note: str,
        files: dict[str, str],
        before: dict[str, str],
        acknowledged: list[str] | None = None,
        approved_by: str | None = None,
    ) -> Published:
        private_directory(self.directory)
        changed = sorted(name for name in files.keys() | before.keys() if files.get(name) != before.get(name))
        diff = "".join(unified_diff(before.get(name, ""), files.get(name, ""), name) for name in changed)
        diff = diff[:MAX_DIFF_CHARS] if before else ""
        entry = Published(
            number, version, author, note[:2000], time.time(), changed if before else [], diff, acknowledged or [],
            approved_by,
        )  # fmt: skip
        snapshot = self.directory / f"v{number}.json"
        snapshot.write_text(json.dumps(files, ensure_ascii=False), encoding="utf-8")
        index_path = self.directory / "versions.jsonl"
        torn = index_path.is_file() and not index_path.read_bytes().endswith(b"\n") and index_path.stat().st_size > 0
        with index_path.open("a", encoding="utf-8") as index:
            # after a crash half-way through a line, the next version starts on a line of its own
            index.write(("\n" if torn else "") + json.dumps(entry.as_json(), ensure_ascii=False) + "\n")
        return entry
