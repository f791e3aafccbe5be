"""The leader's machinery (ring 0): replication and heartbeat loops per follower, commitment,
the lease check and the membership-change queue, after hashicorp/raft's `replication.go`,
`commitment.go` and `runLeader` (spec §2.5-2.7, §3.7-3.8).

A `LeaderState` lives exactly as long as one term of leadership; dropping it is stepping
down. hashicorp runs each follower's loops as goroutines making synchronous RPCs; here each
loop is a little state record whose waits are timers and whose calls are messages.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from . import transfer
from .configuration import ChangeCommand, next_configuration
from .errors import (
    ConfigurationError,
    LeadershipLostError,
    NotLeaderError,
    RaftsimError,
    UnhandledMessageError,
)
from .events import LeaseLost
from .faults import Fault, counted_voters
from .future import Future
from .messages import (
    AppendEntries,
    AppendResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    Message,
    PreVoteResponse,
    RpcFailure,
    TimeoutNowResponse,
    VoteResponse,
)
from .timing import RandomSource, jitter
from .types import Configuration, Entry, EntryKind, Role

if TYPE_CHECKING:
    from .node import RaftNode

# Future is defined in future.py; it is importable from here too, as it always was.
__all__ = ["FAILURE_WAIT", "MIN_LEASE_CHECK", "Follower", "Future", "LeaderState", "backoff"]

FAILURE_WAIT = 10_000  # µs: hashicorp `failureWait`
MAX_FAILURE_SCALE = 12
MIN_LEASE_CHECK = 10_000  # µs: hashicorp `minCheckInterval`


def backoff(failures: int) -> int:
    """hashicorp `backoff(failureWait, failures, maxFailureScale)`: 10 ms, 10 ms, then doubling."""
    wait = FAILURE_WAIT
    power = min(failures, MAX_FAILURE_SCALE)
    while power > 2:
        wait *= 2
        power -= 1
    return wait


class Follower:
    """The leader's replication state for one peer (hashicorp `followerReplication`)."""

    __slots__ = (
        "backing_off",
        "hb_failures",
        "hb_rand",
        "hb_rpc",
        "last_contact",
        "match_index",
        "next_index",
        "peer",
        "repl_failures",
        "repl_last",
        "repl_rand",
        "repl_rpc",
        "stop_at",
        "target",
        "triggered",
    )

    def __init__(
        self,
        peer: str,
        next_index: int,
        now: int,
        hb_rand: RandomSource,
        repl_rand: RandomSource,
    ) -> None:
        self.peer = peer
        self.next_index = next_index
        self.match_index = 0
        self.last_contact = now
        self.repl_rpc = 0  # the AppendEntries in flight, 0 when idle
        self.repl_last = 0  # index of the last entry that request carried
        self.repl_failures = 0
        self.target = 0  # replicateTo's lastIndex
        self.triggered = False  # new entries arrived while busy
        self.backing_off = False
        self.stop_at = 0  # removed from latest: one last round up to here, then drop
        self.hb_rpc = 0
        self.hb_failures = 0
        # Each loop's own jitter stream: the loops' timings never depend on each other.
        self.hb_rand = hb_rand
        self.repl_rand = repl_rand


class LeaderState:
    """Everything a node holds only while it leads."""

    def __init__(self, node: RaftNode, now: int) -> None:
        self.node = node
        self.term = node.storage.current_term
        self.start_index = node.storage.last_index + 1  # commitment's startIndex
        self.followers: dict[str, Follower] = {}
        self.inflight: dict[int, Future] = {}  # entry index -> future
        self.changes: deque[tuple[ChangeCommand, str, str, int, Future]] = deque()
        self.stepping_down = False
        self.transfer: transfer.Transfer | None = None  # a leadership transfer (§3.9)

    # ------------------------------------------------------------ lifecycle

    def begin(self, now: int) -> None:
        """runLeader setup: replication for every peer, the lease, then the no-op (§3.7)."""
        self._start_stop_replication(now)
        self.node.arm("lease", "", self.node.timing.leader_lease_timeout, now)
        if Fault.NO_LEADER_NOOP not in self.node.faults:
            self.dispatch(EntryKind.NOOP, "", None, now)

    def stop(self) -> None:
        """Stepping down: the loops end and every waiting request fails."""
        node = self.node
        for f in self.followers.values():
            node.disarm("heartbeat", f.peer)
            node.disarm("replicate", f.peer)
        node.disarm("lease")
        self.followers.clear()
        self.fail_requests(LeadershipLostError(), NotLeaderError())
        # "lost leadership during transfer (expected)": hashicorp's success.
        transfer.end(self, transfer.STEPPED_DOWN)

    def fail_requests(self, inflight: RaftsimError, queued: RaftsimError) -> None:
        """Fail every request in the log but uncommitted, and every change still queued."""
        for future in self.inflight.values():
            future.fail(inflight)
        self.inflight.clear()
        for *_, future in self.changes:
            future.fail(queued)
        self.changes.clear()

    def _start_stop_replication(self, now: int) -> None:
        """Replicate to every server of latest but self; removed peers get a last round."""
        node = self.node
        wanted = set(node.latest.ids())
        for peer in node.latest.ids():
            if peer != node.id and peer in self.followers and self.followers[peer].stop_at:
                # Re-added before its last round finished: it is a full follower again.
                self.followers[peer].stop_at = 0
                self._arm_heartbeat(self.followers[peer], 0, now)
            elif peer != node.id and peer not in self.followers:
                f = Follower(
                    peer,
                    node.storage.last_index + 1,
                    now,
                    node.streams("heartbeat", peer),
                    node.streams("replicate", peer),
                )
                if Fault.MATCH_INDEX_OPTIMISTIC in node.faults:
                    f.match_index = node.storage.last_index  # deliberate bug
                self.followers[peer] = f
                self._arm_heartbeat(f, 0, now)
                # The replicate loop starts in its select; dispatch's trigger wakes it.
                self._replicate_idle(f, now)
        for peer in sorted(self.followers):
            f = self.followers[peer]
            if peer not in wanted and not f.stop_at:
                f.stop_at = node.storage.last_index
                node.disarm("heartbeat", peer)
                if not f.repl_rpc and not f.backing_off:
                    node.disarm("replicate", peer)
                    self._start_replicate(f, now)

    # ------------------------------------------------------------ timers

    def fire(self, name: str, peer: str, now: int) -> None:
        if name == "lease":
            self._check_lease(now)
            return
        if name == transfer.TRANSFER:
            transfer.timed_out(self)
            return
        f = self.followers.get(peer)
        if f is None:
            return
        if name == "heartbeat":
            self._send_heartbeat(f)
        elif f.backing_off:
            f.backing_off = False
            if Fault.BACKOFF_DROPS_RETRY in self.node.faults:
                self._replicate_idle(f, now)  # deliberate bug: back to waiting, no retry
                return
            self._send_append(f)
        else:
            self._start_replicate(f, now)

    def _arm_heartbeat(self, f: Follower, extra: int, now: int) -> None:
        t = self.node.timing
        delay = extra + jitter(f.hb_rand, t.heartbeat_min, t.heartbeat_max - t.heartbeat_min)
        self.node.arm("heartbeat", f.peer, delay, now)

    def _send_heartbeat(self, f: Follower) -> None:
        node = self.node
        f.hb_rpc = node.new_rpc()
        node.messages.append(
            AppendEntries(node.id, f.peer, f.hb_rpc, self.term, node.address, 0, 0, (), 0, True)
        )

    # ------------------------------------------------------------ replication

    def _start_replicate(self, f: Follower, now: int) -> None:
        """replicateTo(lastIndex): send until the peer holds everything up to `target`."""
        f.target = f.stop_at or self.node.storage.last_index
        f.triggered = False
        self._replicate_round(f, now)

    def _replicate_round(self, f: Follower, now: int) -> None:
        if f.repl_failures:
            f.backing_off = True
            self.node.arm("replicate", f.peer, backoff(f.repl_failures), now)
        else:
            self._send_append(f)

    def _send_append(self, f: Follower) -> None:
        node = self.node
        storage = node.storage
        prev = f.next_index - 1
        offset = storage.offset
        if offset and (prev < offset or storage.term_at(prev) < 0):
            self._send_snapshot(f)  # the entries it needs next were compacted away
            return
        last = min(f.target, prev + node.timing.max_append_entries)
        entries = storage.log[prev - offset : last - offset] if last > prev else ()
        f.repl_rpc = node.new_rpc()
        f.repl_last = prev + len(entries)
        node.messages.append(
            AppendEntries(
                node.id,
                f.peer,
                f.repl_rpc,
                self.term,
                node.address,
                prev,
                node.storage.term_at(prev),
                entries,
                node.commit_index,
                False,
            )
        )

    def _send_snapshot(self, f: Follower) -> None:
        """hashicorp sendLatestSnapshot: the newest snapshot, in place of the entries."""
        node = self.node
        snapshot = node.storage.snapshot
        assert snapshot is not None  # (the log is compacted only behind a snapshot)
        f.repl_rpc = node.new_rpc()
        f.repl_last = snapshot.index
        node.messages.append(
            InstallSnapshot(
                node.id,
                f.peer,
                f.repl_rpc,
                self.term,
                node.address,
                snapshot.index,
                snapshot.term,
                snapshot.configuration,
                snapshot.configuration_index,
            )
        )

    def _on_snapshot_reply(self, msg: InstallSnapshotResponse, now: int) -> None:
        """The reply to a snapshot: as an AppendEntries reply, the follower then holds
        everything up to the snapshot's last entry; a refusal is a failure (backoff)."""
        f = self.followers.get(msg.src)
        if f is None or msg.rpc != f.repl_rpc:
            return
        f.repl_rpc = 0
        if msg.term > self.term:
            self.node.set_role(Role.FOLLOWER, now)
            return
        f.last_contact = now
        if msg.success:
            f.next_index = f.repl_last + 1
            f.repl_failures = 0
            if f.repl_last > f.match_index:
                f.match_index = f.repl_last
                self._advance_commit(now)
                if self.node.leader_state is not self:
                    return
        else:
            f.repl_failures += 1
        if f.next_index <= f.target:
            self._replicate_round(f, now)
        else:
            self._replicate_idle(f, now)

    def _replicate_idle(self, f: Follower, now: int) -> None:
        """Back in the replicate loop's select: more to send, a trigger, or the CT timer."""
        if f.stop_at:
            # Removed from the configuration: stopCh holds the last index, and the loop
            # makes a best effort to replicate up to it (replicateTo(maxIndex)), even when
            # the removal came while a call was in flight; then the loop ends.
            if f.next_index > f.stop_at:
                del self.followers[f.peer]
            else:
                self._start_replicate(f, now)
            return
        if f.triggered:
            self._start_replicate(f, now)
        else:
            t = self.node.timing
            delay = jitter(f.repl_rand, t.commit_timeout, t.commit_timeout)
            self.node.arm("replicate", f.peer, delay, now)

    # ------------------------------------------------------------ messages

    def step_leader(self, msg: Message, now: int) -> None:
        """The leader's step function (etcd `stepLeader`), bound by `RaftNode.set_role`:
        the replies and failure notices of the loops' calls. An AppendResponse, nearly
        every message a leader gets, is handled right here, without a further call."""
        if type(msg) is not AppendResponse:
            self._step_other(msg, now)
            return
        f = self.followers.get(msg.src)
        if f is None:
            return
        if msg.rpc == f.hb_rpc:
            # Heartbeat replies refresh contact; their term is not examined (§3.7).
            f.hb_rpc = 0
            f.hb_failures = 0
            f.last_contact = now
            if not f.stop_at:
                self._arm_heartbeat(f, 0, now)
            return
        if msg.rpc != f.repl_rpc:
            return
        f.repl_rpc = 0
        if msg.term > self.term and Fault.IGNORE_HIGHER_TERM_REPLY not in self.node.faults:
            # handleStaleTerm: step down without adopting the term.
            self.node.set_role(Role.FOLLOWER, now)
            return
        f.last_contact = now
        if msg.success:
            if self.node.faults and Fault.MATCH_FROM_REPLY in self.node.faults:
                f.repl_last = msg.last_log  # deliberate bug: the follower's whole log counts
            f.next_index = f.repl_last + 1
            f.repl_failures = 0
            if f.repl_last > f.match_index:
                f.match_index = f.repl_last
                self._advance_commit(now)
                if self.node.leader_state is not self:
                    return  # the commit removed this leader
        else:
            if Fault.STUCK_NEXT_INDEX not in self.node.faults:
                f.next_index = max(min(f.next_index - 1, msg.last_log + 1), 1)
            f.repl_failures = 0 if msg.no_retry_backoff else f.repl_failures + 1
        if f.next_index <= f.target:
            self._replicate_round(f, now)
        else:
            self._replicate_idle(f, now)
        if self.transfer is not None:
            transfer.progress(self, f, now)

    def trigger(self, f: Follower, now: int) -> None:
        """Wake f's replication for new entries: at once when idle, after its call or
        backoff otherwise (hashicorp's triggerCh)."""
        if f.repl_rpc or f.backing_off or f.stop_at:
            f.triggered = not f.stop_at
        else:
            self.node.disarm("replicate", f.peer)
            self._start_replicate(f, now)

    def _step_other(self, msg: Message, now: int) -> None:
        """The leader's less common messages. `step` has already refused an AppendEntries
        of a lower term, and stepped down for a higher one."""
        if type(msg) is RpcFailure:
            if not transfer.on_reply(self, msg, now):
                self._on_rpc_failure(msg, now)
        elif type(msg) is TimeoutNowResponse:
            transfer.on_reply(self, msg, now)  # (or a late one: dropped)
        elif type(msg) is InstallSnapshotResponse:
            self._on_snapshot_reply(msg, now)
        elif type(msg) is AppendEntries:
            # Another leader of this very term (only a fault such as DOUBLE_VOTE makes
            # one): hashicorp's appendEntries turns any non-follower into a follower.
            node = self.node
            node.set_role(Role.FOLLOWER, now)
            node.step_follower(msg, now)
        elif type(msg) is not VoteResponse and type(msg) is not PreVoteResponse:
            # (A VoteResponse or PreVoteResponse is late, for the election already won: its
            # term is not read.)
            raise UnhandledMessageError(msg, self.node.role)

    def _on_rpc_failure(self, failure: RpcFailure, now: int) -> None:
        f = self.followers.get(failure.src)
        if f is None:
            return
        if failure.rpc == f.hb_rpc:
            f.hb_rpc = 0
            f.hb_failures += 1
            if f.stop_at:
                return
            if Fault.RETRY_WITHOUT_BACKOFF in self.node.faults:
                self._send_heartbeat(f)  # deliberate bug: the same call again, at once
                return
            self._arm_heartbeat(f, backoff(f.hb_failures), now)
        elif failure.rpc == f.repl_rpc:
            f.repl_rpc = 0
            f.repl_failures += 1
            if f.stop_at:
                del self.followers[f.peer]  # best effort only
                return
            if Fault.RETRY_WITHOUT_BACKOFF in self.node.faults:
                f.repl_failures = 0  # deliberate bug: the same call again, at once
                self.node.disarm("replicate", f.peer)
                self._start_replicate(f, now)
                return
            self._replicate_idle(f, now)

    # ------------------------------------------------------------ log and commitment

    def dispatch(
        self,
        kind: EntryKind,
        data: str,
        configuration: Configuration | None,
        now: int,
        future: Future | None = None,
    ) -> Future:
        """dispatchLogs: persist locally, count own match, trigger every follower."""
        node = self.node
        entry = Entry(node.storage.last_index + 1, self.term, kind, data, configuration)
        future = future or Future()
        self.inflight[entry.index] = future
        node.append_to_log([entry])
        if kind is EntryKind.CONFIGURATION:
            self._start_stop_replication(now)
        for peer in sorted(self.followers):
            self.trigger(self.followers[peer], now)
        self._advance_commit(now)
        return future

    def progress(self, server_id: str) -> tuple[int, int] | None:
        """Read-only: (match index, time of last contact) of a follower's replication, as
        hashicorp's `followerReplication` holds them; None for no such follower. For upper
        layers (Nomad's autopilot) that read the leader's view without driving it."""
        f = self.followers.get(server_id)
        return None if f is None else (f.match_index, f.last_contact)

    def _match(self, server_id: str) -> int:
        if server_id == self.node.id:
            return self.node.storage.last_index
        f = self.followers.get(server_id)
        return f.match_index if f is not None else 0

    def _advance_commit(self, now: int) -> None:
        """commitment.go: the lower median of the voters' match indexes (§2.6)."""
        node = self.node
        voters = node.latest.voters()
        faults = node.faults
        if faults:
            voters = counted_voters(node, voters)
        matches = sorted(self._match(v) for v in voters)
        if not matches:
            return
        index = matches[(len(matches) - 1) // 2]
        if faults and Fault.COMMIT_UPPER_MEDIAN in faults:
            index = matches[len(matches) // 2]  # deliberate bug: half is not a quorum
        if index <= node.commit_index:
            return
        if index < self.start_index and Fault.COMMIT_PREVIOUS_TERM not in faults:
            return  # only entries of the current term commit by counting (Fig. 8)
        was_latest_committed = node.committed_index == node.latest_index
        node.set_commit_index(index)
        for i in sorted(i for i in self.inflight if i <= index):
            self.inflight.pop(i).resolve(i)
        removed = (
            not was_latest_committed
            and node.committed_index == node.latest_index
            and not node.committed.has_vote(node.id)
        )
        if removed:
            # §2.7: removed ourself; Nomad sets ShutdownOnRemove=false, so turn follower.
            self.stepping_down = True
            node.set_role(Role.FOLLOWER, now)
            return
        self._take_change(now)

    # ------------------------------------------------------------ lease

    def _check_lease(self, now: int) -> None:
        """checkLeaderLease (§3.8): step down unless a quorum of voters replied within LLT."""
        node = self.node
        lease = node.timing.leader_lease_timeout
        faults = node.faults
        contacted = 1 if Fault.LEASE_COUNTS_SELF_TWICE in faults else 0  # (deliberate bug)
        oldest = 0
        counted = node.latest.voters()
        if Fault.LEASE_COUNTS_NONVOTERS in faults:
            counted = (node.id, *sorted(self.followers))  # deliberate bug
        for server_id in counted:
            if server_id == node.id:
                contacted += 1
                continue
            f = self.followers.get(server_id)
            if f is None:
                continue
            age = now - f.last_contact
            if age <= lease:
                contacted += 1
                oldest = max(oldest, age)
        if contacted < node.latest.quorum():
            node.events.append(LeaseLost(now, node.name, contacted))
            node.set_role(Role.FOLLOWER, now)
            return
        if Fault.LEASE_NOT_REARMED in faults:
            return  # deliberate bug: no further check, the leader keeps leading
        if Fault.LEASE_FIXED_INTERVAL in faults:
            oldest = 0  # deliberate bug: a whole lease on, whatever contact is about to expire
        node.arm("lease", "", max(lease - oldest, MIN_LEASE_CHECK), now)

    # ------------------------------------------------------------ membership

    def enqueue_change(
        self, command: ChangeCommand, server_id: str, address: str, prev_index: int, now: int
    ) -> Future:
        future = Future()
        self.changes.append((command, server_id, address, prev_index, future))
        self._take_change(now)
        return future

    def _change_allowed(self) -> bool:
        """configurationChangeChIfStable (§2.5): latest committed, and an own-term commit."""
        node = self.node
        faults = node.faults
        stable = node.latest_index == node.committed_index
        own_term = node.commit_index >= self.start_index
        return (stable or Fault.CONCURRENT_CONFIG in faults) and (
            own_term or Fault.EARLY_CONFIG in faults
        )

    def _take_change(self, now: int) -> None:
        node = self.node
        while self.changes and self._change_allowed() and node.leader_state is self:
            command, server_id, address, prev_index, future = self.changes.popleft()
            if self.transfer is not None:
                future.fail(transfer.TransferError(transfer.IN_PROGRESS))
                continue
            try:
                configuration = next_configuration(
                    node.latest,
                    node.latest_index,
                    command,
                    server_id,
                    address,
                    prev_index,
                    node.profile,
                )
            except ConfigurationError as error:
                future.fail(error)
                continue
            self.dispatch(EntryKind.CONFIGURATION, "", configuration, now, future)
