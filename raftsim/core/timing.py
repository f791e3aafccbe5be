"""Raft timing presets (spec §3): hashicorp/raft's polled timers at Nomad's defaults, and the
Raft paper's reset-on-heartbeat timers used for teaching and for Figure 16 (spec §5.4).

All durations are integer microseconds of virtual time.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

MS = 1_000
SECOND = 1_000_000


class RandomSource(Protocol):
    """What the core needs of a random stream (random.Random satisfies it)."""

    def random(self) -> float: ...


def jitter(rand: RandomSource, base: int, spread: int) -> int:
    """hashicorp `randomTimeout`: U[base, base + spread); no draw when there is no spread."""
    return base + int(rand.random() * spread) if spread > 0 else base


class TimerModel(enum.Enum):
    """How a follower decides that its leader is gone."""

    # §3.3: a timer fires every U[HT, 2HT) and checks the time since last contact.
    HASHICORP = "hashicorp"
    # Paper §5.2: the election timer restarts on every valid heartbeat or granted vote.
    PAPER = "paper"


@dataclass(frozen=True, slots=True)
class Timing:
    """The timeouts of one cluster (hashicorp names; paper mode reuses them, see presets)."""

    model: TimerModel
    heartbeat_timeout: int  # HT: follower timer base (hashicorp); election min (paper)
    election_timeout: int  # ET: candidate timer base (hashicorp); election min (paper)
    election_spread: int  # timers draw U[base, base + spread)
    leader_lease_timeout: int  # LLT
    commit_timeout: int  # CT: idle replication every U[CT, 2CT)
    heartbeat_min: int  # leader heartbeats every U[heartbeat_min, heartbeat_max)
    heartbeat_max: int
    rpc_timeout: int = 10 * SECOND  # RaftTimeout, the TCP transport's I/O timeout (§3.10)
    max_append_entries: int = 64
    # Snapshots (hashicorp DefaultConfig, which Nomad 0.5.6 keeps: its nomad/config.go sets
    # only ShutdownOnRemove and ProtocolVersion): a snapshot once the log holds this many
    # entries past the last one, checked every U[interval, 2 interval); the newest
    # `trailing_logs` entries stay in the log after it.
    snapshot_threshold: int = 8192
    snapshot_interval: int = 120 * SECOND
    trailing_logs: int = 10240

    @classmethod
    def nomad(cls, multiplier: int = 1) -> Timing:
        """hashicorp defaults as Nomad uses them, scaled by `raft_multiplier` (1-10, §3.10)."""
        if not 1 <= multiplier <= 10:
            raise ValueError(f"raft_multiplier must be between 1 and 10, got {multiplier}")
        ht = SECOND * multiplier
        return cls(
            model=TimerModel.HASHICORP,
            heartbeat_timeout=ht,
            election_timeout=ht,
            election_spread=ht,
            leader_lease_timeout=500 * MS * multiplier,
            commit_timeout=50 * MS * multiplier,
            heartbeat_min=ht // 10,
            heartbeat_max=ht // 5,
        )

    @classmethod
    def paper(cls, low_ms: int = 150, high_ms: int = 300) -> Timing:
        """Paper semantics with election timeouts U[low, high) ms; heartbeats every low/2."""
        if not 0 < low_ms <= high_ms:
            raise ValueError(f"paper timing needs 0 < low <= high, got {low_ms}-{high_ms}")
        low = low_ms * MS
        return cls(
            model=TimerModel.PAPER,
            heartbeat_timeout=low,
            election_timeout=low,
            election_spread=(high_ms - low_ms) * MS,
            leader_lease_timeout=low,
            commit_timeout=low // 4,
            heartbeat_min=low // 2,
            heartbeat_max=low // 2,
        )
