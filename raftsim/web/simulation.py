"""`Simulation` (ring 2): one simulated cluster as the HTTP edge serves it: the `Cluster`,
its Nomad layer, the time driver, and where each server's HTTP API listens; plus the two
bridges from asyncio to the synchronous simulation: `wait` (turn a simulation callback into
an awaitable, counted by the driver) and `state` (the JSON of GET /v1/sim/state).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from ..core.errors import RaftsimError
from ..core.timing import Timing
from ..nomad import VERSIONS, NomadCluster
from ..nomad.endpoints import JSON, Hold
from ..sim.cluster import Cluster
from ..sim.render import fmt_time
from .driver import PACED, Driver
from .feed import EventFeed

Outcome = tuple[JSON, RaftsimError | None]
Start = Callable[[Callable[[JSON, RaftsimError | None], None]], None]


@dataclass
class Options:
    """How `raftsim serve` (and tests) build a simulation."""

    servers: int = 3
    seed: int = 0
    speed: float = 1.0
    timing: str = "nomad"
    mode: str = PACED
    version: str = "0.5.6"
    trace: str = "state"  # no message records by default: a long serve stays small
    # The trace keeps at most this many events (the newest; see Cluster's trace_limit), so a
    # serve left running for days, even with trace "all", does not grow with its trace.
    trace_limit: int = 100_000
    # /v1/sim/ on every server's listener too, not only the control listener: anything that
    # can reach the Nomad API could then crash servers, so it is opt-in (--sim-on-servers).
    sim_on_servers: bool = False
    # Required as `Authorization: Bearer TOKEN` on every control call when set ("": none).
    control_token: str = field(default="", repr=False)
    # Every listener's connections (raftsim/web/goserver.py): seconds to read a request head,
    # seconds a kept-alive connection may idle, connections open at once. Nomad 0.5.6 has no
    # timeouts and no cap; see goserver for why these and what later Nomads set.
    header_timeout: float = 30.0
    idle_timeout: float = 120.0
    max_connections: int = 512
    # Wall-clock seconds a request may wait on virtual time (a paused or very slow clock,
    # a paused server) before it is answered 504 and withdrawn; 0 waits without limit.
    hold_limit: float = 30.0


class HeldTooLong(RaftsimError):
    """A request waited `hold_limit` wall-clock seconds on a clock that did not get it
    answered; `reached` is what of it happened already ("" for nothing)."""

    def __init__(self, limit: float, reached: str) -> None:
        self.limit = limit
        self.reached = reached
        held = (
            f"held for {limit:g} s of wall-clock time without an answer (the simulated clock "
            "is paused or too slow, or the server is paused; see --hold-limit)"
        )
        if reached:
            outcome = f"it had already been {reached} and may still be applied when the clock moves"
        else:
            outcome = "it was withdrawn before it changed anything: nothing was applied"
        super().__init__(f"{held}; {outcome}")


class Simulation:
    """Everything one served cluster is made of; see the module docstring."""

    def __init__(self, options: Options | None = None) -> None:
        o = options or Options()
        if o.timing not in ("nomad", "paper"):
            raise ValueError(f"timing must be nomad or paper, got {o.timing!r}")
        if o.version not in VERSIONS:
            raise ValueError(f"unknown Nomad version {o.version!r} (known: {', '.join(VERSIONS)})")
        if o.hold_limit < 0:
            raise ValueError(f"the hold limit cannot be negative, got {o.hold_limit:g}")
        if not 1 <= o.servers <= 250:
            raise ValueError(f"servers must be between 1 and 250, got {o.servers}")
        version = VERSIONS[o.version]
        timing = Timing.nomad() if o.timing == "nomad" else Timing.paper()
        self.options = o
        self.cluster = Cluster(
            o.servers,
            seed=o.seed,
            timing=timing,
            profile=version.profile,
            trace=o.trace,
            trace_limit=o.trace_limit,
        )
        self.nomad = NomadCluster(self.cluster, version)
        self.feed = EventFeed(self.cluster)
        self.driver = Driver(self.cluster.sched, o.mode, o.speed)
        self.http: dict[str, str] = {}  # server name -> "http://host:port" once listening
        self.control_url = ""

    async def wait(self, start: Start, hold: Hold | None = None) -> Outcome:
        """Run `start(reply)` against the simulation and await the reply in virtual time, at
        most `hold_limit` seconds of wall-clock time: then `hold` is withdrawn (see `Hold`)
        and `HeldTooLong` raised."""
        self.driver.sync()
        ticket = self.driver.expect()
        answered: list[Outcome] = []
        later: asyncio.Future[Outcome] | None = None

        def reply(result: JSON, error: RaftsimError | None) -> None:
            ticket.close()
            if later is None:
                answered.append((result, error))
            elif not later.done():
                later.set_result((result, error))

        try:
            start(reply)
            if answered:  # a local answer: no future, no wake-up of the driver
                return answered[0]
            later = asyncio.get_running_loop().create_future()
            self.driver.kick()  # it may sleep past what the request scheduled
            limit = self.options.hold_limit
            if limit <= 0:
                return await later
            try:
                return await asyncio.wait_for(later, limit)
            except TimeoutError:
                # Withdrawn in the same step of the loop that gives up: the simulation, which
                # runs on this loop too, cannot take it further in between.
                if hold is not None:
                    hold.withdrawn = True
                raise HeldTooLong(limit, hold.reached if hold is not None else "") from None
        finally:
            ticket.close()

    def state(self) -> dict[str, object]:
        """GET /v1/sim/state: what every server believes, the network, the clock."""
        cluster = self.cluster
        names = cluster.names
        servers = []
        for view in cluster.views():
            servers.append(
                {
                    "name": view.name,
                    "id": view.id,
                    "address": view.address,
                    "http": self.http.get(view.name, ""),
                    "status": view.status,
                    "left": view.name in self.nomad.left,
                    "role": view.role or "-",
                    "term": view.term,
                    "leader": view.leader,
                    "commit_index": view.commit_index,
                    "last_index": view.last_index,
                    "last_term": view.last_term,
                    "applied": view.applied,
                    "latest": _configuration(view.latest, view.latest_index),
                    "committed": _configuration(view.committed, view.committed_index),
                    "serf": self.nomad.serf_view(view.name),
                }
            )
        blocked = sorted(
            (names.get(src, src), names.get(dst, dst)) for src, dst in cluster.network.blocked
        )
        return {
            "time_us": cluster.now,
            "time": fmt_time(cluster.now),
            "clock": self.driver.state(),
            "seed": cluster.seed,
            "nomad_version": self.nomad.version.version,
            "raft_profile": cluster.profile.name,
            "leader": cluster.leader(),
            "servers": servers,
            "network": {
                "partitioned": bool(blocked),
                "groups": _groups(list(cluster.servers), set(blocked)),
                "blocked": [f"{a}->{b}" for a, b in blocked],
            },
            "violations": [str(v) for v in cluster.violations],
        }


def _configuration(configuration: object, index: int) -> dict[str, object]:
    servers = getattr(configuration, "servers", ())
    return {
        "index": index,
        "servers": [
            {"id": s.id, "address": s.address, "suffrage": str(s.suffrage)} for s in servers
        ],
    }


def _groups(names: list[str], blocked: set[tuple[str, str]]) -> list[list[str]]:
    """Servers that can talk both ways, grouped (exact for partitions; cuts split pairs)."""
    groups: list[list[str]] = []
    for name in names:
        for group in groups:
            if all((name, o) not in blocked and (o, name) not in blocked for o in group):
                group.append(name)
                break
        else:
            groups.append([name])
    return groups
