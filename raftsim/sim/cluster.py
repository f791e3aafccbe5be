"""The one `Cluster` object (ring 1) every surface drives: servers running the Raft core on a
virtual clock, a simulated network between them, durable storage that survives crashes,
and the typed events they report (events.py) going to the `Watchers`: the trace, the
safety checkers and the listeners (the Nomad layer, the event feed).

Servers are named alice, bob, carol, ... with Raft addresses 127.0.0.1:4647, 127.0.0.2:4647,
...; under P1/P2 a server's ID is its address (spec §2.11), under P3 a UUID drawn from the
seed. The transport (eventloop.py) behaves like hashicorp's TCP one. What can be done to a
running cluster, process and network faults, is operations.py's part of `Cluster`.

The event loop's work (eventloop.py) is the model. When nothing but an idle leader's loops
and the servers' timers is left to run, `run_for` skips ahead with the exact outcome of those
events (fastforward.py), unless the cluster is built with `fast_forward=False`; under
trace="all" a jump writes the records of the events it skips (jumptrace.py).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..core.configuration import ChangeCommand
from ..core.errors import RaftsimError, ShutdownError
from ..core.events import Event
from ..core.faults import CHANGES_IDLE_LOOPS, Fault
from ..core.future import Future
from ..core.node import CANDIDATE, FOLLOWER, RaftNode
from ..core.profile import P1, Profile
from ..core.storage import Storage
from ..core.timing import TimerModel, Timing
from ..core.types import Configuration, Entry, Role, Server, Suffrage
from .checkers import SafetyChecker, Violation
from .clock import Scheduler
from .datadir import DirectoryFactory, StartError, memory_directories, open_raft
from .eventloop import EventLoop, Watchers
from .events import (
    ChangeRequested,
    NomadLogged,
    Proposed,
    Recovered,
    StartFailed,
)
from .fastforward import FastForward
from .network import NOMAD_LAN, PAPER_LAN, TRANSMIT, LinkConditions, Network
from .operations import Operations
from .render import event_json, fmt_event
from .rng import Streams
from .server import DOWN, PAUSED, UP, SimServer, Status
from .timeparse import duration

__all__ = [
    "DOWN",
    "NAMES",
    "PAUSED",
    "UP",
    "Cluster",
    "SafetyViolationError",
    "ServerView",
    "SimServer",
    "Status",
    "UnknownServerError",
    "server_name",
]

NAMES = [
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "kate",
    "leo",
    "mallory",
    "nina",
    "oscar",
    "peggy",
    "quinn",
    "rupert",
    "sybil",
    "trent",
    "uma",
    "victor",
    "wendy",
    "xavier",
    "yvonne",
    "zach",
]


def server_name(i: int) -> str:
    """alice, bob, ..., zach, alice2, bob2, ..."""
    base = NAMES[i % len(NAMES)]
    return base if i < len(NAMES) else f"{base}{i // len(NAMES) + 1}"


class UnknownServerError(RaftsimError):
    """No server of that name exists in this cluster."""


class SafetyViolationError(RaftsimError):
    """A safety checker found a violation."""


@dataclass(frozen=True, slots=True)
class ServerView:
    """What one server believes, as the API and the scenarios show it."""

    name: str
    id: str
    address: str
    status: Status
    role: Role | None  # None while the server is down
    term: int
    leader: str
    commit_index: int
    last_index: int
    last_term: int
    latest: Configuration
    latest_index: int
    committed: Configuration
    committed_index: int
    applied: int


class Cluster(Operations):
    """A simulated cluster of Nomad servers; see the module docstring."""

    def __init__(
        self,
        servers: int = 3,
        seed: int = 0,
        timing: Timing | None = None,
        profile: Profile = P1,
        network: LinkConditions | None = None,
        faults: Iterable[Fault] = (),
        # "state" (the default) records every state change the checkers and transcripts
        # need; "all" adds every message and timer firing (scenario files, the page), which
        # grows memory with every heartbeat.
        trace: str = "state",
        fast_forward: bool = True,
        # At most this many records are kept (None: all): the oldest half goes when it is
        # passed, and a `dropped` record says how many went. For long runs (`raftsim serve`).
        trace_limit: int | None = None,
        # Each server's Raft directory, by server name (in memory unless given: `raftsim
        # serve --data-dir` hands in directories on disk).
        directories: DirectoryFactory = memory_directories,
    ) -> None:
        if servers < 1:
            raise ValueError(f"a cluster needs at least one server, got {servers}")
        if trace not in ("all", "state", "off"):
            raise ValueError(f"trace must be all, state or off, got {trace!r}")
        if trace_limit is not None and trace_limit < 2:
            raise ValueError(f"trace_limit must be at least 2, got {trace_limit}")
        self.seed = seed
        self.timing = timing or Timing.nomad()
        self.profile = profile
        self.faults = frozenset(faults)
        self.streams = Streams(seed)
        if network is None:
            network = PAPER_LAN if self.timing.model is TimerModel.PAPER else NOMAD_LAN
        self.network = Network(self.streams.get, network, self.timing.rpc_timeout)
        self.sched = Scheduler()
        self.servers: dict[str, SimServer] = {}
        self._by_id: dict[str, SimServer] = {}
        self.names: dict[str, str] = {}  # server ID -> name, for rendering
        self.directories = directories
        self.watchers = Watchers(SafetyChecker(seed, {}), trace, trace_limit)
        self.checker.servers = self.servers  # (the lease rule reads leaders' contacts)
        self.loop = EventLoop(
            self.sched, self.network, self.timing.rpc_timeout, self._by_id, self.watchers
        )
        for i in range(servers):
            self._create(i)
        bootstrap = Storage.bootstrap_entry(
            Configuration(
                tuple(Server(Suffrage.VOTER, s.id, s.address) for s in self.servers.values())
            )
        )
        for server in self.servers.values():
            server.storage.bootstrap(bootstrap)
            self._start(server)
        # No jumps with a deliberate fault that changes the idle loops the jumps compute.
        # (Under trace="all" a jump writes the records of every event it skips.)
        jumps = fast_forward and not self.faults & CHANGES_IDLE_LOOPS
        self.fast_forward = FastForward(self) if jumps else None
        self.sched.jumper = self.fast_forward

    # ------------------------------------------------------------ construction

    def _create(self, i: int) -> SimServer:
        name = server_name(i)
        address = f"127.0.0.{i + 1}:4647" if i < 254 else f"127.0.{i // 254}.{i % 254 + 1}:4647"
        if self.profile.id_is_address:
            server_id = address
        else:
            server_id = str(
                uuid.UUID(int=self.streams.get(f"id/{name}").getrandbits(128), version=4)
            )
        server = SimServer(name, server_id, address)
        server.directory = self.directories(name)
        self.servers[name] = server
        self._by_id[server_id] = server
        self.names[server_id] = name
        self.checker.storages = {n: s.storage for n, s in self.servers.items()}
        return server

    def _boot(self, server: SimServer) -> None:
        server.incarnation += 1
        node = RaftNode(
            server.id,
            server.address,
            server.storage,
            self.timing,
            self._node_streams(server.name),
            self.profile,
            self.faults,
            rpc_base=server.incarnation << 40,
            name=server.name,
        )
        server.node = node
        server.status = UP
        server.fsm = []
        self.checker.add_server(server.name)
        node.start(self.sched.now)

    def _start(self, server: SimServer, event: type[Event] | None = None) -> None:
        """Start a server process: open its Raft directory as Nomad does (datadir.py), then
        boot the node. On StartError the server stays down, `start-failed` is recorded and
        the error raised; `event` (restart, start) is recorded once the start is certain."""
        now = self.sched.now
        try:
            opened = open_raft(server.directory, server.storage, self.profile)
        except StartError as error:
            self.watchers.record(StartFailed(now, server.name, str(error)))
            raise
        self._boot(server)
        if event is not None:
            self.watchers.record(event(now, server.name))
        for line in opened.lines:
            self.watchers.record(NomadLogged(now, server.name, line))
        if opened.recovered is not None:
            configuration, index = opened.recovered
            self.watchers.record(Recovered(now, server.name, configuration, index))
        self.loop.drain(server)

    def _node_streams(self, name: str) -> Callable[[str, str], random.Random]:
        """A node's random streams: node/NAME for its own timers, node/NAME/LOOP/PEER for
        the leader's loop LOOP (heartbeat, replicate) to PEER (named by its server name)."""
        get = self.streams.get
        names = self.names

        def stream(loop: str, peer: str) -> random.Random:
            if not loop:
                return get(f"node/{name}")
            return get(f"node/{name}/{loop}/{names.get(peer, peer)}")

        return stream

    # ------------------------------------------------------------ time

    @property
    def now(self) -> int:
        return self.sched.now

    @property
    def records(self) -> list[Event]:
        """The trace: every event kept at the cluster's trace level, in order."""
        return self.watchers.records

    @property
    def listeners(self) -> list[Callable[[Event], None]]:
        """Watchers (the Nomad layer, the event feed): every state-level event as it happens,
        every message-level one under trace="all". A listener must not drive the cluster
        from inside the call: it schedules what it wants done instead."""
        return self.watchers.listeners

    @property
    def checker(self) -> SafetyChecker:
        return self.watchers.checker

    def run_for(self, span: int | str) -> None:
        """Advance virtual time by `span` (µs, or a string such as '1.5s')."""
        self.sched.run_until(self.sched.now + duration(span))

    def run_until(
        self,
        predicate: Callable[[Cluster], bool],
        within: int | str = "60s",
        *,
        state_only: bool = False,
    ) -> bool:
        """Run until predicate(cluster) holds (True) or `within` passes (False).

        The predicate is checked after every event, unless `state_only` says it depends
        only on what state-level events report (roles, terms, leaders, logs, commits,
        configurations, server statuses, client requests' outcomes): then it is checked
        only after an event that reported a change, and idle stretches can be skipped."""
        if predicate(self):
            return True
        until = self.sched.now + duration(within)
        if not state_only:
            return self.sched.run_until(until, lambda: predicate(self))
        watchers = self.watchers
        seen = watchers.version

        def changed() -> bool:
            nonlocal seen
            if watchers.version == seen:
                return False
            seen = watchers.version
            return predicate(self)

        # (A jump changes no state an event would report: it cannot make the predicate hold.)
        return self.sched.run_until(until, interrupt=changed)

    def step(self) -> bool:
        """Run the next event, whatever its time; False when nothing is scheduled."""
        return self.sched.step()

    # ------------------------------------------------------------ other traffic

    def transmit(
        self,
        src: str,
        dst: str,
        on_arrival: Callable[[], None],
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        """Carry one message of an upper layer (Nomad RPC, gossip) from server src to dst
        over the simulated network, with Raft's transport rules: `on_arrival` runs when it
        reaches a running dst (queued while dst is paused); `on_failure(reason)` runs when a
        crashed dst refuses the connection, or after RaftTimeout when the message is lost."""
        source, target = self.server(src), self.server(dst)
        now = self.sched.now

        def fail(reason: str, delay: int) -> None:
            if on_failure is not None:
                self.sched.at(now + delay, lambda _: on_failure(reason))

        if target.status == DOWN:
            fail("connection refused", self.network.round_trip(source.id, target.id))
            return
        arrivals = self.network.route(source.id, target.id, now, TRANSMIT)
        if not arrivals:
            fail("i/o timeout", self.timing.rpc_timeout)
            return

        def arrive(_: object) -> None:
            if target.status == DOWN:
                fail("connection reset by peer", 0)
            elif target.status == PAUSED:
                target.defer(arrive)
            elif self.network.blocked and (source.id, target.id) in self.network.blocked:
                fail("i/o timeout", self.timing.rpc_timeout)
            else:
                on_arrival()

        self.sched.at(arrivals[0], arrive)

    # ------------------------------------------------------------ servers

    def server(self, name: str) -> SimServer:
        try:
            return self.servers[name]
        except KeyError:
            known = ", ".join(self.servers)
            raise UnknownServerError(f"unknown server {name!r} (servers: {known})") from None

    def server_by_id(self, server_id: str) -> SimServer | None:
        return self._by_id.get(server_id)

    def record(self, event: Event) -> None:
        """Report an upper layer's event (the Nomad layer's): it reaches the trace (if kept),
        the checkers and the listeners, as the simulation's own do (a message-level one only
        under trace="all")."""
        if not event.message_level:
            self.watchers.record(event)
        elif self.watchers.messages:
            self.watchers.trace(event)

    # ------------------------------------------------------------ clients

    def leader(self) -> str | None:
        """The running server that leads in the highest term, if any."""
        best: SimServer | None = None
        for server in self.servers.values():
            node = server.node
            if (
                server.status == UP
                and node is not None
                and node.role is Role.LEADER
                and (best is None or best.storage.current_term < node.storage.current_term)
            ):
                best = server
        return best.name if best else None

    def _via(self, via: str | None) -> SimServer:
        name = via or self.leader()
        if name is None:
            return next(iter(self.servers.values()))  # any server answers ErrNotLeader
        return self.server(name)

    def _running(self, server: SimServer) -> RaftNode:
        if server.status != UP or server.node is None:
            raise ShutdownError()
        return server.node

    def propose(self, data: str, via: str | None = None) -> Future:
        """Apply a command through the leader (or `via`); raises NotLeaderError."""
        server = self._via(via)
        node = self._running(server)
        future = node.propose(data, self.sched.now)
        self.watchers.record(Proposed(self.sched.now, server.name, data))
        self.loop.drain(server)
        return future

    def change(
        self, command: ChangeCommand, name: str, via: str | None = None, prev_index: int = 0
    ) -> Future:
        """Ask the leader (or `via`) for a membership change of server `name`."""
        target = self.servers.get(name)
        server_id, address = (target.id, target.address) if target else (name, name)
        server = self._via(via)
        node = self._running(server)
        future = node.change_configuration(command, server_id, address, prev_index, self.sched.now)
        self.watchers.record(ChangeRequested(self.sched.now, server.name, str(command), name))
        self.loop.drain(server)
        return future

    def add_voter(self, name: str, via: str | None = None) -> Future:
        return self.change(ChangeCommand.ADD_VOTER, name, via)

    def add_nonvoter(self, name: str, via: str | None = None) -> Future:
        return self.change(ChangeCommand.ADD_NONVOTER, name, via)

    def demote_voter(self, name: str, via: str | None = None) -> Future:
        return self.change(ChangeCommand.DEMOTE_VOTER, name, via)

    def remove_server(self, name: str, via: str | None = None) -> Future:
        return self.change(ChangeCommand.REMOVE_SERVER, name, via)

    def transfer_leadership(self, to: str | None = None, via: str | None = None) -> Future:
        """Ask the leader (or `via`) to hand leadership to server `to` (a name, or a Raft ID
        no server has: a ghost entry), or (None) to the voter whose replication got
        furthest (raft-semantics §3.9; protocol 3). Raises as the node refuses."""
        target = None if to is None else (self.servers[to].id if to in self.servers else to)
        server = self._via(via)
        node = self._running(server)
        future = node.transfer_leadership(target, self.sched.now)
        now = self.sched.now
        self.watchers.record(ChangeRequested(now, server.name, "TransferLeadership", to or "-"))
        self.loop.drain(server)
        return future

    # ------------------------------------------------------------ views

    def view(self, name: str) -> ServerView:
        server = self.server(name)
        storage = server.storage
        node = server.node
        if node is None:
            empty = Configuration()
            return ServerView(
                name,
                server.id,
                server.address,
                server.status,
                None,
                storage.current_term,
                "",
                0,
                storage.last_index,
                storage.last_term,
                empty,
                0,
                empty,
                0,
                0,
            )
        return ServerView(
            name,
            server.id,
            server.address,
            server.status,
            node.role,
            storage.current_term,
            self.names.get(node.leader_id, node.leader_id),
            node.commit_index,
            storage.last_index,
            storage.last_term,
            node.latest,
            node.latest_index,
            node.committed,
            node.committed_index,
            node.last_applied,
        )

    def views(self) -> list[ServerView]:
        return [self.view(name) for name in self.servers]

    def log(self, name: str) -> list[Entry]:
        """The entries still in server `name`'s log (those compacted away are not)."""
        return list(self.server(name).storage.log)

    # ------------------------------------------------------------ trace and safety

    @property
    def violations(self) -> list[Violation]:
        self.checker.finish()
        return self.checker.violations

    def check(self) -> None:
        """Raise SafetyViolationError if any checker fired."""
        self.checker.finish()
        if self.checker.violations:
            raise SafetyViolationError("\n".join(str(v) for v in self.checker.violations))

    def watch_messages(self, on: bool) -> None:
        """Report message-level events (messages, timer firings) to the listeners even when
        the trace does not keep them: the live page draws messages in flight. Jumps are off
        meanwhile (a jump skips messages); as they are exact, the run stays the same run."""
        if self.watchers.keep_messages:
            return  # trace="all": reported all along (no jumps while a listener listens)
        self.watchers.messages = on
        self.loop._trace_messages = on
        self.sched.jumper = None if on else self.fast_forward

    def election_timer(self, name: str) -> tuple[str, int] | None:
        """Server `name`'s armed follower or candidate timer: its name and when it is due."""
        server = self.server(name)
        node = server.node
        if node is None:
            return None
        armed = {
            token: timer for timer in (FOLLOWER, CANDIDATE) if (token := node.timer_token(timer))
        }
        fire = self.loop.fire_event
        for due, _, fn, arg in self.sched.heap:
            if fn is fire and arg[0] is server and arg[1] == server.incarnation:
                timer = armed.get(arg[4])
                if timer is not None and arg[2] == timer:
                    return timer, due
        return None

    def trace_lines(self, start: int = 0) -> list[str]:
        return [fmt_event(event, self.names) for event in self.records[start:]]

    def trace_text(self) -> str:
        return "".join(line + "\n" for line in self.trace_lines())

    def trace_jsonl(self) -> str:
        return "".join(
            json.dumps(event_json(event, self.names), sort_keys=True) + "\n"
            for event in self.records
        )
