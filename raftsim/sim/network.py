"""The simulated network (ring 1): per-link latency, loss, duplication and reordering, and
partitions, including asymmetric ones.

It only decides what happens to a message on a link: when copies arrive, or that it is
lost. What a lost message means for the caller (hashicorp's TCP transport waits for its
10 s I/O timeout; a crashed peer refuses the connection at once) is the cluster's business.

Connections, not links, are the unit of order and of randomness. hashicorp's transport gives
each of a leader's loops (heartbeat, replication) its own pooled TCP connection to a peer,
with at most one call outstanding on it, and votes travel on connections of their own; so
messages are sent on a named `channel` of the link (see `Cluster`'s channel table), and:
- each direction of each channel is FIFO by default, as a TCP byte stream is: a later
  message, or the second copy of a duplicated one, never arrives before an earlier one.
  Different channels share no order (two loops' calls never queue behind each other), and
  `reorder=True` drops the FIFO rule within a channel too, so copies and pipelined
  messages may overtake each other;
- each direction of each channel draws its latencies, losses and duplicates from its own
  stream, "network/<src>-><dst>/<channel>", so one loop's traffic never shifts another's
  draws. That is what lets the simulator compute an idle cluster's loops one by one
  (fastforward.py) with exactly the draws the event loop would make.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..core.timing import MS, SECOND


@dataclass(frozen=True, slots=True)
class LinkConditions:
    """How one directed link behaves. Latencies are one-way, integer microseconds."""

    latency_min: int = 200
    latency_max: int = 600
    loss: float = 0.0  # per transmission; TCP retransmits (see Network.route)
    duplicate: float = 0.0
    reorder: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.latency_min <= self.latency_max:
            raise ValueError(
                f"latency needs 0 <= min <= max, got {self.latency_min}-{self.latency_max}"
            )
        for name in ("loss", "duplicate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value}")


RTO_MIN = 200 * MS  # Linux's minimum TCP retransmission timeout
TCP_RETRIES = 15  # Linux tcp_retries2

NOMAD_LAN = LinkConditions()
# Paper §9.3 quotes a broadcast time of about 15 ms, but that includes the disk write of
# appended entries, which heartbeats and votes do not pay; Figure 16's own minima leave
# about 10 ms for the four one-way hops of an election, so 2-3 ms one way.
PAPER_LAN = LinkConditions(latency_min=2 * MS, latency_max=3 * MS)


TRANSMIT = "transmit"  # the channel of upper layers' messages (Cluster.transmit)


class Connection:
    """One direction of one channel of a link: its random stream and its FIFO horizon."""

    __slots__ = ("last_due", "random")

    def __init__(self, rand: random.Random) -> None:
        self.random = rand.random
        self.last_due = 0  # arrival of the latest copy sent on it (FIFO order)


class Network:
    """Link conditions and partitions between server IDs; one stream per connection."""

    def __init__(
        self,
        streams: Callable[[str], random.Random] | random.Random,
        default: LinkConditions = NOMAD_LAN,
        give_up: int = 10 * SECOND,
    ) -> None:
        self.give_up = give_up  # the transport's I/O timeout (RaftTimeout)
        if isinstance(streams, random.Random):
            # A single stream handed in: derive each connection's from it, in order of use.
            parent = streams
            self._streams: Callable[[str], random.Random] = lambda name: random.Random(
                parent.getrandbits(64)
            )
        else:
            self._streams = streams
        self.default = default
        self.links: dict[tuple[str, str], LinkConditions] = {}
        self.blocked: set[tuple[str, str]] = set()
        self.connections: dict[tuple[str, str, str], Connection] = {}

    def connection(self, src: str, dst: str, channel: str) -> Connection:
        """The connection src -> dst on `channel`, created (with its stream) on first use."""
        key = (src, dst, channel)
        conn = self.connections.get(key)
        if conn is None:
            conn = Connection(self._streams(f"network/{src}->{dst}/{channel}"))
            self.connections[key] = conn
        return conn

    # ------------------------------------------------------------ faults

    def block(self, src: str, dst: str) -> None:
        """Cut the directed link src -> dst: its messages vanish silently."""
        self.blocked.add((src, dst))

    def partition(self, groups: list[list[str]], everyone: list[str]) -> None:
        """Servers in different groups cannot talk; servers named in no group form one more
        group together (so partition([x]) isolates x from everyone else)."""
        group_of = dict.fromkeys(everyone, -1)
        for i, group in enumerate(groups):
            for member in group:
                group_of[member] = i
        for a in everyone:
            for b in everyone:
                if a != b and group_of[a] != group_of[b]:
                    self.blocked.add((a, b))

    def heal(self) -> None:
        self.blocked.clear()

    def set_conditions(
        self, conditions: LinkConditions, src: str | None = None, dst: str | None = None
    ) -> None:
        """Set conditions for every link, or for src -> dst (both directions if dst is None)."""
        if src is None:
            self.default = conditions
            self.links.clear()
        elif dst is None:
            for a, b in list(self.links):
                if src in (a, b):
                    del self.links[(a, b)]
            self.links[(src, "*")] = conditions
        else:
            self.links[(src, dst)] = conditions

    def conditions(self, src: str, dst: str) -> LinkConditions:
        links = self.links
        if not links:
            return self.default
        return (
            links.get((src, dst)) or links.get((src, "*")) or links.get((dst, "*")) or self.default
        )

    def update_default(self, **changes: object) -> None:
        self.default = replace(self.default, **changes)  # type: ignore[arg-type]

    # ------------------------------------------------------------ routing

    def route(self, src: str, dst: str, now: int, channel: str = TRANSMIT) -> tuple[int, ...]:
        """Arrival times of the copies of one message sent now on src -> dst (none: lost).

        Loss is TCP's, because hashicorp's transport is TCP: a lost segment is sent again
        after the retransmission timeout (200 ms, doubling), so loss shows up as delay; a
        message is lost outright only when a cut or partition blocks its link, or after
        TCP gives up (15 retransmissions), and then its caller times out."""
        if self.blocked and (src, dst) in self.blocked:
            return ()
        conn = self.connections.get((src, dst, channel)) or self.connection(src, dst, channel)
        c = self.conditions(src, dst) if self.links else self.default
        random = conn.random
        spread = c.latency_max - c.latency_min
        due = now + c.latency_min
        if spread:
            due += int(random() * (spread + 1))
        if c.loss:
            rto = RTO_MIN
            for _ in range(TCP_RETRIES):
                if random() >= c.loss:
                    break
                due += rto
                rto *= 2
                if due - now > self.give_up:
                    # The caller's I/O deadline passes first: it drops the connection, so
                    # this message never arrives and never holds up later ones.
                    return ()
            else:
                return ()
        if not c.reorder and due < conn.last_due:
            due = conn.last_due
        if c.duplicate and random() < c.duplicate:
            extra = now + c.latency_min + (int(random() * (spread + 1)) if spread else 0)
            if c.reorder:
                return (due, extra)
            # FIFO: the second copy follows the first, and later messages follow both.
            extra = max(extra, due)
            conn.last_due = extra
            return (due, extra)
        if not c.reorder:
            conn.last_due = due
        return (due,)

    def round_trip(self, src: str, dst: str) -> int:
        """A connection attempt's round trip, for 'connection refused' answers."""
        c = self.conditions(src, dst)
        return 2 * c.latency_min
