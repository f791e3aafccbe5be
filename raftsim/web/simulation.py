"""`Simulation` (ring 2): one simulated cluster as the HTTP edge serves it: the `Cluster`,
its Nomad layer, the time driver, and where each server's HTTP API listens; plus the
bridges from asyncio to the synchronous simulation: `act` and `request` (do something to
it, at once or awaiting the answer in virtual time, counted by the driver) and `state` (the
JSON of GET /v1/sim/state).

Everything done to the simulation from outside (a control call, a Nomad API request) goes
through `act` or `request`, which record it as an `Input` with the virtual time it came in
at. As the simulation is deterministic, its seed and its inputs are the whole run: `replay`
builds it again from them up to any earlier (or recorded later) time, which is how the
page's time slider goes back and forth. Each input is applied after every event due at
its time has run, live and in a replay alike, so the two agree to the event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..core.errors import RaftsimError
from ..core.events import Event
from ..core.leader import Future
from ..core.timing import Timing
from ..nomad import VERSIONS, NomadCluster
from ..nomad.acl import ACL, go_uuid
from ..nomad.endpoints import JSON, Hold, Request
from ..sim.cluster import Cluster, server_name
from ..sim.datadir import PEERS_INFO, PEERS_JSON, MemoryDirectory, memory_directories
from ..sim.events import ClusterReset
from .disk import DataDirs
from .driver import PACED, Driver, Ticket
from .feed import EventFeed
from .state import cluster_state
from .timeline import Timeline

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
    # The scenario files the page offers as lessons ("": the library of a source checkout).
    lessons: str = ""
    # Required as `Authorization: Bearer TOKEN` on every control call when set ("": none).
    control_token: str = field(default="", repr=False)
    # Where the servers' Raft directories live (`DIR/<name>/server/raft/`, see disk.py):
    # None keeps them in memory (tests), "" makes a fresh temporary directory (serve).
    data_dir: str | None = None
    # `raftsim serve` prints a timeline of significant events unless quiet (timeline.py).
    quiet: bool = True
    # Every listener's connections (raftsim/web/goserver.py): seconds to read a request head,
    # seconds a kept-alive connection may idle, connections open at once. Nomad 0.5.6 has no
    # timeouts and no cap; see goserver for why these and what later Nomads set.
    header_timeout: float = 30.0
    idle_timeout: float = 120.0
    max_connections: int = 512
    # Wall-clock seconds a request may wait on virtual time (a paused or very slow clock,
    # a paused server) before it is answered 504 and withdrawn; 0 waits without limit.
    hold_limit: float = 30.0
    # `raftsim serve --acl` (0.7+ releases): the ACL system bootstrapped, its management
    # token's secret derived from the seed (`Simulation.management_token`).
    acl: bool = False


class HeldTooLong(RaftsimError):
    """A request waited `hold_limit` wall-clock seconds on a clock that did not get it
    answered; `reached` is what of it happened already ("" for nothing, None when it
    cannot be withdrawn)."""

    def __init__(self, limit: float, reached: str | None) -> None:
        self.limit = limit
        self.reached = reached
        held = (
            f"held for {limit:g} s of wall-clock time without an answer (the simulated clock "
            "is paused or too slow, or the server is paused; see --hold-limit)"
        )
        if reached is None:  # (a request that cannot be withdrawn)
            outcome = "what it started may still complete when the clock moves"
        elif reached:
            outcome = f"it had already been {reached} and may still be applied when the clock moves"
        else:
            outcome = "it was withdrawn before it changed anything: nothing was applied"
        super().__init__(f"{held}; {outcome}")


Reply = Callable[[JSON, RaftsimError | None], None]
# Inputs kept for replay: a serve left running for days under a polling client must not
# grow without bound, so past this many the journal is dropped and replay refused (a reset
# starts a new, replayable run).
JOURNAL_LIMIT = 200_000


class Input(NamedTuple):
    """One thing done to the simulation from outside: `ACTIONS[action](sim, reply, *args)`
    at virtual time `time`. (A named tuple: one is made for every request served, and a
    frozen dataclass costs three times as much to make.)"""

    time: int
    action: str
    args: tuple[Any, ...]


class _Pending:
    """A request's answer: `outcome` when it came while the request started, else set on
    `future` once the request awaits it (only the first answer counts)."""

    __slots__ = ("future", "outcome", "ticket")

    def __init__(self, ticket: Ticket) -> None:
        self.ticket = ticket
        self.outcome: Outcome | None = None
        self.future: asyncio.Future[Outcome] | None = None

    def reply(self, result: JSON, error: RaftsimError | None) -> None:
        self.ticket.close()
        if self.future is None:
            if self.outcome is None:
                self.outcome = (result, error)
        elif not self.future.done():
            self.future.set_result((result, error))


def _answer(reply: Reply) -> Callable[[Future], None]:
    """A core future's outcome as a reply (a client's `propose`)."""

    def done(future: Future) -> None:
        reply(None if future.error else {"Index": future.index}, future.error)

    return done


def _propose(sim: Simulation, reply: Reply, data: str) -> None:
    sim.cluster.propose(data).add_done_callback(_answer(reply))


def _partition(sim: Simulation, reply: Reply, groups: list[list[str]]) -> None:
    # The new partition replaces any earlier partition or cut; the trace (and the page's
    # log) says "healed" only when there was one to remove.
    if sim.cluster.network.blocked:
        sim.cluster.heal()
    sim.cluster.partition(*groups)


def _restart(
    sim: Simulation, name: str, address: str | None, files: dict[str, bytes] | None
) -> None:
    """Restart `name` (at `address`). `files`: its Raft directory as the live restart found
    it on disk (the operator's peers.json), put back in memory when a replay applies it."""
    directory = sim.cluster.server(name).directory
    if sim.replaying and files is not None and isinstance(directory, MemoryDirectory):
        directory.files = dict(files)
    sim.cluster.restart(name, address)


# Every input, by name: what it does to a simulation. The ones that answer later call
# `reply`; the others are done when they return (a RaftsimError refuses them, unchanged).
ACTIONS: dict[str, Callable[..., None]] = {
    "crash": lambda sim, reply, name: sim.cluster.crash(name),
    "restart": lambda sim, reply, name, address=None, files=None: _restart(
        sim, name, address, files
    ),
    "add_server": lambda sim, reply, join: sim.nomad.add_server(join),
    "pause": lambda sim, reply, name: sim.cluster.pause(name),
    "resume": lambda sim, reply, name: sim.cluster.resume(name),
    "timeout": lambda sim, reply, name: sim.cluster.time_out(name),
    "partition": _partition,
    "cut": lambda sim, reply, src, dst: sim.cluster.cut(src, dst),
    "heal": lambda sim, reply: sim.cluster.heal(),
    "network": lambda sim, reply, *conditions: sim.cluster.set_network(*conditions),
    "leave": lambda sim, reply, name: sim.nomad.leave(name, lambda: reply(None, None)),
    "propose": _propose,
    "nomad.call": lambda sim, reply, server, request: sim.nomad.call(server, request, reply),
    "nomad.members": lambda sim, reply, server, token="": sim.nomad.members(server, reply, token),
    "nomad.force_leave": lambda sim, reply, server, node, hold=None, token="": (
        sim.nomad.force_leave(server, node, reply, hold, token)
    ),
    "acl_token": lambda sim, reply, name, rules: sim.nomad.acl.create(name, rules),
    "nomad.join": lambda sim, reply, server, addresses: sim.nomad.join(server, addresses, reply),
    # A held request given up (HeldTooLong): what it had not done yet, it never does.
    "withdraw": lambda sim, reply, hold: setattr(hold, "withdrawn", True),
}


def _ignore(result: JSON, error: RaftsimError | None) -> None:
    """A replayed input's answer: its client got it the first time."""


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
        if o.acl and not VERSIONS[o.version].acls:
            raise ValueError(
                f"Nomad {o.version} has no ACLs (they came with 0.7): choose another "
                "release to enable them"
            )
        self.options = o
        # Bootstrapped once for the whole serve, from the seed it started with: the banner
        # prints it, so a reset (a new run, perhaps a new seed) keeps it.
        self.management_token = go_uuid(o.seed, "nomad/acl/bootstrap") if o.acl else ""
        self.data: DataDirs | None = None
        if o.data_dir is not None:
            self.data = DataDirs(o.data_dir or None)
            self.data.check_fresh([server_name(i) for i in range(o.servers)])
        self.journal: list[Input] = []  # the inputs applied, in order
        self.future: list[Input] = []  # recorded inputs after a rewind (a replay forward)
        self.horizon = 0  # the latest virtual time this run reached (the slider's end)
        self.replayable = True  # False once the journal outgrew JOURNAL_LIMIT
        self.rebuilds: list[Callable[[], None]] = []  # told after a reset or a replay
        self._hooks: list[Callable[[Event], None]] = []  # listeners kept across rebuilds
        self._waiting: set[asyncio.Future[Outcome]] = set()
        self._watching = 0
        self.replaying = False  # recorded inputs are being applied again (`_rebuild`)
        try:
            self._build(o.seed)
        except BaseException:
            if self.data is not None:
                self.data.cleanup()
            raise
        self.feed = EventFeed(self)
        self.driver = Driver(self.cluster.sched, o.mode, o.speed)
        self.http: dict[str, str] = {}  # server name -> "http://host:port" once listening
        # Gives a server added later its HTTP address (the listeners set it; tests without
        # listeners leave it doing nothing).
        self.place: Callable[[str], None] = lambda name: None
        self.control_url = ""
        if not o.quiet:
            Timeline(self)

    def _build(self, seed: int, in_memory: bool = False) -> None:
        """A new cluster from `seed`. The servers' Raft directories are on disk when a data
        directory was given, except while a replay rebuilds a run: the files each restart
        read are recorded with it and replayed in memory, the operator's own left alone."""
        o = self.options
        version = VERSIONS[o.version]
        directories = memory_directories
        if self.data is not None and not in_memory:
            directories = self.data.directory
        self.cluster = Cluster(
            o.servers,
            seed=seed,
            timing=Timing.nomad() if o.timing == "nomad" else Timing.paper(),
            profile=version.profile,
            trace=o.trace,
            trace_limit=o.trace_limit,
            directories=directories,
        )
        acl = ACL(o.acl, self.management_token, seed, version.unknown_token_denied)
        self.nomad = NomadCluster(self.cluster, version, acl=acl)

    def listen(self, listener: Callable[[Event], None]) -> None:
        """Add a listener to the cluster, and to every cluster a reset or replay builds."""
        self._hooks.append(listener)
        self.cluster.listeners.append(listener)

    def watch_messages(self, delta: int) -> None:
        """One more (+1) or one fewer (-1) watcher of message-level events (the page's
        messages in flight): the cluster reports them while anyone watches."""
        self._watching += delta
        self.cluster.watch_messages(self._watching > 0)

    # ------------------------------------------------------------ inputs

    def _flush(self) -> int:
        """Run what is due at the current instant, so that an input comes after every event
        of its time (a paced or jumping driver may stop between two); the time."""
        self.driver.sync()
        sched = self.cluster.sched
        due = sched.next_due()
        if due is not None and due <= sched.now:  # (nearly always nothing is)
            sched.run_until(sched.now)
        self._branch()
        return sched.now

    def _branch(self) -> None:
        """Time run past a recorded input of a rewound run without applying it starts a
        new future: the recorded one is forgotten, and the slider ends at the present.
        (Without inputs ahead, running on from a rewound point is the recorded run.)"""
        now = self.cluster.now
        if self.future and self.future[0].time <= now:
            self.future.clear()
            self.horizon = now
        else:
            self.horizon = max(self.horizon, now)

    def act(self, action: str, *args: Any) -> None:
        """Apply an input that is done when it returns (RaftsimError: refused, nothing
        changed), and record it."""
        now = self._flush()
        ACTIONS[action](self, _ignore, *args)
        self._record(Input(now, action, args))

    def _record(self, item: Input) -> None:
        self.future.clear()
        self.horizon = item.time
        if self.replayable:
            self.journal.append(item)
            if len(self.journal) > JOURNAL_LIMIT:
                self.journal, self.replayable = [], False

    async def request(self, action: str, *args: Any, hold: Hold | None = None) -> Outcome:
        """Apply an input that answers in virtual time, record it, and await its answer (at
        most `hold_limit`: see `wait`)."""
        pending = self._begin(ACTIONS[action], args, (action, args))
        if pending.outcome is not None:  # a local answer (most reads): nothing to await
            return pending.outcome
        return await self._later(pending, hold)

    async def wait(
        self,
        start: Start,
        record: tuple[str, tuple[Any, ...]] | None = None,
        hold: Hold | None = None,
    ) -> Outcome:
        """Run `start(reply)` against the simulation and await the reply in virtual time
        (recorded as the input `record` when it starts without an error), at most
        `hold_limit` seconds of wall-clock time: then `hold` is withdrawn (see `Hold`; the
        withdrawal is an input too, so a replay withdraws it at the same instant) and
        `HeldTooLong` raised."""
        pending = self._begin(lambda _sim, reply: start(reply), (), record)
        if pending.outcome is not None:
            return pending.outcome
        return await self._later(pending, hold)

    def _begin(
        self,
        act: Callable[..., None],
        args: tuple[Any, ...],
        record: tuple[str, tuple[Any, ...]] | None,
    ) -> _Pending:
        """`act(self, reply, *args)` after what is due now, recorded as the input `record`
        unless it raised. (`request` awaits in one coroutine, not two: it runs for every
        Nomad request served.)"""
        now = self._flush()
        pending = _Pending(self.driver.expect())
        try:
            act(self, pending.reply, *args)
        except BaseException:
            pending.ticket.close()
            raise
        if record is not None:
            self._record(Input(now, *record))
        return pending

    async def _later(self, pending: _Pending, hold: Hold | None) -> Outcome:
        """Await an answer that did not come at once (see `wait`)."""
        later: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        pending.future = later
        self._waiting.add(later)
        try:
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
                    self._record(Input(self._flush(), "withdraw", (hold,)))
                    hold.withdrawn = True
                raise HeldTooLong(limit, hold.reached if hold is not None else None) from None
        finally:
            pending.ticket.close()
            self._waiting.discard(later)

    # ------------------------------------------------------------ reset and replay

    def reset(self, seed: int) -> None:
        """Start over from `seed`: a new run, with no inputs."""
        self._idle()
        self.options.seed = seed
        self.journal, self.future, self.replayable = [], [], True
        self._rebuild(seed, self.journal, 0, "reset")
        self.horizon = 0

    def replay(self, until: int) -> None:
        """Build the run again from its seed and inputs, up to virtual time `until` (earlier
        than now, or up to the horizon of a rewound run); the clock is left paused there."""
        self._idle()
        if not self.replayable:
            raise RaftsimError(
                f"this run recorded more than {JOURNAL_LIMIT} inputs: it can no longer be "
                "replayed (a reset starts a new run)"
            )
        if until > self.horizon and until > self.cluster.now:
            raise RaftsimError(f"this run has not reached {until} µs yet (horizon {self.horizon})")
        recorded = self.journal + self.future
        done = [item for item in recorded if item.time <= until]
        horizon = max(self.horizon, self.cluster.now)
        self._rebuild(self.options.seed, done, until, "replay")
        self.journal = done
        self.future = [item for item in recorded if item.time > until]
        self.horizon = horizon

    def _idle(self) -> None:
        """Refuse a reset or a replay while an advance runs (it holds the old scheduler)."""
        if self.driver.advancing:
            raise RaftsimError("the clock is advancing (POST /v1/sim/clock/advance): try again")

    def _rebuild(self, seed: int, inputs: list[Input], until: int, how: str) -> None:
        for waiting in self._waiting:  # their cluster is gone: they get an answer now
            if not waiting.done():
                waiting.set_result((None, RaftsimError("the simulation was reset")))
        if how == "reset" and self.data is not None:
            self.data.recreate()
        self._build(seed, in_memory=how == "replay")
        cluster = self.cluster
        sched = cluster.sched
        for item in inputs:  # a held request's standing is replayed from its start too
            for arg in item.args:
                hold = arg.hold if isinstance(arg, Request) else arg
                if isinstance(hold, Hold):
                    hold.withdrawn, hold.reached = False, ""
        self.replaying = True
        try:
            for item in inputs:
                sched.run_until(item.time)
                try:
                    ACTIONS[item.action](self, _ignore, *item.args)
                except RaftsimError:  # (refused live as well: it was not recorded then)
                    raise AssertionError(f"a recorded input failed on replay: {item}") from None
        finally:
            self.replaying = False
        sched.run_until(until)
        cluster.listeners.extend(self._hooks)  # after the replay: watchers see its end only
        cluster.record(ClusterReset(cluster.now, "-", seed, how))
        cluster.watch_messages(self._watching > 0)
        self.driver.retarget(sched, "paused" if how == "replay" else self.driver.mode)
        for told in self.rebuilds:
            told()

    def raft_files(self, name: str) -> dict[str, bytes] | None:
        """Server `name`'s peers files on disk now (None without a data directory), to be
        recorded with its restart: a replay cannot read them back from a disk that moved on."""
        if self.data is None:
            return None
        directory = self.cluster.server(name).directory
        return {f: directory.read(f) for f in (PEERS_INFO, PEERS_JSON) if directory.exists(f)}

    # ------------------------------------------------------------ views

    def state(self) -> dict[str, object]:
        """GET /v1/sim/state: what every server believes, the network, the clock."""
        self._branch()
        out = cluster_state(self.cluster)
        nomad = self.nomad
        for server in out["servers"]:  # type: ignore[attr-defined]
            name = server["name"]
            server["http"] = self.http.get(name, "")
            server["left"] = name in nomad.left
            server["serf"] = nomad.serf_view(name)
        out["clock"] = self.driver.state()
        out["nomad_version"] = nomad.version.version
        out["raft_protocol"] = nomad.version.raft_protocol
        out["raft_library"] = nomad.version.raft_library
        out["acl"] = nomad.acl.state()
        out["horizon_us"] = max(self.horizon, self.cluster.now)
        out["inputs"] = len(self.journal)
        out["replayable"] = self.replayable
        return out
