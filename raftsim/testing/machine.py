"""A hypothesis `RuleBasedStateMachine` over a cluster, for membership changes under faults.

Its invariants are the safety checkers; its teardown checks liveness where it must hold:
once every fault is undone and every server restarted, a leader is elected and the
configuration converges within a bounded virtual time. Everything it does goes through the
scenario language, so a failing example is reported as a scenario transcript (written to
`.raftsim/failures/<machine class>.txt` and shown in hypothesis' notes) that `raftsim run` replays.

Subclass it to add rules and invariants of your own; `self.cluster` is the `Cluster`,
`self.runner.do(command)` runs any scenario command (a `raftsim.scenario.commands` object
or a command line) and records it, with its output, for the transcript.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import ClassVar

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.errors import UnsatisfiedAssumption
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from ..core.faults import Fault
from ..core.timing import MS, SECOND
from ..scenario.commands import Check, RunFor, Span
from ..scenario.vocabulary import ALL_KINDS
from ..sim.cluster import Cluster
from .schedules import Op, ScheduleRunner

FAILURES = Path(".raftsim") / "failures"


class RaftMachine(RuleBasedStateMachine):
    """Faults, client requests and membership changes, one rule at a time."""

    servers: ClassVar[tuple[int, ...]] = (3, 5)
    faults: ClassVar[tuple[Fault, ...]] = ()  # deliberate core bugs, for self-tests
    kinds: ClassVar[tuple[str, ...]] = ALL_KINDS
    settle_within: ClassVar[int] = 60 * SECOND

    runner: ScheduleRunner

    @initialize(servers=st.sampled_from(servers), seed=st.integers(0, 2**16))
    def start(self, servers: int, seed: int) -> None:
        # trace="state": a failure is written out from the outputs recorded as it ran.
        self.runner = ScheduleRunner(seed, servers, self.faults, trace="state")

    @property
    def cluster(self) -> Cluster:
        return self.runner.cluster

    @rule(
        kind=st.sampled_from(kinds),
        pick=st.integers(0, 2**30),
        value=st.floats(0.0, 1.0, allow_nan=False),
    )
    def act(self, kind: str, pick: int, value: float) -> None:
        """One fault, request or membership change (see schedules.py for what each does)."""
        self.runner.wait_limit = 5 * SECOND
        self.runner.apply(Op(0, kind, pick, value))

    @rule(span=st.integers(1, 5_000))
    def wait(self, span: int) -> None:
        """Let virtual time pass (milliseconds)."""
        self.runner.do(RunFor(Span.micros(span * MS)))

    @invariant()
    def safety(self) -> None:
        """Every safety checker holds (spec §1.6)."""
        if hasattr(self, "runner") and self.cluster.violations:
            self.fail(str(self.cluster.violations[0]))

    def teardown(self) -> None:
        """Liveness: with every fault undone, a leader is elected and the configuration
        converges (every running member holds the leader's latest, committed). When the
        run is failing already, by a plain `assert` in a rule or invariant of a subclass
        (anything but `fail`), write its transcript instead, then let the failure go on."""
        if not hasattr(self, "runner"):
            return
        # Hypothesis calls teardown in a `finally`: the exception on its way up, if any.
        failure = sys.exc_info()[1]
        if failure is not None and not _is_failure(failure):
            return  # hypothesis' own control flow (data used up, an assume()), or Ctrl-C
        if failure is not None:
            if not getattr(failure, "raftsim_transcript", None):
                self.write_failure(f"{type(failure).__name__}: {failure}".rstrip(": "))
            return
        if self.cluster.violations:
            return  # already reported by the invariant
        self.runner.settle(self.settle_within)
        outcome = self.runner.finish()
        if outcome.violations:
            self.fail(str(outcome.violations[0]))
        # The known non-convergences (docs/campaigns.md) are hashicorp/raft's own behaviour,
        # reproduced: the machine accepts it as the campaign does.
        if not outcome.converged and not outcome.known:
            self.fail(
                f"no convergence within {self.settle_within // SECOND}s after healing:"
                f" leader {outcome.leader_at_end}"
            )

    def fail(self, why: str) -> None:
        """Report a failure of the checkers with the schedule as a replayable scenario file
        (ending with `check`, which prints the violation), and fail the example."""
        outcome = self.runner.outcome
        if not outcome.commands or not isinstance(outcome.commands[-1], Check):
            self.runner.do(Check())  # (it only looks: the schedule stays what it was)
        path = self.write_failure(why)
        error = AssertionError(f"{why}\nscenario: {path} ({len(outcome.commands)} commands)")
        error.raftsim_transcript = path  # type: ignore[attr-defined]
        raise error

    def write_failure(self, why: str) -> Path:
        """Write the schedule so far as a scenario transcript, `why` in its opening comment,
        to `.raftsim/failures/<class>.txt`, and note it in hypothesis' report."""
        transcript = self.runner.outcome.scenario(
            f"Found by raftsim.testing.RaftMachine: {why}\nReplay: raftsim run FILE"
        )
        # One file per machine class, rewritten by every failing run: hypothesis replays
        # the minimal example last, so what stays is the shrunk schedule.
        FAILURES.mkdir(parents=True, exist_ok=True)
        path = FAILURES / f"{type(self).__name__}.txt"
        path.write_text(transcript, encoding="utf-8")
        note(transcript)
        return path


def _is_failure(error: BaseException) -> bool:
    """Whether an exception passing through teardown fails the example: not hypothesis'
    StopTest (a BaseException: the engine ran out of data for this example, which
    coverage-guided fuzzers such as HypoFuzz make happen often), not an `assume()` that
    rejected it, not a KeyboardInterrupt."""
    return isinstance(error, Exception) and not isinstance(error, UnsatisfiedAssumption)
