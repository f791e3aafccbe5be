"""One shrunk scenario per deliberate core bug (tests/regressions/<fault>.txt), found by
`raftsim check --inject FAULT` and shrunk with `--shrink` (`make regressions` rebuilds them).
Each replays byte for byte and shows its violation; the same commands on the correct core
break no rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from raftsim.core.faults import Fault
from raftsim.scenario import Runner, parse, replay

FILES = sorted((Path(__file__).parent / "regressions").glob("*.txt"))
RULES = {
    Fault.DOUBLE_VOTE: "One vote per term",
    Fault.COMMIT_PREVIOUS_TERM: "Commit only current-term entries by counting",
    Fault.NO_TRUNCATE: "Log Matching",
    Fault.CONCURRENT_CONFIG: "One uncommitted configuration change",
    Fault.EARLY_CONFIG: "Change only after a commit in the leader's term",
    Fault.LEASE_NOT_REARMED: "Leader lease",
    Fault.COMMIT_SELF_NONVOTER: "Commit on a quorum of voters",
    Fault.KEEP_CUT_CONFIG: "Latest configuration is the log's newest",
}


def test_regressions_one_file_per_deliberate_fault() -> None:
    """Each of the first deliberate safety faults has its shrunk scenario (STUCK_NEXT_INDEX
    breaks only liveness: tests/test_campaign_exit.py shows campaigns fail on it; the
    mutation suite's faults are tests/test_mutants.py's)."""
    assert sorted(p.stem for p in FILES) == sorted(f.value for f in RULES)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_regression_replays_and_shows_its_violation(path: Path) -> None:
    """The transcript replays exactly, and its `check` names the fault's rule."""
    result = replay(path.read_text(), str(path))
    assert result.ok, result.diff()
    assert f"{RULES[Fault(path.stem)]} violated" in result.actual


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_regression_schedule_is_safe_on_the_correct_core(path: Path) -> None:
    """The same commands without the injected fault break no safety rule."""
    runner = Runner()
    for block in parse(path.read_text(), str(path)):
        if block.command:
            words = [w for w in block.command.split() if not w.startswith("faults=")]
            runner.execute(" ".join(words))
    assert [str(v) for v in runner.cluster.violations] == []
