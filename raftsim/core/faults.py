"""Deliberate faults: named ways to break the core, for showing that the checkers catch real
bugs. Nothing enables them unless a caller (a test, `raftsim check --inject`) asks for it."""

from __future__ import annotations

import enum


class Fault(enum.Enum):
    """A deliberate bug the core can be built with."""

    # Grant a vote to any up-to-date candidate, even after voting for another in this term.
    DOUBLE_VOTE = "double-vote"
    # Commit by counting replicas even when the entry is from an earlier term (Fig. 8).
    COMMIT_PREVIOUS_TERM = "commit-previous-term"
    # On a conflicting AppendEntries, overwrite the entry but keep the stale suffix after it.
    NO_TRUNCATE = "no-truncate"
    # Take a new membership change while the previous one is still uncommitted (§2.5).
    CONCURRENT_CONFIG = "concurrent-config"
    # Let a new leader change membership before committing an entry of its term (§4.2).
    EARLY_CONFIG = "early-config"
    # Liveness only: on a rejected AppendEntries keep nextIndex instead of backing it up,
    # so a follower missing entries is sent the same mismatch forever and never catches
    # up. Nothing unsafe commits; campaigns must report it as unexplained non-convergence.
    STUCK_NEXT_INDEX = "stuck-next-index"
    # Check the leader lease once, at LLT after winning, and never re-arm it (§3.8).
    LEASE_NOT_REARMED = "lease-not-rearmed"
    # Count the leader's own log towards commitment even when it is not a voter of latest
    # (§2.6: hashicorp counts only the voters of latest, the leader among them if it is one).
    COMMIT_SELF_NONVOTER = "commit-self-nonvoter"
    # On a truncation that cuts off the latest configuration, keep it instead of falling
    # back on the committed one (§2.2).
    KEEP_CUT_CONFIG = "keep-cut-config"
