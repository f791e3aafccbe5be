"""Seeded fault campaigns (`raftsim check`): run N schedules with every checker on, spread
over worker processes or over machines (`--shard I/N` takes a deterministic slice of the
seeds; `--json` outputs merge with `--merge`), and hand back each violation as a seed plus
the command that replays it as a scenario transcript, shrunk if asked.

What fails a campaign (exit status 1): a safety violation, a crash of the simulator inside
a schedule (rule "simulator crash"), and a schedule that does not converge after healing
for any reason but the known ones of hashicorp/raft (docs/campaigns.md: the flapping, and
protocol 3's stale-voter deadlock), which are counted apart and do not fail it.

This sits above the simulation (ring 2): the schedules themselves are
`raftsim.testing.schedules`, run in virtual time without asyncio.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TextIO

from tqdm import tqdm

from .core.faults import Fault
from .core.profile import PROFILES
from .core.timing import SECOND
from .scenario.vocabulary import ALL_KINDS, core_faults, fault_kinds, fmt_hms
from .sim.render import fmt_time
from .sim.timeparse import duration as parse_duration
from .testing.schedules import EVENT_BUDGET, Op, Outcome, ScheduleRunner, generate

MAX_RATE = 100.0  # ops per simulated second; more is a typo, not a schedule
CRASH = "simulator crash"
UNEXPLAINED = "not converged (unexplained)"


@dataclass(frozen=True, slots=True)
class CampaignOptions:
    """Everything that determines a campaign's schedules, besides the seeds."""

    servers: int = 5
    duration: int = 60 * SECOND
    kinds: tuple[str, ...] = ALL_KINDS
    rate: float = 0.5
    inject: tuple[str, ...] = ()  # deliberate core faults (Fault values)
    # Events a schedule may run per 60 s of schedule (0: no budget; ScheduleRunner's).
    event_budget: int = EVENT_BUDGET
    profile: str = "P1"  # the Raft profile every schedule's cluster runs (core/profile.py)

    def replay_command(self, seed: int) -> str:
        words = ["raftsim check", f"--replay {seed}", f"--servers {self.servers}"]
        words.append(f"--duration {self.duration // SECOND}s")
        if self.kinds != ALL_KINDS:
            words.append(f"--faults {','.join(self.kinds)}")
        if self.rate != 0.5:
            words.append(f"--rate {self.rate}")
        if self.inject:
            words.append(f"--inject {','.join(self.inject)}")
        if self.event_budget != EVENT_BUDGET:
            words.append(f"--event-budget {self.event_budget}")
        if self.profile != "P1":
            words.append(f"--profile {self.profile}")
        words.append(f"--shrink --write seed-{seed}.txt")
        return " ".join(words)


@dataclass(slots=True)
class Summary:
    """What a campaign (or a shard of one) covered and found; shards add up."""

    options: dict[str, object]
    seeds: list[int] = field(default_factory=list)  # [first, stop) of the seed range
    shard: str = "0/1"
    schedules: int = 0
    simulated: int = 0  # µs
    elections: int = 0
    changes_committed: int = 0
    # Schedules that did not converge after healing: the known kinds (flapping.
    # known_flapping, deadlock.known_deadlock), which do not fail a campaign, and the rest,
    # which do.
    not_converged_known: list[int] = field(default_factory=list)
    not_converged_unexplained: list[int] = field(default_factory=list)
    # Safety violations and simulator crashes: {seed, rule, violation, replay}.
    violations: list[dict[str, object]] = field(default_factory=list)

    def add(self, outcome: Outcome, options: CampaignOptions) -> None:
        self.schedules += 1
        self.simulated += outcome.simulated
        self.elections += outcome.elections
        self.changes_committed += outcome.changes_committed
        replay = options.replay_command(outcome.seed)
        if outcome.crash:
            what = f"{CRASH}: {outcome.crash} (seed {outcome.seed})"
            self.violations.append(
                {"seed": outcome.seed, "rule": CRASH, "violation": what, "replay": replay}
            )
        elif outcome.known:
            self.not_converged_known.append(outcome.seed)
        elif not outcome.converged:
            self.not_converged_unexplained.append(outcome.seed)
        for violation in outcome.violations[:1]:
            self.violations.append(
                {
                    "seed": outcome.seed,
                    "rule": violation.rule,
                    "violation": str(violation),
                    "replay": replay,
                }
            )

    def replay_command(self, seed: int) -> str:
        """The replay command of one of this campaign's seeds (its options as JSON has
        them: lists for tuples)."""
        o = self.options
        kinds, inject = o["kinds"], o["inject"]
        assert isinstance(kinds, list | tuple) and isinstance(inject, list | tuple)
        options = CampaignOptions(
            int(str(o["servers"])),
            int(str(o["duration"])),
            tuple(kinds),
            float(str(o["rate"])),
            tuple(inject),
            # (JSON written before these options existed ran with their defaults.)
            int(str(o.get("event_budget", EVENT_BUDGET))),
            str(o.get("profile", "P1")),
        )
        return options.replay_command(seed)

    @property
    def failed(self) -> bool:
        """Whether the campaign fails: a violation, a crash or an unexplained
        non-convergence."""
        return bool(self.violations or self.not_converged_unexplained)

    def merge(self, other: Summary) -> None:
        if other.options != self.options:
            raise ValueError("cannot merge campaigns run with different options")
        self.schedules += other.schedules
        self.simulated += other.simulated
        self.elections += other.elections
        self.changes_committed += other.changes_committed
        self.not_converged_known = sorted(self.not_converged_known + other.not_converged_known)
        self.not_converged_unexplained = sorted(
            self.not_converged_unexplained + other.not_converged_unexplained
        )
        self.violations = sorted(
            self.violations + other.violations, key=lambda v: int(str(v["seed"]))
        )

    def line(self) -> str:
        return (
            f"schedules {self.schedules}, simulated {fmt_hms(self.simulated)}, "
            f"elections {self.elections}, membership changes committed "
            f"{self.changes_committed}, not converged (known) "
            f"{len(self.not_converged_known)}, not converged (unexplained) "
            f"{len(self.not_converged_unexplained)}, violations {len(self.violations)}"
        )


def parse_faults(text: str) -> tuple[str, ...]:
    """`--faults`: the kinds named, or with a leading `+` the default kinds and those
    (`+transfer-leadership`)."""
    if text.startswith("+"):
        added = fault_kinds(text[1:].split(","))  # ValueError on none or an unknown one
        again = sorted({kind for kind in added if kind in ALL_KINDS} | _repeated(added))
        if again:
            # (A repeat would double a kind's weight in the draw, silently.)
            raise ValueError(f"--faults +: {', '.join(again)} named twice or a default already")
        return (*ALL_KINDS, *added)
    return fault_kinds(text.split(","))


def _repeated(kinds: tuple[str, ...]) -> set[str]:
    return {kind for kind in kinds if kinds.count(kind) > 1}


def parse_inject(text: str) -> tuple[str, ...]:
    """Core faults by value, kept as given (the options go to JSON)."""
    core_faults(text.split(","))
    return tuple(n for n in text.split(",") if n)


def parse_shard(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit()) or not 0 <= int(index) < int(count):
        raise ValueError(f"--shard takes I/N with 0 <= I < N, got {text!r}")
    return int(index), int(count)


def parse_span(text: str) -> int:
    return parse_duration(text)


# ------------------------------------------------------------------ running schedules


def run_one(
    seed: int, options: CampaignOptions, ops: Sequence[Op] | None = None, trace: str = "off"
) -> Outcome:
    """One schedule: the seed's own (or the given ops) on a fresh cluster (trace "state"
    to write it out afterwards: Outcome.scenario)."""
    faults = core_faults(options.inject)
    try:
        runner = ScheduleRunner(
            seed,
            options.servers,
            faults,
            trace,
            profile=options.profile,
            event_budget=options.event_budget or None,
        )
    except Exception as error:  # a crash before the first op: nothing to write out
        outcome = Outcome(seed, options.servers, faults, trace)
        outcome.crash_type = type(error).__name__
        outcome.crash = f"{outcome.crash_type}: {error}"
        return outcome
    if ops is None:
        ops = generate(seed, options.duration, options.kinds, options.rate, options.profile)
    return runner.run(ops)


def failure(outcome: Outcome) -> str | None:
    """What a schedule broke, as shrinking keeps it: the first violation's rule, the
    crash's exception type, or an unexplained non-convergence; None if nothing."""
    if outcome.crash:
        return f"{CRASH}: {outcome.crash_type}"
    if outcome.violations:
        return outcome.violations[0].rule
    if not outcome.converged and not outcome.known:
        return UNEXPLAINED
    return None


def _work(job: tuple[int, CampaignOptions]) -> Outcome:
    seed, options = job
    return run_one(seed, options)


def outcomes(
    seeds: Sequence[int], options: CampaignOptions, workers: int, dask: str | None = None
) -> Iterator[Outcome]:
    """Run the seeds, in any order, on `workers` processes (1: in this one), or as tasks on
    the Dask cluster at `dask` ("local": a LocalCluster of `workers` processes)."""
    if dask is not None:
        from .dask_runner import outcomes as dask_outcomes  # noqa: PLC0415 (optional)

        yield from dask_outcomes(seeds, options, dask, workers)
        return
    if workers <= 1:
        for seed in seeds:
            yield run_one(seed, options)
        return
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    with context.Pool(workers) as pool:
        yield from pool.imap_unordered(_work, [(s, options) for s in seeds], chunksize=4)


def campaign(
    seeds: Sequence[int],
    options: CampaignOptions,
    workers: int = 1,
    report: Callable[[Outcome], None] | None = None,
    dask: str | None = None,
) -> Summary:
    """Run every seed and add up what happened; `report(outcome)` sees each outcome.
    `dask`: run them on that Dask cluster (`outcomes`)."""
    summary = Summary(asdict(options), [seeds[0], seeds[-1] + 1] if seeds else [])
    for outcome in outcomes(seeds, options, workers, dask):
        summary.add(outcome, options)
        if report is not None:
            report(outcome)
    summary.violations.sort(key=lambda v: int(str(v["seed"])))
    summary.not_converged_known.sort()
    summary.not_converged_unexplained.sort()
    return summary


def shrink(seed: int, options: CampaignOptions) -> tuple[list[Op], Outcome]:
    """Drop ops while the same failure still happens (greedy, chunks halving: ddmin): the
    same rule broken, the same exception type raised, or an unexplained non-convergence."""
    ops = generate(seed, options.duration, options.kinds, options.rate, options.profile)
    outcome = run_one(seed, options, ops)
    what = failure(outcome)
    if what is None:
        return ops, outcome

    def still_fails(candidate: list[Op]) -> Outcome | None:
        result = run_one(seed, options, candidate)
        if what.startswith(CRASH) or what == UNEXPLAINED:
            return result if failure(result) == what else None
        return result if any(v.rule == what for v in result.violations) else None

    chunk = max(1, len(ops) // 2)
    while chunk >= 1 and ops:
        i = 0
        while i < len(ops):
            candidate = ops[:i] + ops[i + chunk :]
            result = still_fails(candidate)
            if result is not None:
                ops, outcome = candidate, result
            else:
                i += chunk
        chunk //= 2
    # Then make each remaining op as mild as it goes (value 0: the smallest burst, loss,
    # latency, duplication; no reordering) where the same failure still happens.
    for i, op in enumerate(ops):
        if op.value:
            candidate = [*ops[:i], Op(op.at, op.kind, op.pick, 0.0), *ops[i + 1 :]]
            result = still_fails(candidate)
            if result is not None:
                ops, outcome = candidate, result
    return ops, outcome


# ------------------------------------------------------------------ command line


def progress_printer(total: int, stream: TextIO | None = None) -> Callable[[Outcome], None]:
    """A progress bar with rate and ETA on a terminal; plain lines otherwise."""
    out = stream or sys.stderr
    if out.isatty():
        bar = tqdm(total=total, unit="schedule", file=out, smoothing=0.1)

        def tick(outcome: Outcome) -> None:
            bar.update(1)
            if bar.n == total:
                bar.close()

        return tick
    start = time.monotonic()
    done = [0]
    step = max(1, total // 20)

    def line(outcome: Outcome) -> None:
        done[0] += 1
        if done[0] % step == 0 or done[0] == total:
            elapsed = time.monotonic() - start
            rate = done[0] / elapsed if elapsed else 0.0
            eta = (total - done[0]) / rate if rate else 0.0
            print(
                f"{done[0]}/{total} schedules, {rate:.1f}/s, eta {eta:.0f}s",
                file=out,
                flush=True,
            )

    return line


def print_summary(summary: Summary, out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    for v in summary.violations:
        print(f"seed {v['seed']}: {v['violation']}", file=stream)
        print(f"  replay: {v['replay']}", file=stream)
    for seed in summary.not_converged_unexplained[:20]:
        print(f"seed {seed}: {UNEXPLAINED} after healing", file=stream)
        print(f"  replay: {summary.replay_command(seed)}", file=stream)
    if summary.not_converged_known:
        seeds = ", ".join(str(s) for s in summary.not_converged_known[:20])
        more = " ..." if len(summary.not_converged_known) > 20 else ""
        print(
            f"known non-convergence (docs/campaigns.md), not a failure: seeds {seeds}{more}",
            file=stream,
        )
    print(summary.line(), file=stream)


def write_replay(seed: int, options: CampaignOptions, path: str, shrink_first: bool) -> Outcome:
    """Replay one seed (shrunk if asked) and write it as a scenario transcript."""
    ops = shrink(seed, options)[0] if shrink_first else None
    # The transcript is written from the outputs recorded as the schedule ran, which needs
    # the state-level records campaigns do without (trace "off"): the one schedule that is
    # written runs (once more, after shrinking) with them, rather than being run and then
    # replayed a second time to fill the outputs in.
    outcome = run_one(seed, options, ops, trace="state")
    why = [
        f"Schedule of `raftsim check` seed {seed} ({options.servers} servers,"
        f" {fmt_time(options.duration)}, faults {','.join(options.kinds)}"
        + (f", injected core faults {','.join(options.inject)})" if options.inject else ")"),
        "shrunk: ops removed while the same failure still happened" if shrink_first else "",
        *(f"{v}" for v in outcome.violations[:3]),
        f"{CRASH}: {outcome.crash}" if outcome.crash else "",
        f"not converged after healing: the known {outcome.known} (docs/campaigns.md)"
        if outcome.known
        else "",
        f"{UNEXPLAINED} after healing"
        if not (outcome.crash or outcome.converged or outcome.known)
        else "",
    ]
    text = outcome.scenario("\n".join(line for line in why if line))
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return outcome


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The `check` subcommand."""
    check = commands.add_parser(
        "check",
        help="run seeded fault campaigns with every safety checker on",
        description=(
            "Run N seeded fault schedules (crashes, partitions, loss, membership changes, "
            "...) with every safety checker on; print each violation's seed and the command "
            "that replays it as a scenario transcript."
        ),
    )
    check.add_argument("--seeds", type=int, default=100, help="how many seeds (default 100)")
    check.add_argument("--start", type=int, default=0, help="first seed (default 0)")
    check.add_argument("--servers", type=int, default=5, help="servers per cluster (default 5)")
    check.add_argument("--duration", default="60s", help="schedule length (default 60s)")
    check.add_argument(
        "--faults",
        default=",".join(ALL_KINDS),
        help=f"fault kinds, comma-separated (default all: {','.join(ALL_KINDS)}); with a "
        "leading +, the defaults and these (+transfer-leadership)",
    )
    check.add_argument("--rate", type=float, default=0.5, help="ops per simulated second")
    check.add_argument(
        "--inject",
        default="",
        help="deliberate core bugs to build in: " + ",".join(f.value for f in Fault),
    )
    check.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes (default 1); with --dask local, the local cluster's worker processes",
    )
    check.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run the seeds as tasks on the Dask (distributed) scheduler at ADDRESS, or on a "
        "LocalCluster started for the run with 'local' (needs the dask extra)",
    )
    check.add_argument(
        "--event-budget",
        type=int,
        default=EVENT_BUDGET,
        metavar="N",
        help=f"events a schedule may run per 60 s of schedule before it is stopped and "
        f"reported as a retry storm (default {EVENT_BUDGET}; 0: no budget)",
    )
    check.add_argument(
        "--profile",
        choices=tuple(PROFILES),
        default="P1",
        help="the Raft profile of every cluster: P1 (Nomad 0.5.x, the default), P2 (0.8-1.2), "
        "P3 (1.3-1.8, protocol 3) or P4 (1.9+, protocol 3 with pre-vote)",
    )
    check.add_argument("--shard", default="0/1", help="I/N: run only seeds with seed %% N == I")
    check.add_argument("--json", action="store_true", help="print the summary as JSON")
    check.add_argument("--replay", type=int, metavar="SEED", help="run one seed only")
    check.add_argument("--shrink", action="store_true", help="with --replay: shrink first")
    check.add_argument("--write", metavar="FILE", help="with --replay: write the transcript")
    check.add_argument("--merge", nargs="+", metavar="JSON", help="add up --json outputs")
    check.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    try:
        if args.merge:
            return _merge(args.merge, args.json)
        options = CampaignOptions(
            servers=args.servers,
            duration=parse_span(args.duration),
            kinds=parse_faults(args.faults),
            rate=args.rate,
            inject=parse_inject(args.inject),
            event_budget=args.event_budget,
            profile=args.profile,
        )
        check_arguments(args, options)
        index, count = parse_shard(args.shard)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.replay is not None:
        path = args.write or f"seed-{args.replay}.txt"
        outcome = write_replay(args.replay, options, path, args.shrink)
        for violation in outcome.violations:
            print(violation)
        if outcome.crash:
            print(f"{CRASH}: {outcome.crash} (seed {args.replay})")
        elif not outcome.converged:
            known = f"known {outcome.known}" if outcome.known else "unexplained"
            print(f"not converged ({known}) after healing")
        print(f"wrote {path} ({len(outcome.commands)} commands)")
        return 1 if failure(outcome) else 0
    seeds = [s for s in range(args.start, args.start + args.seeds) if s % count == index]
    try:
        summary = campaign(
            seeds, options, args.workers, report=progress_printer(len(seeds)), dask=args.dask
        )
    except ImportError as error:  # --dask without the optional `distributed` package
        print(f"error: --dask needs {error.name}: pip install 'raftsim[dask]'", file=sys.stderr)
        return 2
    summary.shard = args.shard
    if args.json:
        print(json.dumps(asdict(summary), indent=1, sort_keys=True))
    else:
        print_summary(summary)
    return 1 if summary.failed else 0


def check_arguments(args: argparse.Namespace, options: CampaignOptions) -> None:
    """Refuse what cannot make a campaign, before running anything."""
    if args.servers < 1 or args.workers < 1 or options.duration <= 0:
        raise ValueError("--servers, --workers and --duration must be positive")
    if args.event_budget < 0:
        raise ValueError("--event-budget cannot be negative (0: no budget)")
    if args.dask is not None and not args.dask:
        raise ValueError("--dask takes a scheduler address (HOST:PORT) or 'local'")
    if args.seeds < 0 or args.start < 0 or (args.replay is not None and args.replay < 0):
        raise ValueError("--seeds, --start and --replay cannot be negative")
    if not (math.isfinite(options.rate) and 0 < options.rate <= MAX_RATE):
        raise ValueError(f"--rate must be above 0 and at most {MAX_RATE} ops per second")
    if (args.shrink or args.write) and args.replay is None:
        raise ValueError("--shrink and --write go with --replay SEED")


def _merge(paths: Sequence[str], as_json: bool) -> int:
    merged: Summary | None = None
    fields = set(Summary.__dataclass_fields__)
    for path in paths:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if not isinstance(data, dict) or set(data) != fields:
            raise ValueError(f"{path} is not the --json output of raftsim check")
        part = Summary(**data)
        if merged is None:
            merged = part
            merged.shard = "merged"
        else:
            merged.merge(part)
    assert merged is not None
    if as_json:
        print(json.dumps(asdict(merged), indent=1, sort_keys=True))
    else:
        print_summary(merged)
    return 1 if merged.failed else 0
