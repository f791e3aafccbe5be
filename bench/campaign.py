"""Figure (f): `raftsim check` throughput, schedules per second per core, and the speed-up
from a second worker process.

Each schedule is what `raftsim check` runs by default (`CampaignOptions()`): 5 servers, 60 simulated
seconds of seeded ops at 0.5 per simulated second drawn from every fault kind (crashes,
pauses, partitions, cuts, loss, latency, crashes at elections and mid-replication,
proposals and membership changes), then settling and the convergence check, with every
safety checker on. The bench calls `raftsim.campaign.campaign(seeds, CampaignOptions(), workers)`,
the function behind the command, on seeds 0..N-1:

* workers=1: the schedules run in this process. Per-core rate = N / this process's CPU
  seconds (`time.process_time()`); the wall rate is printed too.
* workers=2: the same seeds on a 2-process pool (fork). Per-core rate = N / (CPU seconds
  of the pool's workers, from `getrusage(RUSAGE_CHILDREN)` once they are reaped, plus this
  process's own). Speed-up = wall(workers=1) / wall(workers=2).

* rules' cost: the same seeds with and without what the liveness work added to a schedule
  (the online liveness and accounting rules of `raftsim/sim/liveness.py`, and the quiet
  window after settling), each run in a fresh forked process of its own, alternating,
  RULES_ROUNDS times each; the ratio of the median per-core rates. Goal: at least 0.9 (the
  rules cost at most 10 %). "Without" swaps the rules for no-ops and skips the window in
  that child process only: it is the campaign as it was before them, not a product option.
* dask: the same seeds as Dask tasks (`campaign(..., dask=address)`, what `raftsim check
  --dask ADDRESS` runs) on a `distributed.LocalCluster` of 2 single-threaded worker
  processes started beforehand (its start-up is not timed): schedules per wall s, printed,
  no goal. Skipped (a row says so) when `distributed` is not installed.

All campaigns must agree on what they covered (schedules, simulated time, elections,
membership changes, violations): a divergence is an error, not a figure.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import resource
import statistics
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from time import process_time
from typing import Any

from raftsim.campaign import CampaignOptions, Summary, campaign
from raftsim.sim import checkers, liveness
from raftsim.testing import schedules

from .common import Row, Section, fmt_num, fmt_ratio, fresh_heap, perf_counter, wall_limit

GOAL_PER_CORE = 100  # schedules per second per core
SCHEDULES = 400  # seeds 0..399, for each of workers=1 and workers=2
WORKERS = 2
RUN_WALL_LIMIT_S = 120.0
GOAL_RULES = 0.9  # the liveness rules keep at least 90 % of the throughput
RULES_SCHEDULES = 200  # seeds 0..199, with and without the rules
RULES_ROUNDS = 3


@dataclass(frozen=True)
class CampaignRun:
    workers: int
    schedules: int
    wall_s: float
    cpu_s: float  # this process plus, with a pool, its reaped workers
    summary: Summary

    @property
    def wall_rate(self) -> float:
        return self.schedules / self.wall_s

    @property
    def per_core(self) -> float:
        return self.schedules / self.cpu_s


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_campaign(schedules: int, workers: int) -> CampaignRun:
    fresh_heap()
    seeds = list(range(schedules))
    with wall_limit(RUN_WALL_LIMIT_S, f"campaign of {schedules} schedules, {workers} workers"):
        children, cpu, start = _children_cpu(), process_time(), perf_counter()
        summary = campaign(seeds, CampaignOptions(), workers=workers)
        wall = perf_counter() - start
        used = process_time() - cpu + _children_cpu() - children
    if summary.schedules != schedules:
        raise RuntimeError(f"campaign ran {summary.schedules} schedules, not {schedules}")
    return CampaignRun(workers, schedules, wall, used, summary)


def _covered(summary: Summary) -> dict[str, object]:
    fields = asdict(summary)
    return {k: fields[k] for k in ("schedules", "simulated", "elections", "changes_committed")}


def run_dask(schedules: int, workers: int) -> CampaignRun | None:
    """The same seeds as Dask tasks on a LocalCluster of `workers` processes (None when
    `distributed` is not installed). CPU time is not measured: only the wall rate."""
    try:
        dist: Any = importlib.import_module("distributed")
    except ImportError:
        return None
    with dist.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        fresh_heap()
        seeds = list(range(schedules))
        with wall_limit(RUN_WALL_LIMIT_S, f"Dask campaign of {schedules} schedules"):
            start = perf_counter()
            summary = campaign(seeds, CampaignOptions(), dask=cluster.scheduler_address)
            wall = perf_counter() - start
    return CampaignRun(workers, schedules, wall, 0.0, summary)


class _NoLivenessRules(liveness.LivenessRules):
    """The online liveness and accounting rules, each hook doing nothing (bench only)."""

    def add_server(self, *args: Any, **kwargs: Any) -> None:
        pass

    def crashed(self, *args: Any) -> None:
        pass

    def paused(self, *args: Any) -> None:
        pass

    def resumed(self, *args: Any) -> None:
        pass

    def role_changed(self, *args: Any) -> None:
        pass

    def configuration_changed(self, *args: Any, **kwargs: Any) -> None:
        pass

    def appended(self, *args: Any) -> None:
        pass

    def truncated(self, *args: Any) -> None:
        pass

    def installed(self, *args: Any, **kwargs: Any) -> None:
        pass

    def overwritten(self, *args: Any) -> None:
        pass

    def committed(self, *args: Any) -> None:
        pass

    def settle(self) -> None:
        self.unsettled = ""

    def check_leases(self, now: int) -> None:
        pass


def _rules_run(job: tuple[int, bool]) -> tuple[float, dict[str, object]]:
    """In a fresh forked process: CPU seconds for seeds 0..n-1, with or without the rules."""
    count, rules = job
    if not rules:
        checkers.LivenessRules = _NoLivenessRules  # type: ignore[misc]
        schedules.ScheduleRunner._quiet_window = lambda self: ""  # type: ignore[method-assign]
    fresh_heap()
    cpu = process_time()
    summary = campaign(list(range(count)), CampaignOptions(), workers=1)
    return process_time() - cpu, _covered(summary)


def rules_cost(count: int = RULES_SCHEDULES, rounds: int = RULES_ROUNDS) -> dict[str, Any]:
    """Per-core rates with and without the liveness rules, alternating (see the docstring)."""
    rates: dict[bool, list[float]] = {True: [], False: []}
    fork = multiprocessing.get_context("fork")
    with wall_limit(RUN_WALL_LIMIT_S * 2, f"rules' cost, {rounds} x 2 x {count} schedules"):
        for i in range(rounds):
            for rules in (True, False) if i % 2 == 0 else (False, True):
                with ProcessPoolExecutor(1, mp_context=fork) as pool:
                    cpu, covered = pool.submit(_rules_run, (count, rules)).result()
                if covered["schedules"] != count:
                    raise RuntimeError(f"the rules' cost run covered {covered}")
                rates[rules].append(count / cpu)
    on, off = statistics.median(rates[True]), statistics.median(rates[False])
    return {"count": count, "on": rates[True], "off": rates[False], "ratio": on / off}


@dataclass(frozen=True)
class CampaignResults:
    one: CampaignRun
    many: CampaignRun
    dask: CampaignRun | None = None
    rules: dict[str, Any] | None = None


def _check_same(one: CampaignRun, other: CampaignRun, what: str) -> None:
    if _covered(one.summary) != _covered(other.summary) or len(one.summary.violations) != len(
        other.summary.violations
    ):
        raise RuntimeError(
            f"workers=1 and {what} covered different ground: "
            f"{one.summary.line()} / {other.summary.line()}"
        )


def measure(schedules: int = SCHEDULES, workers: int = WORKERS) -> CampaignResults:
    one = run_campaign(schedules, 1)
    many = run_campaign(schedules, workers)
    _check_same(one, many, f"workers={workers}")
    dask = run_dask(schedules, workers)
    if dask is not None:
        _check_same(one, dask, f"Dask with {workers} workers")
    rules = rules_cost(min(RULES_SCHEDULES, schedules))
    return CampaignResults(one, many, dask, rules)


def section(results: CampaignResults) -> Section:
    one, many = results.one, results.many
    sec = Section("f")
    sec.rows.append(
        Row(
            "(f) raftsim check, 5 servers, 60 sim s, all faults and checkers: "
            "schedules/s per core (workers=1)",
            fmt_num(one.per_core, 1),
            f">= {GOAL_PER_CORE}",
            one.per_core >= GOAL_PER_CORE,
        )
    )
    sec.rows.append(Row("(f) same, workers=1: schedules per wall s", fmt_num(one.wall_rate, 1)))
    sec.rows.append(
        Row(
            f"(f) workers={many.workers}: schedules per wall s / per s per core (by CPU time)",
            f"{fmt_num(many.wall_rate, 1)} / {fmt_num(many.per_core, 1)}",
        )
    )
    sec.rows.append(
        Row(
            f"(f) speed-up workers={many.workers} vs workers=1 (same seeds, wall time)",
            fmt_ratio(one.wall_s / many.wall_s),
        )
    )
    dask = results.dask
    sec.rows.append(
        Row(
            f"(f) --dask on a LocalCluster of {many.workers} workers: schedules per wall s",
            fmt_num(dask.wall_rate, 1) if dask else "distributed not installed",
        )
    )
    if dask:
        sec.params.append(
            f"(f) Dask: campaign(list(range({dask.schedules})), CampaignOptions(), dask=address)"
            f" on LocalCluster(n_workers={dask.workers}, threads_per_worker=1), started"
            f" beforehand: {dask.wall_s:.1f} s wall, the same summary as workers=1"
        )
    rules = results.rules
    if rules is not None:
        sec.rows.append(
            Row(
                "(f) the liveness rules' cost: per-core rate with them / without (rules and"
                " quiet window off)",
                fmt_ratio(rules["ratio"]),
                f">= {GOAL_RULES}x",
                rules["ratio"] >= GOAL_RULES,
            )
        )
        runs = " / ".join(
            f"{key} " + ", ".join(fmt_num(r, 1) for r in rules[key]) for key in ("on", "off")
        )
        sec.params.append(
            f"(f) rules' cost: seeds 0..{rules['count'] - 1}, each run in a fresh forked"
            f" process, alternating; schedules per CPU s {runs}"
        )
    load = f"; load average {os.getloadavg()[0]:.2f} after" if hasattr(os, "getloadavg") else ""
    sec.params.append(
        f"(f) campaign(list(range({one.schedules})), CampaignOptions(), workers=w): "
        f"{one.summary.line()}; "
        f"workers=1 {one.wall_s:.1f} s wall, {one.cpu_s:.1f} s CPU; workers={many.workers} "
        f"{many.wall_s:.1f} s wall, {many.cpu_s:.1f} s CPU (workers + parent), so the pool "
        f"spent {many.cpu_s / one.cpu_s:.2f}x the CPU of one process; "
        f"{os.cpu_count()} CPUs{load}: other processes on the machine lower the wall figures "
        f"and the speed-up more than the per-core ones"
    )
    return sec
