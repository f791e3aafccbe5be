"""Autopilot on the leader (ring 1b, raftsim/nomad/autopilot_loop.py) and the protocol-3
reconcile (raftsim/nomad/leader.py), per release: spec nomad-api.md §3.2, §3.3, §3.5."""

from __future__ import annotations

from dataclasses import replace

import pytest

from raftsim import Cluster
from raftsim.core.timing import SECOND
from raftsim.core.types import Suffrage
from raftsim.nomad import NomadCluster
from raftsim.nomad.autopilot import AutopilotConfig
from raftsim.nomad.autopilot_loop import _adjudicate, _healthy, rfc3339
from raftsim.nomad.version import VERSIONS


def make(release: str, servers: int = 3, seed: int = 1) -> tuple[Cluster, NomadCluster]:
    version = VERSIONS[release]
    cluster = Cluster(servers, seed=seed, profile=version.profile, trace="state")
    nomad = NomadCluster(cluster, version)
    assert cluster.run_until(lambda c: c.leader() is not None, "30s")
    cluster.run_for("20s")  # autopilot has run longer than ServerStabilizationTime
    return cluster, nomad


def suffrages(cluster: Cluster, name: str) -> dict[str, Suffrage]:
    """The leader's latest configuration, by server name, of the server with that name."""
    leader = cluster.leader()
    assert leader is not None
    names = {s.id: n for n, s in cluster.servers.items()}
    return {names.get(s.id, s.id): s.suffrage for s in cluster.view(leader).latest.servers}


def follower(cluster: Cluster) -> str:
    return next(n for n in sorted(cluster.servers) if n != cluster.leader())


def logged(nomad: NomadCluster, text: str, server: str | None = None) -> list[int]:
    """When a log line with `text` was written (by `server` only, if given)."""
    return [t for t, who, line in nomad.lines if text in line and server in (None, who)]


# ------------------------------------------------------------------ §3.2 reconcile, §3.3 promotion


def test_reconcile_adds_a_joining_server_as_a_nonvoter_then_autopilot_promotes_it() -> None:
    """§3.2: under protocol 3 the leader adds a new server as a non-voter by its node ID;
    §3.3: autopilot promotes it once healthy for ServerStabilizationTime (10 s), not before:
    the promotion is the first 10 s pass at least 10 s after its first healthy refresh."""
    cluster, nomad = make("1.10.1")
    new = nomad.add_server()
    assert cluster.run_until(lambda c: new in suffrages(c, new), "5s")
    added = cluster.now
    assert suffrages(cluster, new)[new] is Suffrage.NONVOTER
    assert cluster.servers[new].id == nomad.node_id(new)  # its Raft ID is the node UUID
    cluster.run_for(9 * SECOND)
    assert suffrages(cluster, new)[new] is Suffrage.NONVOTER
    assert cluster.run_until(lambda c: suffrages(c, new)[new] is Suffrage.VOTER, "15s")
    assert 10 * SECOND <= cluster.now - added <= 23 * SECOND
    assert logged(nomad, f"Promoting server: id={nomad.node_id(new)}")


def test_promotion_is_withheld_while_the_leader_has_no_contact_with_the_nonvoter() -> None:
    """§3.3: a non-voter whose last contact with the leader exceeds LastContactThreshold is
    unhealthy and stays a non-voter; once contact is back it is promoted."""
    cluster, nomad = make("1.10.1")
    new = nomad.add_server()
    assert cluster.run_until(lambda c: new in suffrages(c, new), "5s")
    leader = cluster.leader()
    assert leader is not None
    cluster.cut(leader, new)  # the leader's messages no longer reach it: no replies
    cluster.run_for(60 * SECOND)
    assert suffrages(cluster, new)[new] is Suffrage.NONVOTER
    pilot = nomad.servers[leader].leader_loop
    assert pilot is not None and pilot.autopilot is not None
    assert pilot.autopilot.states[cluster.servers[new].id].healthy is False
    cluster.heal()
    assert cluster.run_until(lambda c: suffrages(c, new)[new] is Suffrage.VOTER, "25s")


@pytest.mark.parametrize(
    ("status", "contact", "term", "index", "healthy"),
    [
        pytest.param("alive", 200_000, 5, 100, True, id="healthy-at-the-thresholds"),
        pytest.param("leaving", 0, 5, 350, True, id="leaving-counts-as-alive"),
        pytest.param("failed", 0, 5, 350, False, id="serf-failed"),
        pytest.param("none", 0, 5, 350, False, id="not-in-serf"),
        pytest.param("alive", 200_001, 5, 350, False, id="contact-over-200ms"),
        pytest.param("alive", 0, 4, 350, False, id="other-term"),
        pytest.param("alive", 0, 5, 99, False, id="251-entries-behind"),
    ],
)
def test_health_rules(status: str, contact: int, term: int, index: int, healthy: bool) -> None:
    """§3.3: healthy = Serf alive, last contact ≤ 200 ms, the leader's term, ≤ 250 behind
    (the leader at term 5, index 350)."""
    assert _healthy(status, contact, term, index, 5, 350, AutopilotConfig()) is healthy


# ------------------------------------------------------------------ §3.3 cleanup, 1.10.x


def test_raft_autopilot_force_leaves_a_failed_voter_and_the_leader_removes_it() -> None:
    """§3.3 (1.4+): once Serf finds a crashed server failed, the next 10 s pass force-leaves
    it ((3 - 1)/2 = 1 voter may go) and the leave event removes it from Raft (§3.2)."""
    cluster, nomad = make("1.10.1")
    victim = follower(cluster)
    cluster.crash(victim)
    cluster.run_for(20 * SECOND)
    assert suffrages(cluster, victim)[victim] is Suffrage.VOTER  # Serf still suspects
    assert cluster.run_until(lambda c: victim not in suffrages(c, victim), "60s")
    leader = cluster.leader()
    [failed] = logged(nomad, f"EventMemberFailed: {victim}.global", leader)
    [attempt] = logged(
        nomad, f"Attempting removal of failed server node: id={nomad.node_id(victim)}"
    )
    assert 0 < attempt - failed <= 10 * SECOND
    cluster.run_for(SECOND)  # (latest holds the change at once; the log line is on commit)
    assert logged(nomad, f"removed raft peer {nomad.node_id(victim)}")


def test_raft_autopilot_keeps_min_quorum_voters() -> None:
    """§3.3: never so many removals that fewer than MinQuorum voters remain."""
    cluster, nomad = make("1.10.1")
    assert nomad.autopilot is not None
    nomad.autopilot = replace(nomad.autopilot, min_quorum=3)
    victim = follower(cluster)
    cluster.crash(victim)
    cluster.run_for(120 * SECOND)
    assert victim in suffrages(cluster, victim)
    assert not logged(nomad, "Attempting removal")


@pytest.mark.parametrize(
    ("voters", "failed", "min_quorum", "removed"),
    [
        pytest.param(3, 1, 0, 1, id="3-voters-1-failed"),
        pytest.param(3, 2, 0, 1, id="3-voters-2-failed-only-1"),
        pytest.param(5, 2, 0, 2, id="5-voters-2-failed"),
        pytest.param(5, 3, 0, 2, id="5-voters-3-failed-only-2"),
        pytest.param(5, 2, 4, 1, id="min-quorum-4-of-5"),
        pytest.param(3, 1, 3, 0, id="min-quorum-3-of-3"),
    ],
)
def test_adjudicate_removal_limits(voters: int, failed: int, min_quorum: int, removed: int) -> None:
    """§3.3 (1.4+): at most (potentialVoters - 1)/2 voters in one step, never below
    MinQuorum."""
    ids = [f"s{i}" for i in range(voters)]
    current = dict.fromkeys(ids, True)
    config = AutopilotConfig(min_quorum=min_quorum)
    chosen = _adjudicate(ids[:failed], current, set(ids), config)
    assert chosen == ids[:removed]


def test_adjudicate_removes_stale_nonvoters_without_a_budget() -> None:
    """§3.3: a stale non-voter (unknown to Serf, so no potential voter) always goes."""
    current = {"a": True, "b": True, "ghost": False}
    assert _adjudicate(["ghost"], current, {"a", "b"}, AutopilotConfig()) == ["ghost"]


# ------------------------------------------------------------------ §3.3 cleanup, 0.8-1.3


@pytest.mark.parametrize("release", ["0.8.7", "1.2.13"])
def test_consul_autopilot_removes_one_failed_server_of_five(release: str) -> None:
    """§3.3 (0.8-1.3): 1 failed < 5/2: force-left, then removed by the leader's reconcile."""
    cluster, nomad = make(release, servers=5)
    victim = follower(cluster)
    cluster.crash(victim)
    assert cluster.run_until(lambda c: victim not in suffrages(c, victim), "90s")
    assert logged(nomad, f'Attempting removal of failed server node "{victim}.global"')


@pytest.mark.parametrize(
    ("release", "servers", "crashed"),
    [("0.8.7", 3, 1), ("1.2.13", 3, 1), ("1.2.13", 5, 2)],
)
def test_consul_autopilot_acts_only_below_half_the_voters(
    release: str, servers: int, crashed: int
) -> None:
    """§3.3 (0.8-1.3): failed + stale must be < voters/2 (integer division): one failed of
    three (1 < 1) or two of five (2 < 2) stay voters. (Cleanup is off until Serf has found
    them all failed, so that one pass counts them together.)"""
    cluster, nomad = make(release, servers=servers)
    assert nomad.autopilot is not None
    defaults = nomad.autopilot
    nomad.autopilot = replace(defaults, cleanup_dead_servers=False)
    leader = cluster.leader()
    assert leader is not None
    victims = [n for n in sorted(cluster.servers) if n != leader][:crashed]
    for victim in victims:
        cluster.crash(victim)

    def all_failed(c: Cluster) -> bool:
        view = {m["name"]: m["status"] for m in nomad.serf_view(leader)}
        return all(view[f"{v}.global"] == "failed" for v in victims)

    assert cluster.run_until(all_failed, "90s")
    nomad.autopilot = defaults
    cluster.run_for(60 * SECOND)
    assert all(v in suffrages(cluster, v) for v in victims)
    assert logged(nomad, f"too many dead servers: {crashed}/{servers}", leader)
    assert not logged(nomad, "Attempting removal")


@pytest.mark.parametrize("release", ["0.8.7", "1.10.1"])
def test_cleanup_dead_servers_false_disables_it(release: str) -> None:
    """§3.3: with CleanupDeadServers false no pass removes anything."""
    cluster, nomad = make(release, servers=5)
    assert nomad.autopilot is not None
    nomad.autopilot = replace(nomad.autopilot, cleanup_dead_servers=False)
    victim = follower(cluster)
    cluster.crash(victim)
    cluster.run_for(120 * SECOND)
    assert victim in suffrages(cluster, victim)
    assert not logged(nomad, "Attempting removal")


def test_no_autopilot_on_0_5_6() -> None:
    """Nomad 0.5.6 has no autopilot: a failed server of five stays a voter (§3.2)."""
    cluster, nomad = make("0.5.6", servers=5)
    victim = follower(cluster)
    cluster.crash(victim)
    cluster.run_for(120 * SECOND)
    assert victim in suffrages(cluster, victim)
    assert all(
        loop.leader_loop is None or loop.leader_loop.autopilot is None
        for loop in nomad.servers.values()
    )


# ------------------------------------------------------------------ §2.5 StableSince


@pytest.mark.parametrize(
    ("us", "text"),
    [
        (0, "2025-01-01T00:00:00Z"),
        (499_999, "2025-01-01T00:00:00Z"),
        (500_000, "2025-01-01T00:00:01Z"),
        (86_400 * SECOND * 59 + 3_661 * SECOND, "2025-03-01T01:01:01Z"),
        (86_400 * SECOND * (365 * 3 + 31 + 28), "2028-02-29T00:00:00Z"),
    ],
)
def test_stable_since_is_utc_from_the_2025_epoch_rounded_to_the_second(us: int, text: str) -> None:
    """§2.5: StableSince is UTC rounded to the second; virtual time 0 is 2025-01-01."""
    assert rfc3339(us) == text
