"""Leadership transfer (raftsim/core/transfer.py): raft-semantics §3.9 as hashicorp/raft
v1.7.3 does it (LeadershipTransfer, LeadershipTransferToServer, TimeoutNow), P3 only; the
vote rule it changes is §3.5 step 2. Each test drives a cluster by hand."""

from __future__ import annotations

import pytest

from raftsim import Cluster
from raftsim.core.errors import NotLeaderError
from raftsim.core.messages import RequestVote, TimeoutNow
from raftsim.core.profile import P1, P2, P3, Profile
from raftsim.core.transfer import IN_PROGRESS, UNSUPPORTED, TransferError
from raftsim.core.types import Role


def led(profile: Profile = P3, servers: int = 3, seed: int = 1) -> tuple[Cluster, str]:
    cluster = Cluster(servers, seed=seed, profile=profile, trace="all")
    assert cluster.run_until(lambda c: c.leader() is not None, "10s")
    cluster.run_for("1s")
    leader = cluster.leader()
    assert leader is not None
    return cluster, leader


def others(cluster: Cluster, leader: str) -> list[str]:
    return [name for name in cluster.servers if name != leader]


def test_transfer_hands_leadership_to_the_named_voter() -> None:
    """§3.9: the target campaigns at once on TimeoutNow, in the next term, and wins; the
    old leader steps down (its future then resolves, without an error)."""
    cluster, leader = led()
    target = others(cluster, leader)[1]
    term = cluster.view(leader).term
    future = cluster.transfer_leadership(target)
    assert cluster.run_until(lambda c: c.leader() == target, "2s")
    assert future.done and future.error is None
    assert cluster.view(target).term == term + 1
    assert cluster.view(leader).role == Role.FOLLOWER
    sent = [line for line in cluster.trace_lines() if "TimeoutNow term=" in line]
    assert sent and f"-> {target} TimeoutNow term={term}" in sent[0]
    assert cluster.violations == []


def test_transfer_refuses_entries_and_changes_while_it_runs() -> None:
    """§3.9: "The leader refuses new entries during the transfer" (hashicorp's
    ErrLeadershipTransferInProgress), and a second transfer too."""
    cluster, leader = led()
    target = others(cluster, leader)[0]
    cluster.transfer_leadership(target)
    for attempt in (lambda: cluster.propose("job"), lambda: cluster.remove_server(target)):
        with pytest.raises(TransferError, match=f"^{IN_PROGRESS}$"):
            attempt()
    assert str(cluster.transfer_leadership(target).error) == IN_PROGRESS


def test_transfer_brings_a_lagging_target_up_to_date_first() -> None:
    """§3.9 "brings it up to date, then sends TimeoutNow": a target that missed entries
    gets them before it is told to campaign, so it can win (Election Restriction)."""
    cluster, leader = led()
    target = others(cluster, leader)[0]
    cluster.pause(target)
    for i in range(5):
        cluster.propose(f"job-{i}")
    cluster.run_for("200ms")
    cluster.resume(target)
    last = cluster.view(leader).last_index
    assert cluster.view(target).last_index < last
    future = cluster.transfer_leadership(target)
    assert cluster.run_until(lambda c: future.done, "2s")
    assert future.error is None and cluster.leader() in (target, None)
    assert cluster.run_until(lambda c: c.leader() == target, "2s")
    lines = cluster.trace_lines()
    timeout_now = next(i for i, line in enumerate(lines) if "TimeoutNow term=" in line)
    caught_up = [
        i
        for i, line in enumerate(lines)
        if line.split()[1:3] == [target, "send"] and f"AppendResponse term=2 ok last={last}" in line
    ]
    assert caught_up and caught_up[0] < timeout_now


def test_transfer_picks_the_voter_whose_replication_is_furthest() -> None:
    """pickServer: without a target, the voter with the highest nextIndex."""
    cluster, leader = led(servers=5, seed=2)
    behind = others(cluster, leader)[:3]
    for name in behind:
        cluster.pause(name)
    cluster.propose("job")
    cluster.run_for("300ms")
    for name in behind:
        cluster.resume(name)
    ahead = others(cluster, leader)[3]
    future = cluster.transfer_leadership()
    assert cluster.run_until(lambda c: future.done, "3s") and future.error is None
    assert cluster.run_until(lambda c: c.leader() is not None, "3s")
    assert cluster.leader() == ahead


def test_transfer_times_out_and_the_leader_takes_entries_again() -> None:
    """A target that cannot be brought up to date (cut off): after ElectionTimeout the
    future fails with `leadership transfer timeout`, and the leader leads on, taking
    entries again."""
    cluster, leader = led(servers=5)
    target = others(cluster, leader)[0]
    cluster.propose("job")
    cluster.isolate(target)
    future = cluster.transfer_leadership(target)
    assert cluster.run_until(lambda c: future.done, "3s")
    assert str(future.error) == "leadership transfer timeout"
    assert cluster.leader() == leader
    cluster.propose("after")  # no longer refused


def test_transfer_to_a_crashed_target_fails_its_timeout_now() -> None:
    """TimeoutNow refused by a crashed target: the future fails with hashicorp's
    `failed to make TimeoutNow RPC to <id>: <error>`, and the leader leads on."""
    cluster, leader = led()
    target = others(cluster, leader)[0]
    cluster.crash(target)
    future = cluster.transfer_leadership(target)
    assert cluster.run_until(lambda c: future.done, "2s")
    target_id = cluster.servers[target].id
    assert str(future.error) == f"failed to make TimeoutNow RPC to {target_id}: connection refused"
    assert cluster.leader() == leader


@pytest.mark.parametrize("profile", [P1, P2], ids=["P1", "P2"])
def test_transfer_needs_protocol_3(profile: Profile) -> None:
    """hashicorp/raft: ErrUnsupportedProtocol before protocol 3."""
    cluster, leader = led(profile)
    with pytest.raises(TransferError, match=f"^{UNSUPPORTED}$"):
        cluster.transfer_leadership(others(cluster, leader)[0])


def test_transfer_refusals_of_its_own() -> None:
    """To itself (`cannot transfer leadership to itself`), asked of a follower
    (ErrNotLeader)."""
    cluster, leader = led()
    future = cluster.transfer_leadership(leader)
    assert str(future.error) == "cannot transfer leadership to itself"
    with pytest.raises(NotLeaderError):
        cluster.transfer_leadership(leader, via=others(cluster, leader)[0])


def test_vote_stickiness_is_waived_for_a_transfer_only() -> None:
    """§3.5 step 2: a voter that knows a leader refuses a candidate, term untouched,
    unless the request carries the transfer flag (then it adopts the term and grants)."""
    cluster, leader = led()
    voter = others(cluster, leader)[0]
    candidate = cluster.servers[others(cluster, leader)[1]]
    node = cluster.servers[voter].node
    assert node is not None and node.leader_id == cluster.servers[leader].id
    term = node.storage.current_term
    last, last_term = node.storage.last_index, node.storage.last_term
    for transfer, granted in ((False, False), (True, True)):
        node.messages.clear()
        node.step(
            RequestVote(candidate.id, node.id, 1, term + 1, last, last_term, transfer),
            cluster.now,
        )
        reply = node.messages[-1]
        assert reply.granted is granted  # type: ignore[union-attr]
        assert node.storage.current_term == (term + 1 if transfer else term)


def test_timeout_now_makes_a_follower_campaign_at_once() -> None:
    """hashicorp `timeoutNow`: forget the leader, become candidate (next term), and send
    RequestVote with the transfer flag to the other voters."""
    cluster, leader = led()
    follower = cluster.servers[others(cluster, leader)[0]]
    node = follower.node
    assert node is not None
    term = node.storage.current_term
    node.messages.clear()
    node.step(TimeoutNow(cluster.servers[leader].id, node.id, 7, term), cluster.now)
    assert node.role is Role.CANDIDATE and node.storage.current_term == term + 1
    assert node.leader_id == ""
    votes = [m for m in node.messages if isinstance(m, RequestVote)]
    assert len(votes) == 2 and all(m.transfer for m in votes)
