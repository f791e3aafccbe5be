"""Property tests: random fault schedules (crash, restart, pause, partitions symmetric and
asymmetric, loss, latency, proposals, membership changes) with every checker on. The
schedule is hypothesis data, so a failure shrinks to a short list of ops; the seed is shown."""

from __future__ import annotations

from hypothesis import given, note
from hypothesis import strategies as st

from raftsim import Cluster
from raftsim.sim.chaos import ALL_KINDS, Op, Runner

DURATION = 40_000_000

ops = st.lists(
    st.builds(
        Op,
        at=st.integers(0, DURATION),
        kind=st.sampled_from(ALL_KINDS),
        pick=st.integers(0, 2**30),
        value=st.floats(0.0, 1.0),
    ),
    max_size=25,
).map(lambda xs: sorted(xs, key=lambda op: (op.at, op.kind, op.pick)))


@given(servers=st.sampled_from([3, 5]), seed=st.integers(0, 2**16), schedule=ops)
def test_properties_safety_holds_and_a_leader_returns(
    servers: int, seed: int, schedule: list[Op]
) -> None:
    """Every safety rule holds under any schedule, and once every fault is undone and every
    server restarted, a leader is elected and knows a committed configuration."""
    note(f"servers={servers} seed={seed}")
    cluster = Cluster(servers, seed=seed, trace="off")
    cluster.run_until(lambda c: c.leader() is not None, "30s")
    outcome = Runner(cluster, seed).run(schedule, settle=30_000_000)
    note("\n".join(outcome.ops))
    assert outcome.violations == []
    leader = cluster.leader()
    assert leader is not None, [(v.name, v.role, v.term) for v in cluster.views()]
    view = cluster.view(leader)
    assert view.committed_index == view.latest_index
