"""The simulated network (ring 1): per-link latency, loss, duplication and reordering, and
partitions, including asymmetric ones.

It only decides what happens to a message on a link: when copies arrive, or that it is
lost. What a lost message means for the caller (hashicorp's TCP transport waits for its
10 s I/O timeout; a crashed peer refuses the connection at once) is the cluster's business.
Links are FIFO by default, as TCP connections are; `reorder` lets later messages overtake.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from ..core.timing import MS


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
# Paper §9.3: a request/response round of about 15 ms including the disk write.
PAPER_LAN = LinkConditions(latency_min=6 * MS, latency_max=9 * MS)


class Network:
    """Link conditions and partitions between server IDs; draws from its own stream."""

    def __init__(self, rand: random.Random, default: LinkConditions = NOMAD_LAN) -> None:
        self.rand = rand
        self.default = default
        self.links: dict[tuple[str, str], LinkConditions] = {}
        self.blocked: set[tuple[str, str]] = set()
        self._last_due: dict[tuple[str, str], int] = {}

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

    def is_blocked(self, src: str, dst: str) -> bool:
        return (src, dst) in self.blocked

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

    def route(self, src: str, dst: str, now: int) -> tuple[int, ...]:
        """Arrival times of the copies of one message sent now on src -> dst (none: lost).

        Loss is TCP's, because hashicorp's transport is TCP: a lost segment is sent again
        after the retransmission timeout (200 ms, doubling), so loss shows up as delay; a
        message is lost outright only when a cut or partition blocks its link, or after
        TCP gives up (15 retransmissions), and then its caller times out."""
        key = (src, dst)
        if key in self.blocked:
            return ()
        c = self.conditions(src, dst) if self.links else self.default
        random = self.rand.random
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
            else:
                return ()
        if not c.reorder:
            last = self._last_due.get(key, 0)
            due = max(due, last)
            self._last_due[key] = due
        if c.duplicate and random() < c.duplicate:
            extra = now + c.latency_min + (int(random() * (spread + 1)) if spread else 0)
            return (due, extra if c.reorder else max(extra, due))
        return (due,)

    def round_trip(self, src: str, dst: str) -> int:
        """A connection attempt's round trip, for 'connection refused' answers."""
        c = self.conditions(src, dst)
        return 2 * c.latency_min
