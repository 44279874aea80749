"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator

import pytest

from tests.integration.fake_graph import FakeGraph
from tests.integration.workers import Namespace


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    """A fake Graph API listening on loopback for the test's duration."""
    async with FakeGraph() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _delete_namespace_topics() -> Generator[None, None, None]:
    """After each test (and its own fixtures), delete the Kafka topics of the namespaces it made."""
    yield
    while Namespace.made:
        Namespace.made.pop().delete_topics()
