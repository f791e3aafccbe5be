"""Hypothesis strategies for clusters and their fault schedules. Each shrinks toward a
simpler case: fewer servers, Nomad timing, seed 0, fewer ops, earlier ops, milder faults."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hypothesis import strategies as st

from ..core.timing import SECOND
from ..scenario.commands import NewCluster
from ..scenario.vocabulary import ALL_KINDS, CHANGE_KINDS, FAULT_KINDS
from .ops import Op


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """How to build a cluster: size, timing preset, version profile, seed."""

    servers: int
    timing: str
    profile: str
    seed: int

    def command(self) -> str:
        """The scenario `cluster` command that builds it (defaults left out)."""
        timing = None if self.timing == "nomad" else self.timing
        profile = None if self.profile == "P1" else self.profile
        return str(NewCluster(self.servers, self.seed, timing, profile))


def cluster_specs(
    sizes: Sequence[int] = (3, 5, 7),
    timings: Sequence[str] = ("nomad", "paper"),
    profiles: Sequence[str] = ("P1", "P3"),
) -> st.SearchStrategy[ClusterSpec]:
    return st.builds(
        ClusterSpec,
        servers=st.sampled_from(list(sizes)),
        timing=st.sampled_from(list(timings)),
        profile=st.sampled_from(list(profiles)),
        seed=st.integers(0, 2**32 - 1),
    )


def ops(kinds: Sequence[str] = ALL_KINDS, duration: int = 60 * SECOND) -> st.SearchStrategy[Op]:
    """One op of the given kinds at a time in [0, duration); value 0 is the mildest."""
    return st.builds(
        Op,
        at=st.integers(0, duration - 1),
        kind=st.sampled_from(list(kinds)),
        pick=st.integers(0, 2**30),
        value=st.floats(0.0, 1.0, allow_nan=False),
    )


def schedules(
    kinds: Sequence[str] = ALL_KINDS, duration: int = 60 * SECOND, max_ops: int = 30
) -> st.SearchStrategy[list[Op]]:
    """A time-ordered list of ops; shrinks by dropping ops and moving them earlier."""
    return st.lists(ops(kinds, duration), max_size=max_ops).map(
        lambda xs: sorted(xs, key=lambda op: (op.at, op.kind, op.pick))
    )


def fault_schedules(duration: int = 60 * SECOND, max_ops: int = 30) -> st.SearchStrategy[list[Op]]:
    """Crashes, restarts, pauses, partitions (also asymmetric), heals, loss and latency."""
    return schedules(FAULT_KINDS, duration, max_ops)


def membership_ops(duration: int = 60 * SECOND) -> st.SearchStrategy[Op]:
    """Add a voter, add a nonvoter, demote, remove a server, remove the leader."""
    return ops(CHANGE_KINDS, duration)


def proposals(duration: int = 60 * SECOND) -> st.SearchStrategy[Op]:
    """Client commands (value near 1 makes bursts of up to 150)."""
    return ops(("propose",), duration)
