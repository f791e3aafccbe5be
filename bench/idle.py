"""Figures (a) and (d): an idle cluster at Nomad timings, simulated seconds per wall second.

Each run builds `Cluster(n, seed=seed, trace=trace)` with the default (Nomad) timing, runs
in virtual time until the first leader is elected (not timed), then times `run_for(span)`:
a steady idle cluster, the leader heartbeating its followers and every follower's polled
heartbeat timer firing, exactly as a real Nomad cluster with nothing to do.

Four variants:

* "default": `Cluster(n, seed=seed)`, the cluster as users get it (trace="state", the exact
  idle fast-forward on). Figure (a)'s goal applies to this one.
* "all": trace="all", every message and timer firing recorded; the fast-forward writes the
  records of what it skips. Figure (a)'s traced goal applies to this one.
* "all no-FF": the same with `fast_forward=False`, every event run one by one: what
  trace="all" cost before its jumps wrote records. Informational.
* "off no-FF": trace="off" with `fast_forward=False`, every event run one by one with
  nothing recorded: the event loop and the Raft core themselves. Informational.
"""

from __future__ import annotations

from dataclasses import dataclass
from time import process_time

from raftsim import Cluster

from .common import (
    Row,
    Section,
    fmt_num,
    fresh_heap,
    median,
    perf_counter,
    wall_limit,
)

GOAL_SIM_PER_WALL = 3_600  # an hour of Nomad per wall second
GOAL_TRACED = 3_000  # with every message recorded (trace="all")
SIZES = (3, 5, 9, 17, 51)
DEFAULT, ALL, ALL_NOFF, OFF_NOFF = "default", "all", "all no-FF", "off no-FF"
VARIANTS = (DEFAULT, ALL, ALL_NOFF, OFF_NOFF)
DESCRIBE = {
    DEFAULT: "Cluster(n, seed=s): trace=state, fast-forward on (as users get it)",
    ALL: "trace=all: every message recorded, jumps writing the records they skip",
    ALL_NOFF: "trace=all, fast_forward=False: every message recorded, event by event",
    OFF_NOFF: "trace=off, fast_forward=False: nothing recorded, event by event",
}
SEEDS = (1, 2, 3)
SPAN_S = 600  # simulated seconds timed after the first leader
SPAN_S_LARGE = 300  # for the 51-server cluster, which is ~20x slower per simulated second
RUN_WALL_LIMIT_S = 180.0


def make_cluster(servers: int, seed: int, variant: str) -> Cluster:
    if variant == DEFAULT:
        return Cluster(servers, seed=seed)
    if variant == OFF_NOFF:
        return Cluster(servers, seed=seed, trace="off", fast_forward=False)
    if variant == ALL_NOFF:
        return Cluster(servers, seed=seed, trace="all", fast_forward=False)
    return Cluster(servers, seed=seed, trace="all")


@dataclass(frozen=True)
class IdleRun:
    servers: int
    variant: str
    seed: int
    span_s: int
    wall_s: float
    cpu_s: float  # process CPU time over the same span: less sensitive to a busy machine
    records: int
    fast_forward: bool  # whether the cluster had its idle fast-forward on

    @property
    def sim_per_wall(self) -> float:
        return self.span_s / self.wall_s

    @property
    def wall_us_per_sim_s_per_server(self) -> float:
        return self.wall_s * 1e6 / (self.span_s * self.servers)


def span_for(servers: int, span_s: int = SPAN_S) -> int:
    return span_s if servers <= 17 else min(span_s, SPAN_S_LARGE)


def idle_run(servers: int, variant: str, seed: int, span_s: int) -> IdleRun:
    fresh_heap()
    with wall_limit(RUN_WALL_LIMIT_S, f"idle {servers}-server run ({variant})"):
        cluster = make_cluster(servers, seed, variant)
        if not cluster.run_until(lambda c: c.leader() is not None, "60s"):
            raise RuntimeError(f"no leader within 60 s (virtual), {servers} servers seed {seed}")
        cpu_start, start = process_time(), perf_counter()
        cluster.run_for(f"{span_s}s")
        wall = perf_counter() - start
        cpu = process_time() - cpu_start
    if cluster.leader() is None:
        raise RuntimeError(f"idle {servers}-server cluster lost its leader (seed {seed})")
    fast_forward = cluster.fast_forward is not None
    run = IdleRun(servers, variant, seed, span_s, wall, cpu, len(cluster.records), fast_forward)
    del cluster
    return run


def events_per_sim_s(servers: int, seed: int = SEEDS[0], span_s: int = 60) -> float:
    """Events the idle cluster runs per simulated second, one `step()` each (untimed)."""
    fresh_heap()
    with wall_limit(RUN_WALL_LIMIT_S, f"event count, {servers} servers"):
        cluster = Cluster(servers, seed=seed, trace="off", fast_forward=False)
        if not cluster.run_until(lambda c: c.leader() is not None, "60s"):
            raise RuntimeError(f"no leader within 60 s (virtual), {servers} servers")
        end = cluster.now + span_s * 1_000_000
        sched = cluster.sched
        count = 0
        while (due := sched.next_due()) is not None and due <= end:
            cluster.step()
            count += 1
    return count / span_s


@dataclass
class IdleResults:
    runs: dict[tuple[int, str], list[IdleRun]]
    events: dict[int, float]  # events per simulated second, by cluster size


def measure(
    sizes: tuple[int, ...] = SIZES,
    seeds: tuple[int, ...] = SEEDS,
    span_s: int = SPAN_S,
) -> IdleResults:
    """Every (size, variant) once per seed; rounds interleave so drift spreads evenly."""
    kinds = VARIANTS
    runs: dict[tuple[int, str], list[IdleRun]] = {(n, v): [] for n in sizes for v in kinds}
    for seed in seeds:
        for n in sizes:
            for variant in kinds:
                runs[(n, variant)].append(idle_run(n, variant, seed, span_for(n, span_s)))
    return IdleResults(runs, {n: events_per_sim_s(n) for n in sizes})


def _median_rate(runs: list[IdleRun]) -> float:
    return median([r.sim_per_wall for r in runs])


def _median_cpu_rate(runs: list[IdleRun]) -> float:
    return median([r.span_s / r.cpu_s for r in runs])


def _median_cost(runs: list[IdleRun]) -> float:
    return median([r.wall_us_per_sim_s_per_server for r in runs])


def _us_per_event(runs: list[IdleRun], events_per_sim_s: float) -> str:
    """Wall µs per event, for runs that ran every event (no fast-forward); else '-'."""
    if any(r.fast_forward for r in runs):
        return "-"
    return f"{1e6 / (_median_rate(runs) * events_per_sim_s):.2f}"


def _present(results: IdleResults, n: int) -> list[str]:
    return [v for v in VARIANTS if (n, v) in results.runs]


def section_a(results: IdleResults) -> Section:
    runs = results.runs
    sec = Section("a")
    present = _present(results, 5)
    for variant in present:
        rate = _median_rate(runs[(5, variant)])
        if variant == DEFAULT:
            sec.rows.append(
                Row(
                    "(a) idle 5 servers, Cluster(5, seed=s) as users get it "
                    "(trace=state, fast-forward on): sim s per wall s",
                    fmt_num(rate),
                    f">= {GOAL_SIM_PER_WALL:,}",
                    rate >= GOAL_SIM_PER_WALL,
                )
            )
        elif variant == ALL:
            sec.rows.append(
                Row(
                    f"(a) {DESCRIBE[variant]}: sim s per wall s",
                    fmt_num(rate),
                    f">= {GOAL_TRACED:,}",
                    rate >= GOAL_TRACED,
                )
            )
        else:
            sec.rows.append(
                Row(f"(a) info, no goal: {DESCRIBE[variant]}: sim s per wall s", fmt_num(rate))
            )
    if (5, ALL) in runs and (5, ALL_NOFF) in runs:
        ratio = _median_rate(runs[(5, ALL)]) / _median_rate(runs[(5, ALL_NOFF)])
        sec.rows.append(
            Row(
                "(a) info, no goal: trace=all, jumping / event by event (same run)",
                f"{ratio:.2f}x",
            )
        )
    if not present:
        return sec
    first = runs[(5, present[0])]
    each = "; ".join(
        f"{v}: " + ", ".join(fmt_num(r.sim_per_wall) for r in runs[(5, v)]) for v in present
    )
    cpu = " / ".join(fmt_num(_median_cpu_rate(runs[(5, v)])) for v in present)
    ff = ", ".join(
        f"{v}: {'on' if any(r.fast_forward for r in runs[(5, v)]) else 'off'}" for v in present
    )
    sec.params.append(
        f"(a) Cluster(5, seed=s[, trace=..., fast_forward=...]) default Nomad timing; "
        f"run_until(first leader), then time run_for('{first[0].span_s}s'); median of "
        f"{len(first)} runs, seeds {', '.join(str(r.seed) for r in first)}; the goal rows are "
        f"'{DEFAULT}' and '{ALL}', the others are informational; each run: {each}; "
        f"fast-forward {ff}; "
        f"by process CPU time instead of wall time ({' / '.join(present)}): {cpu}"
    )
    if 5 in results.events:
        ev = results.events[5]
        per_event = ", ".join(f"{v} {_us_per_event(runs[(5, v)], ev)}" for v in present)
        sec.params.append(
            f"(a) run event by event, the idle 5-server cluster has {fmt_num(ev)} events per "
            f"simulated s, so {GOAL_SIM_PER_WALL:,} simulated s per wall s event by event "
            f"would need {fmt_num(ev * GOAL_SIM_PER_WALL)} events per wall s; wall µs per "
            f"event where every event runs: {per_event}"
        )
    return sec


def section_d(results: IdleResults) -> Section:
    runs = results.runs
    sec = Section("d")
    sizes = sorted({n for n, _ in runs})
    for n in sizes:
        present = _present(results, n)
        label = " / ".join(present)
        rates = " / ".join(fmt_num(_median_rate(runs[(n, v)])) for v in present)
        costs = " / ".join(fmt_num(_median_cost(runs[(n, v)]), 1) for v in present)
        sec.rows.append(Row(f"(d) {n} servers: simulated s per wall s ({label})", rates))
        sec.rows.append(Row(f"(d) {n} servers: wall µs per sim s per server ({label})", costs))
    spans = ", ".join(
        f"{n}: {next(r for (m, _), r in runs.items() if m == n)[0].span_s} s" for n in sizes
    )
    first = next(iter(runs.values()))
    records = ", ".join(
        f"{n}: {fmt_num(runs[(n, ALL)][0].records / runs[(n, ALL)][0].span_s)}"
        for n in sizes
        if (n, ALL) in runs
    )
    sec.params.append(
        f"(d) as (a) for each size ({'; '.join(f'{v} = {DESCRIBE[v]}' for v in VARIANTS)}); "
        f"simulated span timed after the first leader ({spans}); "
        f"median of {len(first)} runs (seeds {', '.join(str(r.seed) for r in first)}); "
        f"trace records per simulated s with trace=all ({records})"
    )
    per_event = "; ".join(
        f"{n}: {fmt_num(results.events[n])} ev/sim s, "
        + ", ".join(
            f"{v} {_us_per_event(runs[(n, v)], results.events[n])}" for v in _present(results, n)
        )
        for n in sizes
        if n in results.events
    )
    sec.params.append(
        f"(d) events per simulated s (run one by one) and wall µs per event where every event "
        f"runs: {per_event}"
    )
    return sec
