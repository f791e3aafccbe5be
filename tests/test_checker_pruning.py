"""The safety checkers forget what they keep per entry once every server compacted past it
(raftsim/sim/digests.py, SafetyChecker._prune) and stay as strong: with a snapshot every few
entries the correct core stays quiet and every deliberate fault is still caught, and a
removal or re-application of a pruned entry is still reported."""

from __future__ import annotations

from dataclasses import replace

import pytest

from raftsim import Fault
from raftsim.core.events import EntryApplied, LogTruncated
from raftsim.core.timing import SECOND, Timing
from raftsim.core.types import Entry, EntryKind
from raftsim.scenario import runner as scenario_runner
from raftsim.sim.cluster import Cluster
from raftsim.sim.digests import COMMITTED, Digests
from raftsim.testing.schedules import ALL_KINDS, ScheduleRunner, generate

from .test_checkers import EXPECTED, SEED_BOUND

# A snapshot every 4 entries, checked every 2 s, the log kept from 2 behind: the checkers
# prune all the time.
TINY = {"snapshot_threshold": 4, "trailing_logs": 2, "snapshot_interval": 2 * SECOND}


class _TinySnapshots:
    """Timing as scenario runner builds it, with TINY's snapshot settings."""

    @staticmethod
    def nomad() -> Timing:
        return replace(Timing.nomad(), **TINY)

    @staticmethod
    def paper() -> Timing:
        return replace(Timing.paper(), **TINY)


@pytest.fixture
def tiny_snapshots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scenario_runner, "Timing", _TinySnapshots)


def schedule(seed: int, faults: tuple[Fault, ...] = ()) -> tuple[set[str], int]:
    """One default campaign schedule: the rules broken, and the index pruned through."""
    runner = ScheduleRunner(seed, 5, faults)
    outcome = runner.run(generate(seed, 60 * SECOND, ALL_KINDS, 0.5))
    return {v.rule for v in outcome.violations}, runner.cluster.checker.pruned


def test_pruning_digests_read_committed_before_the_boundary() -> None:
    chain = Digests([11, 12, 13, 14])
    chain.prune(2)
    assert (len(chain), chain.base, chain.items) == (4, 2, [13, 14])
    assert [chain[i] for i in range(4)] == [COMMITTED, COMMITTED, 13, 14]
    assert chain.last() == 14 and chain[-1] == 14
    copy = chain.prefix(1)
    assert (len(copy), copy[0]) == (1, COMMITTED)
    chain.truncate(3)
    assert (len(chain), chain.last()) == (3, 13)
    chain.truncate(2)
    assert (len(chain), chain.last()) == (2, 12)  # the boundary's real digest chains on
    chain.truncate(1)  # below the boundary: only the committed prefix is left
    assert (len(chain), chain.last()) == (1, COMMITTED)


def test_pruning_correct_core_stays_quiet_and_prunes(tiny_snapshots: None) -> None:
    """The correct core with snapshots every few entries: no rule breaks, and the checkers
    did prune (so the rules ran over pruned chains)."""
    pruned = []
    for seed in range(40):
        rules, through = schedule(seed)
        assert rules == set(), f"seed {seed}"
        pruned.append(through)
    assert sum(1 for through in pruned if through > 0) >= 20, pruned


@pytest.mark.parametrize("fault", list(EXPECTED), ids=[f.value for f in EXPECTED])
def test_pruning_each_deliberate_fault_still_caught(tiny_snapshots: None, fault: Fault) -> None:
    """test_checkers' campaign per fault, with snapshots every few entries."""
    for seed in range(SEED_BOUND):
        rules, _ = schedule(seed, (fault,))
        if EXPECTED[fault] in rules:
            return
    pytest.fail(f"{fault.value} not caught within {SEED_BOUND} seeds")


def pruned_cluster() -> Cluster:
    timing = replace(Timing.nomad(), **TINY)
    cluster = Cluster(3, seed=4, timing=timing)
    cluster.run_until(lambda c: c.leader() is not None, "10s")
    for i in range(20):
        cluster.propose(f"x{i}")
        cluster.run_for("1s")
    cluster.run_for("10s")
    assert cluster.checker.pruned > 2 and cluster.violations == []
    return cluster


def test_pruning_removal_of_a_pruned_entry_is_reported() -> None:
    cluster = pruned_cluster()
    follower = next(n for n in cluster.servers if n != cluster.leader())
    cluster.checker.on_event(LogTruncated(cluster.now, follower, 2))
    assert [v.rule for v in cluster.violations] == ["Committed entries never disappear"]


def test_pruning_reapplying_a_pruned_entry_is_reported() -> None:
    cluster = pruned_cluster()
    follower = next(n for n in cluster.servers if n != cluster.leader())
    entry = Entry(2, 1, EntryKind.COMMAND, data="other")
    cluster.checker.on_event(EntryApplied(cluster.now, follower, entry))
    assert [v.rule for v in cluster.violations] == ["State Machine Safety"]
