"""`NomadCluster` (ring 1b): the Nomad servers around one simulated Raft `Cluster`, and the
one object the HTTP layer drives for everything Nomad adds to Raft.

It follows the cluster's events (`Cluster.listeners`): a crashed server loses its Nomad
process (Serf agent, leader loop, pending requests), a restarted or new one starts a fresh
process that rejoins Serf, and a server's change of role starts or stops its leader loop
(hashicorp/raft's leaderCh, read by Nomad's monitorLeadership) at the same virtual time. It
carries gossip as simulated messages and offers the operations as callbacks that fire in
virtual time, so the HTTP layer can await them. Everything here is
synchronous, uses the cluster's virtual clock and named random streams (`nomad/...`) only.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable

from ..core.errors import RaftsimError
from ..core.events import Event, RoleChanged
from ..core.types import Role
from ..sim.cluster import DOWN, PAUSED, UP, Cluster, server_name
from ..sim.events import ServerCrashed, ServerRestarted, ServerStarted
from ..sim.rng import derive_seed
from . import endpoints
from .acl import ACL, Capability
from .agent import NomadServer, Reply
from .autopilot import AutopilotConfig
from .endpoints import Hold, Request
from .errors import MISSING_NODE, Kind, NomadError, ServerGoneError
from .leader import LeaderLoop, leave
from .serf import MemberInfo
from .version import NOMAD_0_5_6, NomadTiming, NomadVersion, SerfTiming

GOSSIP_PORT = 4648


class NomadCluster:
    """The Nomad layer of a simulated cluster; see the module docstring."""

    def __init__(
        self,
        cluster: Cluster,
        version: NomadVersion = NOMAD_0_5_6,
        region: str = "global",
        datacenter: str = "dc1",
        timing: NomadTiming | None = None,
        serf_timing: SerfTiming | None = None,
        acl: ACL | None = None,
    ) -> None:
        if cluster.profile != version.profile:
            raise ValueError(
                f"Nomad {version.version} runs Raft profile {version.profile.name} as "
                f"{version.raft_library} has it, not the cluster's {cluster.profile.name} "
                f"({cluster.profile.nomad_versions})"
            )
        self.cluster = cluster
        self.version = version
        self.acl = acl or ACL()
        # The Raft-replicated autopilot configuration (0.8+), held for the cluster: see
        # autopilot.py; None until the first leader writes the defaults.
        self.autopilot: AutopilotConfig | None = None
        if self.acl.enabled and not version.acls:
            raise ValueError(f"Nomad {version.version} has no ACLs (they came with 0.7)")
        self.region = region
        self.datacenter = datacenter
        self.timing = timing or NomadTiming()
        self.serf_timing = serf_timing or SerfTiming()
        self.expect = len(cluster.servers)  # bootstrap_expect of the initial servers
        self.servers: dict[str, NomadServer] = {}
        self.left: set[str] = set()  # servers that left gracefully and exited
        self.leaving: set[str] = set()
        # A leave's caller is told when the server exits, gracefully or not: a crash
        # mid-leave stops the leave's process, which would otherwise never answer.
        self._exited: dict[str, Callable[[], None]] = {}
        self.lines: deque[tuple[int, str, str]] = deque(maxlen=2000)
        self.log_listeners: list[Callable[[str, str], None]] = []  # told (server, line)
        # Servers started without joining anyone (add_server(join=False)): the operator
        # joins them (PUT /v1/agent/join).
        self._unjoined: set[str] = set()
        # Told of every API request and answer (RequestReceived, RequestAnswered) whatever
        # the trace level, which keeps them only under trace="all" (the console timeline).
        self.api_listeners: list[Callable[[Event], None]] = []
        self._infos: dict[str, MemberInfo] = {}
        cluster.listeners.append(self._on_event)
        # The cluster formed before time 0: every running server already knows the others.
        running = [n for n, s in cluster.servers.items() if s.status != DOWN]
        for name in running:
            self._start(name, join=False, peers=[p for p in running if p != name])
            self._leadership(name)

    # ------------------------------------------------------------ membership data

    def info(self, server: str) -> MemberInfo | None:
        """What `server` advertises in Serf: its release's tags, in the order
        `nomad/server.go` setupSerf sets them (spec §2.8; Go's map has no order of its own)."""
        info = self._infos.get(server)
        if info is None and server in self.cluster.servers:
            ip, port = self.cluster.servers[server].address.rsplit(":", 1)
            v = self.version
            tags = [("role", "nomad"), ("region", self.region), ("dc", self.datacenter)]
            if v.serf_revision_tag:
                # 1.3+: `vsn` is the deprecated API major version, kept for <= 1.2 peers.
                tags += [("build", v.version), ("revision", ""), ("vsn", str(v.api_major))]
            else:
                tags += [
                    ("vsn", str(v.api_major)),
                    ("mvn", str(v.api_minor)),
                    ("build", v.version),
                ]
            if v.serf_node_tags:
                tags += [
                    ("raft_vsn", str(v.raft_protocol)),
                    ("id", self.node_id(server)),
                    ("rpc_addr", ip),
                ]
            tags += [("port", port), ("expect", str(self.expect))]
            name = f"{server}.{self.region}"
            info = self._infos[server] = MemberInfo(server, name, ip, GOSSIP_PORT, tuple(tags))
        return info

    def node_id(self, server: str) -> str:
        """The node UUID a server keeps in `<data_dir>/server/node-id` (the Serf `id` tag;
        its Raft ID too under protocol 3): go-uuid's 8-4-4-4-12 hex of 128 random bits drawn
        from the seed and the server's name alone, so it is the same on every run of a seed
        and every call, and survives a restart, as the file does. Under protocol 3 it is the
        Raft ID the simulated cluster gave the server (drawn from the seed as well)."""
        simulated = self.cluster.servers.get(server)
        if simulated is not None and not self.cluster.profile.id_is_address:
            return simulated.id
        rng = random.Random(derive_seed(self.cluster.seed, f"nomad/node-id/{server}"))
        bits = rng.getrandbits(128)
        text = f"{bits:032x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"

    def name_of_address(self, address: str) -> str | None:
        """The simulated server whose Raft address (or, under protocol 3, Raft ID) this is."""
        for name, server in self.cluster.servers.items():
            if address in (server.address, server.id):
                return name
        return None

    def log(self, server: str, text: str) -> None:
        """Nomad's log lines, kept for the curious (and the tests)."""
        self.lines.append((self.cluster.sched.now, server, text))
        for listener in self.log_listeners:
            listener(server, text)

    # ------------------------------------------------------------ lifecycle

    def _start(self, name: str, join: bool, peers: list[str], moved: bool = False) -> None:
        server = self.servers[name] = NomadServer(self, name)
        infos = [i for i in (self.info(p) for p in peers) if i is not None]
        if moved:
            # Back at a new IP under the same name. memberlist refuses a known name at a
            # new address until the old entry has died and been forgotten; the model
            # skips that wait: the new process announces itself with an incarnation above
            # any the others hold, so their views take its new address (and tags) at once.
            known = max(
                (
                    o.serf.members[name].incarnation
                    for o in self.servers.values()
                    if name in o.serf.members and o is not server
                ),
                default=0,
            )
            serf = server.serf
            serf.incarnation = serf.members[name].incarnation = known + 1
        server.serf.start(infos, join=join)

    def _on_event(self, event: Event) -> None:
        name = event.server
        if isinstance(event, RoleChanged):
            server = self.servers.get(name)
            if server is not None:
                # Not from inside the Raft node's step: on the server's own timer, now.
                server.after(0, lambda: self._leadership(name))
        elif isinstance(event, ServerCrashed):
            crashed = self.servers.pop(name, None)
            if crashed is not None:
                crashed.stop()
            self.leaving.discard(name)
            exited = self._exited.pop(name, None)
            if exited is not None:
                exited()
        elif isinstance(event, ServerRestarted | ServerStarted):
            self.left.discard(name)
            old = self._infos.pop(name, None)
            info = self.info(name)
            moved = old is not None and info is not None and old.addr != info.addr
            if name in self._unjoined:
                self._unjoined.discard(name)
                self._start(name, join=True, peers=[])
                return
            # Serf's snapshot (or the server's retry_join list) names the other servers.
            peers = [p for p in self.cluster.servers if p != name]
            self._start(name, join=True, peers=peers, moved=moved)

    def _leadership(self, name: str) -> None:
        """Start a leader loop when server `name` leads in a new term; stop it otherwise."""
        server = self.servers.get(name)
        if server is None:
            return
        node = server.sim.node
        loop = server.leader_loop
        if server.sim.status == UP and node is not None and node.role is Role.LEADER:
            term = node.storage.current_term
            if loop is None or loop.term != term:
                if loop is not None:
                    loop.stop()
                server.leader_loop = LeaderLoop(server, term)
        elif loop is not None:
            loop.stop()
            server.leader_loop = None

    def gossip(self, src: str, dst: str, msg: tuple[object, ...]) -> None:
        """Carry one Serf packet over the simulated network."""
        if dst not in self.cluster.servers:
            return

        def arrived() -> None:
            target = self.servers.get(dst)
            if target is not None:
                target.serf.receive(src, msg)

        self.cluster.transmit(src, dst, arrived)

    # ------------------------------------------------------------ operations

    def _running(self, name: str) -> NomadServer:
        self.cluster.server(name)  # UnknownServerError for a wrong name
        server = self.servers.get(name)
        if server is None:
            raise ServerGoneError(name)
        return server

    def _when_running(self, entry: str, fn: Callable[[NomadServer], None]) -> None:
        """Run fn on server `entry` now, or when it resumes if it is paused (a stopped
        process answers nothing until it runs again)."""
        server = self._running(entry)
        if server.sim.status == PAUSED:
            server.sim.defer(lambda _: self._when_running(entry, fn))
            return
        fn(server)

    def call(self, entry: str, request: Request, reply: Reply) -> None:
        """Send an RPC into server `entry`; `reply(result, error)` fires in virtual time
        (at once for local answers); a `ServerGoneError` means the connection closed."""
        if request.method not in endpoints.METHODS:
            raise ValueError(f"unknown RPC method {request.method!r}")
        try:
            self._when_running(entry, lambda server: server.accept(request, reply))
        except RaftsimError as error:
            reply(None, error)

    def members(self, entry: str, reply: Reply, token: str = "") -> None:
        """GET /v1/agent/members as server `entry` answers it (never forwarded), with
        `node:read` (0.7+, nomad/status_endpoint.go Members)."""

        def run(server: NomadServer) -> None:
            answer = server.entered("Agent.Members", reply)
            refused = self.acl.check(token, Capability.NODE_READ, authenticates=True)
            if refused is not None:
                answer(None, refused)
                return
            answer(endpoints.members(server), None)

        try:
            self._when_running(entry, run)
        except RaftsimError as error:
            reply(None, error)

    def force_leave(
        self, entry: str, node: str, reply: Reply, hold: Hold | None = None, token: str = ""
    ) -> None:
        """PUT /v1/agent/force-leave?node=...: Serf RemoveFailedNode on server `entry`;
        replies once the leave intent is broadcast (or with Serf's timeout error). A `hold`
        withdrawn before the server runs it (a paused server) stops it. With ACLs on,
        `agent:write` is checked first, then the missing node (spec §2.9)."""

        def run(server: NomadServer) -> None:
            if hold is not None and hold.withdrawn:
                return
            answer = server.entered("Agent.ForceLeave", reply)
            refused = self.acl.check(token, Capability.AGENT_WRITE)
            if refused is not None:
                answer(None, refused)
                return
            if not node:
                answer(None, NomadError(MISSING_NODE, Kind.BAD_REQUEST))
                return
            if hold is not None:
                hold.reached = f"applied to {entry}'s Serf view, its broadcast under way"

            def finished(error: str) -> None:
                answer(None, NomadError(error) if error else None)

            server.serf.force_leave(node, finished)

        try:
            self._when_running(entry, run)
        except RaftsimError as error:
            reply(None, error)

    def add_server(self, join: bool = True) -> str:
        """Start a new server with an empty data directory: it joins the others at once, as
        with retry_join, or (join=False) waits to be joined; the leader's reconcile then
        adds it to Raft (spec §3.2)."""
        name = server_name(len(self.cluster.servers))
        if not join:
            self._unjoined.add(name)
        try:
            return self.cluster.add_server()
        finally:
            self._unjoined.discard(name)

    def join(self, entry: str, addresses: list[str], reply: Reply) -> None:
        """PUT /v1/agent/join?address=...: Serf Join on server `entry` (memberlist: a push/
        pull exchange with each address; the default port is Serf's, 4648). Answers
        (num_joined, error text), the error "" when any address joined."""

        def run(server: NomadServer) -> None:
            answer = server.entered("Agent.Join", reply)
            joined, errors = 0, []
            for address in addresses:
                target, error = self._serf_target(address)
                if target is None:
                    errors.append(error)
                    continue
                if target != entry:
                    server.serf.join(target)
                joined += 1
            # memberlist: any success clears the errors; otherwise go-multierror's list.
            text = "" if joined else _multierror(errors)
            answer({"num_joined": joined, "error": text}, None)

        try:
            self._when_running(entry, run)
        except RaftsimError as error:
            reply(None, error)

    def _serf_target(self, address: str) -> tuple[str | None, str]:
        """The running server whose Serf listens at `address` (host[:port]), or memberlist's
        error for it."""
        host, colon, port_text = address.rpartition(":")
        if not colon or "]" in port_text:
            host, port_text = address, str(GOSSIP_PORT)
        host = host.strip("[]")
        if host == "localhost":
            host = "127.0.0.1"
        if not port_text.isdigit() or int(port_text) > 65535:
            return None, (
                f'Failed to resolve {address}: strconv.ParseUint: parsing "{port_text}": '
                "invalid syntax"
            )
        parts = host.split(".")
        if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
            return None, f"Failed to resolve {address}: lookup {host}: no such host"
        port = int(port_text)
        for name, sim in self.cluster.servers.items():
            here = sim.address.rsplit(":", 1)[0] == host and port == GOSSIP_PORT
            if here and sim.status != DOWN and name in self.servers:
                return name, ""
        return None, (
            f"Failed to join {host}: dial tcp {host}:{port}: getsockopt: connection refused"
        )

    def leave(self, name: str, done: Callable[[], None]) -> None:
        """A graceful leave of server `name`, which then exits (`done` fires after, or when
        the server crashes before its leave completes: it exited all the same)."""
        server = self._running(name)
        if server.sim.status != UP:
            raise RaftsimError(f"{name} is not running")
        if name in self.leaving:
            raise RaftsimError(f"{name} is already leaving")
        self.leaving.add(name)
        self._exited[name] = done

        def exit_process() -> None:
            self.leaving.discard(name)
            self._exited.pop(name, None)
            if self.cluster.servers[name].status != DOWN:
                self.cluster.crash(name)
            self.left.add(name)
            done()

        server.spawn(leave(server, exit_process))

    # ------------------------------------------------------------ views

    def serf_view(self, name: str) -> list[dict[str, str]]:
        """Server `name`'s Serf members and their statuses ([] when it is down)."""
        server = self.servers.get(name)
        if server is None:
            return []
        members = sorted(server.serf.members.values(), key=lambda m: m.info.name)
        return [{"name": m.info.name, "status": m.status} for m in members]


def _multierror(errors: list[str]) -> str:
    """hashicorp/go-multierror's text as vendored in Nomad 0.5.x."""
    points = "\n".join(f"* {error}" for error in errors)
    return f"{len(errors)} error(s) occurred:\n\n{points}"
