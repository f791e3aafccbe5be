"""The exact quiescent fast-forward (raftsim/sim/fastforward.py) against the event loop it
skips: the same scenario run with jumps and without must leave every server, every pending
timer and message, every random stream and the state-level trace exactly alike."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any
from weakref import WeakKeyDictionary

import pytest

from raftsim import Cluster
from raftsim.core import MS, SECOND, TimerModel, Timing
from raftsim.core.events import Event
from raftsim.core.profile import PROFILES
from raftsim.sim import fastforward, heaporder
from raftsim.sim.network import LinkConditions
from raftsim.sim.render import event_json, fmt_event, fmt_message


def snapshot(cluster: Cluster) -> dict[str, Any]:
    """Everything observable, and everything that decides what happens next."""
    state: dict[str, Any] = {"now": cluster.now}
    # RPC numbers: only uniqueness matters, but under trace="all" the trace prints them.
    exact = cluster.watchers.keep_messages
    for name, server in cluster.servers.items():
        node = server.node
        storage = server.storage
        entry = {
            "status": server.status,
            "term": storage.current_term,
            "vote": (storage.vote_term, storage.vote_for),
            # Entries by content: each cluster creates its own entry objects.
            "log": [
                (e.index, e.term, e.kind.value, e.data, str(e.configuration)) for e in storage.log
            ],
            "fsm": list(server.fsm),
        }
        if node is not None:
            entry |= {
                "role": str(node.role),
                "leader": node.leader_id,
                "commit": node.commit_index,
                "applied": node.last_applied,
                "last_contact": node.last_contact,
                "configurations": (node.latest_index, node.committed_index),
                "timers": sorted(node.armed()),
            }
            if node.leader_state is not None:
                entry["followers"] = {
                    peer: (
                        f.next_index,
                        f.match_index,
                        f.last_contact,
                        f.hb_failures,
                        f.repl_failures,
                        f.hb_rpc if exact else f.hb_rpc != 0,
                        f.repl_rpc if exact else f.repl_rpc != 0,
                        f.backing_off,
                        f.triggered,
                        f.target,
                        f.stop_at,
                        f.repl_last,
                    )
                    for peer, f in sorted(node.leader_state.followers.items())
                }
        state[name] = entry
    state["pending"] = pending(cluster)
    state["streams"] = {name: s.getstate() for name, s in sorted(cluster.streams._streams.items())}
    state["fifo"] = {k: c.last_due for k, c in sorted(cluster.network.connections.items())}
    state["trace"] = [
        fmt_event(event, cluster.names) for event in cluster.records if not event.message_level
    ]
    if exact:
        state["records"] = new_records(cluster)
    return state


_compared: WeakKeyDictionary[Cluster, int] = WeakKeyDictionary()


def new_records(cluster: Cluster) -> list[str]:
    """Every field of every record (message-level ones included, RPC numbers too) written
    since the last look; all of a bounded trace, whose oldest records go."""
    start = 0 if cluster.watchers.limit else _compared.get(cluster, 0)
    _compared[cluster] = len(cluster.records)
    names = cluster.names
    return [json.dumps(event_json(e, names), sort_keys=True) for e in cluster.records[start:]]


def pending(cluster: Cluster) -> list[tuple[object, ...]]:
    """The heap in the order it will run: live timers with their due times, messages."""
    events: list[tuple[object, ...]] = []
    for due, _, fn, arg in sorted(cluster.sched.heap, key=lambda e: (e[0], e[1])):
        if fn == cluster.loop.fire_event:
            server, incarnation, timer, peer, token = arg
            node = server.node
            live = node is not None and incarnation == server.incarnation
            if live and node.timer_token(timer, peer) == token:
                events.append((due, "timer", server.name, timer, peer))
        elif fn == cluster.loop.deliver_event:
            rpc = arg.rpc if cluster.watchers.keep_messages else arg.rpc != 0
            events.append((due, "deliver", arg.src, arg.dst, fmt_message(arg), rpc))
        elif fn == cluster.loop.notify_event:
            events.append((due, "notify", arg.src, arg.dst, arg.reason))
        else:
            events.append((due, "other"))
    return events


def twins(servers: int, seed: int, **options: Any) -> tuple[Cluster, Cluster]:
    """The same cluster twice: jumping, and running every event."""
    options.setdefault("trace", "state")
    return (
        Cluster(servers, seed=seed, fast_forward=True, **options),
        Cluster(servers, seed=seed, fast_forward=False, **options),
    )


def both(pair: tuple[Cluster, Cluster], act: Callable[[Cluster], object]) -> None:
    for cluster in pair:
        act(cluster)


def assert_alike(pair: tuple[Cluster, Cluster], when: str) -> None:
    jumping, eager = (snapshot(c) for c in pair)
    for key in eager:
        assert jumping[key] == eager[key], f"{key} differs {when}"


def down(cluster: Cluster) -> str:
    return next(name for name, s in cluster.servers.items() if s.status == "down")


def a_follower(cluster: Cluster) -> str:
    leader = cluster.leader()
    return next(name for name in sorted(cluster.servers) if name != leader)


@pytest.mark.parametrize(
    ("servers", "seed", "trace"),
    [
        (3, 1, "state"),
        (3, 2, "state"),
        (5, 1, "state"),
        (5, 2, "state"),
        (9, 1, "state"),
        (3, 3, "all"),
        (5, 4, "all"),
    ],
    ids=str,
)
def test_fastforward_matches_event_loop_through_faults(servers: int, seed: int, trace: str) -> None:
    """An idle hour, a leader crash, a proposal, a partition and its healing, more idle time,
    a new nonvoter, stopped at odd instants (in-flight messages, ties): jumping changes
    nothing. Under trace="all" the jumps write every record the event loop writes, byte for
    byte, RPC numbers included."""
    pair = twins(servers, seed, trace=trace)
    # Idle stretches (a fifth as long under trace="all": its twin runs every event).
    idle = SECOND if trace == "state" else SECOND // 5
    steps: list[tuple[str, Callable[[Cluster], object]]] = [
        ("idle hour", lambda c: c.run_for(3600 * idle + 7_919)),
        ("crash leader", lambda c: c.crash(c.leader() or "alice")),
        ("elect", lambda c: c.run_until(lambda c: c.leader() is not None, "30s")),
        ("propose", lambda c: c.propose("job-1")),
        ("idle", lambda c: c.run_for(600 * idle + 104_729)),
        ("isolate", lambda c: c.isolate(a_follower(c))),
        ("partitioned", lambda c: c.run_for("30s")),
        ("heal", lambda c: c.heal()),
        ("restart", lambda c: c.restart(down(c))),
        ("idle again", lambda c: c.run_for(600 * idle + 1_299_709)),
        # New loops, connections and streams come into being mid-run, as the event loop's.
        ("add a nonvoter", lambda c: c.add_nonvoter(c.add_server())),
        ("just after", lambda c: c.run_for(60 * MS + 7)),
        ("idle with it", lambda c: c.run_for(300 * idle)),
    ]
    for when, act in steps:
        both(pair, act)
        assert_alike(pair, f"after {when}")
    jumping = pair[0].fast_forward
    assert jumping is not None and jumping.jumps > 0
    assert jumping.jumped > 4000 * idle  # the idle stretches were skipped, not run
    assert pair[0].violations == pair[1].violations == []


def test_fastforward_matches_event_loop_at_random_stops() -> None:
    """Run for random spans (microseconds to minutes), add a server midway, and compare
    after each."""
    rand = random.Random(7)
    for servers, seed in ((3, 4), (5, 5)):
        pair = twins(servers, seed)
        for step in range(40):
            span = rand.choice([rand.randrange(1, 2_000), rand.randrange(1, 300 * MS)])
            span = rand.randrange(SECOND, 120 * SECOND) if step % 4 == 0 else span
            both(pair, lambda c, span=span: c.run_for(span))
            if step == 20:
                both(pair, lambda c: c.add_nonvoter(c.add_server()))
            assert_alike(pair, f"at step {step}")


@pytest.mark.parametrize("trace", ["state", "all"])
def test_fastforward_orders_same_microsecond_events_as_the_heap(
    monkeypatch: pytest.MonkeyPatch, trace: str
) -> None:
    """With microsecond timers and latencies, events due at the same instant are common; the
    jump must order them (and leave them in the heap) as the scheduler's sequence does;
    under trace="all" it also writes their records, and numbers its RPCs, in that order."""
    resolved = 0
    precedes = heaporder.precedes

    def counting(*args: Any) -> bool:
        nonlocal resolved
        resolved += 1
        return precedes(*args)

    monkeypatch.setattr(heaporder, "precedes", counting)
    timing = Timing(
        model=TimerModel.HASHICORP,
        heartbeat_timeout=1_000,
        election_timeout=1_000,
        election_spread=3,
        leader_lease_timeout=100,
        commit_timeout=10,
        heartbeat_min=20,
        heartbeat_max=23,
        rpc_timeout=10_000,
    )
    rand = random.Random(3)
    for seed in (1, 2):
        pair = twins(5, seed, timing=timing, network=LinkConditions(0, 2), trace=trace)
        both(pair, lambda c: c.run_until(lambda c: c.leader() is not None, 100_000))
        for step in range(12):
            span = rand.randrange(1, 60_000) // (4 if trace == "all" else 1)
            both(pair, lambda c, span=span: c.run_for(span))
            assert_alike(pair, f"at step {step}")
        assert pair[0].fast_forward is not None and pair[0].fast_forward.jumps > 0
    assert resolved > 0  # ties were met and ordered


def test_fastforward_state_trace_matches_the_full_trace() -> None:
    """A trace="all" cluster run event by event has, among its records, exactly the state-level
    records of a jumping trace="state" cluster."""
    full = Cluster(5, seed=3, trace="all", fast_forward=False)
    jumping = Cluster(5, seed=3, trace="state")
    assert full.fast_forward is None and jumping.fast_forward is not None
    pair = (jumping, full)
    both(pair, lambda c: c.run_for("600s"))
    both(pair, lambda c: c.crash(c.leader() or "alice"))
    both(pair, lambda c: c.run_for("600s"))
    assert jumping.fast_forward.jumps > 0
    lines = zip(full.trace_lines(), full.records, strict=True)
    state_level = [line for line, e in lines if not e.message_level]
    assert snapshot(jumping)["trace"] == state_level
    assert jumping.views() == full.views()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fastforward_failover_after_an_idle_hour_is_unchanged(seed: int) -> None:
    """The time without a leader after an idle hour is the same with and without jumps."""
    outcomes = []
    for cluster in twins(5, seed):
        cluster.run_until(lambda c: c.leader() is not None, "30s")
        cluster.run_for("3600s")
        crashed = cluster.leader()
        assert crashed is not None
        cluster.crash(crashed)
        start = cluster.now
        assert cluster.run_until(lambda c: c.leader() is not None, "60s")
        leader = cluster.leader()
        assert leader is not None
        outcomes.append((cluster.now - start, leader, cluster.view(leader).term))
    assert outcomes[0] == outcomes[1]


def test_fastforward_is_deterministic() -> None:
    """Same seed, same jumps, same trace (DESIGN.md's determinism with jumps on)."""
    runs = []
    for _ in range(2):
        cluster = Cluster(5, seed=11, trace="state")
        cluster.run_for("900s")
        cluster.crash(cluster.leader() or "alice")
        cluster.run_for("900s")
        runs.append(cluster.trace_text())
    assert runs[0] == runs[1]


@pytest.mark.parametrize(
    "disturb",
    [
        lambda c: c.set_network(loss=0.01),
        lambda c: c.set_network(duplicate=0.01),
        lambda c: c.pause(a_follower(c)),
        lambda c: c.crash(a_follower(c)),
        lambda c: c.cut(c.leader() or "alice", a_follower(c)),
    ],
    ids=["loss", "duplicate", "paused", "down", "cut"],
)
def test_fastforward_does_not_jump_a_disturbed_cluster(
    disturb: Callable[[Cluster], object],
) -> None:
    """Loss, duplication, a paused, crashed or cut-off server: no jump. (A server outside
    the configuration may be jumped over: see the test of quiet outsiders.)"""
    cluster = Cluster(3, seed=1, trace="off")
    cluster.run_for("20s")
    assert cluster.fast_forward is not None
    jumps = cluster.fast_forward.jumps
    disturb(cluster)
    cluster.run_for("20s")
    assert cluster.fast_forward.jumps == jumps


def test_fastforward_does_not_jump_paper_timers() -> None:
    """Paper timing re-arms the election timer at every heartbeat: not a polled timer, no jump."""
    cluster = Cluster(3, seed=1, trace="off", timing=Timing.paper())
    cluster.run_for("60s")
    assert cluster.fast_forward is not None and cluster.fast_forward.jumps == 0
    assert cluster.leader() is not None


def test_fastforward_can_be_turned_off() -> None:
    """fast_forward=False keeps every event (for comparisons such as these)."""
    cluster = Cluster(3, seed=1, trace="off", fast_forward=False)
    assert cluster.fast_forward is None and cluster.sched.jumper is None


def test_send_fast_path_matches_the_general_path() -> None:
    """Cluster._send_all inlines Network.route for plain links; forcing the general path (a
    per-link setting equal to the default) gives the same trace, message for message."""
    plain = Cluster(3, seed=2)
    general = Cluster(3, seed=2)
    first, second = general.servers["alice"].id, general.servers["bob"].id
    general.network.set_conditions(general.network.default, first, second)
    for cluster in (plain, general):
        cluster.run_until(lambda c: c.leader() is not None, "10s")
        cluster.propose("x")
        cluster.run_for("5s")
    assert plain.trace_text() == general.trace_text()


def test_fastforward_replay_refuses_a_timer_that_would_act() -> None:
    """The jump checks every replayed follower timer and lease check: one that would act
    (impossible once the preconditions hold) raises instead of leaving a wrong state."""
    cluster = Cluster(3, seed=1, trace="off")
    cluster.run_for("20s")
    jumper = cluster.fast_forward
    assert jumper is not None
    name = a_follower(cluster)
    server = cluster.servers[name]
    assert server.node is not None
    follower = fastforward._Server(server, server.node)
    quiet = SimpleNamespace(events=[], follower=SimpleNamespace(last_contact=0))
    follower.heartbeat = follower.replicate = quiet  # type: ignore[assignment]
    follower.timer = [5 * SECOND, 7 * SECOND]  # a firing 5 s after the last contact
    server.node.last_contact = 0
    with pytest.raises(fastforward.FastForwardError, match=f"{name}'s timer"):
        jumper._check_follower(follower, SECOND)
    leader = cluster.servers[cluster.leader() or ""].node
    assert leader is not None
    with pytest.raises(fastforward.FastForwardError, match="lease check"):
        jumper._lease(leader, [follower], (5 * SECOND, 0), 6 * SECOND)


@pytest.mark.parametrize("seed", range(6))
def test_fastforward_creates_connections_when_the_event_loop_would(seed: int) -> None:
    """A server just added: a jump that ends before the leader's first heartbeat to it must
    not bring that loop's connections (and their streams) into being early."""
    pair = twins(3, seed)
    both(pair, lambda c: c.run_for("30s"))
    both(pair, lambda c: c.add_nonvoter(c.add_server()))
    for step in range(8):
        both(pair, lambda c: c.run_for(55 * MS))
        assert_alike(pair, f"at step {step}")


def test_fastforward_state_only_wait_jumps_and_stops_where_checking_every_event_does() -> None:
    """`run_until(..., state_only=True)` checks its predicate only after events that report
    a change, and may jump in between: it stops at the very event the per-event check stops
    at, and an idle wait ends in the event loop's state."""
    pair = twins(5, 4)
    jumping, eager = pair
    for cluster, state_only in ((jumping, True), (eager, False)):
        cluster.run_until(lambda c: c.leader() is not None, "30s", state_only=state_only)
        cluster.run_until(lambda c: False, "600s", state_only=state_only)
        cluster.crash(cluster.leader() or "alice")
        assert cluster.run_until(lambda c: c.leader() is not None, "30s", state_only=state_only)
    assert jumping.fast_forward is not None and jumping.fast_forward.jumps > 0
    assert jumping.sched.executed < eager.sched.executed
    assert_alike(pair, "after a state-only wait")


@pytest.mark.parametrize(
    ("profile", "removed_jumps"), [("P3", True), ("P1", False)], ids=["P3", "P1"]
)
def test_fastforward_jumps_over_quiet_servers_outside_the_configuration(
    profile: str, removed_jumps: bool
) -> None:
    """Servers outside the leader's configuration: a new one never added, one removed and
    crashed, and one removed while running. Under P3 the removed server stays quiet
    (raft-semantics §2.8), so the cluster is still at rest and is jumped; under P1 it keeps
    campaigning (a candidate now and then), which no jump may skip. Either way the jumping
    twin stays exactly like the one that runs every event."""
    pair = twins(5, 3, profile=PROFILES[profile])
    both(pair, lambda c: c.run_until(lambda c: c.leader() is not None, "30s"))
    both(pair, lambda c: c.add_server())  # "frank": up, in nobody's configuration
    both(pair, lambda c: c.run_for("5s"))
    victims = sorted(n for n in pair[0].servers if n not in (pair[0].leader(), "frank"))[:2]
    for name in victims:
        both(pair, lambda c, name=name: c.remove_server(name))
        both(pair, lambda c: c.run_for("5s"))
    both(pair, lambda c: c.crash(victims[0]))
    assert_alike(pair, "after the removals")
    jumping = pair[0].fast_forward
    assert jumping is not None
    before = jumping.jumped
    both(pair, lambda c: c.run_for(1800 * SECOND + 3_571))
    assert_alike(pair, "after half an hour")
    assert (jumping.jumped - before > 1000 * SECOND) is removed_jumps
    assert pair[0].violations == pair[1].violations == []


@pytest.mark.parametrize(("seed", "trace"), [(1, "state"), (2, "state"), (3, "state"), (1, "all")])
def test_fastforward_jumps_past_failure_notices_nobody_waits_for(seed: int, trace: str) -> None:
    """A call into a partition is given up only after RaftTimeout (10 s; spec §3.10): its
    failure notice stays in the heap after the partition healed. Once its caller no longer
    waits for it (the caller lost its leadership, or crashed and restarted), the notice does
    nothing when it comes, so the cluster is at rest and is jumped meanwhile; the jumping
    twin stays exactly like the one that runs every event. (Under trace="all" each notice
    is traced when it comes: the jumps stop short of it.)"""
    pair = twins(5, seed, trace=trace)
    both(pair, lambda c: c.run_until(lambda c: c.leader() is not None, "30s"))
    old = pair[0].leader()
    assert old is not None
    both(pair, lambda c: c.isolate(old))  # its heartbeats now wait for their notices
    both(pair, lambda c: c.run_until(lambda c: c.leader() not in (None, old), "10s"))
    new = pair[0].leader()
    assert new is not None and new != old
    both(pair, lambda c: c.crash(new))  # and so do the new leader's, to the old one
    both(pair, lambda c: c.heal())
    both(pair, lambda c: c.restart(new))
    both(pair, lambda c: c.run_until(converged_now, "10s"))
    assert_alike(pair, "after the partition")
    jumping = pair[0].fast_forward
    assert jumping is not None
    notify = pair[0].loop.notify_event
    waiting = [e for e in pair[0].sched.heap if e[2] is notify]
    assert waiting, "the partition left no failure notice to jump past"
    start, last = pair[0].now, max(e[0] for e in waiting)
    assert last - start > 5 * SECOND
    before = jumping.jumped
    both(pair, lambda c: c.run_for(last - c.now + 1))
    assert_alike(pair, "after the last notice")
    assert jumping.jumped - before > (last - start) // 2  # mostly jumped, not run
    assert pair[0].violations == pair[1].violations == []


def converged_now(cluster: Cluster) -> bool:
    """One leader, and every server at its last index and commit index."""
    leader = cluster.leader()
    if leader is None:
        return False
    lead = cluster.view(leader)
    return all(
        v.last_index == lead.last_index and v.commit_index == lead.commit_index
        for v in cluster.views()
    )


def test_fastforward_under_trace_all_keeps_a_bounded_trace_as_the_event_loop_does() -> None:
    """trace_limit drops the oldest half whenever the limit is passed: a jump's records pass
    it exactly where the event loop's would, and leave the same `dropped` markers."""
    pair = twins(5, 6, trace="all", trace_limit=5_000)
    both(pair, lambda c: c.run_for("400s"))
    assert pair[0].fast_forward is not None and pair[0].fast_forward.jumps > 0
    assert pair[0].records[0].kind == "dropped"
    assert_alike(pair, "after 400 s")


def test_fastforward_under_trace_all_is_off_while_a_listener_hears_every_message() -> None:
    """A listener (the live page's feed) under trace="all" is told of each message as it
    happens, with the clock at its time: no jump tells it of a stretch at once."""
    cluster = Cluster(3, seed=2, trace="all")
    cluster.run_for("30s")
    assert cluster.fast_forward is not None
    late: list[Event] = []
    heard = 0

    def listen(event: Event) -> None:
        nonlocal heard
        heard += 1
        if event.time != cluster.now:
            late.append(event)

    cluster.listeners.append(listen)
    jumps = cluster.fast_forward.jumps
    cluster.run_for("120s")
    assert cluster.fast_forward.jumps == jumps
    assert heard > 1_000 and late == []
    cluster.listeners.remove(listen)
    cluster.run_for("120s")
    assert cluster.fast_forward.jumps > jumps
