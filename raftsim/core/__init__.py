"""Ring 0: Raft as a pure, synchronous state machine (standard library only)."""

from .configuration import ChangeCommand, check_configuration, next_configuration
from .errors import (
    ConfigurationError,
    LeadershipLostError,
    NotLeaderError,
    RaftsimError,
    ShutdownError,
    UnhandledMessageError,
)
from .faults import Fault
from .future import Future
from .messages import AppendEntries, AppendResponse, Message, RequestVote, RpcFailure, VoteResponse
from .node import RaftNode
from .profile import P1, P2, P3, PROFILES, Profile
from .storage import Storage
from .timing import MS, SECOND, TimerModel, Timing
from .types import Configuration, ConfigurationState, Entry, EntryKind, Role, Server, Suffrage

__all__ = [
    "MS",
    "P1",
    "P2",
    "P3",
    "PROFILES",
    "SECOND",
    "AppendEntries",
    "AppendResponse",
    "ChangeCommand",
    "Configuration",
    "ConfigurationError",
    "ConfigurationState",
    "Entry",
    "EntryKind",
    "Fault",
    "Future",
    "LeadershipLostError",
    "Message",
    "NotLeaderError",
    "Profile",
    "RaftNode",
    "RaftsimError",
    "RequestVote",
    "Role",
    "RpcFailure",
    "Server",
    "ShutdownError",
    "Storage",
    "Suffrage",
    "TimerModel",
    "Timing",
    "UnhandledMessageError",
    "VoteResponse",
    "check_configuration",
    "next_configuration",
]
