"""`python -m bench`: measure every figure in this one run and print one table.

Options: `--only abcdefmprs` runs a subset; `--quick` shortens every run (for trying the suite
out, not for reporting figures).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import traceback
from collections.abc import Callable

from . import campaign, failover, idle, memory, page, rehearsal, scheduler, served
from . import http as http_figures
from .common import Row, Section, perf_counter, render_table, wall_limit

HTTP_WALL_LIMIT_S = 180.0  # figure (e) normally takes about 80 s


def _guarded(name: str, build: Callable[[], list[Section]]) -> list[Section]:
    """Run one figure; a failure becomes a row saying so, and the other figures still run."""
    try:
        return build()
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        sec = Section(name)
        sec.rows.append(Row(f"({name}) could not be measured", type(exc).__name__, "?", None))
        sec.errors.append(f"({name}) {type(exc).__name__}: {exc}")
        return [sec]


def _autogroups() -> bool:
    """Whether Linux's autogroup scheduling is on (nice then only ranks within a session)."""
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled", encoding="ascii") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def _met(text: str) -> bool | None:
    return {"yes": True, "NO": False}.get(text)


def http_section(quick: bool) -> Section:
    """Figure (e): bench/http.py's rows (issue 3's HTTP figures), bounded in wall time."""
    if quick:
        http_figures.ROUNDS = 1
        http_figures.IDLE_SPAN = 5.0
    sec = Section("e")
    with wall_limit(HTTP_WALL_LIMIT_S, "the HTTP figures (e)"):
        rows = http_figures.run()
    for figure, value, goal, met in rows:
        sec.rows.append(Row(f"(e) {figure}", value, goal, _met(met)))
    sec.params.append(
        f"(e) bench/http.py: `raftsim serve` (3 servers, speed 1.0) against a bare aiohttp "
        f"handler returning the same JSON; one aiohttp load generator process, "
        f"{http_figures.CONCURRENCY} keep-alive connections, {http_figures.WARMUP:g} s warm-up "
        f"then {http_figures.SECONDS:g} s, best of {http_figures.ROUNDS} rounds per target; "
        f"idle CPU of `raftsim serve --servers 5 --speed 1.0` over {http_figures.IDLE_SPAN:g} s "
        f"after {http_figures.IDLE_SETTLE:g} s settling, from /proc"
    )
    return sec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only", default="abcdefmprs", help="which figures to run (default: abcdefmprs)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="short runs to try the suite (not for reporting)"
    )
    args = parser.parse_args(argv)
    only = set(args.only.lower())

    started = perf_counter()
    print(
        f"raftsim bench, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; "
        f"Python {platform.python_version()} ({platform.python_implementation()}); "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
        + (f"; load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "")
        + ("; QUICK MODE: figures are indicative only" if args.quick else ""),
        flush=True,
    )

    if hasattr(os, "getloadavg") and os.getloadavg()[0] > 0.5:
        print(
            "warning: the machine is busy before the bench starts (load average "
            f"{os.getloadavg()[0]:.2f}); wall-clock figures will be lower than on an idle machine"
            + (
                " (scheduler autogroups are on: a niced process started in another session "
                "still gets its session's full share of the CPUs)"
                if _autogroups()
                else ""
            ),
            flush=True,
        )
    sections: list[Section] = []
    if "b" in only:
        events = 100_000 if args.quick else scheduler.EVENTS
        print("measuring (b) scheduler event rate ...", file=sys.stderr, flush=True)
        sections += _guarded("b", lambda: [scheduler.section(scheduler.measure(events=events))])
    if only & {"a", "d"}:
        sizes = idle.SIZES if "d" in only else (5,)
        span = 60 if args.quick else idle.SPAN_S
        seeds = idle.SEEDS[:1] if args.quick else idle.SEEDS
        print(
            f"measuring {'(a) and (d)' if 'd' in only else '(a)'} idle clusters ...",
            file=sys.stderr,
            flush=True,
        )

        def idle_sections() -> list[Section]:
            results = idle.measure(sizes=sizes, seeds=seeds, span_s=span)
            out = []
            if "a" in only:
                out.append(idle.section_a(results))
            if "d" in only:
                out.append(idle.section_d(results))
            return out

        sections += _guarded("a/d", idle_sections)
    if "s" in only:
        seeds = served.SEEDS[:1] if args.quick else served.SEEDS
        span = 600 if args.quick else served.SPAN_S
        print("measuring (s) served cluster in autojump ...", file=sys.stderr, flush=True)
        sections += _guarded("s", lambda: [served.section(served.measure(seeds, span), span)])
    if "m" in only:
        hours = memory.DAY_H + 1 if args.quick else memory.WEEK_H
        budget = 30.0 if args.quick else memory.ALL_BUDGET_S
        print("measuring (m) served memory over a week ...", file=sys.stderr, flush=True)
        sections += _guarded(
            "m",
            lambda: [
                memory.section(memory.measure_apart(hours, "state", None), "state", hours),
                memory.section(memory.measure_apart(hours, "all", budget), "all", hours),
            ],
        )
    if "c" in only:
        trials = 2 if args.quick else failover.TRIALS
        print("measuring (c) leader failover ...", file=sys.stderr, flush=True)
        sections += _guarded("c", lambda: [failover.section(failover.measure(trials))])

    if "e" in only:
        print("measuring (e) HTTP serving ...", file=sys.stderr, flush=True)
        sections += _guarded("e", lambda: [http_section(args.quick)])
    if "f" in only:
        schedules = 40 if args.quick else campaign.SCHEDULES
        print("measuring (f) raftsim check campaigns ...", file=sys.stderr, flush=True)
        sections += _guarded("f", lambda: [campaign.section(campaign.measure(schedules))])

    if "r" in only:
        print("measuring (r) drills and the event stream ...", file=sys.stderr, flush=True)
        sections += _guarded("r", lambda: [rehearsal.measure(args.quick)])

    if "p" in only:
        print("measuring (p) the live page ...", file=sys.stderr, flush=True)
        sections += _guarded("p", lambda: [page.section(page.measure())])

    order = {"a": 0, "s": 1, "m": 2, "b": 3, "c": 4, "d": 5, "e": 6, "f": 7, "r": 8, "p": 9}
    sections.sort(key=lambda s: order.get(s.name[0], 10))
    print()
    print(render_table([row for sec in sections for row in sec.rows]))
    print()
    for sec in sections:
        for line in sec.params + sec.errors:
            print(line)
    load = f", load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    print(f"\nwhole bench: {perf_counter() - started:.1f} s wall{load}")
    return 1 if any(sec.errors for sec in sections) else 0


if __name__ == "__main__":
    sys.exit(main())
