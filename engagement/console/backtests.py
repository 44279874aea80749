"""Backtests the console starts: an edit replayed on recorded traffic against the live
configuration, in a process of its own, with its progress; one at a time, the last few kept.

The recorded traffic holds personal data, so it never lies on disk under a name: the archive is
written to an unnamed temporary file (gone with the last descriptor to it) that the child process
reads through its inherited descriptor. The child dies with the server (Linux's parent-death
signal, and a check of its parent's pid), so a server killed with -9 leaves neither a copy of the
archive nor an orphaned replay. Only copies of the two configurations (no personal data) go into a
scratch directory under the state directory, emptied when the console starts. The live side of
the last few backtests is kept in a private directory beside it, so that backtesting another
edit of the same days replays the edit side only; it holds personal data (customer ids,
outcomes, and customers' states at their first event of some kinds), so it is emptied when the
console starts and when a customer is erased (`forget_kept`). An erasure also withdraws the
examples (customer ids) from the results of the backtests this process holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from engagement.authoring.backtest import Backtest, ranked, report
from engagement.authoring.baselines import SUFFIX, WRITING
from engagement.console.workspace import Workspace
from engagement.core.engine import Engine
from engagement.outcomes.page import sends_before_after_svg
from engagement.privacy import private_directory

log = logging.getLogger(__name__)

KEEP = 8
WITHDRAWN = "(withdrawn: a customer may have been erased since)"
CHILD = "engagement.console.backtest_child"


class BacktestBusy(RuntimeError):
    """One backtest runs at a time."""


@dataclass
class Job:
    id: str
    since: float
    until: float
    state: str = "reading"  # reading, replaying, done, failed
    events: int = 0
    progress: float = 0.0  # 0 to 1, over both sides
    phase: str = ""  # live (the live configuration replayed), then edit
    customers: tuple[int, int] | None = None  # replayed under the edit, skipped as unchanged
    edit_only: bool = False  # the live side was kept from an earlier backtest
    error: str | None = None
    result: dict[str, Any] | None = None
    started: float = field(default_factory=time.time)
    erasures: int = 0  # customers erased in this process when it started (`forget_kept`)

    def as_json(self) -> dict[str, Any]:
        customers = None if self.customers is None else dict(zip(("replayed", "skipped"), self.customers, strict=True))
        return {"id": self.id, "state": self.state, "events": self.events, "progress": round(self.progress, 3),
                "phase": self.phase, "customers": customers, "error": self.error, "result": self.result,
                "since": self.since, "until": self.until}  # fmt: skip


def kept_baselines(state_dir: Path) -> Path:
    return state_dir / "console" / "baselines"


_ERASURES = [0]
"""Customers erased in this process: a backtest that read its archive before an erasure does not
leave its live side kept (`Backtests.run`)."""


_CONSOLES: weakref.WeakSet[Backtests] = weakref.WeakSet()
"""The backtests of the consoles in this process, whose results an erasure reaches."""


def forget_kept(state_dir: Path) -> int:
    """A customer is erased: every live side kept for backtests goes (each may hold that
    customer's data), and the results held withdraw their examples; how many live sides went."""
    _ERASURES[0] += 1
    folder = kept_baselines(state_dir)
    for console in list(_CONSOLES):
        if console.baselines == folder:
            console.withdraw_examples()
    return _remove_kept(folder)


def without_examples(result: dict[str, Any]) -> dict[str, Any]:
    """A backtest's result without the customer ids it gives as examples of each move: in the
    moves and in the text (whose move lines end with them)."""
    text = []
    for line in str(result.get("text", "")).split("\n"):
        head, found, _ = line.partition("   e.g. ")  # the outcomes before it hold no customer data
        text.append(f"{head}   e.g. {WITHDRAWN}" if found else line)
    triggers = [
        {**row, "moves": [{**move, "examples": []} for move in row["moves"]]} for row in result.get("triggers", ())
    ]
    return {**result, "triggers": triggers, "text": "\n".join(text), "examples_withdrawn": True}


def kept_left(state_dir: Path) -> bool:
    """Whether any entry of the cache is in the console's kept baselines."""
    try:
        return any(_kept_name(path.name) for path in kept_baselines(state_dir).iterdir())
    except FileNotFoundError:
        return False


def _kept_name(name: str) -> bool:
    return name.endswith(SUFFIX) or name.startswith(WRITING)


def _remove_kept(folder: Path) -> int:
    """The entries of the cache in `folder` (files of its own names only), removed; a failure
    is logged (an erasure must not pass for done when data stayed)."""
    removed = 0
    try:
        paths = list(folder.iterdir())
    except FileNotFoundError:
        return 0
    except OSError as exc:
        log.error("kept backtests in %s could not be listed for an erasure: %s", folder, exc.strerror or exc)
        return 0
    for path in paths:
        if not _kept_name(path.name):
            continue
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.error("a kept backtest could not be deleted for an erasure: %s: %s", path, exc.strerror or exc)
    return removed


Forget = Callable[[str], Awaitable[dict[str, int]]]


def forgetting_kept(forget: Forget, state_dir: Path) -> Forget:
    """A runtime's erasure of a customer, then its console's kept live sides (`forget_kept`)."""

    async def erase(customer_id: str) -> dict[str, int]:
        erased = await forget(customer_id)
        erased["kept_backtests"] = await asyncio.to_thread(forget_kept, state_dir)
        return erased

    return erase


class Backtests:
    def __init__(self, workspace: Workspace, live: Callable[[], Engine], state_dir: Path) -> None:
        self.workspace, self.live = workspace, live
        self.scratch = state_dir / "console" / "backtests"
        shutil.rmtree(self.scratch, ignore_errors=True)  # what a server killed during a backtest left
        # the live sides kept for the next backtest (personal data: private, gone with a restart)
        self.baselines = kept_baselines(state_dir)
        shutil.rmtree(self.baselines, ignore_errors=True)
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        _CONSOLES.add(self)

    def withdraw_examples(self) -> None:
        """Every result held here, without its examples (a customer was erased)."""
        for job in list(self.jobs.values()):
            if job.result is not None and not job.result.get("examples_withdrawn"):
                job.result = without_examples(job.result)

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def start(self, edit: dict[str, str], since: float, until: float) -> Job:
        with self._lock:
            if any(job.state in ("reading", "replaying") for job in self.jobs.values()):
                raise BacktestBusy("a backtest is running; wait for it to finish")
            job = Job(uuid.uuid4().hex[:12], since, until)
            job.erasures = _ERASURES[0]  # before its archive is read
            self.jobs[job.id] = job
            for old in sorted(self.jobs.values(), key=lambda j: j.started)[:-KEEP]:
                del self.jobs[old.id]
        return job

    async def run(self, job: Job, edit: dict[str, str], lines: list[str]) -> None:
        """The archive's `lines` replayed under the live files and under the edit in a child
        process (so that a long backtest takes no time from the server's own events and timers)."""
        root = self.scratch / job.id
        archive: IO[bytes] | None = None
        try:
            job.events, job.state = len(lines), "replaying"
            archive = await asyncio.to_thread(self._prepare, root, edit, lines)
            job.result = await _replay_in_child(root, archive.fileno(), job, self.baselines)
            if _ERASURES[0] != job.erasures:  # checked after the result is in: `forget_kept` counts first
                job.result = without_examples(job.result)
            job.progress, job.state = 1.0, "done"  # never shown done with examples an erasure withdrew
        except Exception as exc:  # a failed backtest is shown in the console, not raised
            job.state, job.error = "failed", str(exc)[:500] or type(exc).__name__
        finally:
            if archive is not None:
                archive.close()
            shutil.rmtree(root, ignore_errors=True)
            if _ERASURES[0] != job.erasures:  # a customer erased since its archive was read
                await asyncio.to_thread(_remove_kept, self.baselines)

    def _prepare(self, root: Path, edit: dict[str, str], lines: list[str]) -> IO[bytes]:
        """Both configurations copied under `root`, and the archive in an unnamed file."""
        checked = self.workspace.check(edit)
        if checked.engine is None:
            raise ValueError(f"the edit has {checked.errors} errors: fix them first")
        private_directory(root)
        shutil.copytree(self.workspace.triggers_dir, root / "live" / "triggers")
        shutil.copytree(self.workspace.messages_dir, root / "live" / "messages")
        with self.workspace.applied(edit) as (triggers, messages):
            shutil.copytree(triggers, root / "edit" / "triggers")
            shutil.copytree(messages, root / "edit" / "messages")
        settings = dataclasses.asdict(self.live().settings)
        (root / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
        archive = tempfile.TemporaryFile(dir=root)  # noqa: SIM115 (closed by `run`; unnamed: O_TMPFILE or unlinked)
        for start in range(0, len(lines), 4096):
            archive.write("".join(lines[start : start + 4096]).encode("utf-8"))
        archive.flush()
        return archive


async def _replay_in_child(root: Path, fd: int, job: Job, baselines: Path) -> dict[str, Any]:
    """Run the child on `root` with the archive's descriptor; its progress and its result come back
    as lines on its standard output. Cancelled, the child is killed."""
    os.set_inheritable(fd, True)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", CHILD, str(root), str(fd), str(os.getpid()), repr(job.until), str(job.events),
        str(baselines),
        pass_fds=(fd,), stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    result: dict[str, Any] | None = None
    try:
        assert child.stdout is not None  # noqa: S101 (asked for above)
        async for raw in child.stdout:
            kind, _, rest = raw.decode("utf-8", errors="replace").partition(" ")
            if kind == "progress":
                with contextlib.suppress(ValueError, IndexError):
                    take_progress(job, rest.split())
            elif kind == "result":
                result = json.loads(rest)
        errors = await child.stderr.read() if child.stderr is not None else b""
        code = await child.wait()
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    if code != 0 or result is None:
        last = errors.decode("utf-8", errors="replace").strip().splitlines()[-1:] or [f"exit status {code}"]
        raise RuntimeError(f"the backtest stopped: {last[0][:300]}")
    return result


def take_progress(job: Job, fields: list[str]) -> None:
    """`PHASE SHARE REPLAYED SKIPPED` from the child: the live side is the first half of the bar,
    the edit side the second (all of it when the live side was kept)."""
    phase, share, replayed, skipped = fields[0], float(fields[1]), int(fields[2]), int(fields[3])
    if not job.phase:
        job.edit_only = phase == "edit"  # the live side was kept
    job.phase = phase
    if phase == "edit":
        job.customers = (replayed, skipped)
        done = share if job.edit_only else 0.5 + 0.5 * share
    else:
        done = 0.5 * share
    job.progress = max(job.progress, min(0.99, done))


def as_json(result: Backtest) -> dict[str, Any]:
    rows = []
    for trigger, change in sorted(result.changes.items()):
        moved = sum(change.moves.values()) - change.gained - change.lost
        rows.append({"trigger": trigger, "sends_before": change.baseline_sends, "sends_after": change.new_sends,
                     "gained": change.gained, "lost": change.lost, "moved": moved, "reworded": change.reworded,
                     "moves": [{"from": old, "to": new, "count": n, "examples": change.examples[(old, new)]}
                               for (old, new), n in ranked(change.moves)]})  # fmt: skip
    days = [{"day": day, "before": b, "after": a} for day, (b, a) in result.sends_per_day.items()]
    return {
        "baseline_version": result.baseline_version,
        "new_version": result.new_version,
        "decisions": list(result.decisions),
        "triggers": rows,
        "per_day": days,
        "chart": sends_before_after_svg(days),
        "text": "\n".join(report(result)),
        "customers": {"replayed": result.customers[0], "skipped": result.customers[1]},
        "baseline_kept": result.baseline_kept,
        "examples_withdrawn": False,
    }
