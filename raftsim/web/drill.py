"""Incident drills (ring 2): a served cluster that starts in a broken state, a briefing of
what the on-call engineer sees, and a score once the goal holds.

A drill is a data file in `drills/` (beside the scenario library), close to the transcript
format: `title TEXT`, `> ` briefing lines, `cluster servers=N seed=S [release=VERSION]` (the
emulated Nomad release, 0.5.6 by default: `raftsim serve --version`), setup commands run
before the engineer gets the cluster (`SETUP` below), and `goal voters=N [for=SPAN]`: a
leader whose committed configuration has N voters, each a running server at its current
address that follows that leader and holds the configuration committed, for SPAN without a
break. A team writes its own drills the same way.

The score: recovered or not; time to recovery, virtual and wall, from the end of the setup;
committed entries lost (entries committed before the incident that the leader's log no
longer holds at their index, each named by index/term and what it held: a survivor that
missed the last writes recovers without them, as in reality); API calls made (Nomad API
requests and control actions); and unsafe actions (peers.json recoveries whose
configurations disagree, or that list an address no server has: an HTTP port, say).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..core.events import CommitAdvanced, Event
from ..core.types import Configuration, Entry, Suffrage
from ..nomad.endpoints import Request
from ..nomad.version import VERSIONS
from ..sim.cluster import UP
from ..sim.datadir import PEERS_JSON
from ..sim.events import Recovered
from ..sim.render import fmt_configuration, fmt_entry
from ..sim.timeparse import duration
from .simulation import Simulation

# The setup commands: how the cluster is broken before the engineer gets it.
SETUP = (
    "run-for",  # SPAN
    "propose",  # DATA, through the leader
    "crash",  # NAME
    "restart",  # NAME [ADDRESS]
    "partition",  # NAME ... | NAME ...
    "isolate-leader",  # the leader alone on its side of a partition
    "remove-peer",  # ADDRESS, as DELETE /v1/operator/raft/peer on the leader
    "peers-json",  # NAME ADDRESS ...: write its raft/peers.json
    "rm",  # NAME FILE: delete a file of its raft directory (peers.info)
)
LOST_SHOWN = 8  # lost entries the score names; the count is always whole


class DrillError(ValueError):
    """A drill file that cannot be read (with its file and line)."""


@dataclass(frozen=True)
class Drill:
    name: str
    title: str
    briefing: tuple[str, ...]
    servers: int
    seed: int
    setup: tuple[str, ...]
    voters: int
    hold: int = 0  # µs the goal must hold without a break (past the leader's reconcile, say)
    release: str = "0.5.6"  # the Nomad release the servers emulate (nomad/version.py)


def drill_dir(given: str = "") -> Path:
    """The drills given, else the library of a source checkout."""
    return Path(given) if given else Path(__file__).resolve().parents[2] / "drills"


def load(path: Path) -> Drill:
    title, briefing, setup = "", [], []
    servers, seed, voters, hold = 3, 0, 0, 0
    release = Drill.release
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        where = f"{path.name}:{number}"
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if line.startswith(">"):
            briefing.append(line[1:].strip())
        elif word == "title":
            title = rest
        elif word == "cluster":
            options = dict(part.partition("=")[::2] for part in rest.split())
            try:
                servers = int(options.pop("servers", "3"))
                seed = int(options.pop("seed", "0"))
            except ValueError:
                raise DrillError(f"{where}: servers= and seed= are numbers") from None
            release = options.pop("release", release)
            if release not in VERSIONS:
                raise DrillError(f"{where}: no Nomad release {release} ({', '.join(VERSIONS)})")
            if options:
                raise DrillError(f"{where}: unknown option {sorted(options)[0]}=")
        elif word == "goal":
            options = dict(part.partition("=")[::2] for part in rest.split())
            value = options.pop("voters", "")
            try:
                hold = duration(options.pop("for", "0s"))
            except ValueError as error:
                raise DrillError(f"{where}: for= {error}") from None
            if options or not value.isdigit() or int(value) < 1:
                raise DrillError(f"{where}: the goal is voters=N [for=SPAN]")
            voters = int(value)
        elif word in SETUP:
            if word == "run-for":
                try:
                    duration(rest)
                except ValueError as error:
                    raise DrillError(f"{where}: {error}") from None
            setup.append(line)
        else:
            raise DrillError(f"{where}: unknown line {word!r}")
    if not title or not voters:
        raise DrillError(f"{path.name}: a drill needs a title and a goal")
    return Drill(
        path.stem, title, tuple(briefing), servers, seed, tuple(setup), voters, hold, release
    )


def library(given: str = "") -> dict[str, Drill]:
    return {p.stem: load(p) for p in sorted(drill_dir(given).glob("*.txt"))}


@dataclass
class Score:
    recovered: bool
    virtual_us: int
    wall_s: float
    lost: int
    api_calls: int
    unsafe: list[str] = field(default_factory=list)
    lost_entries: list[str] = field(default_factory=list)  # index/term and what, as traced

    def lines(self) -> list[str]:
        took = f"{self.virtual_us / 1e6:.3f} s virtual, {self.wall_s:.2f} s wall"
        shown = ", ".join(self.lost_entries[:LOST_SHOWN])
        if len(self.lost_entries) > LOST_SHOWN:
            shown += ", ..."
        return [
            f"recovered:             {'yes' if self.recovered else 'no'}",
            f"time to recovery:      {took if self.recovered else '-'}",
            f"committed entries lost: {self.lost}" + (f" ({shown})" if shown else ""),
            f"API calls made:        {self.api_calls}",
            f"unsafe actions:        {'; '.join(self.unsafe) if self.unsafe else 'none'}",
        ]


class Session:
    """One drill played against one simulation: `setup` breaks it, `score` judges it."""

    def __init__(self, sim: Simulation, drill: Drill) -> None:
        self.sim = sim
        self.drill = drill
        self.committed: dict[int, Entry] = {}  # index -> entry committed before the incident
        self.recoveries: list[tuple[str, Configuration]] = []
        self.started_us = 0
        self.started_wall = 0.0
        self.journal_at = 0
        self.recovered_at: tuple[int, float] | None = None
        self.holding: tuple[int, float] | None = None  # since when the goal holds
        sim.listen(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, CommitAdvanced) and event.leader and not self.started_us:
            log = self.sim.cluster.servers[event.server].storage.log
            for index in range(len(self.committed) + 1, event.index + 1):
                self.committed[index] = log[index - 1]
        elif isinstance(event, Recovered) and self.started_us:  # (the engineer's own)
            self.recoveries.append((event.server, event.configuration))

    async def setup(self) -> None:
        sim = self.sim
        for line in self.drill.setup:
            word, _, rest = line.partition(" ")
            if word == "run-for":
                await sim.driver.advance(duration(rest))
            elif word == "propose":
                await sim.request("propose", rest)
            elif word == "crash":
                sim.act("crash", rest)
            elif word == "restart":
                name, _, address = rest.partition(" ")
                sim.act("restart", name, address or None, sim.raft_files(name))
            elif word in ("partition", "isolate-leader"):
                groups = [g.split() for g in rest.split("|")]
                if word == "isolate-leader":
                    leader = sim.cluster.leader() or ""
                    groups = [[leader], [n for n in sim.cluster.servers if n != leader]]
                sim.act("partition", groups)
            elif word == "remove-peer":
                leader = sim.cluster.leader() or next(iter(sim.cluster.servers))
                request = Request("Operator.RaftRemovePeerByAddress", sim.nomad.region, False, rest)
                await sim.request("nomad.call", leader, request)
            elif word == "peers-json":
                name, *addresses = rest.split()
                directory = sim.cluster.server(name).directory
                directory.write(PEERS_JSON, json.dumps(addresses).encode())
            else:
                name, _, file = rest.partition(" ")
                sim.cluster.server(name).directory.remove(file)
        self.started_us = sim.cluster.now or 1
        self.started_wall = time.monotonic()
        self.journal_at = len(sim.journal)

    def goal(self) -> bool:
        cluster = self.sim.cluster
        leader = cluster.leader()
        if leader is None:
            return False
        view = cluster.view(leader)
        if view.committed_index != view.latest_index:
            return False
        voters = [s for s in view.committed.servers if s.suffrage is Suffrage.VOTER]
        if len(voters) != self.drill.voters:
            return False
        for voter in voters:
            server = cluster.server_by_id(voter.id)
            if server is None or server.status != UP or server.address != voter.address:
                return False
            follower = cluster.view(server.name)
            if follower.leader != leader or follower.committed_index < view.latest_index:
                return False
        return True

    def check(self) -> bool:
        """Note when the goal starts to hold; True once it has held for the drill's span
        without a break (recovered from when it started to hold)."""
        if self.recovered_at is not None:
            return True
        if not self.goal():
            self.holding = None
            return False
        now = (self.sim.cluster.now, time.monotonic())
        self.holding = self.holding or now
        if now[0] - self.holding[0] >= self.drill.hold:
            self.recovered_at = self.holding
        return self.recovered_at is not None

    def score(self) -> Score:
        cluster = self.sim.cluster
        self.check()
        # The leader's log, or without one the longest log of a running server.
        running = [s for s in cluster.servers.values() if s.status == UP]
        leader = cluster.leader()
        best = (
            cluster.servers[leader]
            if leader
            else max(running, key=lambda s: s.storage.last_index, default=None)
        )
        log = best.storage.log if best is not None else []
        lost = [
            entry
            for index, entry in sorted(self.committed.items())
            if index > len(log) or log[index - 1] is not entry
        ]
        unsafe = []
        configurations = {configuration for _, configuration in self.recoveries}
        if len(configurations) > 1:
            who = ", ".join(
                f"{name} {fmt_configuration(c, lambda i: cluster.names.get(i, i))}"
                for name, c in self.recoveries
            )
            unsafe.append(f"peers.json files that disagree ({who})")
        addresses = {s.address for s in cluster.servers.values()}
        for name, configuration in self.recoveries:
            strangers = [s.address for s in configuration.servers if s.address not in addresses]
            if strangers:
                unsafe.append(f"{name}'s peers.json lists {', '.join(strangers)}: no server's")
        recovered = self.recovered_at is not None
        virtual, wall = self.recovered_at or (cluster.now, time.monotonic())
        return Score(
            recovered,
            virtual - self.started_us,
            wall - self.started_wall,
            len(lost),
            len(self.sim.journal) - self.journal_at,  # (Nomad API requests are inputs too)
            unsafe,
            [fmt_entry(entry, lambda i: cluster.names.get(i, i)) for entry in lost],
        )


def run(name: str, seed: int | None, given: str = "", http_port: int = 4646) -> int:
    """`raftsim drill NAME`: serve the broken cluster, brief, watch until the goal holds
    (or Ctrl-C), then print the score. Exit status 0 when recovered."""
    import asyncio  # noqa: PLC0415 (the CLI imports this module lazily, as serve)
    import contextlib  # noqa: PLC0415

    from .serve import banner, start, stop_on_signals  # noqa: PLC0415
    from .simulation import Options  # noqa: PLC0415

    drills = library(given)
    if name not in drills:
        print(f"error: no drill {name!r} (drills: {', '.join(drills) or 'none'})")
        return 2
    drill = drills[name]

    async def main() -> int:
        options = Options(
            servers=drill.servers,
            seed=drill.seed if seed is None else seed,
            version=drill.release,
            data_dir="",
            quiet=False,
        )
        served = await start(options, http_port)
        session = Session(served.sim, drill)
        stop = stop_on_signals()
        try:
            await session.setup()
            print(banner(served))
            print(f"\ndrill {drill.name}: {drill.title}")
            for line in drill.briefing:
                print(f"  {line}")
            print(f"goal: a leader with {drill.voters} voters, all running, all up to date\n")
            while not session.check() and not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.25)
            score = session.score()
            print("\n".join(["", f"score of drill {drill.name}:", *score.lines()]), flush=True)
            return 0 if score.recovered else 1
        finally:
            await served.close()

    return asyncio.run(main())
