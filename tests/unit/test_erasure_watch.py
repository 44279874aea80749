"""An erasure on any worker reaches every worker's kept backtests: each looks at the count of
erasures in Redis and deletes its console's kept live sides when the count moved."""

from __future__ import annotations

from pathlib import Path

from engagement.console import backtests
from engagement.worker.erasure_watch import ErasureWatch


async def test_a_worker_deletes_its_kept_backtests_when_the_count_of_erasures_moves(tmp_path: Path) -> None:
    kept = backtests.kept_baselines(tmp_path)
    kept.mkdir(parents=True)
    counts = iter([3, 3, 4, 4, 5])

    async def count() -> int:
        return next(counts)

    watch = ErasureWatch(count, tmp_path, poll=0.0)
    (kept / "a.engagement-baseline").write_bytes(b"x")
    (kept / "notes.txt").write_bytes(b"x")
    assert await watch.check() == 0  # the first look only notes the count (the console starts empty)
    assert await watch.check() == 0  # no erasure since
    assert (kept / "a.engagement-baseline").exists()
    erased_before = backtests._ERASURES[0]
    assert await watch.check() == 1  # an erasure on some worker
    assert [p.name for p in kept.iterdir()] == ["notes.txt"]
    assert backtests._ERASURES[0] == erased_before + 1  # a backtest running now keeps no live side
    (kept / "b.engagement-baseline").write_bytes(b"x")
    assert await watch.check() == 0
    assert await watch.check() == 1
    assert not (kept / "b.engagement-baseline").exists()
