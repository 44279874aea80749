"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator

import pytest

from tests.integration.fake_graph import FakeGraph
from tests.integration.fake_line import FakeLine
from tests.integration.fake_twilio import FakeTwilio
from tests.integration.processes import failed
from tests.integration.workers import Namespace, WorkerProcess


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def workers(request: pytest.FixtureRequest) -> Iterator[list[WorkerProcess]]:
    """Worker processes a test starts (it appends them); killed after it, their logs shown if it failed."""
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.kill()
    if failed(request):  # the workers' own logs explain most failures
        for number, worker in enumerate(started, 1):
            print(f"----- worker {number} log (last 12,000 characters) -----\n{worker.log()[-12000:]}")


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    """A fake Graph API listening on loopback for the test's duration."""
    async with FakeGraph() as fake:
        yield fake


@pytest.fixture
async def line() -> AsyncIterator[FakeLine]:
    """A fake LINE Messaging API listening on loopback for the test's duration."""
    async with FakeLine() as fake:
        yield fake


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    """A fake Twilio Messages API listening on loopback for the test's duration."""
    async with FakeTwilio() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _delete_namespace_topics() -> Generator[None, None, None]:
    """After each test (and its own fixtures), delete the Kafka topics of the namespaces it made."""
    yield
    while Namespace.made:
        Namespace.made.pop().delete_topics()
