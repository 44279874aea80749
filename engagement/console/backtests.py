"""Backtests the console starts: an edit replayed on recorded traffic against the live
configuration, in a thread of its own, with its progress; one at a time, the last few kept."""

from __future__ import annotations

import multiprocessing
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engagement.authoring.backtest import Backtest, backtest, report
from engagement.config.bundle import load_configuration
from engagement.console.workspace import Workspace
from engagement.core.engine import Engine, EngineSettings
from engagement.outcomes.page import sends_before_after_svg

KEEP = 8
_LINES = re.compile(r"([\d,]+) events")


class BacktestBusy(RuntimeError):
    """One backtest runs at a time."""


@dataclass
class Job:
    id: str
    since: float
    until: float
    state: str = "reading"  # reading, replaying, done, failed
    events: int = 0
    progress: float = 0.0  # 0 to 1
    error: str | None = None
    result: dict[str, Any] | None = None
    started: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "events": self.events, "progress": round(self.progress, 3),
                "error": self.error, "result": self.result, "since": self.since, "until": self.until}  # fmt: skip


class _Progress:
    """The replay's progress lines ("replaying: ... 12,000 events ...") as a share of the file's lines,
    for two replays in a row (the live configuration, then the edit), written to a file the
    server reads."""

    def __init__(self, events: int, out: Path) -> None:
        self.events, self.out = events, out
        self.replay, self.last, self.share = 0, 0, 0.0

    def write(self, text: str) -> int:
        found = _LINES.search(text)  # the first count is the lines read; the second, the rate
        if found and self.events:
            lines = int(found.group(1).replace(",", ""))
            if lines < self.last:
                self.replay = 1
            self.last = lines
            self.share = min(0.99, (self.replay + lines / self.events) / 2)
            self.out.write_text(f"{self.share:.4f}", encoding="utf-8")
        elif not text.strip() and self.last:
            self.replay, self.last = 1, 0  # a replay ended (it clears its line)
        return len(text)

    def flush(self) -> None:
        return None


def _replay_both(root: str, settings: EngineSettings, until: float, events: int) -> dict[str, Any]:
    """In a process of its own: both configurations of `root` (`live/`, `edit/`) over its events."""
    base = Path(root)
    engines = [
        Engine.of(load_configuration(base / side / "triggers", base / side / "messages", settings.allowed_lateness),
                  settings)
        for side in ("live", "edit")
    ]  # fmt: skip
    progress = _Progress(events, base / "progress")
    return as_json(backtest(engines[0], engines[1], base / "events.jsonl", until, 1, progress))  # type: ignore[arg-type]


class Backtests:
    def __init__(self, workspace: Workspace, live: Callable[[], Engine]) -> None:
        self.workspace, self.live = workspace, live
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def start(self, edit: dict[str, str], since: float, until: float) -> Job:
        with self._lock:
            if any(job.state in ("reading", "replaying") for job in self.jobs.values()):
                raise BacktestBusy("a backtest is running; wait for it to finish")
            job = Job(uuid.uuid4().hex[:12], since, until)
            self.jobs[job.id] = job
            for old in sorted(self.jobs.values(), key=lambda j: j.started)[:-KEEP]:
                del self.jobs[old.id]
        return job

    def run(self, job: Job, edit: dict[str, str], lines: list[str]) -> None:
        """In a worker thread: the archive's `lines` replayed under the live files and under the
        edit, in a process of its own (spawned: nothing of the server's state is copied), so that
        a long backtest takes no time from the server's own events and timers."""
        try:
            job.events, job.state = len(lines), "replaying"
            with tempfile.TemporaryDirectory(prefix="engagement-backtest-") as scratch:
                root = Path(scratch)
                with (root / "events.jsonl").open("w", encoding="utf-8") as out:
                    out.writelines(lines)
                checked = self.workspace.check(edit)
                if checked.engine is None:
                    raise ValueError(f"the edit has {checked.errors} errors: fix them first")
                shutil.copytree(self.workspace.triggers_dir, root / "live" / "triggers")
                shutil.copytree(self.workspace.messages_dir, root / "live" / "messages")
                with self.workspace.applied(edit) as (triggers, messages):
                    shutil.copytree(triggers, root / "edit" / "triggers")
                    shutil.copytree(messages, root / "edit" / "messages")
                settings = self.live().settings
                with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                    future = pool.submit(_replay_both, scratch, settings, job.until, len(lines))
                    while not future.done():
                        time.sleep(0.25)
                        job.progress = _read_progress(root / "progress", job.progress)
                    job.result = future.result()
            job.progress, job.state = 1.0, "done"
        except Exception as exc:  # a failed backtest is shown in the console, not raised
            job.state, job.error = "failed", str(exc)[:500] or type(exc).__name__


def _read_progress(path: Path, last: float) -> float:
    try:
        return max(last, float(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return last


def as_json(result: Backtest) -> dict[str, Any]:
    rows = []
    for trigger, change in sorted(result.changes.items()):
        moved = sum(change.moves.values()) - change.gained - change.lost
        rows.append({"trigger": trigger, "sends_before": change.baseline_sends, "sends_after": change.new_sends,
                     "gained": change.gained, "lost": change.lost, "moved": moved, "reworded": change.reworded,
                     "moves": [{"from": old, "to": new, "count": n, "examples": change.examples[(old, new)]}
                               for (old, new), n in change.moves.most_common()]})  # fmt: skip
    days = [{"day": day, "before": b, "after": a} for day, (b, a) in result.sends_per_day.items()]
    return {
        "baseline_version": result.baseline_version,
        "new_version": result.new_version,
        "decisions": list(result.decisions),
        "triggers": rows,
        "per_day": days,
        "chart": sends_before_after_svg(days),
        "text": "\n".join(report(result)),
    }
