"""raftsim: a deterministic simulator of HashiCorp Nomad servers running Raft, in virtual time."""

from .core import (
    MS,
    P1,
    P2,
    P3,
    SECOND,
    ChangeCommand,
    ConfigurationError,
    Fault,
    Future,
    LeadershipLostError,
    NotLeaderError,
    RaftsimError,
    Role,
    ShutdownError,
    Timing,
)
from .sim import Cluster, LinkConditions, SafetyViolationError, ServerView, Violation, duration

__all__ = [
    "MS",
    "P1",
    "P2",
    "P3",
    "SECOND",
    "ChangeCommand",
    "Cluster",
    "ConfigurationError",
    "Fault",
    "Future",
    "LeadershipLostError",
    "LinkConditions",
    "NotLeaderError",
    "RaftsimError",
    "Role",
    "SafetyViolationError",
    "ServerView",
    "ShutdownError",
    "Timing",
    "Violation",
    "duration",
]
