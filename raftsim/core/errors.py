"""The exception root of raftsim and the errors the Raft core raises to its callers (ring 0).

Protocol rejections (a refused vote, a failed AppendEntries) are messages, not exceptions;
exceptions are for callers' mistakes and for the answers hashicorp/raft gives through its
futures (`ErrNotLeader`, `ErrLeadershipLost`). Their texts are hashicorp/raft's.
"""

from __future__ import annotations


class RaftsimError(Exception):
    """Root of every error raftsim raises on purpose."""


class NotLeaderError(RaftsimError):
    """The request needs the leader and this server is not it (hashicorp ErrNotLeader)."""

    def __init__(self) -> None:
        super().__init__("node is not the leader")


class LeadershipLostError(RaftsimError):
    """The leader stepped down before the request committed (hashicorp ErrLeadershipLost)."""

    def __init__(self) -> None:
        super().__init__("leadership lost while committing log")


class ConfigurationError(RaftsimError):
    """A membership change or bootstrap would produce an invalid configuration."""


class ShutdownError(RaftsimError):
    """The server crashed or shut down before answering (hashicorp ErrRaftShutdown)."""

    def __init__(self) -> None:
        super().__init__("raft is already shutdown")
