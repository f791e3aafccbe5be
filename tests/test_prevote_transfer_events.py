"""The state-level events of pre-vote and leadership transfer (raftsim/core/events.py):
`pre-vote` (raft-semantics §3.6, P4), `timeout-now`, `transfer` and `transfer-end` (§3.9,
P3/P4). Each appears where the core does what it names, in the default trace="state", with
its text, JSON form and caption; none appears under P1, nor under P3 without a transfer, so
those traces are what they were; and the safety checkers read none of them."""

from __future__ import annotations

import json

import pytest

from raftsim import Cluster
from raftsim.core.events import (
    Event,
    PreVoteStarted,
    RoleChanged,
    TermChanged,
    TimeoutNowReceived,
    TransferEnded,
    TransferStarted,
)
from raftsim.core.messages import TimeoutNow
from raftsim.core.profile import P1, P2, P3, P4, Profile
from raftsim.core.types import Role
from raftsim.sim.render import event_from_json, event_json
from raftsim.web.captions import caption

NEW = (PreVoteStarted, TimeoutNowReceived, TransferStarted, TransferEnded)


def led(profile: Profile, servers: int = 3, seed: int = 1) -> tuple[Cluster, str]:
    cluster = Cluster(servers, seed=seed, profile=profile)
    assert cluster.run_until(lambda c: c.leader() is not None, "10s")
    cluster.run_for("1s")
    leader = cluster.leader()
    assert leader is not None
    return cluster, leader


def of(cluster: Cluster, cls: type[Event], start: int = 0) -> list[Event]:
    return [e for e in cluster.records[start:] if isinstance(e, cls)]


def others(cluster: Cluster, leader: str) -> list[str]:
    return [name for name in cluster.servers if name != leader]


def test_prevote_started_opens_each_round_before_the_term_moves() -> None:
    """§3.6: the first election under P4 begins with a `pre-vote` for term 2 on the server
    that became candidate in term 1, and only then does its term move to 2."""
    cluster = Cluster(3, seed=1, profile=P4)
    assert cluster.run_until(lambda c: c.leader() is not None, "10s")
    [first] = of(cluster, PreVoteStarted)
    assert isinstance(first, PreVoteStarted) and first.term == 2
    records = cluster.records
    at = records.index(first)
    role = records[at - 1]
    assert isinstance(role, RoleChanged) and role.server == first.server
    assert role.role is Role.CANDIDATE and role.term == 1
    term = next(e for e in records if isinstance(e, TermChanged) and e.server == first.server)
    assert records.index(term) > at and term.term == 2
    assert "pre-vote  term=2 (own term unchanged)" in cluster.trace_text()


def test_prevote_started_once_per_round_of_a_cut_off_server() -> None:
    """§3.6: a cut-off P4 server starts round after round, each announced, none won: its
    term stays, every round proposes the same term, and it shows one role change only."""
    cluster, leader = led(P4)
    follower = others(cluster, leader)[0]
    term = cluster.view(follower).term
    start = len(cluster.records)
    cluster.isolate(follower)
    cluster.run_for("20s")
    rounds = [e for e in of(cluster, PreVoteStarted, start) if e.server == follower]
    assert len(rounds) >= 5
    assert {e.term for e in rounds} == {term + 1}  # type: ignore[attr-defined]
    assert cluster.view(follower).term == term
    roles = [e for e in of(cluster, RoleChanged, start) if e.server == follower]
    assert [e.role for e in roles] == [Role.CANDIDATE]  # type: ignore[attr-defined]
    assert cluster.violations == []


def test_transfer_that_succeeds_shows_start_timeout_now_and_end() -> None:
    """§3.9: the leader starts the transfer (`transfer`), the target is told to campaign
    (`timeout-now`, naming the leader and its term), and the leader ends it by stepping down
    when the target's higher term reaches it (`transfer-end ... stepped down`)."""
    cluster, leader = led(P3)
    target = others(cluster, leader)[1]
    leader_id, target_id = cluster.servers[leader].id, cluster.servers[target].id
    term = cluster.view(leader).term
    start = len(cluster.records)
    future = cluster.transfer_leadership(target)
    assert cluster.run_until(lambda c: c.leader() == target, "2s")
    assert future.done and future.error is None
    [started] = of(cluster, TransferStarted, start)
    [told] = of(cluster, TimeoutNowReceived, start)
    [ended] = of(cluster, TransferEnded, start)
    assert started == TransferStarted(started.time, leader, target_id, term)
    assert told == TimeoutNowReceived(told.time, target, leader_id, term)
    assert ended == TransferEnded(ended.time, leader, target_id, "stepped down")
    records = cluster.records
    assert records.index(started) < records.index(told) < records.index(ended)
    # The target's candidacy follows the notice at once; the leader steps down first.
    after_told = records[records.index(told) + 1 :]
    assert any(isinstance(e, TermChanged) and e.server == target for e in after_told[:3])
    before_end = records[records.index(ended) - 1]
    assert isinstance(before_end, RoleChanged) and before_end.role is Role.FOLLOWER
    lines = cluster.trace_lines(start)
    assert f"transfer  to {target} term={term}" in "\n".join(lines)
    assert f"timeout-now from {leader} term={term}" in "\n".join(lines)
    assert f"transfer-end to {target}: stepped down" in "\n".join(lines)
    assert cluster.violations == []


def test_transfer_that_times_out_ends_after_an_election_timeout() -> None:
    """§3.9: a target that cannot be brought up to date (cut off) never gets TimeoutNow;
    an ElectionTimeout after the start the transfer ends `timed out`, and the leader leads
    on."""
    cluster, leader = led(P3, servers=5)
    target = others(cluster, leader)[0]
    cluster.propose("job")
    cluster.isolate(target)
    start = len(cluster.records)
    future = cluster.transfer_leadership(target)
    assert cluster.run_until(lambda c: future.done, "3s")
    assert str(future.error) == "leadership transfer timeout"
    [started] = of(cluster, TransferStarted, start)
    [ended] = of(cluster, TransferEnded, start)
    assert isinstance(ended, TransferEnded) and ended.outcome == "timed out"
    assert ended.time - started.time == cluster.timing.election_timeout
    assert of(cluster, TimeoutNowReceived, start) == []
    assert cluster.leader() == leader
    assert cluster.violations == []


def test_transfer_of_a_leader_that_crashes_fails_with_raft_shutdown() -> None:
    """A leader killed mid-transfer ends no transfer in the trace (its `crash` says what
    happened), and the transfer's caller hears ErrRaftShutdown like every request waiting on
    that process."""
    cluster, leader = led(P3, servers=5)
    target = others(cluster, leader)[0]
    cluster.isolate(target)  # so the transfer is still running when the leader dies
    start = len(cluster.records)
    future = cluster.transfer_leadership(target)
    cluster.run_for("100ms")
    assert not future.done
    cluster.crash(leader)
    assert future.done and str(future.error) == "raft is already shutdown"
    assert of(cluster, TransferEnded, start) == []


def test_transfer_that_fails_names_the_failed_call() -> None:
    """§3.9 (hashicorp `leadershipTransfer`): TimeoutNow refused by a crashed target ends
    the transfer at once, `failed: TimeoutNow RPC: connection refused`; the leader leads on."""
    cluster, leader = led(P3)
    target = others(cluster, leader)[0]
    cluster.crash(target)
    start = len(cluster.records)
    future = cluster.transfer_leadership(target)
    assert cluster.run_until(lambda c: future.done, "2s") and future.error is not None
    [ended] = of(cluster, TransferEnded, start)
    assert isinstance(ended, TransferEnded)
    assert ended.outcome == "failed: TimeoutNow RPC: connection refused"
    assert f"transfer-end to {target}: failed: TimeoutNow RPC" in cluster.trace_text()
    assert cluster.leader() == leader


def test_refused_transfers_start_nothing() -> None:
    """§3.9: a transfer refused at once (to itself, a second one while one runs) starts no
    transfer of its own: one `transfer` event, for the one that runs."""
    cluster, leader = led(P3)
    start = len(cluster.records)
    assert cluster.transfer_leadership(leader).error is not None
    cluster.transfer_leadership(others(cluster, leader)[0])
    assert cluster.transfer_leadership(others(cluster, leader)[1]).error is not None
    assert len(of(cluster, TransferStarted, start)) == 1


def test_timeout_now_is_reported_whatever_its_term() -> None:
    """§3.9, hashicorp `timeoutNow`: nothing is checked, not even the term, so a stale
    notice is reported (with its own term) and obeyed like a current one."""
    cluster, leader = led(P3)
    follower = cluster.servers[others(cluster, leader)[0]]
    node = follower.node
    assert node is not None
    term = node.storage.current_term
    node.events.clear()
    node.step(TimeoutNow(cluster.servers[leader].id, node.id, 7, term - 1), cluster.now)
    first = node.events[0]
    assert first == TimeoutNowReceived(cluster.now, follower.name, cluster.servers[leader].id, 1)
    assert node.role is Role.CANDIDATE and node.storage.current_term == term + 1


@pytest.mark.parametrize("profile", [P1, P2, P3], ids=["P1", "P2", "P3"])
def test_no_new_events_without_prevote_or_transfer(profile: Profile) -> None:
    """Under P1 and P2 (no pre-vote, no transfer) and P3 without a transfer, elections,
    crashes and partitions record none of these events: their traces are as before."""
    cluster, leader = led(profile, servers=5, seed=3)
    cluster.crash(leader)
    cluster.run_for("5s")
    cluster.isolate(others(cluster, leader)[0])
    cluster.run_for("10s")
    cluster.heal()
    cluster.restart(leader)
    cluster.run_for("5s")
    assert [e for e in cluster.records if isinstance(e, NEW)] == []
    kinds = {e.kind for e in cluster.records}
    assert kinds.isdisjoint({"pre-vote", "timeout-now", "transfer", "transfer-end"})


def test_checkers_read_none_of_them() -> None:
    """The safety checkers have no rule about these events: a P4 run with transfers that
    succeed, time out and fail, with and without a kept trace, checks the same, cleanly."""

    def run(trace: str) -> Cluster:
        cluster = Cluster(5, seed=2, profile=P4, trace=trace)
        assert cluster.run_until(lambda c: c.leader() is not None, "10s")
        cluster.run_for("1s")
        for step in range(3):
            leader = cluster.leader()
            assert leader is not None
            target = others(cluster, leader)[step]
            if step == 1:
                cluster.isolate(target)
            if step == 2:
                cluster.crash(target)
            cluster.transfer_leadership(target)
            cluster.run_for("5s")
            cluster.heal()
        return cluster

    state, off = run("state"), run("off")
    kinds = {e.kind for e in state.records}
    assert {"pre-vote", "timeout-now", "transfer", "transfer-end"} <= kinds
    assert state.violations == off.violations == []
    assert state.views() == off.views()
    assert state.checker.kept() == off.checker.kept()


def test_json_and_captions_of_a_run_with_them() -> None:
    """Every such event of a real run reads back from its JSON line, and its caption is a
    sentence naming servers by name (under P3 an ID is an address)."""
    cluster, leader = led(P4)
    texts: list[str] = []
    cluster.listeners.append(
        lambda e: texts.append(caption(e, cluster)) if isinstance(e, NEW) else None
    )
    cluster.transfer_leadership(others(cluster, leader)[0])
    cluster.run_for("3s")
    cluster.isolate(others(cluster, leader)[1])
    cluster.run_for("5s")
    new = [e for e in cluster.records if isinstance(e, NEW)]
    assert {type(e) for e in new} == set(NEW)
    for event in new:
        data = json.loads(json.dumps(event_json(event, cluster.names)))
        assert event_from_json(data) == event
    assert len(texts) >= 4 and all(texts)
    assert not [t for t in texts if ":4647" in t]


def test_a_candidacy_told_by_timeout_now_is_captioned_so() -> None:
    """The page says why the target campaigns: its leader told it to (§3.9), not an
    election timer; the next candidacy of the same server, from its timer, says the timer."""
    cluster, leader = led(P3)
    target = others(cluster, leader)[0]
    texts: list[tuple[str, str]] = []

    def candidacy(event: Event) -> None:
        if isinstance(event, RoleChanged) and event.role is Role.CANDIDATE:
            texts.append((event.server, caption(event, cluster)))

    cluster.listeners.append(candidacy)
    future = cluster.transfer_leadership(target)
    assert cluster.run_until(lambda c: future.done, "3s") and future.error is None
    assert texts[0][0] == target and "TimeoutNow" in texts[0][1]
    assert "election timer" not in texts[0][1]
    cluster.isolate(target)  # now the leader it became loses contact: others time out
    cluster.run_for("10s")
    later = [text for server, text in texts[1:]]
    assert later and all("election timer fired" in text for text in later)
