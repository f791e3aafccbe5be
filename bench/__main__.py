"""`python -m bench`: measure every figure in this one run and print one table.

Options: `--only abcd` runs a subset; `--quick` shortens every run (for trying the suite
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

from . import failover, idle, scheduler
from .common import Row, Section, perf_counter, render_table


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", default="abcd", help="which figures to run (default: abcd)")
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
            f"{os.getloadavg()[0]:.2f}); wall-clock figures will be lower than on an idle machine",
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
    if "c" in only:
        trials = 2 if args.quick else failover.TRIALS
        print("measuring (c) leader failover ...", file=sys.stderr, flush=True)
        sections += _guarded("c", lambda: [failover.section(failover.measure(trials))])

    order = {"a": 0, "b": 1, "c": 2, "d": 3}
    sections.sort(key=lambda s: order.get(s.name[0], 9))
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
