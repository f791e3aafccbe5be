"""Which Nomad release the simulated servers emulate, and the Nomad, Serf and memberlist
settings that come with it (ring 1b). Data, not code paths: the HTTP layer and the RPC layer
ask a `NomadVersion` yes/no questions, as the Raft core asks its `Profile`.

Only Nomad 0.5.6 (Raft profile P1) exists so far; spec/nomad-api.md's version table says what
a later profile would change (`?stale` parsing from 1.5, removal by `?id=` from 0.8, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.profile import P1, Profile
from ..core.timing import MS, SECOND

MINUTE = 60 * SECOND
HOUR = 60 * MINUTE


@dataclass(frozen=True, slots=True)
class NomadVersion:
    """The version-dependent behaviours of one emulated Nomad release."""

    version: str
    profile: Profile
    # spec §1 step 3: before 1.5 the mere presence of `stale` means a stale read.
    stale_by_presence: bool
    # spec §1 "Wrong method": `/v1/operator/raft/peer` answers 405 (0.5.5-0.7.x), 404 (0.8+).
    peer_wrong_method_status: int
    # spec §2.1: `RaftProtocol` in the configuration (0.8+).
    raft_protocol_field: bool
    # spec §2.8: Serf tags `vsn` and `mvn` (structs.ApiMajorVersion / ApiMinorVersion).
    api_major: int
    api_minor: int


NOMAD_0_5_6 = NomadVersion(
    version="0.5.6",
    profile=P1,
    stale_by_presence=True,
    peer_wrong_method_status=405,
    raft_protocol_field=False,
    api_major=1,
    api_minor=1,
)
VERSIONS = {v.version: v for v in (NOMAD_0_5_6,)}


@dataclass(frozen=True, slots=True)
class NomadTiming:
    """Nomad server settings (`nomad/config.go` DefaultConfig, `nomad/rpc.go`, `server.go`)."""

    rpc_hold_timeout: int = 5 * SECOND  # spec §3.1 RPCHoldTimeout
    jitter_fraction: int = 16  # spec §3.1: re-check after U[0, RPCHoldTimeout/16)
    reconcile_interval: int = 60 * SECOND  # spec §3.2 ReconcileInterval
    raft_remove_grace: int = 5 * SECOND  # raft-semantics §2.7 raftRemoveGracePeriod
    leave_poll: int = 50 * MS  # raft-semantics §2.7: a leaving follower polls every 50 ms
    reconcile_queue: int = 32  # reconcileCh's buffer; further events are dropped


@dataclass(frozen=True, slots=True)
class SerfTiming:
    """Nomad servers gossip with memberlist's WAN profile (`nomad/config.go`:
    `memberlist.DefaultWANConfig()`), and Serf's own timers."""

    probe_interval: int = 5 * SECOND
    probe_timeout: int = 3 * SECOND
    indirect_checks: int = 3
    suspicion_mult: int = 6
    suspicion_max_timeout_mult: int = 6  # Lifeguard
    gossip_interval: int = 500 * MS
    gossip_nodes: int = 4
    gossip_to_the_dead: int = 60 * SECOND
    retransmit_mult: int = 4
    push_pull_interval: int = 60 * SECOND
    reconnect_interval: int = 30 * SECOND  # Serf: try to rejoin a failed member
    # Nomad raises Serf's ReconnectTimeout to 3 days ("Increase our reap interval to 3 days
    # instead of 24h", nomad/config.go since 0.5); spec §3.2 quotes Serf's own 24 h default.
    reconnect_timeout: int = 72 * HOUR
    tombstone_timeout: int = 24 * HOUR  # left members are reaped after 24 h
    broadcast_timeout: int = 5 * SECOND  # Serf BroadcastTimeout (force-leave, leave)
