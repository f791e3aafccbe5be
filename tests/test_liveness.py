"""The liveness and accounting rules (raftsim/sim/liveness.py) and the schedule runner's event
budget: each fires where it should, and stays quiet where hashicorp's bounds are kept."""

from __future__ import annotations

from raftsim import Fault
from raftsim.core.events import (
    CommitAdvanced,
    ConfigurationChanged,
    EntriesAppended,
    LogTruncated,
    TermChanged,
)
from raftsim.core.storage import Storage
from raftsim.core.types import Configuration, Entry, EntryKind, Server, Suffrage
from raftsim.sim.checkers import SafetyChecker
from raftsim.sim.cluster import Cluster
from raftsim.testing import run_seed
from raftsim.testing.schedules import EVENT_BUDGET


def elect(cluster: Cluster) -> str:
    assert cluster.run_until(lambda c: c.leader() is not None, "30s", state_only=True)
    leader = cluster.leader()
    assert leader is not None
    return leader


def test_lease_rule_reports_a_leader_that_keeps_leading_without_a_quorum() -> None:
    """With the lease check never re-armed, an isolated leader outlives LLT + 10 ms."""
    cluster = Cluster(3, seed=7, faults=[Fault.LEASE_NOT_REARMED])
    leader = elect(cluster)
    cluster.run_for("2s")
    cluster.isolate(leader)
    cluster.run_for("5s")
    rules = {v.rule for v in cluster.violations}
    assert rules == {"Leader lease"}, cluster.violations
    (violation,) = cluster.violations
    assert violation.servers == (leader,)
    assert "after its last contact with a quorum of its 3 voters" in violation.detail


def test_lease_rule_quiet_when_the_leader_steps_down_in_time() -> None:
    """The correct core's isolated leader steps down within the lease bound."""
    cluster = Cluster(3, seed=7)
    leader = elect(cluster)
    cluster.run_for("2s")
    cluster.isolate(leader)
    cluster.run_for("5s")
    assert cluster.violations == []
    assert cluster.leader() != leader


def test_lease_rule_does_not_count_a_paused_leaders_time() -> None:
    """A leader's lease runs on its own clock, which stops while it is paused."""
    cluster = Cluster(3, seed=3, faults=[Fault.LEASE_NOT_REARMED])
    leader = elect(cluster)
    cluster.run_for("1s")
    cluster.pause(leader)
    cluster.isolate(leader)  # (it never hears of the new leader: the fault keeps it leading)
    cluster.run_for("3s")
    successor = cluster.leader()
    assert successor is not None and successor != leader
    cluster.resume(leader)
    resumed = cluster.now
    cluster.run_for("100ms")
    cluster.propose("a", via=successor)  # events to look at, 100 ms into the old one's lease
    cluster.run_for("100ms")
    assert cluster.violations == []
    cluster.run_for("1s")
    cluster.propose("b", via=successor)
    cluster.run_for("100ms")
    (violation,) = cluster.violations
    assert violation.rule == "Leader lease" and violation.servers == (leader,)
    assert violation.time >= resumed + 1_000_000


def configuration_entry(index: int, *names: str) -> Entry:
    servers = tuple(Server(Suffrage.VOTER, n, n) for n in names)
    return Entry(index, 1, EntryKind.CONFIGURATION, "", Configuration(servers))


def test_configuration_rule_checks_once_the_servers_batch_is_over() -> None:
    """A truncation that cuts off latest is fine if the same batch falls back; not otherwise."""
    storages = {"alice": Storage(), "bob": Storage()}
    checker = SafetyChecker(1, storages)
    for name in storages:
        checker.add_server(name)
    first, second = configuration_entry(1, "alice"), configuration_entry(2, "alice", "bob")
    assert first.configuration is not None and second.configuration is not None
    for entry in (first, second):
        storages["alice"].log.append(entry)
        checker.on_event(EntriesAppended(10, "alice", (entry,)))
    checker.on_event(
        ConfigurationChanged(10, "alice", second.configuration, 2, first.configuration, 1)
    )
    # The correct fallback, reported right after the truncation, within the batch.
    del storages["alice"].log[1:]
    checker.on_event(LogTruncated(20, "alice", 2))
    checker.on_event(
        ConfigurationChanged(20, "alice", first.configuration, 1, first.configuration, 1)
    )
    checker.on_event(TermChanged(30, "bob", 1))
    assert checker.violations == []
    # A truncation without the fallback: latest still names the entry cut off.
    storages["alice"].log.append(second)
    checker.on_event(EntriesAppended(40, "alice", (second,)))
    checker.on_event(
        ConfigurationChanged(40, "alice", second.configuration, 2, first.configuration, 1)
    )
    checker.on_event(CommitAdvanced(40, "alice", 1, False, 1))
    del storages["alice"].log[1:]
    checker.on_event(LogTruncated(50, "alice", 2))
    checker.on_event(TermChanged(60, "bob", 2))
    (violation,) = checker.violations
    assert str(violation) == (
        "Latest configuration is the log's newest violated at 0.050ms by alice (seed 1):"
        " latest configuration is entry 2, the log's newest configuration entry is 1"
    )


def test_event_budget_reports_and_stops_a_schedule_past_it() -> None:
    """A schedule that runs more events than its budget stops early with a finding."""
    normal = run_seed(4)
    assert normal.violations == []
    stopped = run_seed(4, event_budget=300)
    (violation,) = stopped.violations
    assert violation.rule == "Event budget"
    assert violation.detail.startswith("event budget exceeded: ")
    assert "simulated s (budget 300)" in violation.detail
    assert stopped.simulated < normal.simulated


def test_event_budget_default_is_far_above_normal_schedules() -> None:
    """Default schedules use a small fraction of the default budget."""
    for seed in range(20):
        outcome = run_seed(seed)
        assert not outcome.violations
    assert EVENT_BUDGET >= 100_000
