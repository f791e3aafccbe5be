"""The stale-voter deadlock of protocol 3 (ring 2), a known, faithful non-convergence of
hashicorp/raft v1.3.7 and later (docs/campaigns.md), recognised by a precise rule.

A voter comes back with a log older than the configuration that added another voter. The
vote membership check of raft-semantics §2.9 (§3.5 steps 1 and 5; the pre-vote handler of
§3.6 has the same checks) makes it refuse that voter's requests outright, and its own log is
too short for anyone to vote for it (§3.5 step 7). When that leaves no server able to
collect a quorum, no leader is ever elected again: logs and configurations change only
through a leader, so the state is permanent until an operator acts (peers.json).

`stale_voter_deadlock` says so of a cluster with no leader when both hold, judged with the
rules a voter applies (leader stickiness does not apply without a leader; a vote already
cast lasts one term only, so it is not counted):

1. no running server that would campaign (a voter of its own latest configuration) can
   collect a quorum of its configuration's voters;
2. one of them could, were the membership checks not made: they, not a lack of running
   servers or of up-to-date logs, are what stops every election.
"""

from __future__ import annotations

from ..core.storage import Storage
from ..sim.cluster import UP, Cluster, SimServer


def _ahead(a: Storage, b: Storage) -> bool:
    """Is a's log more up to date than b's (§3.5 step 7)?"""
    return a.last_term > b.last_term or (a.last_term == b.last_term and a.last_index > b.last_index)


def _votes(cluster: Cluster, candidate: SimServer, membership_checks: bool) -> int:
    """The votes `candidate` would get from the running voters of its latest configuration,
    its own included."""
    node = candidate.node
    assert node is not None
    granted = 0
    for voter_id in node.latest.voters():
        voter = cluster.server_by_id(voter_id)
        if voter is None or voter.status != UP or voter.node is None:
            continue
        if voter is candidate:
            granted += 1
            continue
        theirs = voter.node.latest
        if membership_checks and theirs.servers and not theirs.has_vote(candidate.id):
            continue  # §3.5 steps 1 and 5: not a voter of the voter's own latest configuration
        if _ahead(voter.storage, candidate.storage):
            continue  # §3.5 step 7
        granted += 1
    return granted


def stale_voter_deadlock(cluster: Cluster) -> bool:
    """Whether this leaderless cluster is in the stale-voter deadlock (module docstring)."""
    if not cluster.profile.vote_membership_checks or cluster.leader() is not None:
        return False
    candidates = [
        s
        for s in cluster.servers.values()
        if s.status == UP and s.node is not None and s.node.latest.has_vote(s.id)
    ]
    quorum = {s.name: s.node.latest.quorum() for s in candidates if s.node is not None}
    if any(_votes(cluster, s, True) >= quorum[s.name] for s in candidates):
        return False
    return any(_votes(cluster, s, False) >= quorum[s.name] for s in candidates)
