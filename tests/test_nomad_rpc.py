"""RPC routing of a Nomad 0.5.6 server (ring 1b, raftsim/nomad/agent.py): stale reads run
locally, the rest goes to the leader over the simulated network, and with no usable leader
the request is held for RPCHoldTimeout (spec nomad-api.md §3.1, §1 "Forwarding prefix")."""

from __future__ import annotations

from raftsim import Cluster
from raftsim.core.errors import RaftsimError
from raftsim.core.timing import SECOND
from raftsim.nomad import Kind, NomadCluster, NomadError, Request, ServerGoneError
from raftsim.nomad.endpoints import JSON

Answer = tuple[int, JSON, RaftsimError | None]


def make(seed: int = 1) -> tuple[Cluster, NomadCluster, str, list[str]]:
    cluster = Cluster(3, seed=seed, trace="state")
    nomad = NomadCluster(cluster)
    assert cluster.run_until(lambda c: c.leader() is not None, "30s")
    cluster.run_for("2s")
    leader = cluster.leader()
    assert leader is not None
    return cluster, nomad, leader, [n for n in cluster.servers if n != leader]


def ask(nomad: NomadCluster, entry: str, request: Request) -> list[Answer]:
    """Send a request; the returned list fills with (time, result, error) when answered."""
    answers: list[Answer] = []
    now = nomad.cluster.sched
    nomad.call(entry, request, lambda r, e: answers.append((now.now, r, e)))
    return answers


def config(stale: bool = False) -> Request:
    return Request("Operator.RaftGetConfiguration", "global", stale=stale)


def leaderless(cluster: Cluster) -> None:
    """Every server alone: no election can succeed, every follower forgets its leader."""
    cluster.partition(*[[n] for n in cluster.servers])
    assert cluster.run_until(lambda c: all(v.leader == "" for v in c.views()), "10s")


def test_rpc_stale_read_answers_locally_at_once() -> None:
    """spec §3.1 step 3: a stale read runs on the receiving server, in no virtual time."""
    cluster, nomad, _leader, (follower, _) = make()
    leaderless(cluster)
    start = cluster.now
    answers = ask(nomad, follower, config(stale=True))
    assert len(answers) == 1
    when, result, error = answers[0]
    assert when == start and error is None
    assert isinstance(result, dict)
    assert [s["Leader"] for s in result["Servers"]] == [False, False, False]


def test_rpc_follower_forwards_to_the_leader() -> None:
    """spec §3.1 step 4: a follower forwards over the network; the leader's view comes back."""
    cluster, nomad, leader, (follower, _) = make()
    answers = ask(nomad, follower, Request("Status.Leader", "global"))
    assert answers == []
    cluster.run_for("10ms")
    assert [a[1:] for a in answers] == [(cluster.servers[leader].address, None)]


def test_rpc_without_leader_fails_after_the_hold() -> None:
    """spec §3.1: re-checked with jitter until RPCHoldTimeout (5 s), then `No cluster leader`."""
    cluster, nomad, _leader, (follower, _) = make()
    leaderless(cluster)
    start = cluster.now
    answers = ask(nomad, follower, Request("Status.Peers", "global"))
    cluster.run_for("6s")
    assert len(answers) == 1
    when, _result, error = answers[0]
    assert isinstance(error, NomadError) and error.text == "No cluster leader"
    assert error.kind is Kind.INTERNAL
    assert 5 * SECOND <= when - start < 5 * SECOND + 5 * SECOND // 16


def test_rpc_write_ignores_stale_and_needs_a_leader() -> None:
    """spec §2.2: removal always needs a leader (stale is ignored on writes)."""
    cluster, nomad, _leader, (follower, _) = make()
    leaderless(cluster)
    request = Request("Operator.RaftRemovePeerByAddress", "global", stale=True, address="x")
    answers = ask(nomad, follower, request)
    cluster.run_for("6s")
    assert [str(a[2]) for a in answers] == ["No cluster leader"]


def test_rpc_leader_error_through_a_follower_gets_the_prefix() -> None:
    """spec §1: the leader answers bare; through a follower the text gains `rpc error: `."""
    cluster, nomad, leader, (follower, _) = make()
    request = Request("Operator.RaftRemovePeerByAddress", "global", address="10.0.0.9:4647")
    direct = ask(nomad, leader, request)
    forwarded = ask(nomad, follower, request)
    cluster.run_for("10ms")
    text = 'address "10.0.0.9:4647" was not found in the Raft configuration'
    assert [str(a[2]) for a in direct] == [text]
    assert [str(a[2]) for a in forwarded] == ["rpc error: " + text]


def test_rpc_unknown_region_has_no_path() -> None:
    """spec §3.1 step 2: a region with no known servers → `No path to region`, at once."""
    _cluster, nomad, _leader, (follower, _) = make()
    answers = ask(nomad, follower, Request("Status.Leader", "europe", stale=True))
    assert [str(a[2]) for a in answers] == ["No path to region"]


def test_rpc_removal_through_a_follower_commits_before_the_answer() -> None:
    """spec §2.2 step 4: success is an empty answer once the change is committed."""
    cluster, nomad, leader, (follower, other) = make()
    address = cluster.servers[other].address
    answers = ask(
        nomad, follower, Request("Operator.RaftRemovePeerByAddress", "global", address=address)
    )
    cluster.run_for("50ms")
    assert [a[1:] for a in answers] == [(None, None)]
    assert address not in [s.address for s in cluster.view(leader).committed.servers]


def test_rpc_entry_server_crash_closes_the_request() -> None:
    """A request held by a server that crashes gets no answer: its connection closes."""
    cluster, nomad, _leader, (follower, _) = make()
    leaderless(cluster)
    answers = ask(nomad, follower, Request("Status.Leader", "global"))
    cluster.run_for("1s")
    cluster.crash(follower)
    assert len(answers) == 1 and isinstance(answers[0][2], ServerGoneError)


def test_rpc_leader_crash_with_a_forward_in_flight_gives_eof() -> None:
    """A leader that dies with a forwarded call in flight: `rpc error: EOF`."""
    cluster, nomad, leader, (follower, _) = make()
    answers = ask(nomad, follower, Request("Status.Leader", "global"))
    cluster.crash(leader)
    cluster.run_for("10ms")
    assert [str(a[2]) for a in answers] == ["rpc error: EOF"]


def test_rpc_forward_to_a_crashed_leader_gives_a_dial_error() -> None:
    """A follower that still believes in a crashed leader cannot connect to it."""
    cluster, nomad, leader, (follower, _) = make()
    cluster.crash(leader)
    answers = ask(nomad, follower, Request("Status.Leader", "global"))
    cluster.run_for("10ms")
    address = cluster.servers[leader].address
    expected = f"rpc error: failed to get conn: dial tcp {address}: getsockopt: connection refused"
    assert [str(a[2]) for a in answers] == [expected]


def test_rpc_paused_server_answers_when_resumed() -> None:
    """A frozen process takes the request only once it runs again."""
    cluster, nomad, _leader, (follower, _) = make()
    cluster.pause(follower)
    answers = ask(nomad, follower, config(stale=True))
    cluster.run_for("1s")
    assert answers == []
    cluster.resume(follower)
    cluster.run_for("1ms")
    assert len(answers) == 1 and answers[0][2] is None
