"""Heavy reads (reports, the backtest archive, timelines) run off the event loop, a few at once."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from engagement.embedded.command import StoredReads
from engagement.embedded.store import StoreReader
from engagement.live.heavy_reads import HeavyReads, ReadsBusy
from tests.unit.test_phone_index import NOW, NUMBERS, event, service_in


async def test_at_most_two_run_and_eight_wait_the_rest_are_refused() -> None:
    gate = HeavyReads(running=2, waiting=8)
    release = asyncio.Event()
    running = 0
    most = 0

    async def read() -> None:
        nonlocal running, most
        async with gate.slot():
            running += 1
            most = max(most, running)
            await release.wait()
            running -= 1

    tasks = [asyncio.create_task(read()) for _ in range(10)]
    await asyncio.sleep(0.05)
    with pytest.raises(ReadsBusy):
        async with gate.slot():
            pass
    release.set()
    await asyncio.gather(*tasks)
    assert most == 2
    async with gate.slot():  # free again
        pass


def test_run_s_report_archive_and_timeline_are_read_outside_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = service_in(tmp_path, [NOW])
    seen: dict[str, int] = {}
    for name in ("report_sources", "events_between", "customer_timeline"):
        original = getattr(StoreReader, name)

        def spy(self: StoreReader, *args: object, _name: str = name, _original: object = original) -> object:
            seen[_name] = threading.get_ident()
            return _original(self, *args)  # type: ignore[operator]

        monkeypatch.setattr(StoreReader, name, spy)

    async def reads() -> int:
        await service.ingest([event(event_id="a1", customer_id="alice", phone=NUMBERS[0], t=NOW - 60)])
        stored = StoredReads(service, service.store)
        await stored.report(None)
        assert len(await stored.archive(0, NOW)) == 1
        assert (await stored.timeline("alice"))["events"]
        return threading.get_ident()

    try:
        loop_thread = asyncio.run(reads())
    finally:
        service.store.close()
    assert set(seen) == {"report_sources", "events_between", "customer_timeline"}
    assert loop_thread not in seen.values()
