"""Serf-like membership (ring 1b, raftsim/nomad/serf.py): failure detection in virtual time
with memberlist's WAN settings, per-server eventually consistent views, refutation,
force-leave and reaping (spec nomad-api.md §2.8, §2.9, §3.2)."""

from __future__ import annotations

import pytest

from raftsim import Cluster
from raftsim.core.timing import SECOND
from raftsim.nomad import NomadCluster, SerfTiming


def make(servers: int = 3, seed: int = 1, **serf: int) -> tuple[Cluster, NomadCluster]:
    cluster = Cluster(servers, seed=seed, trace="state")
    timing = SerfTiming(**serf) if serf else None
    return cluster, NomadCluster(cluster, serf_timing=timing)


def status(nomad: NomadCluster, viewer: str, member: str) -> str | None:
    """How `viewer`'s Serf sees `member` (None: not listed)."""
    for m in nomad.serf_view(viewer):
        if m["name"] == f"{member}.global":
            return m["status"]
    return None


def all_alive(nomad: NomadCluster, names: list[str]) -> bool:
    return all(
        len(nomad.serf_view(v)) == len(names) and all(status(nomad, v, m) == "alive" for m in names)
        for v in names
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_serf_crashed_server_detected_failed_after_realistic_delay(seed: int) -> None:
    """A crashed server is suspected after a missed probe and failed after Lifeguard's 30 s."""
    cluster, nomad = make(seed=seed)
    cluster.run_for("20s")
    cluster.crash("carol")
    start = cluster.now

    def failed(c: Cluster) -> bool:
        return all(status(nomad, v, "carol") == "failed" for v in ("alice", "bob"))

    assert cluster.run_until(failed, "120s")
    took = cluster.now - start
    # At most one probe round plus the probe interval to suspect, then 30 s (n < 10).
    assert 30 * SECOND < took <= 30 * SECOND + 2 * 5 * SECOND + 5 * SECOND


def test_serf_suspicion_timeout_follows_lifeguard() -> None:
    """memberlist: SuspicionMult*max(1, log10(n))*ProbeInterval, up to 6x with confirmations."""
    _cluster, nomad = make(servers=3)
    agent = nomad.servers["alice"].serf
    assert agent.suspicion_timeout(0, 0) == 30 * SECOND  # k = 0 below 6 members
    assert agent.suspicion_timeout(0, 4) == 180 * SECOND
    assert agent.suspicion_timeout(4, 4) == 30 * SECOND


def test_serf_views_differ_per_server_during_partition() -> None:
    """Each side of a partition sees the other side failed, itself alive."""
    cluster, nomad = make()
    cluster.run_for("10s")
    cluster.partition(["alice"], ["bob", "carol"])
    cluster.run_for("90s")
    assert status(nomad, "alice", "bob") == "failed"
    assert status(nomad, "alice", "carol") == "failed"
    assert status(nomad, "bob", "alice") == "failed"
    assert status(nomad, "bob", "carol") == "alive"


def test_serf_heal_converges_back_to_alive() -> None:
    """After a heal, reconnects and push/pull make every view alive again."""
    cluster, nomad = make()
    cluster.run_for("10s")
    cluster.partition(["alice"], ["bob", "carol"])
    cluster.run_for("90s")
    cluster.heal()
    names = ["alice", "bob", "carol"]
    assert cluster.run_until(lambda c: all_alive(nomad, names), "120s")


def test_serf_restarted_server_refutes_and_rejoins() -> None:
    """A restarted server learns it was declared dead and refutes with a higher incarnation."""
    cluster, nomad = make()
    cluster.run_for("10s")
    cluster.crash("carol")
    cluster.run_for("60s")
    assert status(nomad, "alice", "carol") == "failed"
    cluster.restart("carol")
    assert cluster.run_until(lambda c: all_alive(nomad, ["alice", "bob", "carol"]), "10s")
    assert nomad.servers["carol"].serf.incarnation > 0


def test_serf_force_leave_of_failed_member_makes_it_left_everywhere() -> None:
    """spec §2.9: failed → left, broadcast to every live member."""
    cluster, nomad = make()
    cluster.run_for("10s")
    cluster.crash("carol")
    cluster.run_for("60s")
    answers: list[object] = []
    nomad.force_leave("alice", "carol.global", lambda r, e: answers.append(e))
    cluster.run_for("5s")
    assert answers == [None]
    assert status(nomad, "alice", "carol") == "left"
    assert status(nomad, "bob", "carol") == "left"


def test_serf_force_leave_of_alive_member_is_refuted() -> None:
    """spec §2.9: an alive member goes `leaving`, then refutes and stays alive."""
    cluster, nomad = make()
    cluster.run_for("10s")
    answers: list[object] = []
    nomad.force_leave("alice", "carol.global", lambda r, e: answers.append(e))
    assert status(nomad, "alice", "carol") == "leaving"
    cluster.run_for("10s")
    assert answers == [None]
    assert all(status(nomad, v, "carol") == "alive" for v in ("alice", "bob", "carol"))


def test_serf_force_leave_of_unknown_name_is_accepted() -> None:
    """spec §2.9: an unmatched name changes nothing and still succeeds."""
    cluster, nomad = make()
    cluster.run_for("10s")
    answers: list[object] = []
    nomad.force_leave("alice", "nobody.global", lambda r, e: answers.append(e))
    cluster.run_for("5s")
    assert answers == [None]
    assert all_alive(nomad, ["alice", "bob", "carol"])


def test_serf_force_leave_times_out_when_nobody_can_be_told() -> None:
    """Serf RemoveFailedNode waits for its broadcast; with every peer long dead it gives up."""
    cluster, nomad = make()
    cluster.run_for("10s")
    cluster.crash("bob")
    cluster.crash("carol")
    cluster.run_for("200s")  # failed, and past GossipToTheDeadTime
    answers: list[object] = []
    nomad.force_leave("alice", "carol.global", lambda r, e: answers.append(e))
    cluster.run_for("6s")
    assert [str(e) for e in answers] == ["timed out broadcasting node removal"]


def test_serf_failed_member_is_reaped_after_reconnect_timeout() -> None:
    """A failed member is erased after ReconnectTimeout (72 h in Nomad; shortened here)."""
    cluster, nomad = make(reconnect_timeout=120 * SECOND)
    cluster.run_for("10s")
    cluster.crash("carol")
    cluster.run_for("60s")
    assert status(nomad, "alice", "carol") == "failed"
    cluster.run_for("130s")
    assert status(nomad, "alice", "carol") is None


def test_serf_is_deterministic() -> None:
    """The same seed and the same faults give the same Serf history."""

    def history() -> list[tuple[int, str, str]]:
        cluster, nomad = make(seed=7)
        cluster.run_for("10s")
        cluster.crash("bob")
        cluster.run_for("60s")
        cluster.restart("bob")
        cluster.run_for("20s")
        return list(nomad.lines)

    assert history() == history()
