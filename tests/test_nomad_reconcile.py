"""The leader's reconcile loop and graceful leave (ring 1b, raftsim/nomad/leader.py): Serf
membership drives Raft membership (spec nomad-api.md §3.2; raft-semantics §2.7)."""

from __future__ import annotations

from raftsim import Cluster
from raftsim.core.configuration import ChangeCommand
from raftsim.core.timing import SECOND
from raftsim.nomad import NomadCluster, SerfTiming


def make(seed: int = 1, **serf: int) -> tuple[Cluster, NomadCluster]:
    cluster = Cluster(3, seed=seed, trace="state")
    nomad = NomadCluster(cluster, serf_timing=SerfTiming(**serf) if serf else None)
    assert cluster.run_until(lambda c: c.leader() is not None, "30s")
    cluster.run_for("2s")
    return cluster, nomad


def addresses(cluster: Cluster, name: str) -> list[str]:
    return [s.address for s in cluster.view(name).latest.servers]


def settled(cluster: Cluster, count: int) -> bool:
    """A leader whose committed configuration has `count` servers, and everyone agrees."""
    leader = cluster.leader()
    if leader is None:
        return False
    view = cluster.view(leader)
    return (
        len(view.committed.servers) == count
        and view.committed_index == view.latest_index
        and all(v.leader == leader for v in cluster.views() if v.status == "up")
    )


def test_reconcile_brings_back_a_removed_server_serf_sees_alive() -> None:
    """spec §3.2: remove-peer of an alive server is undone at the next reconcile (≤ 60 s)."""
    cluster, _ = make()
    leader = cluster.leader()
    assert leader is not None
    victim = next(n for n in cluster.servers if n != leader)
    future = cluster.change(ChangeCommand.REMOVE_SERVER, victim, via=leader)
    cluster.run_for("100ms")
    assert future.done and future.error is None
    assert cluster.servers[victim].address not in addresses(cluster, leader)
    removed_at = cluster.now
    back = cluster.run_until(
        lambda c: cluster.servers[victim].address in addresses(c, c.leader() or leader), "65s"
    )
    assert back
    assert cluster.now - removed_at <= 61 * SECOND
    assert cluster.run_until(lambda c: settled(c, 3), "30s")
    assert cluster.violations == []


def test_reconcile_leaves_a_failed_server_in_raft() -> None:
    """spec §3.2: a failed member stays a voter until it is force-left or reaped."""
    cluster, _nomad = make()
    victim = next(n for n in cluster.servers if n != cluster.leader())
    cluster.crash(victim)
    cluster.run_for("150s")  # failed in Serf, and two full reconciles later
    leader = cluster.leader()
    assert leader is not None
    assert cluster.servers[victim].address in addresses(cluster, leader)


def test_reconcile_removes_a_force_left_server() -> None:
    """spec §2.9/§3.2: force-leave of a failed server removes it from Raft (leave event)."""
    cluster, nomad = make()
    victim = next(n for n in cluster.servers if n != cluster.leader())
    cluster.crash(victim)
    cluster.run_for("60s")
    entry = cluster.leader()
    assert entry is not None
    nomad.force_leave(entry, f"{victim}.global", lambda r, e: None)
    assert cluster.run_until(lambda c: settled(c, 2), "10s")
    assert cluster.servers[victim].address not in addresses(cluster, entry)


def test_reconcile_removes_a_reaped_server() -> None:
    """spec §3.2: a reaped member (ReconnectTimeout passed) is removed from Raft."""
    cluster, _nomad = make(reconnect_timeout=100 * SECOND)
    victim = next(n for n in cluster.servers if n != cluster.leader())
    cluster.crash(victim)
    assert cluster.run_until(lambda c: settled(c, 2), "200s")


def test_reconcile_adds_a_new_server_that_joins_serf() -> None:
    """A new, empty server joins Serf; the leader adds it as a voter (AddPeer)."""
    cluster, _nomad = make()
    name = cluster.add_server()
    assert cluster.run_until(lambda c: settled(c, 4), "30s")
    leader = cluster.leader() or ""
    assert cluster.run_until(
        lambda c: c.view(name).commit_index == c.view(leader).commit_index, "5s"
    )


def test_leave_of_a_follower_removes_it_then_exits() -> None:
    """raft-semantics §2.7: a follower leaves Serf; the leader removes it; then it exits."""
    cluster, nomad = make()
    victim = next(n for n in cluster.servers if n != cluster.leader())
    done: list[int] = []
    nomad.leave(victim, lambda: done.append(cluster.now))
    cluster.run_for("10s")
    assert done
    assert cluster.servers[victim].status == "down"
    assert victim in nomad.left
    assert cluster.run_until(lambda c: settled(c, 2), "5s")


def test_leave_of_the_leader_removes_itself_first() -> None:
    """raft-semantics §2.7: a leader with peers runs RemovePeer on itself, then leaves."""
    cluster, nomad = make()
    leader = cluster.leader()
    assert leader is not None
    done: list[int] = []
    nomad.leave(leader, lambda: done.append(cluster.now))
    cluster.run_for("10s")
    assert done and cluster.servers[leader].status == "down"
    assert cluster.run_until(lambda c: settled(c, 2), "30s")
    assert cluster.leader() != leader
    assert cluster.servers[leader].address not in addresses(cluster, cluster.leader() or "")


def test_leave_then_restart_rejoins_and_is_added_back() -> None:
    """A server that left and starts again rejoins Serf; the leader adds it back."""
    cluster, nomad = make()
    victim = next(n for n in cluster.servers if n != cluster.leader())
    nomad.leave(victim, lambda: None)
    cluster.run_for("10s")
    cluster.restart(victim)
    assert cluster.run_until(lambda c: settled(c, 3), "30s")
    assert victim not in nomad.left
