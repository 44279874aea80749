"""The live side of backtests, kept: a second backtest of the same archive under the same live
configuration replays the edit side only.

An entry is named by everything the live side depends on: the archive's exact bytes (a digest),
the live configuration's version, the engine settings, the `--until` cut and this package's
version. New archive data, a new live version or new code name another entry, so a kept
baseline never changes an answer; the oldest entries go when more than `keep` are kept.

The entries hold customer ids (the recorded traffic is personal data): each is a file only its
owner may read (a directory the cache creates is the owner's only too), written whole (under a
temporary name, then renamed) and closed by the SHA-256 of what comes before, so that a damaged
entry is never believed: like any entry that does not read back whole, it is replayed again.
Keeping is best effort: a backtest whose baseline cannot be kept still answers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import IO

from engagement.core.engine import Engine
from engagement.replay.index import ReplayIndex, read_blob, write_blob

KEEP = 4
FORMAT = 2
SUFFIX = ".engagement-baseline"
WRITING = ".writing-"
STALE_WRITE = 86_400.0  # seconds after which a half-written entry (its writer killed) is removed

Outcome = tuple[str, str, str, int, str]  # trigger, customer, result, hash of the message text, UTC day


@dataclasses.dataclass
class Baseline:
    """The live configuration's outcomes over an archive, and the archive's index."""

    version: str
    outcomes: dict[str, Outcome]
    index: ReplayIndex


def archive_facts(events: Path) -> tuple[str, int]:
    """A digest of the archive's bytes, and its number of lines."""
    digest = hashlib.sha256()
    lines = 0
    with events.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            lines += block.count(b"\n")
    return digest.hexdigest(), lines


def entry_name(digest: str, live: Engine, until: float | None) -> str:
    settings = json.dumps(dataclasses.asdict(live.settings), sort_keys=True)
    named = f"{FORMAT}\n{code_digest()}\n{digest}\n{live.config_version}\n{settings}\n{until!r}"
    return hashlib.sha256(named.encode()).hexdigest()[:32]


def default_baseline_cache() -> Path:
    """`$XDG_CACHE_HOME/engagement/baselines`, or `~/.cache/engagement/baselines`."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "engagement" / "baselines"


@functools.cache
def code_digest() -> str:
    """A digest of this package's source (an edited checkout decides with other code)."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


class BaselineCache:
    def __init__(self, directory: Path, keep: int = KEEP) -> None:
        self.directory, self.keep = directory, keep

    def get(self, name: str) -> Baseline | None:
        path = self.directory / (name + SUFFIX)
        try:
            with path.open("rb") as handle:
                if not _intact(handle):
                    return None
                handle.seek(0)
                found = _read(handle)
            os.utime(path)  # the most recently used goes last
        except Exception:  # none kept, or one that does not read back: replayed again
            return None
        return found

    def put(self, name: str, baseline: Baseline) -> str | None:
        """Keep `baseline`; the reason it could not be (a full disk, a directory not ours), or None.
        A backtest that could not keep its baseline has its answer all the same."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=WRITING)  # 0600
            try:
                with os.fdopen(fd, "w+b") as handle:
                    _write(handle, baseline)
                    handle.flush()
                    handle.write(_digest(handle, handle.tell()))
                os.replace(temporary, self.directory / (name + SUFFIX))
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError as exc:
            return f"the baseline could not be kept in {self.directory}: {exc.strerror or exc}"
        self._evict()
        return None

    def _evict(self) -> None:
        """The least recently used entries beyond `keep`, and half-written ones a day old."""
        entries = []
        for path in self.directory.iterdir():
            with contextlib.suppress(OSError):  # another backtest may remove it meanwhile
                if path.name.endswith(SUFFIX):
                    entries.append((path.stat().st_mtime_ns, path))
                elif path.name.startswith(WRITING) and time.time() - path.stat().st_mtime > STALE_WRITE:
                    path.unlink()
        for _, old in sorted(entries)[: max(0, len(entries) - self.keep)]:
            with contextlib.suppress(OSError):
                old.unlink()


DIGEST_BYTES = 32


def _digest(source: IO[bytes], size: int) -> bytes:
    """The SHA-256 of the first `size` bytes of `source` (read from its start)."""
    source.seek(0)
    digest = hashlib.sha256()
    left = size
    while left > 0:
        chunk = source.read(min(left, 1 << 20))
        if not chunk:
            break
        digest.update(chunk)
        left -= len(chunk)
    return digest.digest()


def _intact(source: IO[bytes]) -> bool:
    """Whether the entry ends with the digest of what comes before it."""
    size = os.fstat(source.fileno()).st_size - DIGEST_BYTES
    if size < 0:
        return False
    computed = _digest(source, size)
    return source.read(DIGEST_BYTES) == computed


def _write(out: IO[bytes], baseline: Baseline) -> None:
    rows = [[key, *outcome] for key, outcome in baseline.outcomes.items()]
    head = json.dumps({"format": FORMAT, "version": baseline.version, "outcomes": rows}, ensure_ascii=False)
    write_blob(out, head.encode())
    baseline.index.dump(out)


def _read(source: IO[bytes]) -> Baseline:
    head = json.loads(read_blob(source))
    if head["format"] != FORMAT:
        raise ValueError("a baseline written by another version")
    outcomes: dict[str, Outcome] = {}
    for row in head["outcomes"]:
        key, trigger, customer, result, text, day = row
        if not (all(isinstance(v, str) for v in (key, trigger, customer, result, day)) and type(text) is int):
            raise ValueError("an outcome of the wrong shape")
        outcomes[key] = (trigger, customer, result, text, day)
    index = ReplayIndex.load(source)
    number = {customer: n for n, customer in enumerate(index.customers)}
    for key, outcome in outcomes.items():
        span = index.decided.get(key)
        if span is None or number.get(outcome[1]) != span[0]:
            raise ValueError("outcomes of customers or decisions the index does not list")
    return Baseline(head["version"], outcomes, index)
