"""The mutation suite (`make mutants`): a `raftsim check` campaign against each deliberate core
fault (raftsim/core/faults.py), judged by its exit status alone, printed as one table: the
fault, whether the campaign caught it, by which rule, and the first seed that did.

    python -m raftsim.testing.mutants [--workers W] [--max-seeds N] [--write] [FAULT ...]

Each fault's campaign is `raftsim check --inject FAULT --start S --seeds K --json`, run as a
command, over growing seed ranges ([0, 20), then [20, 100), [100, 300), [300, 1000)) until
one exits 1: most faults are caught within the first few seeds, and a fault the campaign
misses still costs only `--max-seeds` schedules. The first failing seed of that range and
its rule (the first violation's, "simulator crash", or "not converged (unexplained)") are
what `mutants.json` documents, and tests/test_mutants.py replays each documented seed;
`--write` records what this run found there. A fault documented as equivalent (no campaign
can catch it; faults.py says why) is run like the others and reported as such.

The exit status is 1 when a fault that is not documented as equivalent was not caught, or
was caught at another seed or by another rule than documented.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..core.faults import Fault

DATA = Path(__file__).with_name("mutants.json")
BOUNDS = (0, 20, 100, 300, 1000)  # the seed ranges tried in turn
UNEXPLAINED = "not converged (unexplained)"


@dataclass(frozen=True, slots=True)
class Result:
    """What the campaigns against one fault found."""

    fault: str
    status: int  # the exit status of the last campaign run (1: caught)
    seeds: int  # how many seeds were run
    seed: int | None  # the first failing seed
    rule: str
    seconds: float


def first_failure(summary: dict[str, object]) -> tuple[int, str] | None:
    """The first failing seed of a `--json` summary, with its rule (a violation's first)."""
    found: list[tuple[int, int, str]] = []
    violations = summary["violations"]
    assert isinstance(violations, list)
    for v in violations:
        found.append((int(v["seed"]), 0, str(v["rule"])))
    unexplained = summary["not_converged_unexplained"]
    assert isinstance(unexplained, list)
    found += [(int(seed), 1, UNEXPLAINED) for seed in unexplained]
    if not found:
        return None
    seed, _, rule = min(found)
    return seed, rule


def campaign(fault: str, start: int, seeds: int, workers: int) -> tuple[int, dict[str, object]]:
    """Run `raftsim check` against `fault` on seeds [start, start + seeds)."""
    command = [
        sys.executable,
        "-m",
        "raftsim",
        "check",
        "--inject",
        fault,
        "--start",
        str(start),
        "--seeds",
        str(seeds),
        "--workers",
        str(workers),
        "--json",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr}")
    summary: dict[str, object] = json.loads(done.stdout)
    return done.returncode, summary


def survey(fault: str, max_seeds: int, workers: int) -> Result:
    """Campaigns over growing seed ranges until one fails (or `max_seeds` are run)."""
    began = time.monotonic()
    bounds = [b for b in BOUNDS if b < max_seeds] + [max_seeds]
    status, ran = 0, 0
    for start, stop in itertools.pairwise(bounds):
        status, summary = campaign(fault, start, stop - start, workers)
        ran = stop
        failed = first_failure(summary)
        if status == 1 and failed is not None:
            return Result(fault, 1, ran, failed[0], failed[1], time.monotonic() - began)
    return Result(fault, status, ran, None, "", time.monotonic() - began)


def load() -> dict[str, dict[str, object]]:
    data: dict[str, dict[str, object]] = json.loads(DATA.read_text(encoding="utf-8"))
    return data


def verdict(result: Result, documented: dict[str, object] | None) -> str:
    """How the result compares with what mutants.json documents."""
    if documented is None:
        return "new (not documented)"
    if documented.get("equivalent"):
        return "equivalent (as documented)" if result.seed is None else "CAUGHT, said equivalent"
    if result.seed is None:
        return "MISSED"
    if (result.seed, result.rule) != (documented.get("seed"), documented.get("rule")):
        return f"differs: documented seed {documented.get('seed')}, {documented.get('rule')}"
    return "as documented"


def table(rows: list[tuple[Result, str]]) -> str:
    head = ("fault", "caught", "rule", "first seed", "seeds run", "s", "documentation")
    lines = [
        (
            r.fault,
            "yes" if r.seed is not None else "no",
            r.rule or "-",
            "-" if r.seed is None else str(r.seed),
            str(r.seeds),
            f"{r.seconds:.1f}",
            note,
        )
        for r, note in rows
    ]
    widths = [max(len(x) for x in column) for column in zip(head, *lines, strict=True)]

    def fmt(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(head), rule, *(fmt(line) for line in lines)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m raftsim.testing.mutants", description=__doc__)
    parser.add_argument("faults", nargs="*", help="faults to run (default: every one)")
    parser.add_argument("--workers", type=int, default=1, help="raftsim check --workers")
    parser.add_argument("--max-seeds", type=int, default=BOUNDS[-1], help="seeds at most")
    parser.add_argument("--write", action="store_true", help="record the results as found")
    args = parser.parse_args(argv)
    names = args.faults or [f.value for f in Fault]
    for name in names:
        Fault(name)  # ValueError on an unknown name, before running anything
    data = load()
    rows = []
    for name in names:
        result = survey(name, args.max_seeds, args.workers)
        rows.append((result, verdict(result, data.get(name))))
        print(f"{name}: {rows[-1][1]} ({result.seconds:.1f} s)", file=sys.stderr, flush=True)
    print(table(rows))
    caught = sum(r.seed is not None for r, _ in rows)
    equivalent = sum(bool(data.get(r.fault, {}).get("equivalent")) for r, _ in rows)
    print(
        f"{len(rows)} faults: {caught} caught by the campaign's exit status,"
        f" {equivalent} documented as equivalent, {len(rows) - caught - equivalent} missed"
    )
    if args.write:
        for result, _ in rows:
            if not data.get(result.fault, {}).get("equivalent"):
                data[result.fault] = {"seed": result.seed, "rule": result.rule}
        ordered = {f.value: data[f.value] for f in Fault if f.value in data}
        lines = [f" {json.dumps(name)}: {json.dumps(entry)}" for name, entry in ordered.items()]
        DATA.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
    ok = all(note in ("as documented", "equivalent (as documented)") for _, note in rows)
    return 0 if ok or args.write else 1


if __name__ == "__main__":
    sys.exit(main())
