"""One Nomad server process on top of one simulated Raft server (ring 1b): its Serf agent,
its leader loop, and the routing of every RPC an HTTP request becomes (spec nomad-api.md
§3.1, `nomad/rpc.go` forward at v0.5.6).

Routing, in order: a region other than the server's own has no path (there is one region);
a stale read runs here; the leader runs everything itself (from Nomad 0.10 only once its
leader loop has established leadership, else it holds the request as below and ends with
`Not ready to serve consistent reads`); a follower forwards to the leader
its Raft knows, if Serf lists that server alive, as a simulated message (`cluster.transmit`),
and prefixes the leader's errors with `rpc error: `; with no usable leader it holds the
request, re-checking after U[0, 5 s/16) until 5 s have passed, then answers
`No cluster leader`. A `NomadServer` lives as long as its process: a crash drops it, failing
the requests that entered through it (their connections close) and, with `rpc error: EOF`,
the forwarded requests it was serving for others.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

from ..core.configuration import ChangeCommand
from ..core.errors import RaftsimError
from ..core.future import Future
from ..core.node import RaftNode
from ..core.types import Role
from ..sim.clock import Timer
from ..sim.cluster import PAUSED
from . import autopilot, endpoints, transfer
from .acl import Capability
from .endpoints import JSON, Request
from .errors import (
    NO_LEADER,
    NO_REGION_PATH,
    NOT_READY,
    RPC_PREFIX,
    NomadError,
    ServerGoneError,
    is_coded,
)
from .events import MemberChanged, RequestAnswered, RequestReceived
from .process import Body, Process, Wait
from .serf import Member, MemberInfo, SerfAgent

if TYPE_CHECKING:
    from .cluster import NomadCluster
    from .leader import LeaderLoop

Reply = Callable[[JSON, RaftsimError | None], None]
# spec §1 "ACL capabilities": what each autopilot RPC needs, checked after forwarding.
AUTOPILOT = {
    "Operator.AutopilotGetConfiguration": Capability.OPERATOR_READ,
    "Operator.AutopilotSetConfiguration": Capability.OPERATOR_WRITE,
    "Operator.ServerHealth": Capability.OPERATOR_READ,
}
_tokens = itertools.count(1)


def new_token() -> int:
    """A process-wide unique number naming one pending request."""
    return next(_tokens)


def dial_error(address: str, reason: str, refused: str = "getsockopt: connection refused") -> str:
    """The connection pool's error for a failed call to `address`; `refused` is how the
    release's Go words a refused dial (`NomadVersion.dial_refused`)."""
    if reason == "connection refused":
        return f"failed to get conn: dial tcp {address}: {refused}"
    if reason == "i/o timeout":
        return f"failed to get conn: dial tcp {address}: i/o timeout"
    return "EOF"  # the server died with the call in flight: its socket closed


class NomadServer:
    """The Nomad layer of one running server; see the module docstring."""

    def __init__(self, nomad_cluster: NomadCluster, name: str) -> None:
        self.nomad_cluster = nomad_cluster
        self.name = name
        self.sim = nomad_cluster.cluster.servers[name]
        self.address = self.sim.address
        self.version = nomad_cluster.version
        self.region = nomad_cluster.region
        self.datacenter = nomad_cluster.datacenter
        self.stopped = False
        self.rng = nomad_cluster.cluster.streams.get(f"nomad/rpc/{name}")
        info = nomad_cluster.info(name)
        assert info is not None
        self.serf = SerfAgent(
            self,
            info,
            nomad_cluster.serf_timing,
            nomad_cluster.cluster.streams.get(f"nomad/serf/{name}"),
        )
        self.leader_loop: LeaderLoop | None = None
        self.processes: list[Process] = []
        self.api_requests: dict[int, Reply] = {}  # requests that came in through this server's API
        self.inbound: dict[int, Callable[[], None]] = {}  # forwarded requests served here

    # ------------------------------------------------------------ host services

    @property
    def now(self) -> int:
        return self.nomad_cluster.cluster.sched.now

    @property
    def node(self) -> RaftNode:
        node = self.sim.node
        assert node is not None, f"{self.name} has no running Raft node"
        return node

    def after(self, delay: int, fn: Callable[[], None]) -> Timer:
        """Run fn after `delay` µs on this process: never once it stopped, later if paused,
        not at all if the returned timer is cancelled first."""
        sched = self.nomad_cluster.cluster.sched

        def fire(_: object = None) -> None:
            if self.stopped:
                return
            if self.sim.status == PAUSED:
                self.sim.defer(fire)
                return
            fn()

        return sched.timer(sched.now + delay, fire)

    def send(self, dst: str, msg: tuple[object, ...]) -> None:
        self.nomad_cluster.gossip(self.name, dst, msg)

    def info(self, server: str) -> MemberInfo | None:
        return self.nomad_cluster.info(server)

    def on_member_event(self, kind: str, member: Member) -> None:
        """Serf events: Nomad's leader queues join, leave and reap for reconciliation."""
        status = "reaped" if kind == "reap" else member.status
        changed = MemberChanged(self.now, self.name, member.info.name, kind, status)
        self.nomad_cluster.cluster.record(changed)
        self.nomad_cluster.log(
            self.name, f"serf: EventMember{kind.capitalize()}: {member.info.name}"
        )
        if self.leader_loop is not None and kind in ("join", "leave", "reap"):
            self.leader_loop.enqueue(kind, member)

    def spawn(self, body: Body) -> Process:
        self.processes = [p for p in self.processes if p.alive]
        process = Process(self, body)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        """The process died: nothing of it runs again; its callers find out."""
        self.stopped = True
        if self.leader_loop is not None:
            self.leader_loop.stop()
        for process in self.processes:
            process.stop()
        waiting, self.api_requests = self.api_requests, {}
        for reply in waiting.values():
            reply(None, ServerGoneError(self.name))
        inbound, self.inbound = self.inbound, {}
        for fail in inbound.values():
            fail()

    # ------------------------------------------------------------ Raft changes

    def raft_change(self, command: ChangeCommand, address: str) -> Generator[Wait, object, Future]:
        """A membership change of the server with this Raft address or ID (AddPeer/
        RemovePeer, RemoveServer) through this server's Raft, waiting for the result."""
        target = self.nomad_cluster.name_of_address(address) or address
        try:
            future = self.nomad_cluster.cluster.change(command, target, via=self.name)
        except RaftsimError as error:
            future = Future()
            future.fail(error)
            return future
        yield future
        return future

    # ------------------------------------------------------------ RPC routing

    def entered(self, method: str, reply: Reply) -> Reply:
        """A request entered through this server's HTTP API: keep it (a crash closes its
        connection), report it, and return what answers it (once, reported too)."""
        token = new_token()
        cluster = self.nomad_cluster.cluster
        listeners = self.nomad_cluster.api_listeners
        received = RequestReceived(self.now, self.name, method)
        cluster.record(received)
        for listener in listeners:
            listener(received)

        def done(result: JSON, error: RaftsimError | None) -> None:
            if self.api_requests.pop(token, None) is not None:
                text = "" if error is None else str(error)
                answered = RequestAnswered(self.now, self.name, method, text)
                cluster.record(answered)
                for listener in listeners:
                    listener(answered)
                reply(result, error)

        self.api_requests[token] = reply
        return done

    def accept(self, request: Request, reply: Reply) -> None:
        """An RPC request entering through this server's HTTP API."""
        self.handle(request, self.entered(request.method, reply))

    def handle(self, request: Request, reply: Reply, first_check: int | None = None) -> None:
        """nomad/rpc.go forward(), then the endpoint (spec §3.1)."""
        if self.stopped:
            return
        if request.region != self.region:
            reply(None, NomadError(NO_REGION_PATH))
            return
        if request.is_read and request.stale:
            self._run_local(request, reply)
            return
        leading = self.node.role is Role.LEADER
        if leading and self.ready_for_consistent_reads():
            self._run_local(request, reply)
            return
        leader = None if leading else self.known_leader()
        if leader is not None:
            self._forward(leader, request, reply)
            return
        now = self.now
        start = now if first_check is None else first_check
        timing = self.nomad_cluster.timing
        if now - start < timing.rpc_hold_timeout:
            jitter = int(self.rng.random() * (timing.rpc_hold_timeout // timing.jitter_fraction))
            self.after(jitter, lambda: self.handle(request, reply, start))
            return
        reply(None, NomadError(NOT_READY if leading else NO_LEADER))

    def ready_for_consistent_reads(self) -> bool:
        """Whether this leader may run requests (spec §3.1): always before 0.10; from 0.10
        once its leader loop's barrier has committed in this term (setConsistentReadReady),
        until leadership is lost (resetConsistentReadReady)."""
        if not self.version.consistent_read_gate:
            return True
        loop = self.leader_loop
        return loop is not None and loop.established

    def known_leader(self) -> str | None:
        """The leader Raft knows, if Serf lists it alive (Nomad's localPeers lookup)."""
        address = self.node.leader_address
        if not address:
            return None
        for member in self.serf.alive_members():
            if endpoints.raft_address(member) == address:
                return member.info.server
        return None

    def _forward(self, leader: str, request: Request, reply: Reply) -> None:
        address = self.nomad_cluster.cluster.servers[leader].address

        def failed(reason: str) -> None:
            text = dial_error(address, reason, self.version.dial_refused)
            self.after(0, lambda: reply(None, NomadError(RPC_PREFIX + text)))

        def arrived() -> None:
            target = self.nomad_cluster.servers.get(leader)
            if target is None:
                failed("connection reset by peer")
                return
            target.serve(self, request, reply)

        self.nomad_cluster.cluster.transmit(self.name, leader, arrived, failed)

    def serve(self, caller: NomadServer, request: Request, reply: Reply) -> None:
        """Run a request forwarded by `caller`, then carry the answer back to it."""
        token = new_token()
        cluster = self.nomad_cluster.cluster

        def answer(result: JSON, error: RaftsimError | None) -> None:
            if self.inbound.pop(token, None) is None:
                return

            def arrived() -> None:
                if caller.stopped:
                    return
                if error is None:
                    reply(result, None)
                elif self.version.coded_rpc_errors and is_coded(error):
                    reply(None, error)  # 0.11+: `RPC Error:: code,text` crosses unwrapped
                else:
                    reply(None, NomadError(RPC_PREFIX + str(error)))

            def lost(reason: str) -> None:
                caller.after(0, lambda: reply(None, NomadError(RPC_PREFIX + reason)))

            cluster.transmit(self.name, caller.name, arrived, lost)

        def closed() -> None:
            # This server died mid-call: the caller's read ends with EOF half a round trip on.
            delay = cluster.network.round_trip(self.sim.id, caller.sim.id) // 2
            caller.after(delay, lambda: reply(None, NomadError(RPC_PREFIX + "EOF")))

        self.inbound[token] = closed
        self.handle(request, answer)

    def _run_local(self, request: Request, reply: Reply) -> None:
        node = self.node
        method = request.method
        if method in endpoints.MANAGEMENT:
            # On the server the request runs on (the leader, or this one for a stale read):
            # routing has already answered `No cluster leader` where there is none.
            refused = self.nomad_cluster.acl.check(
                request.token, Capability.MANAGEMENT, authenticates=True
            )
            if refused is not None:
                reply(None, refused)
                return
        if method in AUTOPILOT and self.version.autopilot:
            refused = self.nomad_cluster.acl.check(
                request.token, AUTOPILOT[method], authenticates=True
            )
            if refused is not None:
                reply(None, refused)
                return
            if method == "Operator.AutopilotSetConfiguration":
                self.spawn(self._set_autopilot(request, reply))
                return
            try:
                if method == "Operator.AutopilotGetConfiguration":
                    result = autopilot.get_configuration(self)
                else:
                    result = autopilot.server_health(self)
            except NomadError as error:
                reply(None, error)
                return
            reply(result, None)
        elif method == "Status.Leader":
            reply(endpoints.status_leader(node), None)
        elif method == "Status.Peers":
            reply(endpoints.status_peers(node), None)
        elif method == "Operator.RaftGetConfiguration":
            reply(endpoints.raft_configuration(self, node), None)
        elif method == "Operator.RaftRemovePeerByAddress":
            self.spawn(self._remove_peer(request, reply))
        elif method == "Operator.RaftRemovePeerByID" and self.version.peer_removal_by_id:
            self.spawn(self._remove_peer_by_id(request, reply))
        elif method == "Operator.TransferLeadershipToPeer" and self.version.transfer_leadership:
            self.spawn(self._transfer_leadership(request, reply))
        else:
            reply(None, NomadError(f"rpc: can't find method {method}"))

    def _set_autopilot(self, request: Request, reply: Reply) -> Body:
        assert isinstance(request.config, autopilot.AutopilotConfig)
        try:
            result = yield from autopilot.set_configuration(
                self, request.config, request.cas, request.hold
            )
        except NomadError as error:
            reply(None, error)
            return
        reply(result, None)

    def _remove_peer(self, request: Request, reply: Reply) -> Body:
        try:
            yield from endpoints.remove_peer(self, self.node, request.address, request.hold)
        except NomadError as error:
            self.nomad_cluster.log(
                self.name, f"nomad.operator: Failed to remove Raft peer: {error}"
            )
            reply(None, error)
            return
        self.nomad_cluster.log(self.name, f"nomad.operator: Removed Raft peer {request.address!r}")
        reply(None, None)

    def _transfer_leadership(self, request: Request, reply: Reply) -> Body:
        try:
            result = yield from transfer.transfer_leadership(self, self.node, request)
        except NomadError as error:
            self.nomad_cluster.log(
                self.name, f"nomad.operator: failed transferring leadership: {error}"
            )
            reply(None, error)
            return
        self.nomad_cluster.log(self.name, "nomad: successfully transferred leadership")
        reply(result, None)

    def _remove_peer_by_id(self, request: Request, reply: Reply) -> Body:
        try:
            yield from endpoints.remove_peer_by_id(self, self.node, request.id, request.hold)
        except NomadError as error:
            self.nomad_cluster.log(
                self.name,
                f"nomad.operator: Failed to remove Raft peer with id {request.id!r}: {error}",
            )
            reply(None, error)
            return
        self.nomad_cluster.log(
            self.name, f"nomad.operator: Removed Raft peer with id {request.id!r}"
        )
        reply(None, None)
