"""Figure (s): a served cluster at rest, simulated seconds per wall second in autojump.

`raftsim serve --clock autojump --servers 5` with nothing to do: the Raft cluster, its
Nomad layer (Serf gossip, the leader's reconcile every 60 s) and the asyncio time driver,
in one process, as `Simulation` builds them. The driver first runs to the first leader in
paused mode (not timed); then it is switched to autojump and the wall time until virtual
time has moved `span` on is measured, polling every millisecond. Reported with the jumps
the fast-forward took and the events that still ran one by one (Serf's, mostly).
"""

from __future__ import annotations

import asyncio

from raftsim.web import Options, Simulation
from raftsim.web.driver import AUTOJUMP

from .common import Row, Section, fmt_num, fresh_heap, median, perf_counter, wall_limit

GOAL_SIM_PER_WALL = 3_600
SEEDS = (1, 2, 3)
SPAN_S = 3600
WALL_LIMIT_S = 120.0


async def _autojump(seed: int, span_s: int) -> tuple[float, int, int]:
    sim = Simulation(Options(servers=5, seed=seed, mode="paused"))
    sim.driver.start()
    try:
        await sim.driver.advance(30_000_000)  # the first election, untimed
        target = sim.cluster.now + span_s * 1_000_000
        ff = sim.cluster.fast_forward
        jumps, executed = (ff.jumps if ff else 0), sim.cluster.sched.executed
        start = perf_counter()
        sim.driver.set_mode(AUTOJUMP)
        while sim.cluster.now < target:
            await asyncio.sleep(0.001)
        wall = perf_counter() - start
        sim.driver.set_mode("paused")
        simulated = (sim.cluster.now - target) / 1e6 + span_s
    finally:
        await sim.driver.stop()
    return simulated / wall, (ff.jumps if ff else 0) - jumps, sim.cluster.sched.executed - executed


def measure(seeds: tuple[int, ...] = SEEDS, span_s: int = SPAN_S) -> list[tuple[float, int, int]]:
    runs = []
    for seed in seeds:
        fresh_heap()
        with wall_limit(WALL_LIMIT_S, f"served autojump run, seed {seed}"):
            runs.append(asyncio.run(_autojump(seed, span_s)))
    return runs


def section(runs: list[tuple[float, int, int]], span_s: int = SPAN_S) -> Section:
    sec = Section("s")
    rate = median([r[0] for r in runs])
    sec.rows.append(
        Row(
            "(s) served cluster (Nomad layer on), idle 5 servers, autojump: sim s per wall s",
            fmt_num(rate),
            f">= {GOAL_SIM_PER_WALL:,}",
            rate >= GOAL_SIM_PER_WALL,
        )
    )
    each = ", ".join(f"{fmt_num(r)} ({fmt_num(j)} jumps, {fmt_num(e)} events)" for r, j, e in runs)
    sec.params.append(
        f"(s) Simulation(Options(servers=5, seed=s)): first leader in paused mode, then "
        f"autojump until {span_s} virtual s passed; median of {len(runs)} runs: {each}"
    )
    return sec
