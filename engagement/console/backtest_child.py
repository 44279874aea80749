"""The process a console backtest runs in (`python -m engagement.console.backtest_child ROOT FD
PARENT UNTIL EVENTS`): both configurations under ROOT replayed over the archive the inherited
descriptor FD reads, progress and the result as lines on standard output. It dies with its
parent: it asks Linux for SIGKILL when the parent goes, and leaves at once if the parent is
already gone."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import re
import signal
import sys
from pathlib import Path

from engagement.authoring.backtest import backtest
from engagement.config.bundle import load_configuration
from engagement.console.backtests import as_json
from engagement.core.engine import Engine, EngineSettings

PR_SET_PDEATHSIG = 1
_LINES = re.compile(r"([\d,]+) events")


def die_with(parent: int) -> None:
    """SIGKILL when the parent process ends (Linux); gone at once if it has ended already."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is not None:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


class Progress:
    """The replays' progress lines ("replaying: ... 12,000 events ...") as the share of the archive
    done over both replays (the live configuration, then the edit), one line each on stdout."""

    def __init__(self, events: int) -> None:
        self.events, self.replay, self.last = events, 0, 0

    def write(self, text: str) -> int:
        found = _LINES.search(text)  # the first count is the lines read; the second, the rate
        if found and self.events:
            lines = int(found.group(1).replace(",", ""))
            if lines < self.last:
                self.replay = 1
            self.last = lines
            share = min(0.99, (self.replay + lines / self.events) / 2)
            sys.stdout.write(f"progress {share:.4f}\n")
            sys.stdout.flush()
        elif not text.strip() and self.last:
            self.replay, self.last = 1, 0  # a replay ended (it clears its line)
        return len(text)

    def flush(self) -> None:
        return None


def main(argv: list[str]) -> int:
    root, fd, parent, until, events = Path(argv[0]), int(argv[1]), int(argv[2]), float(argv[3]), int(argv[4])
    die_with(parent)
    given = json.loads((root / "settings.json").read_text(encoding="utf-8"))
    settings = EngineSettings(**{**given, "link_domains": tuple(given.get("link_domains", ()))})
    engines = [
        Engine.of(load_configuration(root / side / "triggers", root / side / "messages", settings.allowed_lateness),
                  settings)
        for side in ("live", "edit")
    ]  # fmt: skip
    found = backtest(engines[0], engines[1], Path(f"/proc/self/fd/{fd}"), until, 1, Progress(events))  # type: ignore[arg-type]
    sys.stdout.write("result " + json.dumps(as_json(found), ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
