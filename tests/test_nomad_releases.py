"""The Nomad layer per emulated release (raftsim/nomad/version.py), below its HTTP API: the
node IDs its servers keep, the dial error a follower reports in the Go the release was
built with, the Raft profile a release needs, and when a new leader serves (spec
nomad-api.md §1, §2.8, §3.1). The HTTP answers per release are test_web_nomad_releases.py's.
"""

from __future__ import annotations

import pytest

from raftsim import Cluster
from raftsim.core.profile import P2
from raftsim.nomad import VERSIONS, NomadCluster, Request
from raftsim.web import Options, Simulation

RELEASES = ("0.5.6", "0.8.7", "1.2.13", "1.10.0", "1.10.1")


async def test_release_node_ids_are_the_seeds_and_survive_a_restart() -> None:
    """The `id` tag is the node-id file's UUID: the same for a seed, kept across a restart,
    different for another seed."""
    first = Simulation(Options(version="0.8.7", seed=3))
    again = Simulation(Options(version="0.8.7", seed=3))
    other = Simulation(Options(version="0.8.7", seed=4))

    def ids(sim: Simulation) -> list[str | None]:
        return [sim.nomad.info(n).tag("id") for n in sim.cluster.servers]  # type: ignore[union-attr]

    before = ids(first)
    assert before == ids(again) and before != ids(other)
    first.cluster.crash("bob")
    first.cluster.restart("bob")
    assert ids(first) == before
    assert first.nomad.node_id("bob") == before[1]


@pytest.mark.parametrize(
    ("release", "refused"),
    [
        ("0.5.6", "getsockopt: connection refused"),  # Go 1.7/1.8
        ("0.8.7", "getsockopt: connection refused"),  # Go 1.10
        ("1.2.13", "connect: connection refused"),  # Go 1.19: the wording changed in 1.11
        ("1.10.0", "connect: connection refused"),  # Go 1.24
    ],
)
def test_release_dial_error_is_its_gos(release: str, refused: str) -> None:
    """spec §1 "Forwarding prefix": a follower that cannot reach the leader answers
    `rpc error: <dial error>`, worded by the Go the release was built with."""
    version = VERSIONS[release]
    cluster = Cluster(3, seed=1, profile=version.profile)
    nomad = NomadCluster(cluster, version)
    assert cluster.run_until(lambda c: c.leader() is not None, "30s")
    cluster.run_for("2s")
    leader = cluster.leader()
    assert leader is not None
    follower = next(n for n in cluster.servers if n != leader)
    cluster.crash(leader)
    answers: list[str] = []
    nomad.call(follower, Request("Status.Leader", "global"), lambda r, e: answers.append(str(e)))
    cluster.run_for("10ms")
    address = cluster.servers[leader].address
    assert answers == [f"rpc error: failed to get conn: dial tcp {address}: {refused}"]


def test_release_needs_its_raft_profile() -> None:
    """A release runs the Raft its hashicorp/raft revision gives: 0.8.7 on a plain P2
    cluster (Index 0) is refused, naming both."""
    with pytest.raises(
        ValueError, match=r"Nomad 0\.8\.7 runs Raft profile P2 as hashicorp/raft 077966d"
    ):
        NomadCluster(Cluster(3, profile=P2), VERSIONS["0.8.7"])
    NomadCluster(Cluster(3, profile=P2), VERSIONS["1.2.13"])


def elected(release: str) -> tuple[Cluster, NomadCluster, str]:
    """A cluster stopped at the instant its first leader is elected (its leader loop not
    yet run)."""
    version = VERSIONS[release]
    cluster = Cluster(3, seed=1, profile=version.profile)
    nomad = NomadCluster(cluster, version)
    assert cluster.run_until(lambda c: c.leader() is not None, "30s")
    leader = cluster.leader()
    assert leader is not None
    return cluster, nomad, leader


@pytest.mark.parametrize("release", RELEASES)
def test_release_new_leader_serves_once_established(release: str) -> None:
    """spec §3.1 step 4: a leader runs a request itself at once before 0.10; from 0.10
    (1.2.13) only once its leader loop's barrier has committed (setConsistentReadReady)."""
    cluster, nomad, leader = elected(release)
    start = cluster.now
    answers: list[tuple[int, str]] = []
    request = Request("Status.Leader", "global")
    nomad.call(leader, request, lambda r, e: answers.append((cluster.now, str(e))))
    cluster.run_for("1s")
    assert len(answers) == 1 and answers[0][1] == "None"
    if release not in ("0.5.6", "0.8.7"):
        assert answers[0][0] > start
        assert nomad.servers[leader].leader_loop.established  # type: ignore[union-attr]
    else:
        assert answers[0][0] == start


def test_release_leader_not_established_is_not_ready() -> None:
    """spec §3.1: a 1.2.13 leader that never establishes leadership (here its leader loop
    stops before its barrier, as after a failed establishLeadership) holds requests for
    RPCHoldTimeout, then answers `Not ready to serve consistent reads`; a follower
    forwarding to it gets the same text behind `rpc error: `."""
    cluster, nomad, leader = elected("1.2.13")
    assert cluster.run_until(lambda c: nomad.servers[leader].leader_loop is not None, "1ms")
    loop = nomad.servers[leader].leader_loop
    assert loop is not None and not loop.established
    loop.stop()
    follower = next(n for n in cluster.servers if n != leader)
    answers: dict[str, tuple[int, str]] = {}
    start = cluster.now
    for entry in (leader, follower):
        nomad.call(
            entry,
            Request("Operator.RaftGetConfiguration", "global"),
            lambda r, e, entry=entry: answers.setdefault(entry, (cluster.now - start, str(e))),
        )
    cluster.run_for("7s")
    assert cluster.leader() == leader
    assert answers[leader][1] == "Not ready to serve consistent reads"
    assert answers[follower][1] == "rpc error: Not ready to serve consistent reads"
    assert 5_000_000 <= answers[leader][0] < 5_400_000
    # A stale read needs no leader at all (§3.1 step 3).
    stale: list[str] = []
    nomad.call(
        leader, Request("Status.Peers", "global", stale=True), lambda r, e: stale.append(str(e))
    )
    assert stale == ["None"]
