"""The leader's loop and the graceful leave of a Nomad server, as processes in virtual time
(ring 1b), after `nomad/leader.go` and `nomad/server.go` at v0.5.6.

Leader loop (spec nomad-api.md §3.2): a Raft barrier, then a full reconcile of every Serf
member against the Raft configuration; then, until leadership is lost, the members queued
by Serf events one by one, and a full reconcile again every 60 s. An `alive` server missing
from Raft is added back (AddPeer by address), a `left` or reaped one is removed, a `failed`
one is left alone: so a server removed with `remove-peer` while Serf still sees it alive
comes back at the next reconcile.

Graceful leave (raft-semantics §2.7, Nomad `Server.Leave()`): a leader with other peers
removes itself from Raft first; then the server leaves Serf; a follower then waits up to 5 s,
polling every 50 ms, for its address to leave the configuration; then the process exits.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..core.configuration import ChangeCommand
from ..core.errors import RaftsimError
from ..core.future import Future
from ..core.types import Role
from .autopilot import AutopilotConfig
from .autopilot_loop import AutopilotLoop
from .endpoints import min_raft_protocol
from .process import Body, Process, Signal, Sleep, Step, WaitFor
from .serf import ALIVE, LEFT, Member, MemberInfo

if TYPE_CHECKING:
    from .agent import NomadServer

REAP = "reap"  # Nomad's StatusReap: a member Serf erased


class LeaderLoop:
    """Nomad's leaderLoop for one term of leadership of one server."""

    def __init__(self, server: NomadServer, term: int) -> None:
        self.server = server
        self.term = term
        self.queue: deque[tuple[str, MemberInfo]] = deque()
        self.signal = Signal()
        # establishLeadership has run (its first barrier committed): from Nomad 0.10 the
        # leader serves requests only from then on (agent.ready_for_consistent_reads).
        self.established = False
        self.autopilot: AutopilotLoop | None = None
        self.process = Process(server, self._run())

    def enqueue(self, kind: str, member: Member) -> None:
        """A Serf event reaches reconcileCh (buffered: further events are dropped)."""
        if len(self.queue) < self.server.nomad_cluster.timing.reconcile_queue:
            self.queue.append((REAP if kind == REAP else member.status, member.info))
            self.signal.set()

    def stop(self) -> None:
        self.process.stop()
        if self.autopilot is not None:
            self.autopilot.stop()

    def _run(self) -> Body:
        server = self.server
        while True:
            due = server.now + server.nomad_cluster.timing.reconcile_interval
            ok = yield from self._barrier()
            if ok and not self.established:
                self.established = True
                self._autopilot_defaults()
                server.nomad_cluster.log(server.name, "nomad: cluster leadership acquired")
                if server.version.autopilot:
                    # establishLeadership's autopilot.Start (0.8+): stopped with this loop.
                    self.autopilot = AutopilotLoop(server)
            if ok:
                ok = yield from self._reconcile()
            while True:  # WAIT: member events (only once a reconcile worked), or the interval
                if ok and self.queue:
                    status, info = self.queue.popleft()
                    yield from self._reconcile_member(status, info)
                    continue
                if server.now >= due:
                    break
                yield WaitFor(self.signal, due - server.now)

    def _autopilot_defaults(self) -> None:
        """establishLeadership's getOrCreateAutopilotConfig (0.8+): the defaults, once; the
        barrier just committed stands for the index of Nomad's own write."""
        server = self.server
        cluster = server.nomad_cluster
        if server.version.autopilot and cluster.autopilot is None:
            index = server.node.storage.last_index
            cluster.autopilot = AutopilotConfig(create_index=index, modify_index=index)

    def _barrier(self) -> Step:
        """raft.Barrier: an entry of this term, committed and applied."""
        server = self.server
        try:
            future = server.nomad_cluster.cluster.propose("barrier", via=server.name)
        except RaftsimError:
            return False
        yield future
        return future.error is None

    def _reconcile(self) -> Step:
        members = sorted(self.server.serf.members.values(), key=lambda m: m.info.name)
        for member in members:
            ok = yield from self._reconcile_member(member.status, member.info)
            if not ok:
                return False
        return True

    def _reconcile_member(self, status: str, info: MemberInfo) -> Step:
        server = self.server
        if info.tag("role") != "nomad" or info.tag("region") != server.region:
            return True
        address = f"{info.addr}:{info.tag('port')}"
        if min_raft_protocol(server) >= 3:
            return (yield from self._reconcile_by_id(status, info, address))
        if status == ALIVE:
            # "Do not join ourself"; and no Raft entry for a server already there.
            if info.server == server.name or self._present(address):
                return True
            command, verb = ChangeCommand.ADD_VOTER, "added"
        elif status in (LEFT, REAP):
            if not self._present(address):
                return True
            command, verb = ChangeCommand.REMOVE_SERVER, "removed"
        else:
            return True  # failed (or leaving): the server stays a voter (spec §3.2)
        return (
            yield from self._change(
                command, address, f"{verb} raft peer {address} ({info.name})", info
            )
        )

    def _reconcile_by_id(self, status: str, info: MemberInfo, address: str) -> Step:
        """spec §3.2 with the lowest alive Raft protocol >= 3 (addRaftPeer/removeRaftPeer):
        servers are Raft entries by their node ID (the Serf `id` tag). An alive server
        missing is added as a non-voter, for autopilot to promote (§3.3), after any entry
        holding its address under another ID, or its ID at another address, is removed; a
        left or reaped one is removed by its ID."""
        server = self.server
        node = server.sim.node
        entries = node.latest.servers if node is not None else ()
        server_id = info.tag("id") or ""
        if status == ALIVE:
            if info.server == server.name:
                return True
            if any(s.id == server_id and s.address == address for s in entries):
                return True
            clashes = [s for s in entries if (s.address == address) != (s.id == server_id)]
            for entry in clashes:
                ok = yield from self._change(
                    ChangeCommand.REMOVE_SERVER,
                    entry.id,
                    f"removed raft peer {entry.id}"
                    f" ({entry.address}), which clashes with {info.name}",
                    info,
                )
                if not ok:
                    return False
            text = f"added raft peer {server_id} ({address}, {info.name}) as a non-voter"
            return (yield from self._change(ChangeCommand.ADD_NONVOTER, server_id, text, info))
        if status in (LEFT, REAP):
            if all(s.id != server_id for s in entries):
                return True
            text = f"removed raft peer {server_id} ({address}, {info.name})"
            return (yield from self._change(ChangeCommand.REMOVE_SERVER, server_id, text, info))
        return True  # failed (or leaving): the server stays in Raft (spec §3.2)

    def _change(self, command: ChangeCommand, target: str, done: str, info: MemberInfo) -> Step:
        server = self.server
        future = yield from server.raft_change(command, target)
        if future.error is not None:
            server.nomad_cluster.log(
                server.name, f"nomad: failed to reconcile member {info.name}: {future.error}"
            )
            return False
        server.nomad_cluster.log(server.name, f"nomad: {done}")
        return True

    def _present(self, address: str) -> bool:
        node = self.server.sim.node
        return node is not None and any(s.address == address for s in node.latest.servers)


def leave(server: NomadServer, done: Callable[[], None]) -> Body:
    """Nomad Server.Leave(), then the process exits through `done`."""
    timing = server.nomad_cluster.timing
    node = server.node
    is_leader = node.role is Role.LEADER
    if is_leader and len(node.latest.servers) > 1:
        future: Future = yield from server.raft_change(ChangeCommand.REMOVE_SERVER, server.address)
        if future.error is not None:
            server.nomad_cluster.log(
                server.name, f"nomad: failed to remove ourself as raft peer: {future.error}"
            )
    left = Signal()
    server.serf.leave(left.set)
    yield WaitFor(left, server.nomad_cluster.serf_timing.broadcast_timeout)
    if not is_leader:
        deadline = server.now + timing.raft_remove_grace
        while server.now < deadline:
            yield Sleep(timing.leave_poll)
            node_now = server.sim.node
            servers = node_now.latest.servers if node_now is not None else ()
            if all(s.address != server.address for s in servers):
                break
        else:
            server.nomad_cluster.log(
                server.name, "nomad: failed to leave raft configuration gracefully"
            )
    # Exit outside this generator: the crash stops every process of the server, this one too.
    sched = server.nomad_cluster.cluster.sched
    sched.at(sched.now, lambda _: done())
