"""Two known, faithful non-convergences of protocol 3 (ring 2), hashicorp/raft's own
(docs/campaigns.md), each recognised by a precise rule: the stale-voter deadlock (since
v1.3.7) and the self-removal deadlock (since v1.3.3). Both leave a cluster with no leader for good,
because a rule of Raft's, not a lack of running servers or of up-to-date logs, stops every
election; logs and configurations change only through a leader, so the state is permanent
until an operator acts (peers.json).

The stale-voter deadlock (v1.3.7+).

A voter comes back with a log older than the configuration that added another voter. The
vote membership check of raft-semantics §2.9 (§3.5 steps 1 and 5; the pre-vote handler of
§3.6 has the same checks) makes it refuse that voter's requests outright, and its own log is
too short for anyone to vote for it (§3.5 step 7). When that leaves no server able to
collect a quorum, no leader is ever elected again.

`stale_voter_deadlock` says so of a cluster with no leader when both hold, judged with the
rules a voter applies (leader stickiness does not apply without a leader; a vote already
cast lasts one term only, so it is not counted):

1. no running server that would campaign (a voter of its own latest configuration) can
   collect a quorum of its configuration's voters;
2. one of them could, were the membership checks not made: they, not a lack of running
   servers or of up-to-date logs, are what stops every election.

The self-removal deadlock (v1.3.3+). A leader appends a configuration that takes away its
own vote (its removal or demotion) and is deposed before the entry commits, the only server
holding it; since v1.3.3 a follower campaigns only when it is a voter of its latest
configuration (raft-semantics §2.8), so it never does, and its log, longer than everyone
else's, makes it refuse every candidate that needs its vote (§3.5 step 7).
`self_removal_deadlock` says so when rule 1 holds, and a running server that holds such an
uncommitted configuration could collect a quorum of its voters were it to campaign, as it
would have before v1.3.3.
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


def _running(cluster: Cluster) -> list[SimServer]:
    return [s for s in cluster.servers.values() if s.status == UP and s.node is not None]


def _can_win(cluster: Cluster, server: SimServer, membership_checks: bool) -> bool:
    node = server.node
    assert node is not None
    return _votes(cluster, server, membership_checks) >= node.latest.quorum()


def _nobody_can_win(cluster: Cluster) -> bool:
    """Rule 1: no leader, and no running server that would campaign (a voter of its own
    latest configuration) can collect a quorum of its configuration's voters."""
    if cluster.leader() is not None:
        return False
    checks = cluster.profile.vote_membership_checks
    return not any(
        _can_win(cluster, s, checks)
        for s in _running(cluster)
        if s.node is not None and s.node.latest.has_vote(s.id)
    )


def stale_voter_deadlock(cluster: Cluster) -> bool:
    """Whether this leaderless cluster is in the stale-voter deadlock (module docstring)."""
    if not cluster.profile.vote_membership_checks or not _nobody_can_win(cluster):
        return False
    return any(
        _can_win(cluster, s, False)
        for s in _running(cluster)
        if s.node is not None and s.node.latest.has_vote(s.id)
    )


def self_removal_deadlock(cluster: Cluster) -> bool:
    """Whether this leaderless cluster is in the self-removal deadlock (module docstring)."""
    if cluster.profile.removed_follower_campaigns or not _nobody_can_win(cluster):
        return False
    checks = cluster.profile.vote_membership_checks
    return any(
        _can_win(cluster, s, checks)
        for s in _running(cluster)
        if s.node is not None
        and not s.node.latest.has_vote(s.id)
        and s.node.latest_index != s.node.committed_index
    )


def known_deadlock(cluster: Cluster) -> str:
    """Which known deadlock this cluster is in ("" for none)."""
    if stale_voter_deadlock(cluster):
        return "stale-voter deadlock"
    if self_removal_deadlock(cluster):
        return "self-removal deadlock"
    return ""
