"""Elections (ring 0): when a follower campaigns (§3.3), the candidate's election (§3.4) and
the vote every role answers (§3.5), after hashicorp/raft's `runFollower` heartbeat timer,
`electSelf`, `runCandidate` and `requestVote`.

A follower whose polled timer finds no contact for a whole heartbeat timeout forgets its
leader and, if it may campaign, starts one: a pre-vote round first under P4 (prevote.py),
the election itself otherwise. The candidate raises its term, votes for itself if it is a
voter of its latest configuration, asks the other voters, and leads once a quorum granted;
its election timer starts the next round if none did. These are functions of the node:
`RaftNode` keeps `become_candidate`, `arm_election_timer` and `step_candidate` (the
candidate's step function, which `set_role` binds) as its own methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import prevote
from .errors import UnhandledMessageError
from .events import VoteGranted
from .faults import Fault
from .messages import (
    REPLIES,
    AppendEntries,
    Message,
    PreVoteResponse,
    RequestVote,
    RpcFailure,
    VoteResponse,
)
from .timing import TimerModel
from .types import Role

if TYPE_CHECKING:
    from .node import RaftNode

# Timer names (node.py lists every timer).
FOLLOWER = "follower"  # §3.3 polled heartbeat timer (hashicorp) / election timer (paper)
CANDIDATE = "candidate"  # §3.4 election timer


def on_follower_timer(node: RaftNode, now: int) -> None:
    """The follower's timer fired: campaign, if no leader was heard from and it may."""
    # hashicorp (§3.3): re-armed at every firing, never by messages, and acts only when
    # there was no contact for HT. Paper: every firing is a timeout, and messages re-arm.
    node.arm_follower_timer(now)
    if (
        node.timing.model is TimerModel.HASHICORP
        and now - node.last_contact < node.timing.heartbeat_timeout
    ):
        return
    node.set_leader("", "")
    if node.latest_index == 0:
        return  # "no known peers, aborting election"
    has_vote = node.latest.has_vote(node.id)
    if node.latest_index == node.committed_index and not has_vote:
        return  # "not part of stable configuration, aborting election"
    if not has_vote and not node.profile.removed_follower_campaigns:
        return  # v1.3.3+: only voters of latest campaign
    prevote.campaign(node, now)


def become_candidate(node: RaftNode, now: int, by_transfer: bool = False) -> None:
    """§3.4: new term, own vote if a voter of latest, RequestVote to the other voters
    (with the transfer flag when a leader's TimeoutNow made this candidacy, §3.9)."""
    term = node.storage.current_term + 1
    node.set_term(term)
    node.set_role(Role.CANDIDATE, now)
    node.disarm(FOLLOWER)
    node.pre_vote = None
    node.transfer_candidacy = by_transfer
    node.vote_rpcs.clear()
    faults = node.faults
    if Fault.VOTES_NOT_RESET not in faults:
        node.votes_granted = 0
    storage = node.storage
    asked = node.latest.ids() if Fault.VOTES_FROM_NONVOTERS in faults else node.latest.voters()
    for server_id in asked:
        if server_id == node.id:
            storage.vote_term, storage.vote_for = term, node.id
            node.events.append(VoteGranted(node.now, node.name, term, node.id))
            node.votes_granted += 1
        else:
            rpc = node.new_rpc()
            node.vote_rpcs.add(rpc)
            node.messages.append(
                RequestVote(
                    node.id,
                    server_id,
                    rpc,
                    term,
                    storage.last_index,
                    storage.last_term,
                    by_transfer,
                )
            )
    node.arm_election_timer(now)
    if node.votes_granted >= node.latest.quorum():
        node.set_role(Role.LEADER, now)


def arm_election_timer(node: RaftNode, now: int) -> None:
    """§3.4: U[ET, 2ET) until this candidacy (or pre-vote round) starts over."""
    if Fault.CANDIDATE_NO_TIMEOUT not in node.faults:
        node.arm(CANDIDATE, "", node.random_timeout(node.timing.election_timeout), now)


def step_candidate(node: RaftNode, msg: Message, now: int) -> None:
    """A candidate's messages: the votes of its election (§3.4), and AppendEntries from
    the leader its term elected, which makes it a follower. A failed vote RPC counts as
    a refusal: nothing to do."""
    if type(msg) is VoteResponse:
        if msg.rpc not in node.vote_rpcs:
            return  # a reply to an earlier election's request: its term is not read
        node.vote_rpcs.discard(msg.rpc)
        if msg.term > node.storage.current_term:
            node.step_down(msg.term, now)
            return
        if msg.granted:
            node.votes_granted += 1
            if node.votes_granted >= node.latest.quorum():
                node.set_role(Role.LEADER, now)
    elif type(msg) is PreVoteResponse or (type(msg) is RpcFailure and node.pre_vote):
        prevote.on_reply(node, msg, now)  # (a late one, of an earlier round: dropped)
    elif type(msg) is AppendEntries:
        # Of the candidate's own term (`step` handled the others): hashicorp's
        # appendEntries turns any non-follower into a follower, then goes on as one.
        node.set_role(Role.FOLLOWER, now)
        node.step_follower(msg, now)
    elif type(msg) not in REPLIES:
        # Dropped: an AppendResponse answers a call of the candidate's time as leader
        # (deposed, then campaigning); an RpcFailure is a refused vote or such a call.
        raise UnhandledMessageError(msg, node.role)


def on_request_vote(node: RaftNode, req: RequestVote, now: int) -> None:
    """§3.5, in hashicorp's order; P1 lacks the membership steps 1 and 5."""
    storage = node.storage
    resp = VoteResponse(node.id, req.src, req.rpc, storage.current_term, False)
    node.messages.append(resp)
    checks = node.profile.vote_membership_checks
    if checks and node.latest.servers and node.latest.find(req.src) is None:
        return  # step 1: unknown candidate, term untouched
    sticky = node.timing.model is TimerModel.HASHICORP
    if sticky and node.leader_id and node.leader_id != req.src and not req.transfer:
        # Step 2: leader stickiness, term untouched. hashicorp's rule; the paper's Fig. 2
        # has none, and with it no first round after a crash could succeed (Figure 16).
        return
    if req.term < storage.current_term and Fault.VOTE_STALE_TERM not in node.faults:
        return
    if req.term > storage.current_term:
        node.step_down(req.term, now)
        resp.term = req.term
    if checks and node.latest.servers and not node.latest.has_vote(req.src):
        return  # step 5: a nonvoter candidate
    if storage.vote_term == req.term and storage.vote_for:
        if storage.vote_for == req.src:
            resp.granted = True  # a duplicate request from the same candidate
        if Fault.DOUBLE_VOTE not in node.faults:
            return
    last_term = storage.last_term
    if Fault.VOTE_IGNORES_LAST_TERM in node.faults:
        last_term = req.last_term  # deliberate bug: only the indexes are compared
    if last_term > req.last_term:
        return
    if last_term == req.last_term and storage.last_index > req.last_index:
        return
    storage.vote_term, storage.vote_for = req.term, req.src
    node.events.append(VoteGranted(node.now, node.name, req.term, req.src))
    resp.granted = True
    node.last_contact = now
    if node.timing.model is TimerModel.PAPER and node.role is Role.FOLLOWER:
        node.arm_follower_timer(now)
