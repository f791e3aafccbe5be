"""What the simulation reports besides the nodes' own events (ring 1): messages and timers,
process lifecycle, network faults and the requests clients make. The classes follow
core/events.py (frozen, stamped with time and server, registered by kind); servers are
named by their server names, "-" standing for the network as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..core.events import Event
from ..core.messages import Message
from ..core.types import Configuration

# ------------------------------------------------------------------ messages and timers


@dataclass(frozen=True, slots=True)
class MessageSent(Event):
    """`server` put a message on the network."""

    message: Message
    kind: ClassVar[str] = "send"
    message_level: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class MessageDelivered(Event):
    """A message (or the caller's own transport's failure notice) reached `server`."""

    message: Message
    kind: ClassVar[str] = "deliver"
    message_level: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class MessageDropped(Event):
    """A message to `server` vanished: `lost` on the link, `cut` in flight, or `down`."""

    message: Message
    reason: str
    kind: ClassVar[str] = "drop"
    message_level: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class TimerFired(Event):
    """One of `server`'s Raft timers fired (`peer`: the follower a leader's loop serves)."""

    timer: str
    peer: str
    kind: ClassVar[str] = "timer"
    message_level: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class TraceDropped(Event):
    """The first record of a bounded trace that dropped its oldest part: `count` events
    recorded before this one are gone (trace_limit)."""

    count: int
    kind: ClassVar[str] = "dropped"


# ------------------------------------------------------------------ processes


@dataclass(frozen=True, slots=True)
class ServerCrashed(Event):
    """The process was killed: volatile state lost, storage kept, its port refuses."""

    kind: ClassVar[str] = "crash"


@dataclass(frozen=True, slots=True)
class ServerRestarted(Event):
    """A crashed process started again from its durable state."""

    kind: ClassVar[str] = "restart"


@dataclass(frozen=True, slots=True)
class ServerPaused(Event):
    """The process froze: no timers fire, arriving messages queue."""

    kind: ClassVar[str] = "pause"


@dataclass(frozen=True, slots=True)
class ServerResumed(Event):
    """A paused process runs again."""

    kind: ClassVar[str] = "resume"


@dataclass(frozen=True, slots=True)
class ServerStarted(Event):
    """A new, empty server process joined the simulation."""

    kind: ClassVar[str] = "start"


# ------------------------------------------------------------------ network


@dataclass(frozen=True, slots=True)
class Partitioned(Event):
    """Only servers in one group can talk (the servers named in no group form one more)."""

    groups: tuple[tuple[str, ...], ...]
    kind: ClassVar[str] = "partition"


@dataclass(frozen=True, slots=True)
class LinkCut(Event):
    """Messages from `src` to `dst` vanish; the other direction still flows."""

    src: str
    dst: str
    kind: ClassVar[str] = "cut"


@dataclass(frozen=True, slots=True)
class Healed(Event):
    """Every partition and cut removed."""

    kind: ClassVar[str] = "heal"


@dataclass(frozen=True, slots=True)
class NetworkChanged(Event):
    """Link conditions changed: (field, value) pairs, sorted by field; of every link, or
    of the one directed `link` ("alice->bob") only."""

    changes: tuple[tuple[str, int | float | bool], ...]
    link: str = ""
    kind: ClassVar[str] = "network"


@dataclass(frozen=True, slots=True)
class TimedOut(Event):
    """The operator made the server's election timer expire now (the page's "time out")."""

    kind: ClassVar[str] = "timeout"


@dataclass(frozen=True, slots=True)
class ClusterReset(Event):
    """A served simulation started over: from `seed` (`reset`), or replayed from its seed
    and recorded inputs up to this event's time (`replay`, the page's time slider)."""

    seed: int
    how: str
    kind: ClassVar[str] = "reset"


# ------------------------------------------------------------------ clients


@dataclass(frozen=True, slots=True)
class Proposed(Event):
    """A client asked `server` to apply a command."""

    data: str
    kind: ClassVar[str] = "propose"


@dataclass(frozen=True, slots=True)
class ChangeRequested(Event):
    """A client asked `server` for a membership change of `target` (a server name)."""

    command: str
    target: str
    kind: ClassVar[str] = "change"


# ------------------------------------------------------------------ data directories


@dataclass(frozen=True, slots=True)
class NomadLogged(Event):
    """A line the server's Nomad agent logged while opening its Raft directory (Nomad's text,
    e.g. `[INFO] nomad: found peers.json file, recovering Raft configuration...`)."""

    line: str
    kind: ClassVar[str] = "log"


@dataclass(frozen=True, slots=True)
class Recovered(Event):
    """The server ingested peers.json: RecoverCluster replaced its configuration with
    `configuration` and counts its log up to `index` as committed, in its kept term."""

    configuration: Configuration
    index: int
    kind: ClassVar[str] = "recover"


@dataclass(frozen=True, slots=True)
class StartFailed(Event):
    """The server did not start: opening its Raft directory failed with `error` (Nomad's
    `Failed to start Raft: ...` text follows from it); it stays down."""

    error: str
    kind: ClassVar[str] = "start-failed"
