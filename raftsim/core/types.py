"""Value types shared by the whole Raft core (ring 0): servers, configurations, log entries.

Names follow hashicorp/raft (`Server{Suffrage, ID, Address}`, `Voter`, `Nonvoter`) because
Nomad operators read that vocabulary in their logs. Everything here is immutable; log
entries are compared by identity, which is what lets the checkers tell two entries with the
same index and term apart (a Log Matching violation) without hashing payloads.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Suffrage(enum.IntEnum):
    """Whether a server's vote counts (persisted as integers: Voter=0, Nonvoter=1, Staging=2)."""

    VOTER = 0
    NONVOTER = 1
    STAGING = 2

    def __str__(self) -> str:
        return ("Voter", "Nonvoter", "Staging")[self]


class Role(enum.StrEnum):
    """The Raft state of a server (a string enum: views and JSON show the value)."""

    FOLLOWER = "Follower"
    CANDIDATE = "Candidate"
    LEADER = "Leader"


@dataclass(frozen=True, slots=True)
class Server:
    """One member of a configuration, as in hashicorp/raft's `Server`."""

    suffrage: Suffrage
    id: str
    address: str

    def __str__(self) -> str:
        # Go's %v of raft.Server: {Voter 127.0.0.1:4647 127.0.0.1:4647}
        return f"{{{self.suffrage} {self.id} {self.address}}}"


@dataclass(frozen=True, slots=True)
class Configuration:
    """An ordered tuple of servers (hashicorp keeps insertion order; so do we)."""

    servers: tuple[Server, ...] = ()
    # Derived once: the leader consults them on every acknowledgement.
    _voters: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _quorum: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        voters = tuple(s.id for s in self.servers if s.suffrage is Suffrage.VOTER)
        object.__setattr__(self, "_voters", voters)
        object.__setattr__(self, "_quorum", len(voters) // 2 + 1)

    def __str__(self) -> str:
        return "{[" + " ".join(str(s) for s in self.servers) + "]}"

    def find(self, server_id: str) -> Server | None:
        for server in self.servers:
            if server.id == server_id:
                return server
        return None

    def has_vote(self, server_id: str) -> bool:
        server = self.find(server_id)
        return server is not None and server.suffrage is Suffrage.VOTER

    def voters(self) -> tuple[str, ...]:
        return self._voters

    def ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.servers)

    def quorum(self) -> int:
        """floor(voters/2)+1, counted over voters only (spec §2.2)."""
        return self._quorum


class EntryKind(enum.Enum):
    """The kinds of log entries the simulation writes."""

    COMMAND = "command"
    NOOP = "noop"
    CONFIGURATION = "configuration"


class Entry:
    """A log entry. Identity matters: the leader creates each entry once, and every copy of
    it in every log is the same object, so the checkers compare entries with `is`."""

    __slots__ = ("configuration", "data", "index", "kind", "term")

    def __init__(
        self,
        index: int,
        term: int,
        kind: EntryKind,
        data: str = "",
        configuration: Configuration | None = None,
    ) -> None:
        self.index = index
        self.term = term
        self.kind = kind
        self.data = data
        self.configuration = configuration

    def __repr__(self) -> str:
        return f"Entry({self.index}/{self.term} {self.kind.value} {self.data!r})"


@dataclass(frozen=True, slots=True)
class ConfigurationState:
    """What every server tracks about configurations (spec §2.1)."""

    committed: Configuration
    committed_index: int
    latest: Configuration
    latest_index: int
