"""When an idle cluster is at rest (ring 1): the precondition every fast-forward jump
checks first (fastforward.py), in the servers' and the leader's state.

At rest (`at_rest`): one leader L, up; every other server of L's latest configuration up,
following L in L's term with exactly L's log and commit index; every server outside it down,
or up with a polled timer that does nothing but re-arm (`idle_outside`: it knows no leader
and would not campaign: a removed server under P3, or one that knows its removal committed,
or a new server not added yet); everything committed, no client request or membership
change waiting, every loop idle (no failures, no backoff, no call outstanding); no cut or
partition, no loss, no duplication; the hashicorp timer model, with heartbeats fast enough
(heartbeat_max + 2 max latency < min(HT, LLT)) that no follower timer and no lease check
can act. What the heap holds (no message in flight, nothing but Raft timers before the
jump's end) the jumper checks itself; a failure notice there is no work when it would do
nothing whenever it came due (`idle_notice`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.messages import RpcFailure
from ..core.node import FOLLOWER, LEASE, RaftNode
from ..core.timing import TimerModel
from ..core.types import Role
from .server import DOWN, UP, SimServer

if TYPE_CHECKING:
    from .cluster import Cluster

Resting = tuple[SimServer, RaftNode]  # a running server at rest, and its node


def at_rest(cluster: Cluster) -> tuple[SimServer, list[Resting], list[Resting]] | None:
    """The leader, its followers (in ID order) and the running servers outside its
    configuration, each with its node, if the cluster is at rest (module docstring)."""
    timing = cluster.timing
    if timing.model is not TimerModel.HASHICORP or cluster.network.blocked:
        return None  # (paper timers are re-armed by every heartbeat: not modelled here)
    if min(timing.heartbeat_min, timing.commit_timeout) <= 0:
        return None
    leader: SimServer | None = None
    for server in cluster.servers.values():
        node = server.node
        if server.status == DOWN:
            continue  # (a member of the configuration is checked below)
        if server.status != UP or node is None or node.role is Role.CANDIDATE:
            return None
        if node.role is Role.LEADER:
            if leader is not None:
                return None
            leader = server
    if leader is None or leader.node is None:
        return None
    node = leader.node
    state = node.leader_state
    if state is None or state.stepping_down or state.inflight or state.changes:
        return None
    log = node.storage.log
    last = node.storage.last_index
    if node.commit_index != last or not log:
        return None
    ids = set(node.latest.ids())
    ids.discard(node.id)
    if ids != state.followers.keys():
        return None
    outsiders: list[Resting] = []
    for other_server in cluster.servers.values():
        outsider = other_server.node
        if other_server is leader or outsider is None or outsider.id in ids:
            continue
        if outsider.role is not Role.FOLLOWER or not idle_outside(outsider):
            return None
        outsiders.append((other_server, outsider))
    if len(node.armed()) != 1 + 2 * len(ids) or node.timer_token(LEASE) is None:
        return None
    lat = 0
    servers: list[Resting] = []
    for peer in sorted(ids):
        found = cluster.server_by_id(peer)
        other = found.node if found is not None else None
        if found is None or other is None or other.role is not Role.FOLLOWER:
            return None
        if other.storage.current_term != state.term or other.leader_id != node.id:
            return None
        if other.commit_index != last or other.storage.log[-1:] != log[-1:]:
            return None
        if other.storage.last_index != last or len(other.armed()) != 1:
            return None
        f = state.followers[peer]
        if f.next_index != last + 1 or f.match_index != last or f.stop_at:
            return None
        if f.hb_rpc or f.repl_rpc or f.hb_failures or f.repl_failures or f.backing_off:
            return None  # a loop is busy, backing off or retrying
        if f.triggered:
            return None
        for c in (
            cluster.network.conditions(leader.id, peer),
            cluster.network.conditions(peer, leader.id),
        ):
            if c.loss or c.duplicate:
                return None
            lat = max(lat, c.latency_max)
        servers.append((found, other))
    # Two heartbeats never arrive further apart than this (jitter waits heartbeat_min
    # when it exceeds heartbeat_max), so no follower timer and no lease check can act.
    gap = max(timing.heartbeat_min, timing.heartbeat_max) + 2 * lat
    if gap >= min(timing.heartbeat_timeout, timing.leader_lease_timeout):
        return None
    return leader, servers, outsiders


def idle_outside(node: RaftNode) -> bool:
    """Does this server outside the leader's configuration do nothing but re-arm its polled
    timer (§3.3, `election.on_follower_timer`)? It knows no leader, has no other timer, and
    would not campaign: no configuration at all, a stable one without its vote, or (P3)
    none of the latest with its vote."""
    if node.leader_id or len(node.armed()) != 1 or node.timer_token(FOLLOWER) is None:
        return False
    if node.latest_index == 0:
        return True
    if node.latest.has_vote(node.id):
        return False
    return node.latest_index == node.committed_index or not node.profile.removed_follower_campaigns


def idle_notice(cluster: Cluster, failure: RpcFailure) -> bool:
    """Would this failure notice do nothing whenever it came due during a jump? It goes
    to the caller (eventloop.py `_notify`): a server that is down drops it, a follower
    drops it as a late reply (messages.py `REPLIES`), and a leader acts only on a call
    of one of its loops or of its leadership transfer with the notice's RPC number. A
    jump starts with no call outstanding and numbers its calls above every number the
    node has used (each incarnation numbers from its own base, above the last's), so a
    notice a quiescent leader does not wait for now it never will. Anything else (a
    candidate, a paused server) is not at rest anyway: such a notice counts as work."""
    server = cluster.server_by_id(failure.dst)
    if server is None:
        return False
    if server.status == DOWN:
        return True
    node = server.node
    if server.status != UP or node is None:
        return False
    if node.role is Role.FOLLOWER:
        return True
    state = node.leader_state
    if node.role is not Role.LEADER or state is None:
        return False
    if state.transfer is not None and state.transfer.rpc == failure.rpc:
        return False
    f = state.followers.get(failure.src)
    return f is None or failure.rpc not in (f.hb_rpc, f.repl_rpc)
