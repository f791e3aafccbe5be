"""Snapshots and log compaction (raftsim/core/storage.py, node.py, leader.py), as hashicorp/raft
takes them with the settings Nomad keeps (SnapshotThreshold 8192, SnapshotInterval 120 s,
TrailingLogs 10240): a snapshot once the log holds the threshold past the last one, the log
deleted up to it but for the trailing entries, InstallSnapshot for a follower that needs
what was deleted; and the soak that shows the memory bound's mechanism."""

from __future__ import annotations

from dataclasses import replace

import pytest

from raftsim.core.configuration import ChangeCommand
from raftsim.core.events import SnapshotInstalled, SnapshotTaken
from raftsim.core.storage import Snapshot, Storage
from raftsim.core.timing import Timing
from raftsim.core.types import Configuration, Entry, EntryKind
from raftsim.sim.cluster import Cluster

SMALL = replace(Timing.nomad(), snapshot_threshold=8, trailing_logs=4)


def cluster_with(timing: Timing = SMALL, servers: int = 3, seed: int = 4) -> Cluster:
    cluster = Cluster(servers, seed=seed, timing=timing)
    cluster.run_until(lambda c: c.leader() is not None, "10s")
    return cluster


def propose(cluster: Cluster, count: int, prefix: str = "x") -> None:
    for i in range(count):
        cluster.propose(f"{prefix}{i}")
    cluster.run_for("1s")


def test_snapshots_storage_compaction_keeps_trailing_entries() -> None:
    """compactLogs: delete up to the snapshot, but keep the newest `trailing` entries."""
    storage = Storage()
    storage.log = [Entry(i, 1, EntryKind.COMMAND, str(i)) for i in range(1, 11)]
    config = Configuration()
    assert storage.compact(Snapshot(8, 1, config, 0), trailing=4) == 6
    assert (storage.first_index, storage.last_index, storage.last_term) == (7, 10, 1)
    assert storage.entries(7, 10)[0].index == 7
    assert (storage.term_at(6), storage.term_at(8), storage.term_at(5)) == (-1, 1, -1)
    assert storage.compact(Snapshot(10, 1, config, 0), trailing=20) == 6  # too short: kept


def test_snapshots_storage_install_keeps_a_matching_suffix_only() -> None:
    """Paper §7: keep the entries after the snapshot's last one if the log holds it."""
    storage = Storage()
    storage.log = [Entry(i, 1, EntryKind.COMMAND, str(i)) for i in range(1, 6)]
    kept = storage.install(Snapshot(3, 1, Configuration(), 0))
    assert [e.index for e in kept] == [4, 5]
    assert storage.last_index == 5
    kept = storage.install(Snapshot(9, 2, Configuration(), 0))
    assert (kept, storage.log, storage.last_index, storage.last_term) == ([], [], 9, 2)


def test_snapshots_default_thresholds_never_reached_in_ordinary_runs() -> None:
    """With Nomad's settings a thousand entries take no snapshot: nothing changes for
    every scenario and campaign, which stay far below 8192."""
    cluster = cluster_with(Timing.nomad())
    propose(cluster, 1000)
    cluster.run_for("10m")
    assert not [e for e in cluster.records if isinstance(e, SnapshotTaken)]
    assert all(s.storage.snapshot is None for s in cluster.servers.values())


def test_snapshots_compaction_bounds_every_log() -> None:
    """Past the threshold each server snapshots within 2 intervals and keeps at most the
    trailing entries plus what came since; the checkers see nothing wrong."""
    cluster = cluster_with()
    for round_ in range(10):
        propose(cluster, 20, f"r{round_}-")
        cluster.run_for("5m")
        for server in cluster.servers.values():
            storage = server.storage
            assert len(storage.log) <= SMALL.trailing_logs + SMALL.snapshot_threshold
    assert all(s.storage.snapshot is not None for s in cluster.servers.values())
    assert cluster.violations == []


def test_snapshots_restart_restores_from_the_snapshot() -> None:
    """A restarted server starts from its snapshot (configuration, applied state), then
    the log after it; it applies nothing twice and catches up with the rest."""
    cluster = cluster_with()
    propose(cluster, 30)
    cluster.run_for("5m")
    leader = cluster.leader()
    assert leader is not None
    follower = next(n for n in cluster.servers if n != leader)
    snapshot = cluster.servers[follower].storage.snapshot
    assert snapshot is not None
    cluster.crash(follower)
    cluster.restart(follower)
    node = cluster.servers[follower].node
    assert node is not None
    assert node.last_applied == snapshot.index
    assert node.latest_index == snapshot.configuration_index
    propose(cluster, 3, "after")
    assert node.commit_index == cluster.servers[leader].storage.last_index
    assert cluster.violations == []


def test_snapshots_lagging_follower_installs_the_leaders_snapshot() -> None:
    """A server down while the others compacted gets the leader's snapshot, then entries;
    membership changes still work afterwards."""
    cluster = cluster_with(servers=5)
    leader = cluster.leader()
    assert leader is not None
    down = next(n for n in cluster.servers if n != leader)
    cluster.crash(down)
    propose(cluster, 40)
    cluster.run_for("5m")
    cluster.restart(down)
    cluster.run_for("15s")  # (the leader's retries to her back off up to 10.24 s)
    installs = [e for e in cluster.records if isinstance(e, SnapshotInstalled)]
    assert [e.server for e in installs] == [down]
    storage = cluster.servers[down].storage
    assert storage.last_index == cluster.servers[leader].storage.last_index
    other = next(n for n in cluster.servers if n not in (leader, down))
    future = cluster.change(ChangeCommand.REMOVE_SERVER, other)
    cluster.run_for("2s")
    assert future.done and future.error is None
    assert cluster.violations == []


@pytest.mark.parametrize(("trace", "minutes"), [("state", 120), ("all", 20)])
def test_snapshots_soak_steady_writes_stay_bounded(trace: str, minutes: int) -> None:
    """The memory bound's mechanism over two simulated hours of steady writes (one a
    minute; twenty minutes with every message traced, which runs event by event), without
    timing: the trace ring and compaction keep every size bounded. A log holds at most the
    trailing entries, the threshold past them, and what came in while the check waited (at
    most two intervals: four writes)."""
    timing = replace(Timing.nomad(), snapshot_threshold=16, trailing_logs=8)
    limit = 1_000
    cluster = Cluster(5, seed=9, timing=timing, trace=trace, trace_limit=limit)
    cluster.run_until(lambda c: c.leader() is not None, "10s")
    peak_log = peak_trace = peak_kept = 0
    for minute in range(minutes):
        if cluster.leader() is not None:
            cluster.propose(f"m{minute}")
        cluster.run_for("60s")
        peak_log = max(peak_log, *(len(s.storage.log) for s in cluster.servers.values()))
        peak_trace = max(peak_trace, len(cluster.records))
        peak_kept = max(peak_kept, cluster.checker.kept())
    bound = timing.trailing_logs + timing.snapshot_threshold + 4
    assert peak_log <= bound
    assert peak_trace <= limit
    # The checkers' records per entry (five chains, the committed prefix, the leaders'
    # logs, interned and applied entries) follow the compacted logs, not every entry
    # appended (about one a minute here, and what an election adds).
    assert cluster.checker.pruned >= minutes // 3
    assert peak_kept <= 12 * bound
    assert all(s.storage.offset >= minutes // 3 for s in cluster.servers.values())  # compacted
    assert cluster.violations == []
