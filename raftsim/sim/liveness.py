"""Liveness and accounting checkers (ring 1), online beside the safety ones (checkers.py),
which own them and feed them the same events.

* Leader lease (spec §3.8, hashicorp `checkLeaderLease`): a leader that has lost contact
  with a quorum of the voters of its latest configuration steps down within
  LeaderLeaseTimeout of the last quorum contact, plus the check's own granularity
  (`minCheckInterval`). Contact is the leader's own record of it (each follower's
  `lastContact`): the rule checks that the lease check acts on it, not how replies arrive.
  A paused leader's clock does not run, so paused time is not counted against it.
* Commit quorum (§2.6, `commitment.go`): every commit a leader decides is stored on a quorum
  of the voters of its latest configuration, the leader itself counted only if it is one.
* Configuration bookkeeping (§2.1-2.2): a server's latest configuration is the newest
  configuration entry in its log; its committed one is the entry before it (hashicorp sets
  committed to the previous latest when a new one is appended) or latest itself, and is
  latest once the commit index reaches it. Checked once a server's batch of events is over
  (a node reports a truncation before the fallback it makes), from the event stream alone.

Each costs O(1) per event, or O(voters) on a leader's commit and a lease deadline passing.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from ..core.leader import MIN_LEASE_CHECK
from ..core.node import NEVER
from ..core.storage import Snapshot
from ..core.types import Configuration, Entry, EntryKind, Role
from .render import fmt_time
from .server import PAUSED

if TYPE_CHECKING:
    from .digests import Digests
    from .server import SimServer

Report = Callable[[str, tuple[str, ...], int, str], None]
FAR = 1 << 62  # a deadline that never passes (a paused leader's)


class LivenessRules:
    """The lease, commit-quorum and configuration-bookkeeping rules for one cluster."""

    def __init__(self, report: Report, chains: Mapping[str, Digests]) -> None:
        self._report = report
        self._chains = chains  # the safety checker's log digests, by server name
        # The cluster's servers by name (Cluster sets it): the lease rule reads a leader's
        # record of contact there, and IDs map to names through it.
        self.servers: Mapping[str, SimServer] = {}
        self._names: dict[str, str] = {}  # server ID -> name
        # Lease: each leader's deadline, computed lazily (checked only once passed) and
        # the time its latest configuration last changed (the quorum it needs changes then).
        self.leaders: dict[str, int] = {}
        self.horizon = FAR  # the earliest deadline: one comparison per event below it
        self._config_at: dict[str, tuple[int, int]] = {}  # leader -> (latest index, since)
        self._pauses: dict[str, list[tuple[int, int]]] = {}
        self._paused_since: dict[str, int] = {}
        # Bookkeeping: per server the indexes of the configuration entries in its log, what
        # its events last said latest and committed were, and its commit index.
        self._config_indexes: dict[str, list[int]] = {}
        self._latest: dict[str, int | None] = {}  # None: not reported since (re)start
        self._committed: dict[str, int] = {}
        self._commit: dict[str, int] = {}
        self._latest_config: dict[str, Configuration] = {}
        self._reported: set[tuple[str, int, int]] = set()  # (server, latest, newest)
        # The server whose batch of events is under way (settled when another starts).
        self.unsettled = ""
        self.unsettled_at = 0

    # ------------------------------------------------------------ lifecycle

    def add_server(
        self,
        server: str,
        log: Sequence[Entry],
        snapshot: Snapshot | None = None,
        recovered: int = 0,
    ) -> None:
        """A server (re)starts with `log`, after `snapshot` if it has one; `recovered`: the
        index of a peers.json recovery, whose configuration replaces every configuration
        entry up to it."""
        if self.unsettled == server:
            self.settle()  # (its last batch is over: a restart comes between batches)
        self._config_indexes[server] = _config_indexes(log, snapshot, recovered)
        self._latest[server] = None
        self._commit[server] = 0
        self.leaders.pop(server, None)

    def crashed(self, server: str) -> None:
        if self.unsettled == server:
            self.settle()
        self.leaders.pop(server, None)
        self._latest[server] = None

    def paused(self, server: str, now: int) -> None:
        self._paused_since[server] = now
        if server in self.leaders:
            self.leaders[server] = FAR  # its clock stops: no deadline passes meanwhile

    def resumed(self, server: str, now: int) -> None:
        start = self._paused_since.pop(server, now)
        self._pauses.setdefault(server, []).append((start, now))
        if server in self.leaders:
            self.leaders[server] = now  # recomputed at the next event after now
            self.horizon = min(self.horizon, now)

    # ------------------------------------------------------------ events

    def role_changed(self, server: str, role: Role, now: int) -> None:
        if role is Role.LEADER:
            self._config_at[server] = (-1, now)  # (its latest: the one it was elected in)
            self.leaders[server] = now  # recomputed at the next later event
            self.horizon = min(self.horizon, now)
        else:
            self.leaders.pop(server, None)

    def configuration_changed(
        self, server: str, now: int, latest: Configuration, latest_index: int, committed: int
    ) -> None:
        self._latest[server] = latest_index
        self._latest_config[server] = latest
        self._committed[server] = committed
        if server in self.leaders:
            # The lease check re-counts with the new quorum at its next run, at most LLT on.
            self._config_at[server] = (latest_index, now)
        self._unsettle(server, now)

    def appended(self, server: str, entries: Sequence[Entry], now: int) -> None:
        indexes = self._config_indexes[server]
        for entry in entries:
            if entry.kind is EntryKind.CONFIGURATION:
                indexes.append(entry.index)
                self._unsettle(server, now)

    def truncated(self, server: str, index: int, now: int) -> None:
        indexes = self._config_indexes[server]
        del indexes[bisect_left(indexes, index) :]
        self._unsettle(server, now)

    def installed(
        self, server: str, log: Sequence[Entry], snapshot: Snapshot | None, now: int
    ) -> None:
        """A snapshot replaced the log's beginning: its configuration entry counts as the
        log's, and the compacted ones before it are gone."""
        self._config_indexes[server] = _config_indexes(log, snapshot)
        self._unsettle(server, now)

    def name_of(self, server_id: str) -> str:
        return self._name(server_id)

    def overwritten(self, server: str, log: Sequence[Entry], now: int) -> None:
        self.add_server(server, log)  # (the no-truncate fault only: recount)
        self._unsettle(server, now)

    def committed(self, server: str, index: int, as_leader: bool, term: int, now: int) -> None:
        self._commit[server] = index
        indexes = self._config_indexes[server]
        if indexes and indexes[-1] <= index and self._committed.get(server, 0) < indexes[-1]:
            self._unsettle(server, now)
        if as_leader:
            self._check_commit_quorum(server, index, term, now)

    def _unsettle(self, server: str, now: int) -> None:
        if self.unsettled and self.unsettled != server:
            self.settle()
        self.unsettled, self.unsettled_at = server, now

    # ------------------------------------------------------------ configuration bookkeeping

    def settle(self) -> None:
        """The unsettled server's batch is over: its configurations match its log."""
        server, now = self.unsettled, self.unsettled_at
        self.unsettled = ""
        latest = self._latest.get(server)
        if latest is None:
            return  # restarted and not yet replayed its log (`start` reports it)
        indexes = self._config_indexes[server]
        newest = indexes[-1] if indexes else 0
        previous = indexes[-2] if len(indexes) > 1 else 0
        committed = self._committed.get(server, 0)
        if latest != newest:
            if (server, latest, newest) in self._reported:
                return  # (the same mismatch, still there: reported once)
            self._reported.add((server, latest, newest))
            self._report(
                "Latest configuration is the log's newest",
                (server,),
                now,
                f"latest configuration is entry {latest}, the log's newest configuration entry"
                f" is {newest}",
            )
        elif committed <= newest and (
            committed not in (newest, previous)
            or (committed != newest and self._commit.get(server, 0) >= newest)
        ):
            # (A committed configuration past the log's newest entry was cut off with a
            # committed entry: "Committed entries never disappear" has reported that.)
            self._report(
                "Committed configuration follows the log",
                (server,),
                now,
                f"committed configuration is entry {committed} with configuration entries"
                f" {previous} and {newest} and commit index {self._commit.get(server, 0)}",
            )

    # ------------------------------------------------------------ commit quorum

    def _name(self, server_id: str) -> str:
        name = self._names.get(server_id)
        if name is None:
            self._names = {s.id: n for n, s in self.servers.items()}
            # (Nodes driven without a cluster are named by their IDs: tests/harness.py.)
            name = self._names.get(server_id, server_id)
        return name

    def _check_commit_quorum(self, server: str, index: int, term: int, now: int) -> None:
        latest = self._latest_config.get(server)
        chain = self._chains[server]
        if latest is None or index > len(chain):
            return
        digest = chain[index - 1]
        voters = latest.voters()
        stored = 0
        for voter in voters:
            other = self._chains.get(self._name(voter))
            if other is not None and len(other) >= index and other[index - 1] == digest:
                stored += 1
        if stored < latest.quorum():
            self._report(
                "Commit on a quorum of voters",
                (server,),
                now,
                f"leader of term {term} committed {index}, stored on {stored} of the"
                f" {len(voters)} voters of its latest configuration",
            )

    # ------------------------------------------------------------ leader lease

    def check_leases(self, now: int) -> None:
        """Some leader's deadline has passed: recompute it from the leader's contacts."""
        horizon = FAR
        for server in list(self.leaders):
            deadline = self.leaders[server]
            if now > deadline:
                deadline = self._lease_deadline(server, now)
                if now > deadline:
                    del self.leaders[server]  # reported once per leadership
                    continue
                self.leaders[server] = deadline
            horizon = min(horizon, deadline)
        self.horizon = horizon

    def _lease_deadline(self, server: str, now: int) -> int:
        sim = self.servers.get(server)
        node = sim.node if sim is not None else None
        if sim is None or node is None or node.leader_state is None:
            return FAR  # (its role change or crash is on its way)
        if sim.status == PAUSED:
            return FAR
        leader = node.leader_state
        voters = node.latest.voters()
        contacts = []
        for voter in voters:
            if voter == node.id:
                contacts.append(now)
            else:
                f = leader.followers.get(voter)
                contacts.append(f.last_contact if f is not None else NEVER)
        quorum = node.latest.quorum()
        if not voters or len(contacts) < quorum:
            return FAR
        contacts.sort(reverse=True)
        # Contact with a quorum lasts until the quorum-th freshest; a new configuration is
        # counted from when it came (the check scheduled before it runs at most LLT on).
        since = max(contacts[quorum - 1], self._config_since(server, node.latest_index, now))
        lease = node.timing.leader_lease_timeout
        paused = self._paused_within(server, since, now)
        deadline = since + lease + MIN_LEASE_CHECK + paused
        if now > deadline:
            self._report(
                "Leader lease",
                (server,),
                now,
                f"leader of term {node.storage.current_term} still leads"
                f" {fmt_time(now - since - paused)} after its last contact with a quorum of"
                f" its {len(voters)} voters (LeaderLeaseTimeout {fmt_time(lease)})",
            )
        return deadline

    def _config_since(self, server: str, index: int, now: int) -> int:
        """Since when the leader has had its latest configuration (as far as seen): a change
        takes effect in the node before the events that report it are recorded."""
        seen, since = self._config_at.get(server, (index, 0))
        if seen == -1:
            seen = index  # elected in it
        elif seen != index:
            seen, since = index, now
        self._config_at[server] = (seen, since)
        return since

    def _paused_within(self, server: str, since: int, now: int) -> int:
        total = 0
        for start, end in reversed(self._pauses.get(server, ())):
            if end <= since:
                break
            total += min(end, now) - max(start, since)
        return total


def _config_indexes(
    log: Sequence[Entry], snapshot: Snapshot | None, recovered: int = 0
) -> list[int]:
    """The configuration entries of a log as the node counts them on start (§2.2): the
    snapshot's (or a later recovery's), then those in the log after it. (Compaction alone
    changes nothing: what it deletes was counted when appended, and stays counted.)"""
    after = snapshot.index if snapshot is not None else 0
    if recovered > after:
        later = (e.index for e in log if e.kind is EntryKind.CONFIGURATION and e.index > recovered)
        return [recovered, *later]
    indexes = [e.index for e in log if e.kind is EntryKind.CONFIGURATION and e.index > after]
    if snapshot is not None and snapshot.configuration_index:
        indexes.insert(0, snapshot.configuration_index)
    return indexes
