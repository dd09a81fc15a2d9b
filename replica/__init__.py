"""Local replicas of IOM websites served on 127.0.0.1, for tests, benchmarks and `iomwatch demo`."""

from __future__ import annotations

from replica.model import ReplicaRelease, RequestRecord
from replica.server import ReplicaServer

__all__ = ["ReplicaRelease", "ReplicaServer", "RequestRecord"]
