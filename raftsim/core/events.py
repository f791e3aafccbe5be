"""What a Raft node reports about itself (ring 0): one small frozen class per kind of event.

Every event, here and in the outer rings (sim/events.py, nomad/events.py), carries the
virtual time it happened at and the server it happened on, and names its kind in `kind`,
the word the text trace prints. Subclasses register themselves by kind (`EVENT_CLASSES`),
so the list of trace kinds, the renderers and the JSON decoder all come from the classes.
Watchers match on the class (`match event: case CommitAdvanced(): ...`).

The node appends these to its `events` outbox; it stamps them with the time of the input
being handled and with its own display name (the simulator passes the server's name).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .types import Configuration, Entry, Role

EVENT_CLASSES: dict[str, type[Event]] = {}


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened at virtual time `time` (µs) on `server` ("-": the network)."""

    time: int
    server: str

    kind: ClassVar[str] = ""
    # Message-level events (every message and timer) are traced only with trace="all";
    # the state-level rest always feeds the trace, the checkers and the watchers.
    message_level: ClassVar[bool] = False

    def __init_subclass__(cls) -> None:
        # dataclass(slots=True) builds each class twice: the later one (the real one) wins.
        # (No super() call: object's does nothing, and zero-argument super() breaks in
        # classes that dataclass(slots=True) rebuilds.)
        if cls.__dict__.get("kind"):
            EVENT_CLASSES[cls.kind] = cls


# ------------------------------------------------------------------ Raft state (ring 0)


@dataclass(frozen=True, slots=True)
class RoleChanged(Event):
    """The node became follower, candidate or leader (hashicorp `setState`)."""

    role: Role
    term: int
    kind: ClassVar[str] = "role"


@dataclass(frozen=True, slots=True)
class TermChanged(Event):
    """The node persisted a new current term."""

    term: int
    kind: ClassVar[str] = "term"


@dataclass(frozen=True, slots=True)
class VoteGranted(Event):
    """The node persisted its vote for `candidate` (a server ID) in `term`."""

    term: int
    candidate: str
    kind: ClassVar[str] = "vote"


@dataclass(frozen=True, slots=True)
class LeaderChanged(Event):
    """The leader the node knows changed (a server ID; "" when it knows none)."""

    leader: str
    kind: ClassVar[str] = "leader"


@dataclass(frozen=True, slots=True)
class CommitAdvanced(Event):
    """The node's commit index moved to `index`; `leader` when it decided it, in `term`."""

    index: int
    leader: bool
    term: int
    kind: ClassVar[str] = "commit"


@dataclass(frozen=True, slots=True)
class ConfigurationChanged(Event):
    """The node's latest or committed configuration changed (spec §2.1)."""

    latest: Configuration
    latest_index: int
    committed: Configuration
    committed_index: int
    kind: ClassVar[str] = "config"


@dataclass(frozen=True, slots=True)
class EntriesAppended(Event):
    """Entries persisted at the end of the node's log."""

    entries: tuple[Entry, ...]
    kind: ClassVar[str] = "append"


@dataclass(frozen=True, slots=True)
class LogTruncated(Event):
    """The node deleted its log from `index` on (a conflict with the leader's log)."""

    index: int
    kind: ClassVar[str] = "truncate"


@dataclass(frozen=True, slots=True)
class SnapshotTaken(Event):
    """The node snapshotted its state machine up to `index` (of `term`) and deleted its log
    up to `through` (hashicorp `takeSnapshot`, then `compactLogs`)."""

    index: int
    term: int
    through: int
    kind: ClassVar[str] = "snapshot"


@dataclass(frozen=True, slots=True)
class SnapshotInstalled(Event):
    """The node installed `source`'s snapshot up to `index` (of `term`), keeping `kept`
    entries of its log after it (hashicorp `installSnapshot`, paper §7)."""

    source: str
    index: int
    term: int
    kept: int
    kind: ClassVar[str] = "install"


@dataclass(frozen=True, slots=True)
class LogOverwritten(Event):
    """The deliberate `no-truncate` fault overwrote entries in place, keeping the suffix."""

    entries: tuple[Entry, ...]
    kind: ClassVar[str] = "overwrite"


@dataclass(frozen=True, slots=True)
class LeaseLost(Event):
    """The leader's lease check found only `contacted` voters within LLT (§3.8)."""

    contacted: int
    kind: ClassVar[str] = "lease-lost"


@dataclass(frozen=True, slots=True)
class EntryApplied(Event):
    """A committed entry reached the server's state machine."""

    entry: Entry
    kind: ClassVar[str] = "apply"


# ---------------------------------------------- pre-vote and leadership transfer (P3, P4)


@dataclass(frozen=True, slots=True)
class PreVoteStarted(Event):
    """A pre-vote round began (§3.6, P4): the node, a candidate whose own term has not moved,
    asks the voters whether they would vote for it in `term` (its current term + 1)."""

    term: int
    kind: ClassVar[str] = "pre-vote"


@dataclass(frozen=True, slots=True)
class TimeoutNowReceived(Event):
    """`sender` (a server ID), leader in `term` when it sent it, told the node to campaign at
    once (§3.9): it skips pre-vote and its RequestVote carries the transfer flag. Nothing is
    checked, not even the term: a stale TimeoutNow counts as much as a current one."""

    sender: str
    term: int
    kind: ClassVar[str] = "timeout-now"


@dataclass(frozen=True, slots=True)
class TransferStarted(Event):
    """The leader of `term` began handing leadership over to `target` (a server ID, §3.9):
    it refuses new entries and membership changes until the transfer ends."""

    target: str
    term: int
    kind: ClassVar[str] = "transfer"


@dataclass(frozen=True, slots=True)
class TransferEnded(Event):
    """The leader's transfer to `target` ended: `outcome` is "stepped down" (it lost
    leadership, what hashicorp counts as success), "timed out" (it still leads after an
    ElectionTimeout) or "failed: TimeoutNow RPC: <reason>" (TimeoutNow was not delivered)."""

    target: str
    outcome: str
    kind: ClassVar[str] = "transfer-end"
