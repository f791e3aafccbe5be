"""Which Nomad release the simulated servers emulate, and the Nomad, Serf and memberlist
settings that come with it (ring 1b). Data, not code paths: the HTTP layer and the RPC layer
ask a `NomadVersion` yes/no questions, as the Raft core asks its `Profile`.

Five releases, one per Raft protocol line and API landmark that the HTTP API differs in
(spec nomad-api.md's version landmarks; raft-semantics §0), each the last patch release of its
line that runs the hashicorp/raft revision the line's profile describes:

* 0.5.6: Raft protocol 1 (P1), hashicorp/raft aaad9f1;
* 0.8.7: the last 0.8 release; protocol 2, hashicorp/raft 077966d (January 2018), which
  still answers GetConfiguration from its main loop, so `Index` is the latest index;
* 1.2.13: protocol 2 on hashicorp/raft v1.1.3-pre 365023de (`Index` always 0), exactly the
  core's P2. It is the last 1.2 release on that revision: 1.2.14-1.2.16 moved to raft
  v1.3.11, whose removed servers stay quiet and whose voters check candidates' membership
  (raft-semantics §2.8-2.9): another core behaviour, for another profile.
* 1.10.0: Raft protocol 3 only, server IDs are node UUIDs, hashicorp/raft v1.7.3 with
  pre-vote (core profile P4); `Authorization: Bearer`, `?stale` read as a boolean, the
  transfer-leadership endpoint, `hashicorp/raft-autopilot`; removal by `?address=` still
  parsed, and refused by Raft (`operation not supported with current protocol version`).
* 1.10.1: the same, except that the handler refuses `?address=` itself with a 400. It
  stands for every later 1.10 patch release: nothing on these endpoints changed after it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..core.profile import P1, P2, P4, Profile
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
    # spec §1 "Wrong method": `/v1/operator/raft/peer` answers 405 with an empty body
    # (0.5.5-0.7.x), 404 `Invalid method` (0.8+).
    peer_wrong_method_status: int
    # spec §2.1: `RaftProtocol` in the configuration (0.8+).
    raft_protocol_field: bool
    # spec §2.8: Serf tags `vsn` and `mvn` (structs.ApiMajorVersion / ApiMinorVersion).
    api_major: int
    api_minor: int
    # The hashicorp/raft revision the release vendors (for people: banner, README).
    raft_library: str = "hashicorp/raft aaad9f1"
    # spec §2.2: `?id=` or `?address=` (exactly one) from 0.8.0; only `?address=` before.
    peer_removal_by_id: bool = False
    # The ServeMux pattern of OperatorRequest (command/agent/http.go): `/v1/operator/` in
    # 0.5.x, `/v1/operator/raft/` from 0.8.0, when autopilot got paths of its own.
    operator_prefix: str = "/v1/operator/"
    # spec §2.8: from 0.8.0 servers also advertise `raft_vsn`, `id` and `rpc_addr`
    # (nomad/server.go setupSerf at v0.8.7 and v1.2.13).
    serf_node_tags: bool = False
    # Serf's delegate protocol range top (serf.ProtocolVersionMax): 4 in the Serf vendored
    # by 0.5.6, 5 from the one vendored by 0.8.0 on.
    serf_delegate_max: int = 4
    # /v1/agent/members parses the query as any read (s.parse: 400 on a bad `wait` or
    # `index`) from 0.8.0; 0.5.x's handler read no parameter.
    members_parses_query: bool = False
    # How Go words a refused dial: "getsockopt: connection refused" up to Go 1.10 (0.5.6,
    # 0.8.7), "connect: connection refused" from Go 1.11 (1.2.13 is built with Go 1.19).
    dial_refused: str = "getsockopt: connection refused"
    # spec §3.1 step 4 (0.10+): a leader runs a request only once its leader loop has
    # established leadership (barrier committed: setConsistentReadReady); before that it
    # holds the request like a server without a leader, then `Not ready to serve ...`.
    consistent_read_gate: bool = False
    # spec §1 "ACL capabilities" (0.7+): the release has ACLs (`--acl` may enable them), its
    # agent reads `X-Nomad-Token`, and `wrap` makes an uncoded error ending in `Permission
    # denied` or `ACL token not found` a 403 with just that text (command/agent/http.go).
    acls: bool = False
    # spec §2.4, §2.5 (0.8+): the autopilot endpoints under /v1/operator/autopilot/.
    autopilot: bool = False
    # spec §2.4: `MinQuorum` in the autopilot configuration (0.11+).
    autopilot_min_quorum: bool = False
    # time.ParseDuration's errors quote the input from Go 1.15 (1.2.13 is built with 1.19).
    go_quotes_durations: bool = False
    # spec §1 step 2 (1.4+): `Authorization: Bearer <token>` when X-Nomad-Token is absent.
    bearer_token: bool = False
    # spec §1 step 3 (1.8+ text): a `stale` value that is not a Go bool is a 400.
    stale_must_be_bool: bool = False
    # spec §1 step 4 (1.8+): a `per_page` that is not a number is a 400.
    per_page_checked: bool = False
    # spec §1 "ACL capabilities" (1.5+): an unknown secret is `Permission denied`, not
    # `ACL token not found`.
    unknown_token_denied: bool = False
    # spec §2.2 (1.10.1+): any `?address=` key is a 400; `?id=` is required.
    peer_removal_by_address: bool = True
    # spec §2.3 (1.7+): PUT|POST /v1/operator/raft/transfer-leadership.
    transfer_leadership: bool = False
    # spec §2.8 (1.3+): Serf tags `build`, `revision`, then `vsn` "1" (no `mvn`): setupSerf
    # in 1.3+. `revision` is the Git commit the binary was linked with, empty for a build
    # from source without Nomad's ldflags, which is what the simulated servers are.
    serf_revision_tag: bool = False
    # spec §1 "Error bodies" rule 2 and "Forwarding prefix" (0.11+): a coded RPC error
    # keeps its status and text through forwarding (no `rpc error: ` prefix).
    coded_rpc_errors: bool = False
    # spec §3.3: the dead-server cleanup of Consul's autopilot library (0.8-1.3) or of
    # `hashicorp/raft-autopilot` (1.4+, a pass every 10 s).
    raft_autopilot: bool = False

    @property
    def raft_protocol(self) -> int:
        return self.profile.raft_protocol


NOMAD_0_5_6 = NomadVersion(
    version="0.5.6",
    profile=P1,
    stale_by_presence=True,
    peer_wrong_method_status=405,
    raft_protocol_field=False,
    api_major=1,
    api_minor=1,
)
NOMAD_0_8_7 = NomadVersion(
    version="0.8.7",
    # raft-semantics §2.10: GetConfiguration's Index is latestIndex up to raft v1.1.1.
    profile=replace(P2, nomad_versions="0.8.0-0.10.x", reports_configuration_index=True),
    stale_by_presence=True,
    peer_wrong_method_status=404,
    raft_protocol_field=True,
    api_major=1,
    api_minor=1,
    raft_library="hashicorp/raft 077966d",
    peer_removal_by_id=True,
    operator_prefix="/v1/operator/raft/",
    serf_node_tags=True,
    serf_delegate_max=5,
    members_parses_query=True,
    acls=True,
    autopilot=True,
)
NOMAD_1_2_13 = replace(
    NOMAD_0_8_7,
    version="1.2.13",
    profile=P2,
    raft_library="hashicorp/raft v1.1.3-pre 365023de",
    dial_refused="connect: connection refused",
    consistent_read_gate=True,
    autopilot_min_quorum=True,
    go_quotes_durations=True,
    coded_rpc_errors=True,
)
NOMAD_1_10_0 = replace(
    NOMAD_1_2_13,
    version="1.10.0",
    # Raft protocol 3 only (1.4+), on hashicorp/raft v1.7.3, with pre-vote (1.9+): P4.
    profile=P4,
    stale_by_presence=False,
    raft_library="hashicorp/raft v1.7.3",
    bearer_token=True,
    stale_must_be_bool=True,
    per_page_checked=True,
    unknown_token_denied=True,
    transfer_leadership=True,
    serf_revision_tag=True,
    raft_autopilot=True,
)
NOMAD_1_10_1 = replace(NOMAD_1_10_0, version="1.10.1", peer_removal_by_address=False)
VERSIONS = {
    v.version: v for v in (NOMAD_0_5_6, NOMAD_0_8_7, NOMAD_1_2_13, NOMAD_1_10_0, NOMAD_1_10_1)
}


@dataclass(frozen=True, slots=True)
class NomadTiming:
    """Nomad server settings (`nomad/config.go` DefaultConfig, `nomad/rpc.go`, `server.go`)."""

    rpc_hold_timeout: int = 5 * SECOND  # spec §3.1 RPCHoldTimeout
    jitter_fraction: int = 16  # spec §3.1: re-check after U[0, RPCHoldTimeout/16)
    reconcile_interval: int = 60 * SECOND  # spec §3.2 ReconcileInterval
    raft_remove_grace: int = 5 * SECOND  # raft-semantics §2.7 raftRemoveGracePeriod
    leave_poll: int = 50 * MS  # raft-semantics §2.7: a leaving follower polls every 50 ms
    reconcile_queue: int = 32  # reconcileCh's buffer; further events are dropped
    # spec §3.3 (nomad/config.go DefaultConfig): autopilot's pass (promotion, dead-server
    # cleanup) every AutopilotInterval; raft-autopilot (1.4+) refreshes the servers' health
    # every ServerHealthInterval.
    autopilot_interval: int = 10 * SECOND
    server_health_interval: int = 2 * SECOND


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
