"""One simulated server process (ring 1): its durable storage, which survives a crash, and
while it runs a Raft node; its status; and the work held for it while it is paused."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from ..core.node import RaftNode
from ..core.storage import Storage
from .datadir import MemoryDirectory, RaftDirectory


class Status(enum.StrEnum):
    """Whether a server process runs (a string enum: `/v1/sim/state` shows the value)."""

    UP = "up"
    DOWN = "down"
    PAUSED = "paused"


UP, DOWN, PAUSED = Status.UP, Status.DOWN, Status.PAUSED


class SimServer:
    """One simulated Nomad server process: durable storage plus, while up, a Raft node."""

    __slots__ = (
        "address",
        "directory",
        "fsm",
        "held",
        "id",
        "incarnation",
        "name",
        "node",
        "status",
        "storage",
    )

    def __init__(self, name: str, server_id: str, address: str) -> None:
        self.name = name
        self.id = server_id
        self.address = address
        self.storage = Storage()
        self.node: RaftNode | None = None
        self.status = DOWN
        self.incarnation = 0
        self.held: list[tuple[Callable[[Any], None], Any]] = []
        self.fsm: list[str] = []
        # Its Raft directory (datadir.py), opened at every start; the cluster sets it.
        self.directory: RaftDirectory = MemoryDirectory(where=f"{name}/server/raft")

    def defer(self, fn: Callable[[Any], None], arg: Any = None) -> None:
        """Keep fn(arg) for when the paused process resumes (a crash drops it)."""
        self.held.append((fn, arg))
