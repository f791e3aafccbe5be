"""Figure (m): memory of a served cluster over a simulated day and week (issue 9, item 3).

`raftsim serve --clock autojump --servers 5` with the default trace (state changes, at most
100,000 records) and Nomad's snapshot settings: the process's resident set after a warm-up
hour, a simulated day and a simulated week, and what the sizes that could grow hold by then
(trace records, the longest Raft log). The goal is the issue's: RSS flat within 50 MB after
warm-up. One process runs the whole span (RSS is the process's, so nothing else runs).
"""

from __future__ import annotations

import asyncio
import os

from raftsim.web import Options, Simulation

from .common import Row, Section, fmt_num, fresh_heap, wall_limit

HOUR_US = 3_600_000_000
DAY_H, WEEK_H = 24, 7 * 24
GOAL_GROWTH_MB = 50.0
WALL_LIMIT_S = 900.0


def rss_mb() -> float:
    """The resident set of this process now, from /proc (Linux)."""
    with open("/proc/self/statm", encoding="ascii") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


async def _run(hours: int) -> list[tuple[int, float, int, int]]:
    """(simulated hours, RSS MB, trace records, longest log) after warm-up, a day, a week."""
    sim = Simulation(Options(servers=5, seed=1, mode="paused"))
    sim.driver.start()
    marks = {1, DAY_H, hours}
    samples = []
    try:
        for hour in range(1, hours + 1):
            await sim.driver.advance(HOUR_US)
            if hour in marks:
                longest = max(len(s.storage.log) for s in sim.cluster.servers.values())
                samples.append((hour, rss_mb(), len(sim.cluster.records), longest))
    finally:
        await sim.driver.stop()
    return samples


def measure(hours: int = WEEK_H) -> list[tuple[int, float, int, int]]:
    fresh_heap()
    with wall_limit(WALL_LIMIT_S, "the served week (m)"):
        return asyncio.run(_run(hours))


def section(samples: list[tuple[int, float, int, int]]) -> Section:
    sec = Section("m")
    warm = samples[0][1]
    for hours, rss, records, longest in samples:
        label = {1: "after warm-up (1 h)", DAY_H: "after a simulated day"}.get(
            hours, f"after {hours} simulated hours" if hours != WEEK_H else "after a week"
        )
        growth = rss - warm
        sec.rows.append(
            Row(
                f"(m) served 5 servers, autojump, RSS {label} (MB; trace records, longest log)",
                f"{rss:.1f} (+{growth:.1f}; {fmt_num(records)}, {fmt_num(longest)})",
                f"<= warm-up + {GOAL_GROWTH_MB:g}" if hours != 1 else "-",
                growth <= GOAL_GROWTH_MB if hours != 1 else None,
            )
        )
    sec.params.append(
        "(m) Simulation(Options(servers=5, seed=1)) advanced an hour at a time (the driver's "
        "advance, the same jumps as autojump); RSS from /proc/self/statm in this process"
    )
    return sec
