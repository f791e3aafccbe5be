"""A log's chained digests for the safety checkers, whose settled beginning can be pruned.

The checkers keep one digest per log index per server (checkers.py). Kept for every entry
ever appended, they grow with the log even after snapshots compacted it away, so a served
cluster's memory would grow for as long as it runs. What lets the checkers forget: once every
server's storage has compacted through an index (no server can hold anything else there
any more: a log changes only after its offset, and a snapshot is only of applied entries)
and every server's chain there equals the committed prefix's, every question a rule can
still ask about an index at or before it has the same answer as for the committed prefix.
So a pruned position answers `COMMITTED`, a digest no entry ever gets, for every chain
alike (a stored digest of the committed prefix is turned into it when the prefix is pruned);
the real digest at the boundary is kept only for the next entry's digest to chain from.
"""

from __future__ import annotations

from collections.abc import Iterator

COMMITTED = -1  # the digest at a pruned index: the committed prefix's, whichever it was


class Digests:
    """Digests of log entries 1..len, indexed from 0 as a list is (position i holds entry
    i + 1's); positions before `base` were pruned (see the module's docstring)."""

    __slots__ = ("base", "base_digest", "items")

    def __init__(self, items: list[int] | None = None) -> None:
        self.base = 0  # entries 1..base pruned
        self.base_digest = 0  # entry `base`'s real digest (0 for none): the next chains on
        self.items: list[int] = items if items is not None else []  # entries base+1 on

    def __len__(self) -> int:
        return self.base + len(self.items)

    def __getitem__(self, position: int) -> int:
        if position < 0:
            position += self.base + len(self.items)
            if position < 0:
                raise IndexError(position)
        held = position - self.base
        if held >= 0:
            return self.items[held]
        return COMMITTED

    def last(self) -> int:
        """The real digest of the last entry (0 for an empty log), to chain the next from."""
        return self.items[-1] if self.items else self.base_digest

    def __iter__(self) -> Iterator[int]:
        for position in range(len(self)):
            yield self[position]

    def __repr__(self) -> str:
        return f"Digests(base={self.base}, base_digest={self.base_digest}, items={self.items})"

    def append(self, digest: int) -> None:
        self.items.append(digest)

    def truncate(self, length: int) -> None:
        """Keep the first `length` digests (a log truncated after entry `length`)."""
        if length >= self.base:
            del self.items[length - self.base :]
            return
        # Below the pruned boundary (a removal of committed entries, which the checkers
        # report): what remains is the committed prefix, whose real digest is forgotten, so
        # new entries chain on from the sentinel (a run already reported as broken).
        self.base_digest = COMMITTED if length else 0
        self.base = length
        self.items = []

    def prefix(self, length: int) -> Digests:
        """A copy of the first `length` digests."""
        copy = Digests(self.items[: max(length - self.base, 0)])
        if length >= self.base:
            copy.base, copy.base_digest = self.base, self.base_digest
        else:
            copy.base, copy.base_digest = length, (COMMITTED if length else 0)
        return copy

    def copy(self) -> Digests:
        return self.prefix(len(self))

    def assign(self, other: Digests) -> None:
        """Become a copy of `other` (a snapshot installed: the sender's prefix)."""
        self.base, self.base_digest, self.items = other.base, other.base_digest, list(other.items)

    def prune(self, through: int) -> None:
        """Forget the digests of entries 1..through (the caller checked they are the
        committed prefix's)."""
        if through <= self.base or through > len(self):
            return
        self.base_digest = self.items[through - self.base - 1]
        del self.items[: through - self.base]
        self.base = through
