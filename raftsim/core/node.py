"""One Raft server as a pure, synchronous state machine (ring 0), after hashicorp/raft.

Theory of operation. A caller feeds a node three kinds of input, each stamped with the
current virtual time `now` (integer microseconds): `fire(timer)` when a timer it asked for
comes due, `step(message)` when a message arrives, and client requests (`propose`,
`change_configuration`). The node never reads a clock, never draws random numbers of its
own, and never does I/O: durable state goes to the caller's `Storage`, and everything else
it wants done is appended to its outboxes (`messages`, `timers`, `events`, `applied`) for the
caller to drain, like etcd-raft's Ready.

Jitter comes from random streams the caller injects, one per loop: the node's own timers
(follower, candidate) draw from `streams("", "")`, and the leader's heartbeat and replication
loops for peer P from `streams("heartbeat", P)` and `streams("replicate", P)`. So each loop's
timing depends only on its own stream, as each hashicorp loop is its own goroutine; the
simulator relies on it to compute an idle cluster's loops one at a time (sim/fastforward.py).

Messages go through two stages, as in etcd-raft's `raft.go`. `step` (etcd `Step`) does
what every role does alike, once: an AppendEntries of a lower term is refused and one of a
higher term is adopted, stepping down (Fig. 2, §1.4 of the spec); a RequestVote is answered
entirely there, whatever the role, since its checks interleave with the term's (§3.5: P3's
membership check and leader stickiness refuse before the term is adopted, the nonvoter
check after). Everything else goes to the role's step function, `self._step`, which
`set_role` binds whenever the role changes (etcd's `r.step`): `step_follower` here,
`step_candidate` in election.py, `LeaderState.step_leader` in leader.py, bound to the
leader's state for the term it leads. Step functions never re-check the role.

Replies carry no shared term check, because hashicorp reads a reply only in the loop that
made the call, each in its own way: a candidate adopts a higher term from a vote of its
current election only; a leader ignores a heartbeat reply's term (§3.7), and steps down on
a stale-term replication reply without adopting it (`handleStaleTerm`); RpcFailure carries
no term. Every role receives every reply type, late, after a role change (votes after
winning, a deposed leader's replies): such a reply is dropped. Only a message type a role
has no handler for at all raises UnhandledMessageError, naming the type and the role.

When a follower campaigns, the candidate's election and the vote every role answers live
in `election.py` (pre-vote in `prevote.py`); the leader's replication, commitment, lease and
membership changes in `leader.py`; leadership transfer in `transfer.py`; snapshots in
`snapshots.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from . import election, prevote, snapshots, transfer
from .configuration import ChangeCommand
from .errors import NotLeaderError, RaftsimError, ShutdownError, UnhandledMessageError
from .events import (
    CommitAdvanced,
    ConfigurationChanged,
    EntriesAppended,
    Event,
    LeaderChanged,
    LogOverwritten,
    LogTruncated,
    RoleChanged,
    TermChanged,
)
from .faults import Fault, adopt_committed_configurations, forget_on_restart, truncate_after_prev
from .future import Future
from .leader import LeaderState
from .messages import (
    REPLIES,
    AppendEntries,
    AppendResponse,
    InstallSnapshot,
    Message,
    RequestPreVote,
    RequestVote,
    TimeoutNow,
)
from .profile import P1, Profile
from .storage import Storage
from .timing import RandomSource, TimerModel, Timing, jitter
from .types import Configuration, ConfigurationState, Entry, EntryKind, Role

NEVER = -(1 << 62)  # lastContact before any contact: hashicorp's zero time.Time


class StreamFactory(Protocol):
    """Hands the node one random stream per loop: `(loop, peer)`, ("", "") for its own."""

    def __call__(self, loop: str, peer: str, /) -> RandomSource: ...


# Timer names. Per-peer leader timers carry the peer's ID in `Timer.peer`.
FOLLOWER = election.FOLLOWER  # §3.3 polled heartbeat timer (hashicorp) / election (paper)
CANDIDATE = election.CANDIDATE  # §3.4 election timer
LEASE = "lease"  # §3.8 leader lease check
HEARTBEAT = "heartbeat"  # §3.7 per-follower heartbeat loop
REPLICATE = "replicate"  # §3.7 per-follower replication loop (idle timer and retry backoff)
SNAPSHOT = snapshots.SNAPSHOT  # the snapshot check (core/snapshots.py)


class RaftNode:
    """A Raft server: persistent state in `storage`, volatile state in attributes."""

    def __init__(
        self,
        server_id: str,
        address: str,
        storage: Storage,
        timing: Timing,
        rand: RandomSource | StreamFactory,
        profile: Profile = P1,
        faults: frozenset[Fault] = frozenset(),
        rpc_base: int = 0,
        name: str = "",
    ) -> None:
        self.id = server_id
        self.name = name or server_id  # the server its events are stamped with
        self.now = 0  # the virtual time of the input being handled: events carry it
        self.address = address
        self.storage = storage
        self.timing = timing
        self._paper = timing.model is TimerModel.PAPER  # (asked on every heartbeat)
        if callable(rand):
            self.streams: StreamFactory = rand
        else:
            # One stream for every loop (hand-driven tests): still deterministic.
            shared = rand
            self.streams = lambda loop, peer: shared
        self.rand = self.streams("", "")
        self.profile = profile
        self.faults = faults
        # Deliberate faults on the per-message path, read as plain flags there.
        self._prev_unchecked = Fault.PREV_TERM_UNCHECKED in faults
        self._commit_early = Fault.COMMIT_BEFORE_CHECK in faults
        self._contact_on_entries = Fault.CONTACT_ONLY_ON_ENTRIES in faults
        # Volatile state (lost on crash).
        self.role = Role.FOLLOWER
        # The role's step function (etcd's `r.step`), replaced by `set_role` only.
        self._step: Callable[[Message, int], None] = self.step_follower
        self.leader_id = ""
        self.leader_address = ""
        self.commit_index = 0
        self.last_applied = 0
        self.last_contact = NEVER
        self.leader_state: LeaderState | None = None
        self.votes_granted = 0
        self.vote_rpcs: set[int] = set()
        self.pre_vote: prevote.PreVote | None = None  # a pre-vote round (§3.6, P4)
        self.transfer_candidacy = False  # the last candidacy was a TimeoutNow's (§3.9)
        self._next_rpc = rpc_base  # distinct per incarnation, so stale replies never match
        self._tokens: dict[str, int] = {}
        self._next_token = 0
        # Configurations (spec §2.1), rebuilt from the log at start.
        empty = Configuration()
        self.committed: Configuration = empty
        self.committed_index = 0
        self.latest: Configuration = empty
        self.latest_index = 0
        # Outboxes, drained by the caller after every input.
        self.messages: list[Message] = []
        self.timers: list[tuple[str, str, int, int]] = []  # (name, peer, due, token)
        self.events: list[Event] = []
        self.applied: list[Entry] = []
        self.snapshot_rand: RandomSource | None = None  # its own stream, made on first use

    # ----------------------------------------------------------------- lifecycle

    def start(self, now: int) -> None:
        """Start (or restart) from durable state: restore the snapshot, then replay the
        configuration entries after it (§2.2)."""
        self.now = now
        if self.faults:
            forget_on_restart(self)
        storage = self.storage
        snapshot = storage.snapshot
        after = 0
        if snapshot is not None:
            # hashicorp restoreSnapshot: the state machine is the snapshot's.
            self.committed = self.latest = snapshot.configuration
            self.committed_index = self.latest_index = snapshot.configuration_index
            self.last_applied = after = snapshot.index
        recovered = storage.recovered
        base = 0
        if recovered is not None and recovered[0] > after:
            # As hashicorp restores the snapshot RecoverCluster took: its configuration is
            # committed at its index, and only later configuration entries replay.
            base, configuration = recovered
            self.committed = self.latest = configuration
            self.committed_index = self.latest_index = base
        for entry in storage.log:
            if entry.kind is EntryKind.CONFIGURATION and entry.index > max(after, base):
                self.adopt_configuration(entry, emit=False)
        self.configuration_changed()
        if base:
            # Everything the snapshot covers is committed and applied (§2.4 RecoverCluster).
            self.set_commit_index(base)
        self.arm_follower_timer(now)
        snapshots.arm_check(self, now)

    def shutdown(self) -> None:
        """The process dies: every request waiting on it fails with ErrRaftShutdown. The
        node is discarded after this; its storage is what survives."""
        state = self.leader_state
        if state is not None:
            state.fail_requests(ShutdownError(), ShutdownError())
            if state.transfer is not None:  # a transfer's caller too: no event, it died
                state.transfer.future.fail(ShutdownError())
                state.transfer = None

    def configuration_state(self) -> ConfigurationState:
        return ConfigurationState(
            self.committed, self.committed_index, self.latest, self.latest_index
        )

    # ----------------------------------------------------------------- inputs

    def fire(self, name: str, peer: str, token: int, now: int) -> bool:
        """A timer came due. Returns False (and does nothing) for a superseded timer."""
        key = name + peer if peer else name
        tokens = self._tokens
        if tokens.get(key) != token:
            return False
        del tokens[key]
        self.now = now
        if name == FOLLOWER:
            election.on_follower_timer(self, now)
        elif name == CANDIDATE:
            prevote.campaign(self, now)
        elif name == SNAPSHOT:
            snapshots.check(self, now)
        else:
            assert self.leader_state is not None
            self.leader_state.fire(name, peer, now)
        return True

    def time_out(self, now: int) -> None:
        """The election timer expires now, as if no leader had been heard from for a whole
        timeout (a teaching control: RaftScope's "time out"). A follower then acts as its
        timer does (§3.3, with the same checks before it campaigns), a candidate starts a
        new election (§3.4); a leader has no election timer."""
        self.now = now
        if self.role is Role.LEADER:
            raise RaftsimError("a leader has no election timer")
        if self.role is Role.CANDIDATE:
            prevote.campaign(self, now)
            return
        self.last_contact = NEVER
        election.on_follower_timer(self, now)

    def step(self, msg: Message, now: int) -> None:
        """Handle one message: the checks every role shares, then the role's step function
        (etcd `Step`, then `r.step`). hashicorp answers requests in `processRPC` whatever
        the role, and reads a reply only in the loop that made the call."""
        self.now = now
        # Exact types, as the step functions test them: a subclass is a type no handler
        # knows. Only the two requests have shared checks; replies go straight to the role.
        if type(msg) is AppendEntries:
            # Fig. 2 rule 1 and §1.4, the same in every role. An equal term goes on to the
            # role: a candidate or leader hearing its own term's leader steps down there.
            term = self.storage.current_term
            if msg.term != term:
                if msg.term < term and Fault.APPEND_IGNORES_TERM not in self.faults:
                    self.messages.append(
                        AppendResponse(
                            self.id,
                            msg.src,
                            msg.rpc,
                            term,
                            self.storage.last_index,
                            False,
                            False,
                            msg.heartbeat,
                        )
                    )
                    return
                if msg.term > term:
                    self.step_down(msg.term, now)  # now a follower: `_step` is step_follower
        elif type(msg) is RequestVote:
            # Answered alike in every role (etcd answers MsgVote in Step too); its term is
            # compared inside, after the checks §3.5 makes before it.
            election.on_request_vote(self, msg, now)
            return
        elif type(msg) is InstallSnapshot:
            snapshots.install(self, msg, now)
            return
        elif type(msg) is TimeoutNow:
            transfer.timeout_now(self, msg, now)
            return
        elif type(msg) is RequestPreVote:
            prevote.on_request(self, msg)
            return
        # Replies carry no shared term check: only the role that made the call reads them,
        # and each reads the term its own way (step_candidate, LeaderState.step_leader).
        self._step(msg, now)

    def step_follower(self, msg: Message, now: int) -> None:
        """A follower's messages: AppendEntries from its leader (Fig. 2 receiver rules as
        hashicorp's `appendEntries` implements them, after `step`'s term check); every
        reply or failure notice answers a call made in an earlier role, and is dropped."""
        if type(msg) is not AppendEntries:
            if type(msg) in REPLIES:
                return
            raise UnhandledMessageError(msg, self.role)
        # Every heartbeat takes this path: locals instead of property and helper calls.
        storage = self.storage
        log = storage.log
        offset = storage.offset
        last = offset + len(log) if storage.snapshot is None else storage.last_index
        # (msg.term == current_term here: `step` refused a lower one and adopted a higher.)
        resp = AppendResponse(
            self.id, msg.src, msg.rpc, storage.current_term, last, False, False, msg.heartbeat
        )
        self.messages.append(resp)
        if msg.src != self.leader_id:
            self.set_leader(msg.src, msg.leader_address)
        if self._paper:
            self.arm_follower_timer(now)
        prev = msg.prev_index
        if prev > 0 and (
            (
                prev > last
                or (log[prev - offset - 1].term != msg.prev_term and not self._prev_unchecked)
            )
            if prev > offset
            else storage.term_at(prev) != msg.prev_term
        ):
            # (storage.term_at(prev) != prev_term, inline for entries in the log)
            resp.no_retry_backoff = True
            if self._commit_early and msg.commit > self.commit_index:
                self.set_commit_index(min(msg.commit, last))  # deliberate bug
            return
        if msg.entries:
            if self.faults and Fault.TRUNCATE_AFTER_PREV in self.faults:
                truncate_after_prev(self, prev)
            self._store_entries(msg.entries)
            last = resp.last_log = storage.last_index
        if msg.commit > self.commit_index:
            # hashicorp bounds by its own last index (Fig. 2 says: the last new entry).
            index = min(msg.commit, last)
            if index > self.commit_index:
                self.set_commit_index(index)
        resp.success = True
        if not self._contact_on_entries or msg.entries:
            self.last_contact = now

    def propose(self, data: str, now: int) -> Future:
        """Apply a command (hashicorp `Apply`); the future resolves on commit."""
        self.now = now
        state = self.leader_state
        if state is None or state.stepping_down:
            raise NotLeaderError()
        if state.transfer is not None:
            raise transfer.TransferError(transfer.IN_PROGRESS)
        return state.dispatch(EntryKind.COMMAND, data, None, now)

    def change_configuration(
        self, command: ChangeCommand, server_id: str, address: str, prev_index: int, now: int
    ) -> Future:
        """Queue a membership change; it waits for §2.5's gate, then commits or fails."""
        self.now = now
        state = self.leader_state
        if state is None or state.stepping_down:
            raise NotLeaderError()
        if state.transfer is not None:
            raise transfer.TransferError(transfer.IN_PROGRESS)
        return state.enqueue_change(command, server_id, address, prev_index, now)

    def transfer_leadership(self, target: str | None, now: int) -> Future:
        """LeadershipTransferToServer (`target`: a server ID) or LeadershipTransfer (None):
        see core/transfer.py. Refused at once under protocols 1 and 2, and by a follower."""
        self.now = now
        if not self.profile.leadership_transfer:
            raise transfer.TransferError(transfer.UNSUPPORTED)
        state = self.leader_state
        if state is None or state.stepping_down:
            raise NotLeaderError()
        future = Future()
        transfer.start(state, target, future, now)
        return future

    # ----------------------------------------------------------------- shared helpers

    def new_rpc(self) -> int:
        self._next_rpc += 1
        return self._next_rpc

    def arm(self, name: str, peer: str, delay: int, now: int) -> None:
        """Ask the caller for a timer; arming a name again supersedes the earlier one."""
        token = self._next_token + 1
        self._next_token = token
        self._tokens[name + peer if peer else name] = token
        self.timers.append((name, peer, now + delay, token))

    def disarm(self, name: str, peer: str = "") -> None:
        self._tokens.pop(name + peer if peer else name, None)

    def jitter(self, base: int, spread: int) -> int:
        """hashicorp `randomTimeout` from the node's own stream."""
        return jitter(self.rand, base, spread)

    # Timers and RPC numbers set from outside: the simulator's fast-forward computes an idle
    # cluster's timers itself and hands the node the outcome (sim/fastforward.py).

    def armed(self) -> Mapping[str, int]:
        """Every live timer's token, by name (name + peer for the leader's loops)."""
        return self._tokens

    def timer_token(self, name: str, peer: str = "") -> int | None:
        """The token of the live timer `name`, None when it is not armed."""
        return self._tokens.get(name + peer if peer else name)

    def mint_timer(self, name: str, peer: str = "") -> int:
        """Arm `name` without asking the caller (who schedules it itself); its token."""
        self._next_token += 1
        self._tokens[name + peer if peer else name] = self._next_token
        return self._next_token

    def skip_rpcs(self, count: int) -> None:
        """Account for `count` RPC numbers used outside `new_rpc` (only uniqueness matters)."""
        self._next_rpc += count

    def configuration_changed(self) -> None:
        self.events.append(
            ConfigurationChanged(
                self.now,
                self.name,
                self.latest,
                self.latest_index,
                self.committed,
                self.committed_index,
            )
        )

    def set_term(self, term: int) -> None:
        self.storage.current_term = term
        self.events.append(TermChanged(self.now, self.name, term))

    def set_leader(self, leader_id: str, address: str) -> None:
        if leader_id != self.leader_id:
            self.leader_id = leader_id
            self.leader_address = address
            self.events.append(LeaderChanged(self.now, self.name, leader_id))

    def step_down(self, term: int, now: int) -> None:
        """Adopt a higher term (persisted) and become follower."""
        if term > self.storage.current_term:
            self.set_term(term)
        self.set_role(Role.FOLLOWER, now)

    def set_role(self, role: Role, now: int) -> None:
        """hashicorp `setState`: leaving leadership tears down the leader's machinery,
        entering the follower loop starts a fresh heartbeat timer, and the new role's step
        function takes the messages from now on."""
        if role is self.role:
            return
        old = self.role
        self.role = role
        self.events.append(RoleChanged(now, self.name, role, self.storage.current_term))
        if old is Role.LEADER and self.leader_state is not None:
            self.leader_state.stop()
            self.leader_state = None
            if self.leader_id == self.id:
                self.set_leader("", "")
        if old is Role.CANDIDATE:
            self.disarm(CANDIDATE)
            self.vote_rpcs.clear()
            self.pre_vote = None
        if role is Role.FOLLOWER:
            self._step = self.step_follower
            self.arm_follower_timer(now)
        elif role is Role.LEADER:
            self.disarm(FOLLOWER)
            self.set_leader(self.id, self.address)
            self.leader_state = LeaderState(self, now)
            # Before `begin`: its no-op can commit a removal of this leader at once, and
            # that step-down must leave the follower's step function in place.
            self._step = self.leader_state.step_leader
            self.leader_state.begin(now)
        else:
            self._step = self.step_candidate

    # ----------------------------------------------------------------- configurations

    def adopt_configuration(self, entry: Entry, emit: bool = True) -> None:
        """A configuration takes effect as soon as it is in the log (§2.2)."""
        assert entry.configuration is not None
        self.committed, self.committed_index = self.latest, self.latest_index
        self.latest, self.latest_index = entry.configuration, entry.index
        if emit:
            self.configuration_changed()

    def append_to_log(self, entries: list[Entry]) -> None:
        """Persist entries at the end of the log and adopt any configuration among them."""
        storage = self.storage
        storage.log.extend(entries)
        self.events.append(EntriesAppended(self.now, self.name, tuple(entries)))
        if self.faults and Fault.CONFIG_ON_COMMIT in self.faults and self.role is not Role.LEADER:
            return  # deliberate bug: set_commit_index adopts them
        for entry in entries:
            if entry.kind is EntryKind.CONFIGURATION:
                self.adopt_configuration(entry)
        snapshot = storage.snapshot
        since = snapshot.index if snapshot is not None else 0
        if storage.offset + len(storage.log) - since >= self.timing.snapshot_threshold:
            snapshots.arm_check(self, self.now)

    def set_commit_index(self, index: int) -> None:
        """Advance the commit index, commit the latest configuration under it, apply."""
        if self.faults and Fault.CONFIG_ON_COMMIT in self.faults:
            adopt_committed_configurations(self, self.commit_index, index)
        self.commit_index = index
        self.events.append(
            CommitAdvanced(
                self.now, self.name, index, self.role is Role.LEADER, self.storage.current_term
            )
        )
        if self.committed_index < self.latest_index <= index:
            self.committed, self.committed_index = self.latest, self.latest_index
            self.configuration_changed()
        log = self.storage.log
        offset = self.storage.offset
        while self.last_applied < index:
            self.last_applied += 1
            self.applied.append(log[self.last_applied - offset - 1])

    # ----------------------------------------------------------------- follower

    def arm_follower_timer(self, now: int) -> None:
        self.arm(FOLLOWER, "", self.random_timeout(self.timing.heartbeat_timeout), now)

    def random_timeout(self, base: int) -> int:
        """An election or follower timeout: U[base, base + spread) (§3.3-3.4)."""
        spread = self.timing.election_spread
        if self.faults and Fault.NO_ELECTION_JITTER in self.faults:
            spread = 0  # deliberate bug: every server times out after the same delay
        return self.jitter(base, spread)

    def disarm_follower_timer(self) -> None:
        self.disarm(FOLLOWER)

    def _store_entries(self, entries: Sequence[Entry]) -> None:
        """Skip entries already present, truncate at the first conflict, append the rest."""
        storage = self.storage
        log = storage.log
        offset = storage.offset
        last = storage.last_index
        new: list[Entry] = []
        for i, entry in enumerate(entries):
            if entry.index > last:
                new = list(entries[i:])
                break
            if entry.index <= offset:
                continue  # compacted: covered by the snapshot, committed, the same entry
            if log[entry.index - offset - 1].term != entry.term:
                if Fault.NO_TRUNCATE in self.faults:
                    # Deliberate bug: overwrite in place and keep the stale suffix.
                    for e in entries[i:]:
                        if e.index <= offset + len(log):
                            log[e.index - offset - 1] = e
                        else:
                            log.append(e)
                    self.events.append(LogOverwritten(self.now, self.name, tuple(entries[i:])))
                    return
                del log[entry.index - offset - 1 :]
                self.events.append(LogTruncated(self.now, self.name, entry.index))
                recovered = self.storage.recovered
                if recovered is not None and entry.index <= recovered[0]:
                    # A leader's log replaced what the recovery covered (disagreeing
                    # peers.json files): the recovered configuration stays as committed
                    # until a newer one arrives, but no longer marks a point in this log.
                    self.storage.recovered = None
                if entry.index <= self.latest_index and Fault.KEEP_CUT_CONFIG not in self.faults:
                    # §2.2: the latest configuration was cut off; fall back on committed.
                    self.latest, self.latest_index = self.committed, self.committed_index
                    self.configuration_changed()
                new = list(entries[i:])
                break
        if new:
            self.append_to_log(new)

    # ----------------------------------------------------------------- elections

    # Functions of election.py, kept as methods: `set_role` binds the candidate's step
    # function, and pre-vote and TimeoutNow start elections through the node.
    step_candidate = election.step_candidate
    become_candidate = election.become_candidate
    arm_election_timer = election.arm_election_timer
