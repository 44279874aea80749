"""An erasure on any worker reaches every worker's kept backtests: each looks at the mark the last
erasure left in Redis and deletes its console's kept live sides when the mark is not the one it
saw last."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from redis.exceptions import ResponseError

from engagement.console import backtests
from engagement.worker.erasure_watch import ErasureWatch

KEPT = "a.engagement-baseline"


def watching(tmp_path: Path, marks: list[bytes | None]) -> tuple[ErasureWatch, Path]:
    kept = backtests.kept_baselines(tmp_path)
    kept.mkdir(parents=True, exist_ok=True)
    looks = iter(marks)

    async def mark() -> bytes | None:
        return next(looks)

    return ErasureWatch(mark, tmp_path, poll=0.0), kept


async def test_a_worker_deletes_its_kept_backtests_when_the_mark_of_erasures_changes(tmp_path: Path) -> None:
    watch, kept = watching(tmp_path, [b"m1", b"m1", b"m2", b"m2", None])
    (kept / KEPT).write_bytes(b"x")
    (kept / "notes.txt").write_bytes(b"x")
    assert await watch.check() == 1  # the first look deletes: kept while the mark could not be read
    assert [p.name for p in kept.iterdir()] == ["notes.txt"]  # only the cache's own files
    (kept / KEPT).write_bytes(b"x")
    assert await watch.check() == 0  # no erasure since
    assert (kept / KEPT).exists()
    erased_before = backtests._ERASURES[0]
    assert await watch.check() == 1  # an erasure on some worker
    assert not (kept / KEPT).exists()
    assert backtests._ERASURES[0] == erased_before + 1  # a backtest running now keeps no live side
    (kept / KEPT).write_bytes(b"x")
    assert await watch.check() == 0
    assert await watch.check() == 1  # the mark went (Redis lost its data): as good as an erasure
    assert not (kept / KEPT).exists()


async def test_a_deletion_that_left_an_entry_is_tried_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    watch, kept = watching(tmp_path, [b"m1", b"m2", b"m2"])
    assert await watch.check() == 0
    (kept / KEPT).write_bytes(b"x")
    with monkeypatch.context() as failing:
        failing.setattr(backtests, "_remove_kept", lambda folder: 0)  # as when an unlink fails
        assert await watch.check() == 0
    assert await watch.check() == 1  # the same mark, and still something kept: deleted now
    assert not (kept / KEPT).exists()


async def test_any_bytes_in_the_mark_are_only_compared(tmp_path: Path) -> None:
    """Whatever a writer with access to Redis puts there (huge, not text) is compared, never read."""
    odd = b"\xff\x00" * 500_000
    watch, kept = watching(tmp_path, [odd, odd, b"9" * 40])
    assert await watch.check() == 0
    (kept / KEPT).write_bytes(b"x")
    assert await watch.check() == 0
    assert await watch.check() == 1


async def test_a_look_before_a_backtest_deletes_what_an_erasure_elsewhere_left_kept(tmp_path: Path) -> None:
    """The console looks right before it starts a backtest, not only every few seconds."""
    watch, kept = watching(tmp_path, [b"m1", b"m1", b"m2"])
    await watch.up_to_date()
    (kept / KEPT).write_bytes(b"x")
    await watch.up_to_date()  # no erasure since
    assert (kept / KEPT).exists()
    await watch.up_to_date()  # another worker erased a customer a moment ago
    assert not (kept / KEPT).exists()


def kept_entry(tmp_path: Path) -> Path:
    """One entry kept in the console's live sides."""
    kept = backtests.kept_baselines(tmp_path)
    kept.mkdir(parents=True, exist_ok=True)
    (kept / KEPT).write_bytes(b"x")
    return kept


async def test_a_look_that_cannot_read_the_mark_in_time_deletes_all_the_same(tmp_path: Path) -> None:
    async def unreachable() -> bytes | None:
        await asyncio.sleep(60)  # Redis does not answer
        return b"m1"

    kept = kept_entry(tmp_path)
    watch = ErasureWatch(unreachable, tmp_path)
    started = time.monotonic()
    await watch.up_to_date(timeout=0.2)
    assert time.monotonic() - started < 5
    assert not (kept / KEPT).exists()


async def test_a_look_that_redis_answers_with_an_error_deletes_all_the_same(tmp_path: Path) -> None:
    async def wrong_type() -> bytes | None:
        raise ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value")

    kept = kept_entry(tmp_path)
    watch = ErasureWatch(wrong_type, tmp_path)
    await watch.up_to_date()  # no exception reaches the console's request
    assert not (kept / KEPT).exists()
