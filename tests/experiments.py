"""Measured election behaviour, the experiments tests/test_failover.py runs on the simulation:
leader failover at Nomad's defaults (spec §3.11) and the Raft paper's Figure 16 (spec §5), in
virtual time over many seeds.

Every trial builds its own `Cluster` from its seed; the experiment's own choices (how long
to settle, when to crash, which followers fall behind) come from a `random.Random` derived
from the same seed, so a sample is a pure function of (seed, parameters) and any outlier can
be replayed alone. All times are integer microseconds of virtual time.

Failover (`failover_time`). Start the cluster and wait for a leader; let it run 3 s plus
U[0, 1 s) (the random part decorrelates the crash from the leader's heartbeat and
replication timers); check that every server follows that leader; crash it at t_crash.
The failover time is t_elected - t_crash, where t_elected is the virtual time of the first
event after which a running server holds the Leader role (necessarily in a higher term: the
old leader is down). It is "time without a leader", not "time until clients are served":
the new leader still has to commit its no-op and followers still have to hear from it.

Figure 16 (`figure16_trial`), after spec §5.1 and §5.4, on five servers with paper timing:
1. Steady leader L0 (settle 1 s plus U[0, low)).
2. Shorter logs: cut L0's links to two of its followers, chosen from the seed, propose one
   command and wait for it to commit on L0 and the other two; crash L0 while the links are
   still cut (so the two never receive it), heal, restart L0. The two now hold shorter logs
   and can never win (Leader Completeness: the entry is committed).
3. Synchronized broadcast: the next leader L1 (one of the three complete servers) sends its
   first AppendEntries, the no-op, to all four followers at the same instant as it wins
   (§3.7 setup). raftsim's leader runs hashicorp's per-follower loops (a heartbeat after
   every reply, an idle replication round every U[CT, 2CT)), so no later instant has such a
   broadcast, and the leader would keep resetting timers between the broadcast and the
   crash, which LogCabin's leader does not do within one heartbeat interval. So the
   experiment cuts L1's link to each follower the moment the broadcast reaches it: to the
   followers, L1 has sent one synchronized heartbeat and then nothing, as in the paper.
   The broadcast must be accepted by all four (their timers restart) within the maximum
   one-way latency, else the arrangement is retried with a seed derived from the trial's.
4. Crash L1 at t_crash = broadcast + U[0, low/2) (the cuts stay: they only silence L1).
5. Stop the clock when the new leader's first AppendEntries has reached the other
   survivors: by default the *last* of them (spec §7 open question 3). The paper measures
   "until the other servers receive the new leader's first heartbeat" (plural), which is
   when the whole cluster knows the new leader; the first survivor would measure an earlier,
   partial recovery. The difference is the spread of one one-way latency (a few ms); the
   `survivor` argument picks either.
Servers do not "receive" an AppendEntries in the sense of the paper unless they accept it,
so the stop condition is that the survivor's known leader is the new leader.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from raftsim.core.timing import MS, SECOND, Timing
from raftsim.sim.cluster import UP, Cluster
from raftsim.sim.network import PAPER_LAN, LinkConditions
from raftsim.sim.rng import derive_seed

Survivor = Literal["first", "last"]


class ExperimentError(RuntimeError):
    """The simulation did not reach a state the experiment needs (a simulator problem)."""


# --------------------------------------------------------------------------------- summaries


@dataclass(frozen=True, slots=True)
class Summary:
    """Sorted samples (µs) and their order statistics (nearest-rank quantiles)."""

    samples: tuple[int, ...]

    @classmethod
    def of(cls, samples: Iterable[int]) -> Summary:
        ordered = tuple(sorted(samples))
        if not ordered:
            raise ValueError("a summary needs at least one sample")
        return cls(ordered)

    @property
    def n(self) -> int:
        return len(self.samples)

    def quantile(self, q: float) -> int:
        """Nearest-rank quantile: the smallest sample with at least q of them at or below."""
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"a quantile is between 0 and 1, got {q}")
        rank = max(1, math.ceil(q * self.n))
        return self.samples[rank - 1]

    @property
    def minimum(self) -> int:
        return self.samples[0]

    @property
    def maximum(self) -> int:
        return self.samples[-1]

    @property
    def median(self) -> int:
        return self.quantile(0.5)

    @property
    def p10(self) -> int:
        return self.quantile(0.1)

    @property
    def p90(self) -> int:
        return self.quantile(0.9)

    @property
    def p99(self) -> int:
        return self.quantile(0.99)

    @property
    def mean(self) -> float:
        return sum(self.samples) / self.n

    def row_ms(self) -> tuple[float, ...]:
        """(min, p10, p50, p90, p99, max, mean) in milliseconds, as spec §5.3 lists them."""
        values = (self.minimum, self.p10, self.median, self.p90, self.p99, self.maximum)
        return (*(v / MS for v in values), self.mean / MS)


@dataclass(frozen=True, slots=True)
class PaperRow:
    """One curve of spec §5.3 (digitized, ms): n trials and min, p10, p50, p90, p99, max, mean."""

    n: int
    minimum: float
    p10: float
    p50: float
    p90: float
    p99: float | None
    maximum: float
    mean: float


# Spec §5.3, keyed by (low_ms, high_ms); accuracy about ±1 % of value.
FIGURE16_PAPER: dict[tuple[int, int], PaperRow] = {
    (150, 150): PaperRow(100, 9866, 19971, 41108, 84944, None, 528045, 54800),
    (150, 151): PaperRow(1000, 86, 434, 1199, 3132, 6013, 8232, 1540),
    (150, 155): PaperRow(1000, 85, 119, 287, 609, 1242, 2143, 345),
    (150, 175): PaperRow(1000, 84, 107, 141, 291, 467, 610, 164),
    (150, 200): PaperRow(1000, 87, 110, 146, 194, 352, 512, 156),
    (150, 300): PaperRow(1000, 93, 125, 171, 244, 415, 603, 181),
    (12, 24): PaperRow(1000, 15, 20, 30, 53, 87, 152, 35),
    (25, 50): PaperRow(1000, 24, 31, 43, 74, 119, 276, 48),
    (50, 100): PaperRow(1000, 37, 48, 67, 96, 169, 253, 71),
    (100, 200): PaperRow(1000, 66, 85, 120, 165, 277, 335, 125),
}


def format_row(label: str, values: Iterable[float | None]) -> str:
    """One table line: a label and values in ms (blank for unknown)."""
    cells = "".join(f"{'-' if v is None else f'{v:.1f}':>9}" for v in values)
    return f"{label:<22}{cells}"


TABLE_HEADER = format_row("", ()) + "".join(
    f"{h:>9}" for h in ("min", "p10", "p50", "p90", "p99", "max", "mean")
)


def figure16_table(low_ms: int, high_ms: int, measured: Summary) -> str:
    """The paper's row (spec §5.3) above raftsim's, in ms, for printing next to each other."""
    lines = [TABLE_HEADER]
    paper = FIGURE16_PAPER.get((low_ms, high_ms))
    if paper is not None:
        lines.append(
            format_row(
                f"paper {low_ms}-{high_ms} n={paper.n}",
                (
                    paper.minimum,
                    paper.p10,
                    paper.p50,
                    paper.p90,
                    paper.p99,
                    paper.maximum,
                    paper.mean,
                ),
            )
        )
    lines.append(format_row(f"raftsim {low_ms}-{high_ms} n={measured.n}", measured.row_ms()))
    return "\n".join(lines)


# --------------------------------------------------------------------------------- failover

SETTLE = 3 * SECOND
SETTLE_JITTER = 1 * SECOND
WAIT_FOR_LEADER = 60 * SECOND


def _require_leader(cluster: Cluster, within: int, what: str) -> str:
    if not cluster.run_until(lambda c: c.leader() is not None, within):
        raise ExperimentError(f"seed {cluster.seed}: no leader within {within} µs ({what})")
    leader = cluster.leader()
    assert leader is not None
    return leader


def failover_time(
    seed: int,
    servers: int = 3,
    timing: Timing | None = None,
    network: LinkConditions | None = None,
) -> int:
    """µs from crashing a settled leader until a running server becomes Leader (see module
    docstring). `timing` defaults to Nomad's (`Timing.nomad()`), `network` to the cluster's
    default for that timing."""
    if servers < 3:
        raise ValueError(f"a failover needs at least 3 servers, got {servers}")
    timing = timing or Timing.nomad()
    rand = random.Random(derive_seed(seed, "experiments/failover"))
    cluster = Cluster(servers, seed, timing, network=network, trace="off")
    old = _require_leader(cluster, WAIT_FOR_LEADER, "first election")
    term = cluster.server(old).storage.current_term
    cluster.run_for(SETTLE + rand.randrange(SETTLE_JITTER))
    leader_id = cluster.server(old).id
    for server in cluster.servers.values():
        node = server.node
        if (
            node is None
            or node.storage.current_term != term
            or (server.name != old and node.leader_id != leader_id)
        ):
            raise ExperimentError(f"seed {seed}: the first leader {old} was not stable")
    cluster.crash(old)
    crashed_at = cluster.now
    _require_leader(cluster, WAIT_FOR_LEADER, "failover")
    return cluster.now - crashed_at


def failover_times(
    seeds: Iterable[int],
    servers: int = 3,
    timing: Timing | None = None,
    network: LinkConditions | None = None,
) -> Summary:
    """`failover_time` over every seed, as sorted samples with their quantiles."""
    return Summary.of(failover_time(seed, servers, timing, network) for seed in seeds)


# --------------------------------------------------------------------------------- Figure 16

FIGURE16_SERVERS = 5
FIGURE16_ATTEMPTS = 20
# Longest wait for any one election: the paper's worst 150-150 ms trial took 528 s (§5.3).
FIGURE16_WAIT = 600 * SECOND


def _hears(cluster: Cluster, name: str, leader_id: str) -> bool:
    node = cluster.server(name).node
    return node is not None and node.leader_id == leader_id


def _figure16_attempt(
    seed: int, low: int, high: int, network: LinkConditions, survivor: Survivor
) -> int | None:
    """One arrangement and measurement; None when the arrangement did not come about
    (the paper's preconditions do not hold), so that the caller retries."""
    timing = Timing.paper(low, high)
    rand = random.Random(derive_seed(seed, "experiments/figure16"))
    cluster = Cluster(FIGURE16_SERVERS, seed, timing, network=network, trace="off")
    low_us, high_us = low * MS, high * MS
    # 1. A steady leader.
    first = _require_leader(cluster, FIGURE16_WAIT, "first election")
    cluster.run_for(SECOND + rand.randrange(low_us))
    if cluster.leader() != first:
        return None
    # 2. Two followers miss a committed entry.
    followers = [name for name in cluster.servers if name != first]
    short = sorted(rand.sample(followers, 2))
    for name in short:
        cluster.cut(first, name)
    future = cluster.propose("figure16: short logs")
    cluster.run_until(lambda c: future.done, 20 * high_us)
    if not future.done or future.error is not None:
        return None
    cluster.crash(first)
    cluster.heal()
    cluster.restart(first)
    # 3. The next leader's first AppendEntries is the synchronized broadcast; then silence.
    leader = _require_leader(cluster, FIGURE16_WAIT, "arranging the logs")
    if leader in short:
        raise ExperimentError(f"seed {seed}: {leader} won with a log missing a committed entry")
    broadcast = cluster.now
    survivors = [name for name in cluster.servers if name != leader]
    leader_id = cluster.server(leader).id
    # 4. Crash at U[0, low/2) after the broadcast. Each follower's link from the leader is
    # cut the moment the broadcast reaches it (a cut also drops messages in flight, so it
    # cannot come earlier); every later message from the leader is lost.
    crash_at = broadcast + rand.randrange(low_us // 2)
    deadline = broadcast + network.latency_max
    pending = list(survivors)
    while pending:
        due = cluster.sched.next_due()
        if due is None or due > deadline:
            return None  # a follower did not accept the broadcast: no synchronized start
        if crash_at < due and cluster.server(leader).status == UP:
            cluster.run_for(crash_at - cluster.now)
            cluster.crash(leader)
        cluster.step()
        for name in list(pending):
            if _hears(cluster, name, leader_id):
                cluster.cut(leader, name)
                pending.remove(name)
    if cluster.server(leader).status == UP:
        cluster.run_for(crash_at - cluster.now)
        cluster.crash(leader)
    lengths = sorted(cluster.server(name).storage.last_index for name in survivors)
    if not lengths[1] < lengths[2]:
        raise ExperimentError(f"seed {seed}: survivors' log lengths {lengths}, want two shorter")
    # 5. Until the new leader's first AppendEntries reached the first or last survivor.
    quantifier = all if survivor == "last" else any

    def heard(c: Cluster) -> bool:
        new = c.leader()
        if new is None:
            return False
        new_id = c.server(new).id
        return quantifier(_hears(c, name, new_id) for name in survivors if name != new)

    if not cluster.run_until(heard, FIGURE16_WAIT):
        raise ExperimentError(f"seed {seed}: no new leader within {FIGURE16_WAIT} µs")
    return cluster.now - crash_at


def figure16_trial(
    seed: int,
    low_ms: int,
    high_ms: int,
    network: LinkConditions = PAPER_LAN,
    survivor: Survivor = "last",
) -> int:
    """One Figure 16 downtime (µs): leader crash until the new leader's first AppendEntries
    reached the first or last other survivor (see the module docstring). Retries the
    arrangement with derived seeds when the cluster did not settle as the paper requires."""
    for attempt in range(FIGURE16_ATTEMPTS):
        trial_seed = seed if attempt == 0 else derive_seed(seed, f"figure16/retry/{attempt}")
        downtime = _figure16_attempt(trial_seed, low_ms, high_ms, network, survivor)
        if downtime is not None:
            return downtime
    raise ExperimentError(
        f"seed {seed}: no steady leader with synchronized followers in {FIGURE16_ATTEMPTS} "
        f"attempts at {low_ms}-{high_ms} ms (is broadcast time << election timeout?)"
    )


def figure16(
    low_ms: int,
    high_ms: int,
    trials: int = 1000,
    *,
    network: LinkConditions = PAPER_LAN,
    survivor: Survivor = "last",
    first_seed: int = 0,
) -> Summary:
    """Figure 16's curve for U[low, high) ms timeouts: trials with seeds first_seed, ... ."""
    return Summary.of(
        figure16_trial(seed, low_ms, high_ms, network, survivor)
        for seed in range(first_seed, first_seed + trials)
    )
