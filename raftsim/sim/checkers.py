"""Safety checkers (ring 1): the five Raft safety properties and the extra invariants of
spec §1.6, checked mechanically and online, as the trace's events happen. The liveness and
accounting rules (leader lease, commit quorum, configuration bookkeeping) are liveness.py's,
fed from here.

Log Matching uses a chained digest: digest(i) = intern(digest(i-1), entry at i), with
entries compared by identity (the leader creates each entry exactly once), so two logs hold
the same digest at i exactly when their prefixes up to i are identical. Leader Completeness
snapshots each leader's digests when it wins and compares them with every commit of an
earlier term, whichever happened first in virtual time.

What the rules keep per entry is pruned once every server has compacted past it and holds
the committed prefix there (digests.py says why no rule's answer changes), so a served
cluster's checkers stay as small as its compacted logs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..core.events import (
    CommitAdvanced,
    ConfigurationChanged,
    EntriesAppended,
    EntryApplied,
    Event,
    LogOverwritten,
    LogTruncated,
    RoleChanged,
    SnapshotInstalled,
    SnapshotTaken,
    TermChanged,
    VoteGranted,
)
from ..core.storage import Storage
from ..core.types import Entry, EntryKind, Role
from .digests import COMMITTED, Digests
from .events import Recovered, ServerCrashed, ServerPaused, ServerResumed
from .liveness import LivenessRules
from .render import fmt_time

if TYPE_CHECKING:
    from .server import SimServer


@dataclass(frozen=True, slots=True)
class Violation:
    """A broken safety rule: which, where, when, under which seed."""

    rule: str
    servers: tuple[str, ...]
    time: int
    seed: int
    detail: str
    # Set when an operator's action outside Raft's guarantees came first (a peers.json
    # recovery): the rule broke because of what the operator did, not a bug in Raft.
    cause: str = ""

    def __str__(self) -> str:
        who = ", ".join(self.servers)
        when = fmt_time(self.time)
        text = f"{self.rule} violated at {when} by {who} (seed {self.seed}): {self.detail}"
        return f"{text} [operator-caused: {self.cause}]" if self.cause else text


class SafetyChecker:
    """Consumes events in virtual-time order and records every violation; dispatches on
    the event's class (`_handlers`)."""

    def __init__(self, seed: int, storages: Mapping[str, Storage]) -> None:
        self.seed = seed
        self.storages = storages
        self.violations: list[Violation] = []
        # Called with each violation as it is found (the scenario runner places its line
        # there); like the cluster's listeners, they must not drive the cluster.
        self.listeners: list[Callable[[Violation], None]] = []
        self._intern: dict[tuple[int, Entry], int] = {}
        self._next_digest = 1
        self._chains: dict[str, Digests] = {}
        self._digest_at: dict[tuple[int, int], int] = {}  # (index, term) -> digest
        self._leader_of: dict[int, str] = {}  # term -> server
        self._leader_logs: dict[int, Digests] = {}  # term -> digests when it won
        self._commits: dict[int, tuple[int, int]] = {}  # term -> (max index, digest)
        self._committed = Digests()  # the committed prefix's digests
        self.pruned = 0  # what the rules keep per entry starts after this index
        self._applied: dict[int, Entry] = {}
        self._last_applied: dict[str, int] = {}
        self._commit_index: dict[str, int] = {}
        self._terms: dict[str, int] = {}
        self._votes: dict[tuple[str, int], str] = {}
        self._roles: dict[str, Role] = {}
        self._term_start: dict[str, int] = {}  # leader -> first index of its term
        self.rules = LivenessRules(self._violation, self._chains)
        # RecoverCluster (peers.json) forces a configuration and commits whatever a log
        # holds: Raft's guarantees hold no longer, so what breaks after it is the
        # operator's doing. The first recovery names the cause of every later violation.
        self.operator_cause = ""

    @property
    def servers(self) -> Mapping[str, SimServer]:
        """The cluster's servers by name (the lease rule reads the leaders' contacts)."""
        return self.rules.servers

    @servers.setter
    def servers(self, servers: Mapping[str, SimServer]) -> None:
        self.rules.servers = servers

    def finish(self) -> None:
        """The run is over (or paused for a look): settle the rules checked per batch."""
        if self.rules.unsettled:
            self.rules.settle()

    def leaders_elected(self) -> dict[int, str]:
        """Every term that had a leader, and who it was."""
        return dict(self._leader_of)

    def report(self, rule: str, servers: tuple[str, ...], now: int, detail: str) -> None:
        """Record a finding of a rule checked outside (the schedule runner's event budget)."""
        self._violation(rule, servers, now, detail)

    def _violation(self, rule: str, servers: tuple[str, ...], now: int, detail: str) -> None:
        violation = Violation(rule, servers, now, self.seed, detail, self.operator_cause)
        self.violations.append(violation)
        for listener in self.listeners:
            listener(violation)

    # ------------------------------------------------------------ lifecycle

    def add_server(self, server: str) -> None:
        """A new server (or a restarted one: durable state kept, volatile state reset; a
        snapshot restored: the state machine starts after it)."""
        storage = self.storages[server]
        log = storage.log
        if server not in self._chains:
            self._chains[server] = Digests()
            self._extend(server, log, 0)
        snapshot = storage.snapshot
        self._last_applied[server] = snapshot.index if snapshot is not None else 0
        self._commit_index[server] = 0
        self._roles[server] = Role.FOLLOWER
        recovered = storage.recovered
        self.rules.add_server(server, log, snapshot, recovered[0] if recovered is not None else 0)

    def _digest(self, prev: int, entry: Entry) -> int:
        key = (prev, entry)
        digest = self._intern.get(key)
        if digest is None:
            digest = self._intern[key] = self._next_digest
            self._next_digest += 1
        return digest

    def _extend(self, server: str, entries: Sequence[Entry], now: int) -> None:
        chain = self._chains[server]
        for entry in entries:
            if entry.index != len(chain) + 1:
                self._violation(
                    "Log Matching", (server,), now, f"append at {entry.index} after {len(chain)}"
                )
                return
            digest = self._digest(chain.last(), entry)
            chain.append(digest)
            key = (entry.index, entry.term)
            known = self._digest_at.setdefault(key, digest)
            if known != digest:
                self._violation(
                    "Log Matching",
                    (server,),
                    now,
                    f"entry {entry.index}/{entry.term} differs from another log's at the same"
                    " index and term",
                )

    # ------------------------------------------------------------ events

    def on_event(self, event: Event) -> None:
        """Check one event; events no rule concerns are ignored."""
        rules = self.rules
        if rules.unsettled and (
            event.server != rules.unsettled or event.time != rules.unsettled_at
        ):
            rules.settle()  # another server's batch (or a later one): the last is over
        if event.time > rules.horizon:
            rules.check_leases(event.time)  # before the event: a late step-down is late
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(self, event)

    def _on_entries_appended(self, event: EntriesAppended) -> None:
        self._on_append(event.time, event.server, event.entries)
        self.rules.appended(event.server, event.entries, event.time)

    def _on_log_truncated(self, event: LogTruncated) -> None:
        self._on_truncate(event.time, event.server, event.index)
        self.rules.truncated(event.server, event.index, event.time)

    def _on_log_overwritten(self, event: LogOverwritten) -> None:
        first = event.entries[0].index
        self._on_truncate(event.time, event.server, first)
        storage = self.storages[event.server]
        self._extend(event.server, storage.entries(first, storage.last_index), event.time)
        self.rules.overwritten(event.server, storage.log, event.time)

    def _on_snapshot_installed(self, event: SnapshotInstalled) -> None:
        """The server's log up to the snapshot is now the sender's, whatever it held
        before: its chain is the sender's up to there, then the entries it kept."""
        server = event.server
        source = self.rules.name_of(event.source)
        chain = self._chains[server]
        prefix = self._chains.get(source, Digests()).prefix(event.index)
        if len(prefix) < event.index:
            self._violation(
                "Log Matching",
                (server,),
                event.time,
                f"installed a snapshot up to {event.index} that {source} does not hold",
            )
            return
        chain.assign(prefix)
        # Its state machine is the snapshot's: the next entry it applies follows it.
        self._last_applied[server] = max(self._last_applied.get(server, 0), event.index)
        storage = self.storages[server]
        self._extend(server, storage.entries(event.index + 1, storage.last_index), event.time)
        self.rules.installed(server, storage.log, storage.snapshot, event.time)
        self._prune()

    def _on_snapshot_taken(self, event: SnapshotTaken) -> None:
        self._prune()

    def _on_commit_advanced(self, event: CommitAdvanced) -> None:
        self._on_commit(event.time, event.server, event.index, event.leader, event.term)
        self.rules.committed(event.server, event.index, event.leader, event.term, event.time)

    def _on_server_crashed(self, event: ServerCrashed) -> None:
        self.rules.crashed(event.server)

    def _on_server_paused(self, event: ServerPaused) -> None:
        self.rules.paused(event.server, event.time)

    def _on_server_resumed(self, event: ServerResumed) -> None:
        self.rules.resumed(event.server, event.time)

    def _on_term_changed(self, event: TermChanged) -> None:
        server, term = event.server, event.term
        if term < self._terms.get(server, 0):
            self._violation(
                "Terms never decrease",
                (server,),
                event.time,
                f"term went from {self._terms[server]} to {term}",
            )
        self._terms[server] = term

    def _on_vote_granted(self, event: VoteGranted) -> None:
        server, term, candidate = event.server, event.term, event.candidate
        earlier = self._votes.setdefault((server, term), candidate)
        if earlier != candidate:
            self._violation(
                "One vote per term",
                (server,),
                event.time,
                f"voted for {earlier} and {candidate} in term {term}",
            )

    def _on_role_changed(self, event: RoleChanged) -> None:
        server = event.server
        self._roles[server] = event.role
        self.rules.role_changed(server, event.role, event.time)
        if event.role is Role.LEADER:
            self._term_start[server] = len(self._chains[server]) + 1
            self._on_leader(event.time, server, event.term)

    def _on_configuration_changed(self, event: ConfigurationChanged) -> None:
        latest = event.latest
        self.rules.configuration_changed(
            event.server, event.time, latest, event.latest_index, event.committed_index
        )
        if latest.servers and not latest.voters():
            self._violation(
                "No configuration without a voter", (event.server,), event.time, f"adopted {latest}"
            )

    def _on_append(self, now: int, server: str, entries: Sequence[Entry]) -> None:
        self._extend(server, entries, now)
        if self._roles.get(server) is Role.LEADER:
            for entry in entries:
                if entry.kind is EntryKind.CONFIGURATION:
                    self._check_one_uncommitted(now, server, entry.index)
                    self._check_own_term_committed(now, server, entry.index)

    def _check_one_uncommitted(self, now: int, server: str, index: int) -> None:
        storage = self.storages[server]
        commit = max(self._commit_index.get(server, 0), storage.offset)
        for entry in storage.entries(commit + 1, index - 1):
            if entry.kind is EntryKind.CONFIGURATION:
                self._violation(
                    "One uncommitted configuration change",
                    (server,),
                    now,
                    f"configuration entries at {entry.index} and {index} both uncommitted",
                )
                return

    def _check_own_term_committed(self, now: int, server: str, index: int) -> None:
        """§2.5 / §4.2: a new leader changes membership only after committing in its term."""
        start = self._term_start.get(server, 0)
        if self._commit_index.get(server, 0) < start:
            self._violation(
                "Change only after a commit in the leader's term",
                (server,),
                now,
                f"configuration entry {index} appended before the leader's first entry"
                f" ({start}) committed",
            )

    def _on_truncate(self, now: int, server: str, index: int) -> None:
        chain = self._chains[server]
        if self._roles.get(server) is Role.LEADER:
            self._violation(
                "Leader Append-Only", (server,), now, f"leader truncated its log at {index}"
            )
        committed = self._committed
        if (
            index <= len(committed)
            and index <= len(chain)
            and chain[index - 1] == committed[index - 1]
        ):
            self._violation(
                "Committed entries never disappear",
                (server,),
                now,
                f"removed committed entry {index}",
            )
        chain.truncate(index - 1)

    def _on_leader(self, now: int, server: str, term: int) -> None:
        other = self._leader_of.setdefault(term, server)
        if other != server:
            self._violation("Election Safety", (other, server), now, f"two leaders in term {term}")
        snapshot = self._chains[server].copy()
        self._leader_logs[term] = snapshot
        for commit_term, (index, digest) in sorted(self._commits.items()):
            if commit_term < term:
                self._check_completeness(now, server, term, snapshot, commit_term, index, digest)

    def _check_completeness(
        self,
        now: int,
        server: str,
        term: int,
        snapshot: Digests,
        commit_term: int,
        index: int,
        digest: int,
    ) -> None:
        if index > len(snapshot) or snapshot[index - 1] != digest:
            self._violation(
                "Leader Completeness",
                (self._leader_of.get(term, server),),
                now,
                f"leader of term {term} lacks entry {index} committed in term {commit_term}",
            )

    def _on_commit(self, now: int, server: str, index: int, as_leader: bool, term: int) -> None:
        if index < self._commit_index.get(server, 0):
            self._violation(
                "Commit index never decreases",
                (server,),
                now,
                f"from {self._commit_index[server]} to {index}",
            )
        self._commit_index[server] = index
        chain = self._chains[server]
        if not as_leader or index > len(chain):
            return
        digest = chain[index - 1]
        entry_term = self.storages[server].term_at(index)
        if entry_term != term:
            # Paper §5.4.2 / Fig. 8: only an entry of the leader's own term commits by
            # counting replicas; earlier ones commit indirectly, beneath it.
            self._violation(
                "Commit only current-term entries by counting",
                (server,),
                now,
                f"leader of term {term} advanced its commit index to {index}, an entry of"
                f" term {entry_term}",
            )
        best = self._commits.get(term)
        if best is None or best[0] < index:
            self._commits[term] = (index, digest)
        committed = self._committed
        if index > len(committed):
            if committed and chain[len(committed) - 1] != committed[-1]:
                self._violation(
                    "State Machine Safety",
                    (server,),
                    now,
                    f"committed {index} on a log that diverges from the committed prefix",
                )
            self._committed = chain.prefix(index)
        elif committed[index - 1] != digest:
            self._violation(
                "State Machine Safety",
                (server,),
                now,
                f"committed a different entry at {index}",
            )
        for leader_term, snapshot in self._leader_logs.items():
            if leader_term > term:
                self._check_completeness(now, server, leader_term, snapshot, term, index, digest)

    def _on_entry_applied(self, event: EntryApplied) -> None:
        now, server, entry = event.time, event.server, event.entry
        expected = self._last_applied.get(server, 0) + 1
        if entry.index != expected:
            self._violation(
                "State Machine Safety",
                (server,),
                now,
                f"applied {entry.index} when {expected} was next",
            )
        self._last_applied[server] = entry.index
        other = self._applied.setdefault(entry.index, entry)
        if other is not entry:
            self._violation(
                "State Machine Safety",
                (server,),
                now,
                f"applied {entry.index}/{entry.term} where another server applied"
                f" {other.index}/{other.term}",
            )

    # ------------------------------------------------------------ pruning

    def kept(self) -> int:
        """How many per-entry records the rules hold (digests, interned entries, applied
        entries): what pruning bounds (the memory soak and figure (m) read it)."""
        chains = [*self._chains.values(), *self._leader_logs.values(), self._committed]
        return (
            sum(len(chain.items) for chain in chains)
            + len(self._intern)
            + len(self._digest_at)
            + len(self._applied)
        )

    def _prune(self) -> None:
        """Forget what the rules keep per entry up to the newest index every server has
        compacted through, if every server's log there is the committed prefix (the
        pruned positions then read as `COMMITTED` everywhere: digests.py)."""
        chains, committed = self._chains, self._committed
        floor = min(len(committed), *(self.storages[s].offset for s in chains))
        if floor <= self.pruned:
            return
        target = committed[floor - 1]
        if any(len(chain) < floor or chain[floor - 1] != target for chain in chains.values()):
            return  # (a server's log differs there: a rule may still have to say so)
        for log in self._leader_logs.values():
            # A leader's log when it won: the part of it that is the committed prefix is
            # pruned (the longest such: digests chain, so it matches up to a point).
            low, high = log.base, min(floor, len(log))
            while low < high:
                mid = (low + high + 1) // 2
                if log[mid - 1] == committed[mid - 1]:
                    low = mid
                else:
                    high = mid - 1
            log.prune(low)
        for term, (index, digest) in self._commits.items():
            if index <= floor and digest == committed[index - 1]:
                self._commits[term] = (index, COMMITTED)
        for chain in chains.values():
            chain.prune(floor)
        committed.prune(floor)
        self._intern = {key: d for key, d in self._intern.items() if key[1].index > floor}
        self._digest_at = {key: d for key, d in self._digest_at.items() if key[0] > floor}
        # Every server has applied past the floor (a snapshot is of applied entries, and
        # a server's next apply follows its own), so an apply at or before it is reported
        # as out of order without the entry that was applied there.
        for index in range(self.pruned + 1, floor + 1):
            self._applied.pop(index, None)
        self.pruned = floor

    def _on_recovered(self, event: Recovered) -> None:
        if not self.operator_cause:
            self.operator_cause = f"peers.json recovery on {event.server} at {fmt_time(event.time)}"

    _handlers: ClassVar[dict[type[Event], Callable[[Any, Any], None]]] = {
        Recovered: _on_recovered,
        EntriesAppended: _on_entries_appended,
        LogTruncated: _on_log_truncated,
        LogOverwritten: _on_log_overwritten,
        SnapshotInstalled: _on_snapshot_installed,
        SnapshotTaken: _on_snapshot_taken,
        CommitAdvanced: _on_commit_advanced,
        TermChanged: _on_term_changed,
        VoteGranted: _on_vote_granted,
        RoleChanged: _on_role_changed,
        ConfigurationChanged: _on_configuration_changed,
        EntryApplied: _on_entry_applied,
        ServerCrashed: _on_server_crashed,
        ServerPaused: _on_server_paused,
        ServerResumed: _on_server_resumed,
    }
