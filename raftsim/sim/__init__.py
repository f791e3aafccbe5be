"""Ring 1: the discrete-event simulation around the Raft core (standard library and core only)."""

from .checkers import SafetyChecker, Violation
from .cluster import Cluster, SafetyViolationError, ServerView, UnknownServerError, server_name
from .network import NOMAD_LAN, PAPER_LAN, LinkConditions, Network
from .timeparse import duration

__all__ = [
    "NOMAD_LAN",
    "PAPER_LAN",
    "Cluster",
    "LinkConditions",
    "Network",
    "SafetyChecker",
    "SafetyViolationError",
    "ServerView",
    "UnknownServerError",
    "Violation",
    "duration",
    "server_name",
]
