"""Pre-vote (ring 0): raft-semantics §3.6, after hashicorp/raft v1.7.3's `preElectSelf`,
`runCandidate` and `requestPreVote`, for the releases that have it (profile P4: Nomad 1.9
and later, where it is on).

A server whose timer finds no leader becomes a candidate without raising its term, and asks
the other voters of its latest configuration whether they would vote for it in the next
term; its own pre-vote counts. Nothing is persisted on either side, no term is adopted, no
contact refreshed, earlier votes are not consulted. A quorum of pre-votes starts the real
election (§3.4) with a fresh election timer; a quorum of refusals waits for the election
timer and tries again; a reply with a term above the one proposed makes it a follower in
that term. So a server that cannot win (cut off, behind, removed) no longer raises terms
that depose a working leader. A candidacy ordered by a leadership transfer skips it. Each
round begins with a `pre-vote` event (core/events.py), as no term or role change shows it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .events import PreVoteStarted
from .messages import PreVoteResponse, RequestPreVote, RpcFailure
from .types import Role

if TYPE_CHECKING:
    from .node import RaftNode


class PreVote:
    """One pre-vote round of a candidate: the term it proposes and the tally."""

    __slots__ = ("granted", "refused", "rpcs", "term")

    def __init__(self, term: int) -> None:
        self.term = term
        self.granted = 0
        self.refused = 0
        self.rpcs: set[int] = set()


def campaign(node: RaftNode, now: int) -> None:
    """The follower's timer found no leader, or the election timer expired: with pre-vote,
    a pre-vote round; without, the election itself."""
    if not node.profile.pre_vote:
        node.become_candidate(now)
        return
    node.set_role(Role.CANDIDATE, now)  # (its term unchanged: shown as it is)
    node.disarm_follower_timer()
    node.vote_rpcs.clear()  # a real election's replies, if one was running, are void now
    storage = node.storage
    state = node.pre_vote = PreVote(storage.current_term + 1)
    # Every round, not only the first: a candidate starting another shows no role change.
    node.events.append(PreVoteStarted(now, node.name, state.term))
    for server_id in node.latest.voters():
        if server_id == node.id:
            state.granted += 1
            continue
        rpc = node.new_rpc()
        state.rpcs.add(rpc)
        node.messages.append(
            RequestPreVote(
                node.id, server_id, rpc, state.term, storage.last_index, storage.last_term
            )
        )
    node.arm_election_timer(now)
    _tally(node, now)


def on_reply(node: RaftNode, msg: PreVoteResponse | RpcFailure, now: int) -> bool:
    """A pre-vote's answer (an RPC failure counts as a refusal); False if it answers no
    call of the current round."""
    state = node.pre_vote
    if state is None or msg.rpc not in state.rpcs:
        return False
    state.rpcs.discard(msg.rpc)
    if isinstance(msg, PreVoteResponse) and msg.term > state.term:
        node.pre_vote = None
        node.step_down(msg.term, now)
        return True
    if isinstance(msg, PreVoteResponse) and msg.granted:
        state.granted += 1
    else:
        state.refused += 1  # (a quorum of them: wait for the election timer)
    _tally(node, now)
    return True


def _tally(node: RaftNode, now: int) -> None:
    state = node.pre_vote
    if state is not None and state.granted >= node.latest.quorum():
        node.pre_vote = None
        node.become_candidate(now)  # the real election, with a fresh election timer


def on_request(node: RaftNode, req: RequestPreVote) -> None:
    """requestPreVote, in every role: the checks of §3.6 in hashicorp's order."""
    storage = node.storage
    resp = PreVoteResponse(node.id, req.src, req.rpc, storage.current_term, False)
    node.messages.append(resp)
    latest = node.latest
    if latest.servers and latest.find(req.src) is None:
        return  # not in the configuration
    if node.leader_id and node.leader_id != req.src:
        return  # a leader is known (a leader knows itself)
    if req.term < storage.current_term:
        return
    if latest.servers and not latest.has_vote(req.src):
        return  # a nonvoter
    if storage.last_term > req.last_term:
        return
    if storage.last_term == req.last_term and storage.last_index > req.last_index:
        return
    resp.granted = True
