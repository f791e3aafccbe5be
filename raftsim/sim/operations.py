"""What an operator, a scenario or a schedule does to a running cluster (ring 1): process
faults (crash, restart, pause, resume, a new server, an election timeout made to expire)
and network faults (partition, cut, heal, link conditions), each recorded as an event.

`Operations` is a part of `Cluster` (cluster.py), which owns the servers, the clock, the
network and the watchers these act on, and runs the events they cause.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from ..core.errors import RaftsimError
from ..core.events import Event
from ..core.profile import Profile
from .clock import Scheduler
from .eventloop import EventLoop, Watchers
from .events import (
    Healed,
    LinkCut,
    NetworkChanged,
    Partitioned,
    ServerCrashed,
    ServerPaused,
    ServerRestarted,
    ServerResumed,
    ServerStarted,
    TimedOut,
)
from .network import Network
from .server import DOWN, PAUSED, UP, SimServer
from .timeparse import duration


class Operations:
    """Process and network faults on the cluster this is part of."""

    # The cluster's own state (cluster.py), which these operations act on.
    servers: dict[str, SimServer]
    names: dict[str, str]  # server ID -> name
    _by_id: dict[str, SimServer]
    profile: Profile
    sched: Scheduler
    network: Network
    watchers: Watchers
    loop: EventLoop

    if TYPE_CHECKING:  # (the cluster's own methods)

        def server(self, name: str) -> SimServer: ...

        def _create(self, i: int) -> SimServer: ...

        def _start(self, server: SimServer, event: type[Event] | None = None) -> None: ...

    # ------------------------------------------------------------ processes

    def crash(self, name: str) -> None:
        """Kill the process: volatile state is lost, storage survives, the port refuses."""
        server = self.server(name)
        if server.status == DOWN:
            raise RaftsimError(f"{name} is already down")
        node = server.node
        assert node is not None
        node.shutdown()
        server.node = None
        server.status = DOWN
        server.held.clear()
        server.incarnation += 1
        self.watchers.record(ServerCrashed(self.sched.now, name))

    def restart(self, name: str, address: str | None = None) -> None:
        """Start a crashed server from its durable state (spec §2.2 startup replay); with
        `address`, at that Raft address (a new IP: under P1/P2 its ID changes with it, so
        the configurations in every log still name the old one, a ghost peer)."""
        server = self.server(name)
        if server.status != DOWN:
            raise RaftsimError(f"{name} is not down")
        if address is not None and address != server.address:
            self._readdress(server, address)
        # Recorded before the node's startup events, which the drain records.
        self._start(server, ServerRestarted)

    def _readdress(self, server: SimServer, address: str) -> None:
        for other in self.servers.values():
            if address in (other.address, other.id):
                raise RaftsimError(f"{address} is {other.name}'s address")
        old_id = server.id
        server.address = address
        if self.profile.id_is_address:
            server.id = address
            del self._by_id[old_id]
            # The old ID is nobody's now: traces and views show it as the bare address.
            del self.names[old_id]
            self._by_id[address] = server
            self.names[address] = server.name

    def pause(self, name: str) -> None:
        """Freeze the process: no timers fire, arriving messages queue."""
        server = self.server(name)
        if server.status != UP:
            raise RaftsimError(f"{name} is not running")
        server.status = PAUSED
        self.watchers.record(ServerPaused(self.sched.now, name))

    def resume(self, name: str) -> None:
        """Thaw a paused process: queued messages and overdue timers are handled now."""
        server = self.server(name)
        if server.status != PAUSED:
            raise RaftsimError(f"{name} is not paused")
        server.status = UP
        held, server.held = server.held, []
        for fn, arg in held:
            self.sched.at(self.sched.now, fn, arg)
        self.loop.in_flight_until = max(self.loop.in_flight_until, self.sched.now)
        self.watchers.record(ServerResumed(self.sched.now, name))

    def add_server(self) -> str:
        """Start a new, empty (unbootstrapped) server; add it with add_voter/add_nonvoter."""
        server = self._create(len(self.servers))
        self._start(server, ServerStarted)
        return server.name

    def time_out(self, name: str) -> None:
        """Server `name`'s election timer expires now (the page's "time out", RaftScope's)."""
        server = self.server(name)
        node = server.node
        if server.status != UP or node is None:
            raise RaftsimError(f"{name} is not running")
        node.time_out(self.sched.now)
        self.watchers.record(TimedOut(self.sched.now, name))  # before what the node did
        self.loop.drain(server)

    # ------------------------------------------------------------ network

    def partition(self, *groups: Iterable[str]) -> None:
        """Only servers in the same group can talk; servers named in no group form one more
        group together. Messages already in flight across the new cuts are lost too."""
        lists = [[self.server(n).id for n in group] for group in groups]
        names = [[self.server(n).name for n in group] for group in groups]
        self.network.partition(lists, [s.id for s in self.servers.values()])
        self.watchers.record(Partitioned(self.sched.now, "-", tuple(tuple(g) for g in names)))

    def isolate(self, name: str) -> None:
        """Cut one server off from every other, both ways."""
        self.partition([name])

    def cut(self, src: str, dst: str) -> None:
        """An asymmetric fault: messages from src to dst vanish; dst to src still flow."""
        self.network.block(self.server(src).id, self.server(dst).id)
        self.watchers.record(LinkCut(self.sched.now, "-", src, dst))

    def heal(self) -> None:
        """Remove every partition and cut."""
        self.network.heal()
        self.watchers.record(Healed(self.sched.now, "-"))

    def set_network(
        self,
        latency: tuple[int | str, int | str] | None = None,
        loss: float | None = None,
        duplicate: float | None = None,
        reorder: bool | None = None,
        link: tuple[str, str] | None = None,
    ) -> None:
        """Change the conditions of every link, or of the directed `link` (src, dst) only
        (unchanged fields keep their values); ValueError, changing nothing, on bad ones."""
        changes: dict[str, int | float | bool] = {}
        if latency is not None:
            changes["latency_min"], changes["latency_max"] = (duration(v) for v in latency)
        for key, value in (("loss", loss), ("duplicate", duplicate), ("reorder", reorder)):
            if value is not None:
                changes[key] = value
        where = ""
        if link is None:
            self.network.update_default(**changes)
        else:
            src, dst = (self.server(name).id for name in link)
            base = self.network.conditions(src, dst)
            conditions = replace(base, **changes)  # type: ignore[arg-type] # (validates)
            self.network.set_conditions(conditions, src, dst)
            where = f"{link[0]}->{link[1]}"
        changed = NetworkChanged(self.sched.now, "-", tuple(sorted(changes.items())), where)
        self.watchers.record(changed)
