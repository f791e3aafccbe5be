"""A schedule's ops (ring 2): plain data, each an action at a virtual time with its own
draws, and `generate`, which draws a schedule from a seed. The runner (schedules.py) gives
each kind its meaning; hypothesis draws ops too (strategies.py).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from ..core.profile import PROFILES
from ..core.timing import SECOND
from ..scenario.vocabulary import ALL_KINDS, TRANSFER_KINDS, fault_kinds
from ..sim.rng import derive_seed


@dataclass(frozen=True, slots=True)
class Op:
    """One scheduled action: at `at` µs after the schedule starts, do `kind`, choosing
    targets with `pick` and sizes with `value` (0..1)."""

    at: int
    kind: str
    pick: int = 0
    value: float = 0.0


def generate(
    seed: int,
    duration: int = 60 * SECOND,
    kinds: Sequence[str] = ALL_KINDS,
    rate: float = 0.5,
    profile: str = "P1",
) -> list[Op]:
    """About `rate` ops per simulated second, of the given kinds, at uniform times.
    `transfer-leadership` is drawn only when named (TRANSFER_KINDS), and only under the
    profiles that have the operation (P3, P4): docs/campaigns.md says what it finds."""
    kinds = fault_kinds(kinds)
    if not PROFILES[profile].leadership_transfer:
        kinds = tuple(kind for kind in kinds if kind not in TRANSFER_KINDS) or ALL_KINDS
    rand = random.Random(derive_seed(seed, "schedule"))
    count = max(1, round(rate * duration / SECOND))
    ops = [
        Op(
            rand.randrange(duration),
            rand.choice(list(kinds)),
            rand.randrange(1 << 30),
            rand.random(),
        )
        for _ in range(count)
    ]
    ops.sort(key=lambda op: (op.at, op.kind, op.pick))
    return ops
