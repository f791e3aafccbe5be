"""Snapshots and log compaction (ring 0), after hashicorp/raft's `snapshot.go` (takeSnapshot,
compactLogs) and `raft.go` (installSnapshot), with the paper's §7 rule for the log a follower
keeps: the functions a `RaftNode` calls for its snapshot check and for InstallSnapshot; the
leader sends snapshots from its replication loop (leader.py), the storage keeps them.

hashicorp's runSnapshots loop checks every U[SnapshotInterval, 2 SnapshotInterval) whether
the log holds SnapshotThreshold entries past the last snapshot. Here the check's timer is
armed only once that holds (an append crosses the threshold), from a random stream of its
own: a check that would find nothing to do changes nothing, so an idle node keeps its one
timer (the fast-forward counts on it) and every run below the threshold (every scenario and
campaign, at Nomad's 8192) draws and schedules exactly what it did before snapshots existed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .events import SnapshotInstalled, SnapshotTaken
from .messages import InstallSnapshot, InstallSnapshotResponse
from .storage import Snapshot
from .timing import TimerModel, jitter
from .types import EntryKind, Role

if TYPE_CHECKING:
    from .node import RaftNode

SNAPSHOT = "snapshot"  # the node's snapshot check timer


def arm_check(node: RaftNode, now: int) -> None:
    """Arm the snapshot check if the log holds SnapshotThreshold entries past the last
    snapshot and it is not armed yet (see SNAPSHOT)."""
    storage = node.storage
    snapshot = storage.snapshot
    since = snapshot.index if snapshot is not None else 0
    t = node.timing
    if storage.last_index - since < t.snapshot_threshold or SNAPSHOT in node.armed():
        return
    if node.snapshot_rand is None:
        node.snapshot_rand = node.streams("snapshot", "")
    interval = t.snapshot_interval
    node.arm(SNAPSHOT, "", jitter(node.snapshot_rand, interval, interval), now)


def check(node: RaftNode, now: int) -> None:
    """hashicorp takeSnapshot then compactLogs: snapshot what the state machine has
    applied, unless it has not applied the committed configuration yet (refused:
    checked again later); then delete the log up to it, keeping TrailingLogs entries."""
    storage = node.storage
    previous = storage.snapshot
    index = node.last_applied
    if index > (previous.index if previous is not None else 0) and (index >= node.committed_index):
        snapshot = Snapshot(index, storage.term_at(index), node.committed, node.committed_index)
        through = storage.compact(snapshot, node.timing.trailing_logs)
        node.events.append(SnapshotTaken(now, node.name, index, snapshot.term, through))
    arm_check(node, now)


def install(node: RaftNode, msg: InstallSnapshot, now: int) -> None:
    """hashicorp installSnapshot, with the term rules of AppendEntries: a lower term is
    refused, a higher one adopted; any role becomes the term's leader's follower. The
    log is kept after the snapshot's last entry if it holds that entry (paper §7)."""
    storage = node.storage
    term = storage.current_term
    resp = InstallSnapshotResponse(node.id, msg.src, msg.rpc, term, False)
    node.messages.append(resp)
    if msg.term < term:
        return
    if msg.term > term:
        node.step_down(msg.term, now)
        resp.term = msg.term
    elif node.role is not Role.FOLLOWER:
        node.set_role(Role.FOLLOWER, now)
    if msg.src != node.leader_id:
        node.set_leader(msg.src, msg.leader_address)
    if node.timing.model is TimerModel.PAPER:
        node.arm_follower_timer(now)
    resp.success = True
    node.last_contact = now
    index = msg.last_index
    current = storage.snapshot
    if (current is not None and index <= current.index) or (
        index <= node.commit_index and storage.term_at(index) == msg.last_term
    ):
        return  # nothing it does not hold already
    snapshot = Snapshot(index, msg.last_term, msg.configuration, msg.configuration_index)
    kept = storage.install(snapshot)
    node.events.append(SnapshotInstalled(now, node.name, msg.src, index, msg.last_term, len(kept)))
    node.committed = node.latest = msg.configuration
    node.committed_index = node.latest_index = msg.configuration_index
    for entry in kept:
        if entry.kind is EntryKind.CONFIGURATION:
            node.adopt_configuration(entry, emit=False)
    node.configuration_changed()
    node.last_applied = max(node.last_applied, index)  # the state machine is restored
    if index > node.commit_index:
        node.set_commit_index(index)
