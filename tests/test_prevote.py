"""Pre-vote (raftsim/core/prevote.py): raft-semantics §3.6 as hashicorp/raft v1.7.3 does it,
profile P4 (Nomad 1.9 and later). The handler's refusals one by one on a node driven by
hand, then what pre-vote is for: a cut-off server that no longer raises its term."""

from __future__ import annotations

import pytest

from raftsim import Cluster
from raftsim.core.messages import PreVoteResponse, RequestPreVote
from raftsim.core.profile import P3, P4, Profile
from raftsim.core.types import Role


def led(profile: Profile = P4, seed: int = 1) -> tuple[Cluster, str]:
    cluster = Cluster(3, seed=seed, profile=profile, trace="all")
    assert cluster.run_until(lambda c: c.leader() is not None, "10s")
    cluster.run_for("1s")
    leader = cluster.leader()
    assert leader is not None
    return cluster, leader


def ask(cluster: Cluster, voter: str, candidate: str, term_delta: int = 1, **log: int) -> bool:
    """Hand `voter` a RequestPreVote from `candidate`; whether it was granted. Asserts the
    handler changed nothing on the voter (§3.6: nothing persisted, term not adopted,
    contact not refreshed)."""
    node = cluster.servers[voter].node
    assert node is not None
    storage = node.storage
    before = (storage.current_term, storage.vote_term, storage.vote_for, node.last_contact)
    request = RequestPreVote(
        cluster.servers[candidate].id,
        node.id,
        99,
        storage.current_term + term_delta,
        log.get("last_index", storage.last_index),
        log.get("last_term", storage.last_term),
    )
    node.messages.clear()
    node.step(request, cluster.now)
    after = (storage.current_term, storage.vote_term, storage.vote_for, node.last_contact)
    assert before == after
    [reply] = node.messages
    assert isinstance(reply, PreVoteResponse) and reply.term == storage.current_term
    return reply.granted


def test_prevote_refused_while_a_leader_is_known() -> None:
    """§3.6: refuse if a leader other than the candidate is known (a leader knows itself)."""
    cluster, leader = led()
    follower, other = [n for n in cluster.servers if n != leader]
    assert not ask(cluster, follower, other)
    assert not ask(cluster, leader, other)


def test_prevote_rules_without_a_leader() -> None:
    """§3.6, with no leader known: an older term or a shorter log is refused, a higher term
    is granted without being adopted, a candidate outside the configuration is refused."""
    cluster, leader = led()
    follower, other = [n for n in cluster.servers if n != leader]
    node = cluster.servers[follower].node
    assert node is not None
    node.set_leader("", "")
    assert ask(cluster, follower, other)
    assert ask(cluster, follower, other, term_delta=5)  # granted; the term is not taken
    assert not ask(cluster, follower, other, term_delta=-1)
    last = node.storage.last_index
    assert not ask(cluster, follower, other, last_index=last - 1)
    assert not ask(cluster, follower, other, last_term=0)
    stranger = cluster.add_server()
    assert not ask(cluster, follower, stranger)


def test_prevote_does_not_consult_earlier_votes() -> None:
    """§3.6: a voter that already voted in the proposed term still grants a pre-vote."""
    cluster, leader = led()
    follower, other = [n for n in cluster.servers if n != leader]
    node = cluster.servers[follower].node
    assert node is not None
    node.set_leader("", "")
    node.storage.vote_term, node.storage.vote_for = node.storage.current_term + 1, node.id
    assert ask(cluster, follower, other)


def test_prevote_round_then_election() -> None:
    """§3.6: a candidate that wins a quorum of pre-votes raises its term then and holds the
    real election (RequestVote in term + 1); before that its term does not move."""
    cluster = Cluster(3, seed=1, profile=P4, trace="all")
    assert cluster.run_until(lambda c: c.leader() is not None, "10s")
    lines = cluster.trace_lines()
    first_prevote = next(i for i, line in enumerate(lines) if "RequestPreVote term=2" in line)
    first_term = next(i for i, line in enumerate(lines) if " term      2" in line)
    first_vote = next(i for i, line in enumerate(lines) if "RequestVote term=2" in line)
    assert first_prevote < first_term < first_vote
    assert "role      Candidate term=1" in lines[first_prevote - 2]
    assert "pre-vote  term=2 (own term unchanged)" in lines[first_prevote - 1]


@pytest.mark.parametrize(("profile", "disrupts"), [(P3, True), (P4, False)], ids=["P3", "P4"])
def test_prevote_stops_a_cut_off_server_from_deposing_the_leader(
    profile: Profile, disrupts: bool
) -> None:
    """What pre-vote is for (§3.6, raft-semantics §3.7 on rejoining servers): cut off for
    20 s, a follower without pre-vote raises its term round after round and deposes the
    leader when it comes back; with pre-vote its term stays and the leader stays."""
    cluster, leader = led(profile)
    follower = next(n for n in cluster.servers if n != leader)
    term = cluster.view(leader).term
    cluster.isolate(follower)
    cluster.run_for("20s")
    assert (cluster.view(follower).term > term) is disrupts
    if not disrupts:
        assert cluster.view(follower).role == Role.CANDIDATE
    cluster.heal()
    cluster.run_for("5s")
    assert (cluster.leader() == leader and cluster.view(leader).term == term) is not disrupts
    assert cluster.violations == []


def test_transfer_skips_prevote() -> None:
    """§3.6: "Candidates created by leadership transfer skip pre-vote": the target's first
    request is a RequestVote with the transfer flag, no RequestPreVote."""
    cluster, leader = led()
    target = next(n for n in cluster.servers if n != leader)
    start = len(cluster.records)
    future = cluster.transfer_leadership(target)
    assert cluster.run_until(lambda c: future.done, "2s") and future.error is None
    sent = [line for line in cluster.trace_lines(start) if f" {target} " in line and "send" in line]
    assert not any("RequestPreVote" in line for line in sent)
    assert any("RequestVote" in line and "transfer" in line for line in sent)


def test_a_late_prevote_reply_reaches_a_leader_and_is_dropped() -> None:
    """A pre-vote round won, the election won: a pre-vote reply still on its way reaches
    the leader, which drops it (found by `raftsim check --profile P4`, seed 959, as a
    simulator crash before this was handled)."""
    cluster, leader = led()
    node = cluster.servers[leader].node
    assert node is not None and node.role is Role.LEADER
    other = next(n for n in cluster.servers if n != leader)
    late = PreVoteResponse(cluster.servers[other].id, node.id, 12345, 1, True)
    node.step(late, cluster.now)
    assert node.role is Role.LEADER
