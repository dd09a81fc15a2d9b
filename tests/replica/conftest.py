"""One replica for the module tests that only read; tests that change content start their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from replica import ReplicaServer


@pytest.fixture(scope="module")
def replica() -> Iterator[ReplicaServer]:
    server = ReplicaServer().start()
    yield server
    server.stop()


@pytest.fixture
def fresh() -> Iterator[ReplicaServer]:
    """A replica of its own, for tests that publish, edit or set faults."""
    server = ReplicaServer().start()
    yield server
    server.stop()
