"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.fake_graph import FakeGraph


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    """A fake Graph API listening on loopback for the test's duration."""
    fake = FakeGraph()
    await fake.start()
    yield fake
    await fake.stop()
