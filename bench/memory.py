"""Figure (m): memory of a served cluster over a simulated day and week (issue 9, item 3).

`raftsim serve --clock autojump --servers 5` with Nomad's snapshot settings, twice: with the
default trace (state changes, at most 100,000 records) and with `--trace all` (every
message too, the same ring). The process's resident set after a warm-up hour, a simulated
day and a simulated week, and what the sizes that could grow hold by then (trace records,
the longest Raft log, the safety checkers' records per entry). The goal is the issue's:
RSS flat within 50 MB after warm-up. Each variant runs in a process of its own (RSS is the
process's, and one run's freed memory would hide the other's growth).

With `--trace all` every event runs one by one (no fast-forward), several wall seconds per
simulated hour on a small machine, so `make bench` gives that variant a wall-clock budget:
it measures as far as the budget goes and extrapolates the rest of the week from the growth
per hour after the first day (printed as an extrapolation, never as a measurement).
`python -m bench.memory --trace all --budget 1800` measures the whole week.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

from raftsim.web import Options, Simulation

from .common import Row, Section, fmt_num, fresh_heap, wall_limit

HOUR_US = 3_600_000_000
DAY_H, WEEK_H = 24, 7 * 24
GOAL_GROWTH_MB = 50.0
WALL_LIMIT_S = 900.0
ALL_BUDGET_S = 240.0  # `make bench`'s wall-clock budget for the trace-all week

# (simulated hours, RSS MB, trace records, longest log, checkers' records per entry)
Sample = tuple[int, float, int, int, int]


def rss_mb() -> float:
    """The resident set of this process now, from /proc (Linux)."""
    with open("/proc/self/statm", encoding="ascii") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


async def _run(hours: int, trace: str, budget: float | None) -> list[Sample]:
    """Samples after warm-up, a day, a week (or the last hour the budget allowed)."""
    sim = Simulation(Options(servers=5, seed=1, mode="paused", trace=trace))
    sim.driver.start()
    marks = {1, DAY_H, WEEK_H, hours}
    samples: list[Sample] = []
    start = time.perf_counter()
    try:
        for hour in range(1, hours + 1):
            await sim.driver.advance(HOUR_US)
            late = budget is not None and time.perf_counter() - start > budget
            if hour in marks or late:
                cluster = sim.cluster
                longest = max(len(s.storage.log) for s in cluster.servers.values())
                kept = cluster.checker.kept()
                samples.append((hour, rss_mb(), len(cluster.records), longest, kept))
            if late:
                break
    finally:
        await sim.driver.stop()
    return samples


def measure(hours: int = WEEK_H, trace: str = "state", budget: float | None = None) -> list[Sample]:
    fresh_heap()
    with wall_limit(WALL_LIMIT_S if budget is None else budget + 120, "the served week (m)"):
        return asyncio.run(_run(hours, trace, budget))


def measure_apart(hours: int, trace: str, budget: float | None) -> list[Sample]:
    """`measure` in a fresh process of its own."""
    args = [sys.executable, "-m", "bench.memory", "--hours", str(hours), "--trace", trace]
    if budget is not None:
        args += ["--budget", str(budget)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(args, capture_output=True, text=True, check=True, cwd=root).stdout
    return [tuple(sample) for sample in json.loads(out.splitlines()[-1])]  # type: ignore[misc]


def extrapolate(samples: list[Sample], hours: int) -> float | None:
    """RSS after `hours`, from the growth per hour between the day's sample (or the
    warm-up's) and the last one; None if the last sample is the goal itself."""
    last = samples[-1]
    if last[0] >= hours or len(samples) < 2:
        return None
    since = next((s for s in samples if s[0] == DAY_H and s is not last), samples[0])
    rate = (last[1] - since[1]) / (last[0] - since[0])
    return last[1] + max(rate, 0.0) * (hours - last[0])


def section(samples: list[Sample], trace: str = "state", hours: int = WEEK_H) -> Section:
    sec = Section("m")
    warm = samples[0][1]
    what = "trace all" if trace == "all" else "default trace"
    for at, rss, records, longest, kept in samples:
        label = {1: "after warm-up (1 h)", DAY_H: "after a simulated day"}.get(
            at, f"after {at} simulated hours" if at != WEEK_H else "after a week"
        )
        growth = rss - warm
        sec.rows.append(
            Row(
                f"(m) served 5 servers, autojump, {what}, RSS {label}"
                " (MB; trace records, longest log, checkers' records)",
                f"{rss:.1f} (+{growth:.1f}; {fmt_num(records)}, {fmt_num(longest)},"
                f" {fmt_num(kept)})",
                f"<= warm-up + {GOAL_GROWTH_MB:g}" if at != 1 else "-",
                growth <= GOAL_GROWTH_MB if at != 1 else None,
            )
        )
    guess = extrapolate(samples, hours)
    if guess is not None:
        sec.rows.append(
            Row(
                f"(m) served 5 servers, {what}, RSS after {hours} h EXTRAPOLATED from"
                f" {samples[-1][0]} h (wall budget)",
                f"~{guess:.1f} (+{guess - warm:.1f})",
                f"<= warm-up + {GOAL_GROWTH_MB:g}",
                guess - warm <= GOAL_GROWTH_MB,
            )
        )
    sec.params.append(
        f"(m) {what}: Simulation(Options(servers=5, seed=1, trace={trace!r})) advanced an hour"
        " at a time (the driver's advance, the same jumps as autojump); RSS from"
        " /proc/self/statm in a process of its own"
        + (
            f"; measured to {samples[-1][0]} h within the wall budget, the rest extrapolated"
            " linearly from the growth per hour after the first day"
            if guess is not None
            else ""
        )
    )
    return sec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--hours", type=int, default=WEEK_H)
    parser.add_argument("--trace", default="state", choices=("state", "all"))
    parser.add_argument("--budget", type=float, default=None, help="wall seconds (default none)")
    parser.add_argument("--table", action="store_true", help="print the rows, not JSON")
    args = parser.parse_args(argv)
    samples = measure(args.hours, args.trace, args.budget)
    if args.table:
        sec = section(samples, args.trace, args.hours)
        for row in sec.rows:
            print(f"{row.figure} | {row.value} | {row.goal} | {row.met}")
        print(*sec.params, sep="\n")
    else:
        print(json.dumps(samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
