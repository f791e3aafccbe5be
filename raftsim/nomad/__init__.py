"""Ring 1b: what a Nomad server adds to Raft, in virtual time (imports only the standard
library, `raftsim.core` and `raftsim.sim`): Serf-like membership, the leader's reconcile
loop, graceful and forced leave, and RPC routing with stale reads, forwarding to the leader
and the no-leader hold. `NomadCluster` is the entry point.
"""

from .agent import NomadServer
from .cluster import NomadCluster
from .endpoints import Request
from .errors import NO_LEADER, NO_REGION_PATH, Kind, NomadError, ServerGoneError, go_quote
from .serf import ALIVE, FAILED, LEAVING, LEFT, MemberInfo, SerfAgent
from .version import (
    NOMAD_0_5_6,
    NOMAD_0_8_7,
    NOMAD_1_2_13,
    VERSIONS,
    NomadTiming,
    NomadVersion,
    SerfTiming,
)

__all__ = [
    "ALIVE",
    "FAILED",
    "LEAVING",
    "LEFT",
    "NOMAD_0_5_6",
    "NOMAD_0_8_7",
    "NOMAD_1_2_13",
    "NO_LEADER",
    "NO_REGION_PATH",
    "VERSIONS",
    "Kind",
    "MemberInfo",
    "NomadCluster",
    "NomadError",
    "NomadServer",
    "NomadTiming",
    "NomadVersion",
    "Request",
    "SerfAgent",
    "SerfTiming",
    "ServerGoneError",
    "go_quote",
]
