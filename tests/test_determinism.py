"""Same seed and inputs, same trace, byte for byte; another seed, another trace (DESIGN.md)."""

from __future__ import annotations

from raftsim import Cluster
from raftsim.testing import ScheduleRunner, generate


def run(seed: int) -> Cluster:
    """Seed `seed`'s fault schedule on a 5-server cluster keeping the full message trace."""
    runner = ScheduleRunner(seed, 5, trace="all")
    runner.run(generate(seed, duration=20_000_000), settle=5_000_000)
    return runner.cluster


def test_determinism_same_seed_gives_identical_traces() -> None:
    """Two runs of seed 11 under a fault schedule render the same text and JSON lines."""
    first, second = run(11), run(11)
    assert len(first.records) > 1000
    assert first.trace_text() == second.trace_text()
    assert first.trace_jsonl() == second.trace_jsonl()


def test_determinism_other_seed_gives_another_trace() -> None:
    """Seed 12 takes a different path from seed 11."""
    assert run(11).trace_text() != run(12).trace_text()


def test_determinism_adding_a_server_does_not_shift_other_streams() -> None:
    """Named child streams: a fifth server does not change the first four servers' timers."""
    small, large = Cluster(4, seed=3), Cluster(5, seed=3)
    draws = [small.streams.get(f"node/{n}").random() for n in ("alice", "bob", "carol", "dave")]
    assert draws == [
        large.streams.get(f"node/{n}").random() for n in ("alice", "bob", "carol", "dave")
    ]
