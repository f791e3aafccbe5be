"""Durable state of one server: current term, last vote, the log and its latest snapshot
(paper §5 Fig. 2, §7; hashicorp/raft's StableStore, LogStore and SnapshotStore).

Ring 0. The caller owns a `Storage` and hands it to each incarnation of a node, so it
survives a crash exactly as hashicorp/raft's stores do; everything the node keeps in its own
attributes is volatile. Writes are synchronous, as an fsync is.

Compaction. `log` holds the entries from `offset + 1` on: the ones up to `offset` were
deleted after a snapshot covered them. The snapshot covers up to its own `index`, which may
be later than `offset` (hashicorp keeps `TrailingLogs` entries behind the newest, snapshot
or not), so the log's last index is the later of the two ends. Until the first snapshot,
`offset` is 0 and the log is every entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from .types import Configuration, Entry, EntryKind


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a snapshot records besides the state machine's data (hashicorp `SnapshotMeta`):
    the last entry it covers, and the committed configuration with its index."""

    index: int
    term: int
    configuration: Configuration
    configuration_index: int


class Storage:
    """StableStore (term, vote), LogStore (1-based log, compacted behind `offset`) and the
    newest snapshot of one server."""

    __slots__ = (
        "current_term",
        "log",
        "offset",
        "recovered",
        "snapshot",
        "vote_for",
        "vote_term",
    )

    def __init__(self) -> None:
        self.current_term = 0
        self.vote_term = 0
        self.vote_for = ""
        self.log: list[Entry] = []
        self.offset = 0  # entries 1..offset were compacted away
        self.snapshot: Snapshot | None = None
        # A peers.json recovery (recovery.py): the index a snapshot would cover and the
        # configuration it would carry; configuration entries up to it no longer count.
        self.recovered: tuple[int, Configuration] | None = None

    @property
    def last_index(self) -> int:
        """hashicorp `getLastIndex`: the later of the log's end and the snapshot's."""
        end = self.offset + len(self.log)
        snapshot = self.snapshot
        return end if snapshot is None or snapshot.index <= end else snapshot.index

    @property
    def last_term(self) -> int:
        snapshot = self.snapshot
        if snapshot is not None and snapshot.index > self.offset + len(self.log):
            return snapshot.term
        return self.log[-1].term if self.log else (snapshot.term if snapshot else 0)

    @property
    def first_index(self) -> int:
        """The index of the oldest entry still in the log (offset + 1)."""
        return self.offset + 1

    def term_at(self, index: int) -> int:
        """The term of the entry at `index`, 0 for index 0, -1 when there is no such entry
        (never written, or compacted away and not the snapshot's last one)."""
        if index == 0:
            return 0
        offset = self.offset
        if offset < index <= offset + len(self.log):
            return self.log[index - offset - 1].term
        snapshot = self.snapshot
        if snapshot is not None and index == snapshot.index:
            return snapshot.term
        return -1

    def entry(self, index: int) -> Entry:
        """The entry at `index`, which must still be in the log."""
        return self.log[index - self.offset - 1]

    def entries(self, first: int, last: int) -> list[Entry]:
        """Entries first..last (inclusive), which must still be in the log."""
        offset = self.offset
        return self.log[first - offset - 1 : last - offset]

    def compact(self, snapshot: Snapshot, trailing: int) -> int:
        """Keep `snapshot` and delete the log up to it, but keep the newest `trailing`
        entries (hashicorp `compactLogs`); the new offset."""
        self.snapshot = snapshot
        last = self.offset + len(self.log)
        if last <= trailing:
            return self.offset
        through = min(snapshot.index, last - trailing)
        if through > self.offset:
            del self.log[: through - self.offset]
            self.offset = through
        return self.offset

    def install(self, snapshot: Snapshot) -> list[Entry]:
        """A snapshot from the leader (paper §7): the log entries after its last one are
        kept if the log holds that very entry, else the whole log goes; the kept ones."""
        kept: list[Entry] = []
        if self.term_at(snapshot.index) == snapshot.term and snapshot.index >= self.offset:
            kept = self.log[snapshot.index - self.offset :]
        self.log = kept
        self.offset = snapshot.index
        self.snapshot = snapshot
        return kept

    def is_empty(self) -> bool:
        return self.current_term == 0 and not self.log and self.snapshot is None

    def bootstrap(self, entry: Entry) -> None:
        """BootstrapCluster (spec §2.13): term 1 and the configuration entry at index 1."""
        if not self.is_empty():
            raise ValueError("bootstrap only works on new clusters")
        if entry.index != 1 or entry.term != 1 or entry.kind is not EntryKind.CONFIGURATION:
            raise ValueError("the bootstrap entry is a configuration entry at index 1, term 1")
        self.current_term = 1
        self.log.append(entry)

    @staticmethod
    def bootstrap_entry(configuration: Configuration) -> Entry:
        return Entry(1, 1, EntryKind.CONFIGURATION, configuration=configuration)
