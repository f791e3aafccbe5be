"""The exception root of raftsim and the errors the Raft core raises to its callers (ring 0).

Protocol rejections (a refused vote, a failed AppendEntries) are messages, not exceptions;
exceptions are for callers' mistakes and for the answers hashicorp/raft gives through its
futures (`ErrNotLeader`, `ErrLeadershipLost`). Their texts are hashicorp/raft's.
"""

from __future__ import annotations

from .types import Role


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


class UnhandledMessageError(RaftsimError, TypeError):
    """A caller's mistake: the node was handed a message its current role has no handler
    for. Every role handles every RPC and reply (late replies after a role change are
    normal, and dropped), so only a type the node does not know, or a RequestVote handed
    to a role's step function instead of `step`, ends here."""

    def __init__(self, msg: object, role: Role) -> None:
        super().__init__(f"{type(msg).__name__} has no handler in role {role}")
        self.message = msg
        self.role = role
