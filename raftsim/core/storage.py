"""Durable state of one server: current term, last vote and the log (paper §5, Fig. 2).

Ring 0. The caller owns a `Storage` and hands it to each incarnation of a node, so it
survives a crash exactly as hashicorp/raft's StableStore and LogStore do; everything the
node keeps in its own attributes is volatile. Writes are synchronous, as an fsync is.
"""

from __future__ import annotations

from .types import Configuration, Entry, EntryKind


class Storage:
    """StableStore (term, vote) and LogStore (1-based log, no compaction) of one server."""

    __slots__ = ("current_term", "log", "recovered", "vote_for", "vote_term")

    def __init__(self) -> None:
        self.current_term = 0
        self.vote_term = 0
        self.vote_for = ""
        self.log: list[Entry] = []
        # A peers.json recovery (recovery.py): the index a snapshot would cover and the
        # configuration it would carry; configuration entries up to it no longer count.
        self.recovered: tuple[int, Configuration] | None = None

    @property
    def last_index(self) -> int:
        return len(self.log)

    @property
    def last_term(self) -> int:
        return self.log[-1].term if self.log else 0

    def term_at(self, index: int) -> int:
        """The term of the entry at `index`, 0 for index 0, -1 when there is no such entry."""
        if index == 0:
            return 0
        if index <= len(self.log):
            return self.log[index - 1].term
        return -1

    def is_empty(self) -> bool:
        return self.current_term == 0 and not self.log

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
