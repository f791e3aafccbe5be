"""Unit tests of the Raft core driven by hand (tests/harness.py). Each cites the rule it
checks: the Raft paper's sections or the spec's (../shared/spec/raft-semantics.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from raftsim.core import (
    P1,
    P3,
    AppendEntries,
    AppendResponse,
    ChangeCommand,
    Fault,
    Message,
    NotLeaderError,
    RaftNode,
    RequestVote,
    Role,
    RpcFailure,
    Timing,
    UnhandledMessageError,
    VoteResponse,
)
from raftsim.core.leader import backoff
from raftsim.core.timing import MS, SECOND

from .harness import Net


def leader_of_three() -> Net:
    net = Net(3)
    net.elect("s1")
    net.stabilize()
    assert net.nodes["s1"].role is Role.LEADER
    return net


def test_bootstrap_first_leader_is_term_2_with_noop_at_index_2() -> None:
    """§2.13: bootstrap writes the configuration at 1/1, so the first no-op sits at 2/2."""
    net = leader_of_three()
    log = net.storages["s1"].log
    assert [(e.index, e.term, e.kind.value) for e in log] == [
        (1, 1, "configuration"),
        (2, 2, "noop"),
    ]
    assert net.nodes["s1"].commit_index == 2


def test_follower_timer_is_polled_and_not_reset_by_messages() -> None:
    """§3.3: the timer fires every U[HT, 2HT) and campaigns only if contact is older than HT."""
    net = leader_of_three()
    follower = net.nodes["s2"]
    follower.last_contact = net.now
    net.now += SECOND // 2
    net.fire("s2", "follower")
    assert follower.role is Role.FOLLOWER and follower.leader_id == "s1"
    due, _ = net.timers[("s2", "follower", "")]
    assert SECOND <= due - net.now < 2 * SECOND  # re-armed at the firing, U[HT, 2HT)
    net.now = follower.last_contact + SECOND
    net.fire("s2", "follower")
    assert follower.role is Role.CANDIDATE
    assert follower.leader_id == ""


def test_vote_leader_stickiness_refuses_and_keeps_term() -> None:
    """§3.5 step 2: a voter that knows another leader refuses without adopting the term."""
    net = leader_of_three()
    term = net.storages["s2"].current_term
    net.nodes["s2"].step(RequestVote("s3", "s2", 99, term + 5, 10, term), net.now)
    (resp,) = net.nodes["s2"].messages
    assert isinstance(resp, VoteResponse)
    assert not resp.granted and resp.term == term
    assert net.storages["s2"].current_term == term


def test_vote_leader_never_deposed_by_request_vote() -> None:
    """§3.5 step 2: a leader knows itself, so a higher-term RequestVote does not depose it."""
    net = leader_of_three()
    net.nodes["s1"].step(RequestVote("s3", "s1", 99, 50, 10, 10), net.now)
    assert net.nodes["s1"].role is Role.LEADER


def test_vote_rules_in_order() -> None:
    """§3.5 steps 3, 4, 6, 7: lower term refused; higher adopted; one vote; up-to-date log."""
    net = Net(3)
    node, storage = net.nodes["s3"], net.storages["s3"]

    def ask(candidate: str, term: int, last_index: int, last_term: int) -> bool:
        node.step(RequestVote(candidate, "s3", 1, term, last_index, last_term), net.now)
        resp = node.messages.pop()
        assert isinstance(resp, VoteResponse)
        return resp.granted

    assert not ask("s1", 0, 1, 1)  # lower term
    assert not ask("s1", 5, 0, 0)  # higher term adopted, but log behind (1/1)
    assert storage.current_term == 5
    assert ask("s1", 6, 1, 1)  # equal log: granted
    assert storage.vote_for == "s1" and storage.vote_term == 6
    assert ask("s1", 6, 1, 1)  # the same candidate again: granted again
    assert not ask("s2", 6, 9, 9)  # another candidate, same term: refused
    assert ask("s2", 7, 9, 9)


def test_server_without_configuration_never_campaigns() -> None:
    """§2.13 / §3.3: with latestIndex 0 a server never starts an election."""
    net = Net(3, bootstrap=2)
    net.storages["s3"].log.clear()
    node = net.restart("s3")
    net.timeout("s3")
    assert node.role is Role.FOLLOWER and not net.queue


def test_append_rejects_a_missing_prev_entry_and_leader_backs_off() -> None:
    """Fig. 2 AppendEntries rule 2, and §3.7 nextIndex <- min(nextIndex-1, lastLog+1)."""
    net = leader_of_three()
    net.crash("s3")
    for i in range(3):
        net.nodes["s1"].propose(f"x{i}", net.now)
    net._drain("s1")
    net.stabilize()
    net.crash("s1")
    net.restart("s3")
    assert net.win("s2", ["s2", "s3"])  # s2's log is ahead, so s3 votes for it
    (req,) = net.take(dst="s3", kind=AppendEntries)
    assert req.prev_index == 5  # nextIndex starts at last index + 1, before the no-op
    net.nodes["s3"].step(req, net.now)
    (resp,) = net.nodes["s3"].messages
    assert isinstance(resp, AppendResponse)
    assert not resp.success and resp.no_retry_backoff and resp.last_log == 2
    net._drain("s3")
    net.stabilize()
    assert net.storages["s3"].log == net.storages["s2"].log
    assert [e.index for e in net.storages["s3"].log] == [1, 2, 3, 4, 5, 6]


def test_append_truncates_a_conflicting_suffix_and_falls_back_configuration() -> None:
    """Fig. 2 rule 3 and §2.2: truncation that cuts latestIndex restores committed."""

    net = Net(5)
    net.elect("s1")
    net.stabilize()
    net.nodes["s1"].change_configuration(ChangeCommand.REMOVE_SERVER, "s5", "", 0, net.now)
    net._drain("s1")
    net.deliver(src="s1", dst="s2", kind=AppendEntries)  # only s2 gets the removal
    net.crash("s1")
    s2 = net.nodes["s2"]
    assert s2.latest_index == 3 and s2.committed_index == 1
    assert net.win("s3", ["s3", "s4", "s5"])
    net.stabilize(["s2", "s3", "s4", "s5"])
    assert s2.latest_index == 1 and len(s2.latest.servers) == 5
    assert net.storages["s2"].log[2] is net.storages["s3"].log[2]
    assert net.violations() == []


def test_follower_commit_is_bounded_by_its_last_index() -> None:
    """hashicorp appendEntries: commitIndex = min(leaderCommit, own last index)."""
    net = leader_of_three()
    s2 = net.nodes["s2"]
    s2.step(AppendEntries("s1", "s2", 7, 2, "s1", 2, 2, (), 9, False), net.now)
    assert s2.commit_index == 2


def test_leader_lease_steps_down_without_a_quorum() -> None:
    """§3.8 (TestRaft_LeaderLeaseExpire): isolated, the leader steps down within 2 LLT."""
    net = leader_of_three()
    leader = net.nodes["s1"]
    start = net.now
    net.queue.clear()
    while leader.role is Role.LEADER:
        net.fire("s1", "lease")
    assert net.now - start <= 2 * Timing.nomad().leader_lease_timeout
    assert leader.leader_id == ""


def test_leader_heartbeat_reply_term_is_not_examined() -> None:
    """§3.7: a heartbeat reply with a higher term does not make the leader step down."""
    net = leader_of_three()
    net.queue.clear()
    net.fire("s1", "heartbeat", "s2")
    (hb,) = net.take(dst="s2")
    assert isinstance(hb, AppendEntries) and hb.heartbeat
    net.nodes["s1"].step(AppendResponse("s2", "s1", hb.rpc, 99, 2, False, False), net.now)
    assert net.nodes["s1"].role is Role.LEADER


def test_leader_steps_down_on_higher_term_append_reply_without_adopting_it() -> None:
    """§3.7 handleStaleTerm: a replication reply with a higher term deposes the leader."""
    net = leader_of_three()
    net.queue.clear()
    net.fire("s1", "replicate", "s2")
    (req,) = net.take(dst="s2")
    net.nodes["s1"].step(AppendResponse("s2", "s1", req.rpc, 99, 2, False, False), net.now)
    assert net.nodes["s1"].role is Role.FOLLOWER
    assert net.storages["s1"].current_term == 2


def test_propose_on_a_follower_raises_not_leader() -> None:
    """hashicorp ErrNotLeader text."""
    net = leader_of_three()
    with pytest.raises(NotLeaderError, match=r"^node is not the leader$"):
        net.nodes["s2"].propose("x", net.now)


def test_change_waits_for_the_new_leaders_first_commit() -> None:
    """§2.5 / §4.2: no configuration entry before the leader commits an entry of its term."""

    net = Net(3)
    assert net.win("s1", ["s1", "s2", "s3"])  # elected; its no-op is not acknowledged yet
    leader = net.nodes["s1"]
    future = leader.change_configuration(ChangeCommand.REMOVE_SERVER, "s3", "", 0, net.now)
    net._drain("s1")
    assert [e.kind.value for e in net.storages["s1"].log] == ["configuration", "noop"]
    net.stabilize()
    assert [e.kind.value for e in net.storages["s1"].log][-1] == "configuration"
    assert future.done and future.error is None and future.index == 3


@pytest.mark.parametrize(
    ("faults", "rule"),
    [
        ((), None),
        ((Fault.CONCURRENT_CONFIG,), "One uncommitted configuration change"),
    ],
    ids=["rule", "fault"],
)
def test_one_uncommitted_change_at_a_time(faults: tuple[Fault, ...], rule: str | None) -> None:
    """§2.5: a second change waits until latestIndex == committedIndex; the deliberate fault
    that skips the wait is reported by the checker."""

    net = Net(3, faults=faults)
    net.elect("s1")
    net.stabilize()
    leader = net.nodes["s1"]
    first = leader.change_configuration(ChangeCommand.DEMOTE_VOTER, "s3", "", 0, net.now)
    second = leader.change_configuration(ChangeCommand.REMOVE_SERVER, "s3", "", 0, net.now)
    net._drain("s1")
    configurations = [e for e in net.storages["s1"].log if e.kind.value == "configuration"]
    assert len(configurations) == (3 if faults else 2)
    net.stabilize()
    assert (first.index, second.index) == (3, 4)
    assert net.violations() == ([rule] if rule else [])


def test_leader_removing_itself_leads_until_commit_then_stays_a_voteless_follower() -> None:
    """§2.7: keeps leading (and accepting entries) until the removal commits, then turns
    follower (Nomad's ShutdownOnRemove=false) and never campaigns."""

    net = leader_of_three()
    net.queue.clear()
    leader = net.nodes["s1"]
    removal = leader.change_configuration(ChangeCommand.REMOVE_SERVER, "s1", "", 0, net.now)
    net._drain("s1")
    assert leader.role is Role.LEADER and not leader.latest.has_vote("s1")
    leader.propose("still-leading", net.now)  # accepted before the removal commits
    net._drain("s1")
    net.stabilize()
    assert removal.done and removal.index == 3
    assert leader.role is Role.FOLLOWER
    assert leader.committed_index == leader.latest_index == 3
    for _ in range(5):
        net.timeout("s1")
        assert leader.role is Role.FOLLOWER
    assert net.violations() == []


@pytest.mark.parametrize(("profile", "campaigns"), [(P1, True), (P3, False)], ids=["P1", "P3"])
def test_removed_follower_campaigns_only_in_old_profiles(profile: object, campaigns: bool) -> None:
    """§2.8: a removed follower that never learns the commit keeps campaigning before
    hashicorp v1.3.3 (P1), and stays quiet from then on (P3)."""

    net = Net(3, profile=profile)  # type: ignore[arg-type]
    net.elect("s1")
    net.stabilize()
    net.nodes["s1"].change_configuration(ChangeCommand.REMOVE_SERVER, "s3", "", 0, net.now)
    net._drain("s1")
    net.deliver(kind=AppendEntries)  # s3 gets the entry, then the leader stops replicating to it
    net.drop(dst="s3")
    net.stabilize(["s1", "s2"])
    s3 = net.nodes["s3"]
    assert s3.latest_index == 3 and s3.committed_index == 1
    net.timeout("s3")
    if campaigns:
        # §3.4: it asks only the voters of its latest configuration, and not itself.
        assert s3.role is Role.CANDIDATE
        assert net.storages["s3"].vote_term < net.storages["s3"].current_term
        assert sorted(m.dst for m in net.queue if isinstance(m, RequestVote)) == ["s1", "s2"]
    net.stabilize(["s1", "s2", "s3"])
    terms = []
    for _ in range(3):
        net.timeout("s3")
        terms.append(net.storages["s3"].current_term)
        net.stabilize(["s1", "s2", "s3"])
    assert (terms == sorted(set(terms)) and len(terms) == 3) is campaigns
    assert net.nodes["s1"].role is Role.LEADER  # stickiness contains it
    assert net.violations() == []


def test_restart_replays_configuration_entries() -> None:
    """§2.2: on start, every configuration entry in the log goes through the append rule."""

    net = leader_of_three()
    net.nodes["s1"].change_configuration(ChangeCommand.ADD_NONVOTER, "s4", "s4", 0, net.now)
    net._drain("s1")
    net.stabilize()
    node = net.restart("s2")
    assert node.latest_index == 3 and node.committed_index == 1
    assert node.commit_index == 0


def test_backoff_matches_hashicorp() -> None:
    """§3.7: 10 ms for the first two failures, then doubling, capped at 10.24 s."""
    assert [backoff(n) // MS for n in (1, 2, 3, 4, 12, 20)] == [10, 10, 20, 40, 10240, 10240]


# ----------------------------------------------------------------- step and the roles' steps


@dataclass(slots=True, eq=False)
class Gossip:
    """A message type no Raft node knows."""

    src: str
    dst: str
    rpc: int
    term: int


def node_in(role: Role) -> tuple[Net, RaftNode]:
    """A node in `role` with empty outboxes: s1 leads or campaigns; s2 follows s1."""
    if role is Role.CANDIDATE:
        net = Net(3)
        net.timeout("s1")
    else:
        net = leader_of_three()
    node = net.nodes["s2" if role is Role.FOLLOWER else "s1"]
    net.queue.clear()
    assert node.role is role and not node.messages and not node.events
    return net, node


ROLES = [Role.FOLLOWER, Role.CANDIDATE, Role.LEADER]


@pytest.mark.parametrize("role", ROLES, ids=str)
def test_step_unknown_message_type_raises_in_every_role(role: Role) -> None:
    """A type no role has a handler for raises, naming it and the role, instead of being
    dropped as if it were a late reply."""
    net, node = node_in(role)
    gossip = Gossip("s3", node.id, 1, 99)
    with pytest.raises(UnhandledMessageError, match=rf"^Gossip has no handler in role {role}$"):
        node.step(gossip, net.now)  # type: ignore[arg-type]
    assert node.role is role and net.storages[node.id].current_term < 99


@pytest.mark.parametrize("role", ROLES, ids=str)
def test_step_function_raises_for_a_request_vote(role: Role) -> None:
    """§3.5: `step` answers a RequestVote alike in every role, so no role's step function
    has a handler for one."""
    net, node = node_in(role)
    step_function: Callable[[Message, int], None]
    if role is Role.LEADER:
        assert node.leader_state is not None
        step_function = node.leader_state.step_leader
    else:
        step_function = node.step_follower if role is Role.FOLLOWER else node.step_candidate
    request = RequestVote("s3", node.id, 1, 99, 10, 10)
    with pytest.raises(
        UnhandledMessageError, match=rf"^RequestVote has no handler in role {role}$"
    ):
        step_function(request, net.now)


LATE_REPLIES: list[tuple[Role, Callable[[str], Message]]] = [
    (Role.FOLLOWER, lambda dst: AppendResponse("s3", dst, 9999, 99, 5, False, False)),
    (Role.FOLLOWER, lambda dst: VoteResponse("s3", dst, 9999, 99, False)),
    (Role.FOLLOWER, lambda dst: RpcFailure("s3", dst, 9999, "i/o timeout")),
    (Role.CANDIDATE, lambda dst: AppendResponse("s3", dst, 9999, 99, 5, False, False)),
    (Role.CANDIDATE, lambda dst: VoteResponse("s3", dst, 9999, 99, True)),
    (Role.CANDIDATE, lambda dst: RpcFailure("s3", dst, 9999, "i/o timeout")),
    (Role.LEADER, lambda dst: VoteResponse("s3", dst, 9999, 99, False)),
]


@pytest.mark.parametrize(
    ("role", "late"),
    LATE_REPLIES,
    ids=[f"{role}-{late('s1').__class__.__name__}" for role, late in LATE_REPLIES],
)
def test_step_late_reply_is_dropped_unread(role: Role, late: Callable[[str], Message]) -> None:
    """§3.4, §3.7: hashicorp reads a reply only in the loop that made the call, so a reply
    arriving after a role change (or for an earlier election) is dropped, and its higher
    term is not adopted, unlike Fig. 2's rule for all servers."""
    net, node = node_in(role)
    storage = net.storages[node.id]
    term, votes = storage.current_term, node.votes_granted
    node.step(late(node.id), net.now)
    assert node.role is role and storage.current_term == term
    assert node.votes_granted == votes
    assert not node.messages and not node.events and not node.timers


@pytest.mark.parametrize("role", ROLES, ids=str)
def test_step_refuses_a_lower_term_append_entries_in_every_role(role: Role) -> None:
    """Fig. 2 AppendEntries rule 1 (spec §1.3): every role refuses a stale leader with its
    own term, and changes nothing else."""
    net, node = node_in(role)
    term = net.storages[node.id].current_term
    node.step(AppendEntries("s3", node.id, 7, term - 1, "s3", 0, 0, (), 0, True), net.now)
    (resp,) = node.messages
    assert isinstance(resp, AppendResponse) and resp.heartbeat
    assert not resp.success and resp.term == term
    assert node.role is role and not node.events and not node.timers


def test_candidate_becomes_follower_on_append_entries_of_its_term() -> None:
    """§3.4: AppendEntries of the candidate's own term comes from that term's leader: the
    candidate follows it, keeps its term, and answers as a follower."""
    net, node = node_in(Role.CANDIDATE)
    term = net.storages["s1"].current_term
    node.step(AppendEntries("s2", "s1", 7, term, "s2", 1, 1, (), 1, False), net.now)
    assert node.role is Role.FOLLOWER and node.leader_id == "s2"
    assert net.storages["s1"].current_term == term and not node.vote_rpcs
    (resp,) = node.messages
    assert isinstance(resp, AppendResponse) and resp.success and resp.term == term


def test_leader_steps_down_on_append_entries_of_its_own_term() -> None:
    """hashicorp appendEntries: any server but a follower that hears a leader of its own
    term follows it (two leaders of one term take a fault such as DOUBLE_VOTE)."""
    net, node = node_in(Role.LEADER)
    term = net.storages["s1"].current_term
    node.step(AppendEntries("s2", "s1", 7, term, "s2", 0, 0, (), 0, True), net.now)
    assert node.role is Role.FOLLOWER and node.leader_id == "s2"
    assert node.leader_state is None and net.storages["s1"].current_term == term
    (resp,) = node.messages
    assert isinstance(resp, AppendResponse) and resp.success


def test_candidate_adopts_a_higher_term_from_a_vote_of_its_election() -> None:
    """§3.4: a vote response of the current election with a higher term makes the
    candidate a follower in that term."""
    net, node = node_in(Role.CANDIDATE)
    rpc = min(node.vote_rpcs)  # the RequestVote to s2 or s3
    node.step(VoteResponse("s2", "s1", rpc, 9, False), net.now)
    assert node.role is Role.FOLLOWER and net.storages["s1"].current_term == 9
