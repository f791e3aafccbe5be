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
    loss: float = 0.0
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
        """Servers in different groups cannot talk; servers in no group form their own."""
        group_of = {}
        for i, group in enumerate(groups):
            for member in group:
                group_of[member] = i
        for member in everyone:
            group_of.setdefault(member, -1 - everyone.index(member))
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
            for (a, b) in list(self.links):
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
            links.get((src, dst))
            or links.get((src, "*"))
            or links.get((dst, "*"))
            or self.default
        )

    def update_default(self, **changes: object) -> None:
        self.default = replace(self.default, **changes)  # type: ignore[arg-type]

    # ------------------------------------------------------------ routing

    def route(self, src: str, dst: str, now: int) -> tuple[int, ...]:
        """Arrival times of the copies of one message sent now on src -> dst (none: lost)."""
        key = (src, dst)
        if key in self.blocked:
            return ()
        c = self.conditions(src, dst)
        rand = self.rand
        if c.loss and rand.random() < c.loss:
            return ()
        spread = c.latency_max - c.latency_min
        due = now + c.latency_min + (rand.randrange(spread + 1) if spread else 0)
        if not c.reorder:
            last = self._last_due.get(key, 0)
            if due < last:
                due = last
            self._last_due[key] = due
        if c.duplicate and rand.random() < c.duplicate:
            extra = now + c.latency_min + (rand.randrange(spread + 1) if spread else 0)
            return (due, max(extra, due) if not c.reorder else extra)
        return (due,)

    def round_trip(self, src: str, dst: str) -> int:
        """A connection attempt's round trip, for 'connection refused' answers."""
        c = self.conditions(src, dst)
        return 2 * c.latency_min
