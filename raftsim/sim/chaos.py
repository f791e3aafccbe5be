"""Seeded fault schedules (ring 1): crashes, restarts, pauses, partitions (symmetric and
asymmetric), loss, latency, client proposals and membership changes, at random virtual times.

A schedule is plain data (a list of `Op`), generated from a seed and then executed against
a `Cluster`; targets are symbolic ("the leader", "a follower", "a down server") and resolved
when the op runs, from the schedule's own random stream, so the same seed always does the
same thing. Ops that do not apply at their time (crash a server that is already down) are
skipped and said so. Membership changes can also be fired the instant a new leader is
elected, which is where the 2015 single-server-change bug lives (spec §4.2).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..core.errors import RaftsimError
from ..core.leader import Future
from ..core.timing import MS, SECOND
from ..core.types import Role
from .cluster import DOWN, PAUSED, UP, Cluster
from .rng import derive_seed

FAULT_KINDS = (
    "crash",
    "pause",
    "partition",
    "cut",
    "loss",
    "latency",
    "crash-mid-replication",
    "crash-at-election",
)
CHANGE_KINDS = ("add", "remove", "remove-leader", "demote", "add-nonvoter")
ALL_KINDS = (*FAULT_KINDS, "propose", *CHANGE_KINDS, "change-at-election")


@dataclass(frozen=True, slots=True)
class Op:
    """One scheduled action: at `at` µs after the schedule starts, do `kind`."""

    at: int
    kind: str
    pick: int  # a draw used to choose targets when the op runs
    value: float = 0.0

    def __str__(self) -> str:
        return f"{self.at}us {self.kind} pick={self.pick} value={self.value}"


@dataclass(slots=True)
class Outcome:
    """What running a schedule did."""

    seed: int
    ops: list[str] = field(default_factory=list)
    elections: int = 0
    changes_committed: int = 0
    violations: list[str] = field(default_factory=list)


def generate(
    seed: int,
    duration: int = 60 * SECOND,
    kinds: Sequence[str] = ALL_KINDS,
    rate: float = 0.5,
) -> list[Op]:
    """About `rate` ops per simulated second, of the given kinds, at uniform times."""
    unknown = sorted(set(kinds) - set(ALL_KINDS))
    if unknown:
        raise ValueError(f"unknown fault kinds {unknown}; known: {', '.join(ALL_KINDS)}")
    rand = random.Random(derive_seed(seed, "chaos/schedule"))
    count = max(1, round(rate * duration / SECOND))
    ops = [
        Op(rand.randrange(duration), rand.choice(kinds), rand.randrange(1 << 30), rand.random())
        for _ in range(count)
    ]
    ops.sort(key=lambda op: (op.at, op.kind, op.pick))
    return ops


class Runner:
    """Executes a schedule against a cluster, resolving symbolic targets as it goes."""

    def __init__(self, cluster: Cluster, seed: int) -> None:
        self.cluster = cluster
        self.outcome = Outcome(seed)
        self.proposals = 0
        self.changes: list[Future] = []

    def _names(self, status: str) -> list[str]:
        return [n for n, s in self.cluster.servers.items() if s.status == status]

    def _members(self) -> list[str]:
        """Servers in the leader's latest configuration (or in anyone's, with no leader)."""
        leader = self.cluster.leader()
        views = [self.cluster.view(leader)] if leader else self.cluster.views()
        ids = {s.id for v in views for s in v.latest.servers}
        return [n for n, s in self.cluster.servers.items() if s.id in ids]

    def run(self, ops: Sequence[Op], settle: int = 20 * SECOND) -> Outcome:
        cluster = self.cluster
        start = cluster.now
        leaders_seen = self._leaders()
        for op in ops:
            cluster.sched.run_until(start + op.at)
            leaders_seen |= self._leaders()
            try:
                done = self._apply(op)
            except RaftsimError as error:
                done = f"error: {error}"
            self.outcome.ops.append(f"{op.at}us {op.kind}: {done}")
        self.settle(settle)
        leaders_seen |= self._leaders()
        self.outcome.elections = len(leaders_seen)
        self.outcome.changes_committed = sum(1 for f in self.changes if f.done and not f.error)
        self.outcome.violations = [str(v) for v in cluster.violations]
        return self.outcome

    def _leaders(self) -> set[tuple[str, int]]:
        return {
            (n, s.storage.current_term)
            for n, s in self.cluster.servers.items()
            if s.node is not None and s.node.role is Role.LEADER
        }

    def settle(self, span: int) -> None:
        """Undo every fault, then run `span` so the cluster can converge."""
        cluster = self.cluster
        cluster.heal()
        cluster.set_network(latency=(200, 600), loss=0.0)
        for name in self._names(PAUSED):
            cluster.resume(name)
        for name in self._names(DOWN):
            cluster.restart(name)
        cluster.run_for(span)

    def _apply(self, op: Op) -> str:
        cluster = self.cluster
        rand = random.Random(op.pick)
        up = self._names(UP)
        leader = cluster.leader()
        kind = op.kind
        if kind == "crash":
            down = self._names(DOWN)
            if down and op.value < 0.5:
                name = rand.choice(down)
                cluster.restart(name)
                return f"restart {name}"
            if not up:
                return "skipped"
            name = leader if leader and op.value < 0.75 else rand.choice(up)
            cluster.crash(name)
            return f"crash {name}"
        if kind == "crash-mid-replication":
            # The leader dies while a burst of entries is still reaching its followers: the
            # tail it leaves behind on a minority is what Figure 8 of the paper is about.
            if not leader:
                return "skipped (no leader)"
            for _ in range(1 + int(op.value * 100)):
                self.proposals += 1
                cluster.propose(f"x{self.proposals}")
            cluster.run_for(rand.randrange(3 * MS))
            if cluster.servers[leader].status != UP:
                return "skipped (leader gone)"
            cluster.crash(leader)
            return f"crash {leader} after proposing up to x{self.proposals}"
        if kind == "pause":
            paused = self._names(PAUSED)
            if paused and op.value < 0.5:
                name = rand.choice(paused)
                cluster.resume(name)
                return f"resume {name}"
            if not up:
                return "skipped"
            name = rand.choice(up)
            cluster.pause(name)
            return f"pause {name}"
        if kind == "partition":
            if op.value < 0.3:
                cluster.heal()
                return "heal"
            names = sorted(cluster.servers)
            rand.shuffle(names)
            cut = rand.randrange(1, len(names)) if len(names) > 1 else 1
            cluster.partition(names[:cut], names[cut:])
            return f"partition {' '.join(sorted(names[:cut]))} | {' '.join(sorted(names[cut:]))}"
        if kind == "cut":
            names = sorted(cluster.servers)
            if len(names) < 2:
                return "skipped"
            src, dst = rand.sample(names, 2)
            cluster.cut(src, dst)
            return f"cut {src}->{dst}"
        if kind == "loss":
            loss = round(op.value * 0.3, 3)
            cluster.set_network(loss=loss)
            return f"loss {loss}"
        if kind == "latency":
            high = 1 + int(op.value * 50)
            cluster.set_network(latency=(200, high * MS))
            return f"latency 0.2ms-{high}ms"
        if kind == "propose":
            if not leader:
                return "skipped (no leader)"
            # Mostly single commands, sometimes a burst that leaves slow followers more
            # than one AppendEntries batch (64 entries) behind.
            burst = 1 + int(op.value**4 * 150)
            first = self.proposals + 1
            for _ in range(burst):
                self.proposals += 1
                cluster.propose(f"x{self.proposals}")
            return f"propose x{first}" + (f"..x{self.proposals}" if burst > 1 else "")
        if kind in ("change-at-election", "crash-at-election"):
            new_leader = self._next_leader()
            if new_leader is None:
                return "skipped (no new leader)"
            if kind == "change-at-election":
                return "at election: " + self._change(rand, op, "remove")
            # A leader that dies before its no-op spreads leaves its followers' logs behind.
            cluster.run_for(rand.randrange(2 * MS))
            if cluster.servers[new_leader].status != UP:
                return "skipped (leader gone)"
            cluster.crash(new_leader)
            return f"at election: crash {new_leader}"
        return self._change(rand, op, kind)

    def _next_leader(self) -> str | None:
        """Run until a server becomes leader in a term not seen before (at most 30 s)."""
        seen = self._leaders()
        cluster = self.cluster
        if not cluster.run_until(
            lambda c: bool(c.leader() and (c.leader(), c.view(c.leader() or "").term) not in seen),
            30 * SECOND,
        ):
            return None
        return cluster.leader()

    def _change(self, rand: random.Random, op: Op, kind: str) -> str:
        cluster = self.cluster
        leader = cluster.leader()
        if not leader:
            return "skipped (no leader)"
        members = self._members()
        outsiders = sorted(set(cluster.servers) - set(members))
        if kind == "add" or (kind == "remove" and len(members) <= 2):
            if outsiders and op.value < 0.5:
                name = rand.choice(outsiders)
            elif len(cluster.servers) < 9:
                name = cluster.add_server()
            else:
                return "skipped (cluster full)"
            self.changes.append(cluster.add_voter(name))
            return f"add-voter {name}"
        if kind == "add-nonvoter":
            if not outsiders:
                return "skipped (no outsider)"
            name = rand.choice(outsiders)
            self.changes.append(cluster.add_nonvoter(name))
            return f"add-nonvoter {name}"
        if kind == "remove-leader":
            self.changes.append(cluster.remove_server(leader))
            return f"remove-server {leader} (the leader)"
        followers = [n for n in members if n != leader]
        if not followers:
            return "skipped (no follower)"
        name = rand.choice(followers)
        if kind == "demote":
            self.changes.append(cluster.demote_voter(name))
            return f"demote-voter {name}"
        self.changes.append(cluster.remove_server(name))
        return f"remove-server {name}"


def run_seed(
    seed: int,
    servers: int = 5,
    duration: int = 60 * SECOND,
    kinds: Sequence[str] = ALL_KINDS,
    cluster: Cluster | None = None,
) -> Outcome:
    """Generate and run one schedule with every checker on."""
    cluster = cluster or Cluster(servers, seed=seed, trace="state")
    cluster.run_until(lambda c: c.leader() is not None, 30 * SECOND)
    return Runner(cluster, seed).run(generate(seed, duration, kinds))
