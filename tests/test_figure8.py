"""Figure 8 of the Raft paper played exactly on hand-driven nodes: with the deliberate fault
that commits earlier-term entries by counting replicas, a committed entry is later
overwritten, and the safety checkers say so; the real rule (§5.4.2) prevents it."""

from __future__ import annotations

import dataclasses

import pytest

from raftsim.core import AppendEntries, Fault, Role, Timing

from .harness import Net

ONE_ENTRY_PER_REQUEST = dataclasses.replace(Timing.nomad(), max_append_entries=1)


def play_figure8(faults: tuple[Fault, ...]) -> Net:
    net = Net(5, faults=faults, timing=ONE_ENTRY_PER_REQUEST)
    net.elect("s1")
    assert net.nodes["s1"].role is Role.LEADER
    # (a) s1 (term 2) gets x1 to s2 only, then crashes.
    net.nodes["s1"].propose("x1", net.now)
    net._drain("s1")
    net.deliver(src="s1", dst="s2", kind=AppendEntries)
    net.crash("s1")
    # (b) s5 wins with s3, s4 and itself, appends its no-op, and crashes before sending it.
    assert net.win("s5", ["s3", "s4", "s5"])
    net.crash("s5")
    # (c) s2 wins a later term with s3 and s4 and replicates one entry per request: x1
    # reaches s3 and s4, the no-op of its own term does not.
    assert net.win("s2", ["s2", "s3", "s4"])
    net.stabilize(["s2", "s3", "s4"], rounds=4)
    net.crash("s2")
    # (d) s2 crashes; s5 comes back and wins with s3 and s4, whose last term is older.
    net.restart("s5")
    assert net.win("s5", ["s3", "s4", "s5"])
    net.stabilize(["s3", "s4", "s5"])
    return net


def test_figure8_fault_commits_x1_and_checkers_see_it_overwritten() -> None:
    """With the fault s2 commits x1 by counting, s5 overwrites it, and three rules fire."""
    net = play_figure8((Fault.COMMIT_PREVIOUS_TERM,))
    rules = set(net.violations())
    assert "Commit only current-term entries by counting" in rules
    assert "Leader Completeness" in rules
    assert "Committed entries never disappear" in rules


def test_figure8_real_rule_keeps_x1_uncommitted_and_safe() -> None:
    """§5.4.2: s2 does not commit x1 by counting, so s5 may overwrite it safely."""
    net = play_figure8(())
    assert net.violations() == []
    assert net.storages["s3"].log[2].term == net.storages["s5"].log[2].term


@pytest.mark.parametrize("faults", [(), (Fault.COMMIT_PREVIOUS_TERM,)], ids=["rule", "fault"])
def test_figure8_ends_with_s5_log_on_s3_and_s4(faults: tuple[Fault, ...]) -> None:
    """Either way s5's entry at index 3 replaces x1 on s3 and s4 (the overwrite happens)."""
    net = play_figure8(faults)
    for i in ("s3", "s4"):
        assert net.storages[i].log[2] is net.storages["s5"].log[2]
    assert not any(isinstance(m, AppendEntries) and m.src == "s1" for m in net.queue)
