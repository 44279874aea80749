"""The process a console backtest runs in (`python -m engagement.console.backtest_child ROOT FD
PARENT UNTIL EVENTS CACHE`): both configurations under ROOT replayed over the archive the
inherited descriptor FD reads (the live side kept in CACHE, see `engagement.authoring.baselines`),
progress and the result as lines on standard output. It dies with its
parent: it asks Linux for SIGKILL when the parent goes, and leaves at once if the parent is
already gone."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import signal
import sys
from pathlib import Path

from engagement.authoring.backtest import Progress, backtest
from engagement.authoring.baselines import BaselineCache
from engagement.config.bundle import load_configuration
from engagement.console.backtests import as_json
from engagement.core.engine import Engine, EngineSettings

PR_SET_PDEATHSIG = 1


def die_with(parent: int) -> None:
    """SIGKILL when the parent process ends (Linux); gone at once if it has ended already."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is not None:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def report_progress(progress: Progress) -> None:
    """One line on stdout: `progress PHASE SHARE REPLAYED SKIPPED` (the share of the phase done;
    the customers replayed under the edit and skipped as unchanged, once known)."""
    replayed, skipped = progress.customers
    sys.stdout.write(f"progress {progress.phase} {progress.share:.4f} {replayed} {skipped}\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    root, fd, parent, until, cache = Path(argv[0]), int(argv[1]), int(argv[2]), float(argv[3]), Path(argv[5])
    die_with(parent)
    given = json.loads((root / "settings.json").read_text(encoding="utf-8"))
    settings = EngineSettings(**{**given, "link_domains": tuple(given.get("link_domains", ()))})
    engines = [
        Engine.of(load_configuration(root / side / "triggers", root / side / "messages", settings.allowed_lateness),
                  settings)
        for side in ("live", "edit")
    ]  # fmt: skip
    archive = Path(f"/proc/self/fd/{fd}")
    found = backtest(engines[0], engines[1], archive, until, 1, report_progress, BaselineCache(cache))
    sys.stdout.write("result " + json.dumps(as_json(found), ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
