"""Exact quiescent fast-forward (ring 1): skip an idle cluster's heartbeats in one computation.

Theory of operation. An idle Nomad cluster at rest is a handful of independent loops: the
leader's heartbeat and replication loops to each follower (timer, request, reply, timer
again), each follower's polled heartbeat timer, and the leader's lease check. Nothing they
do changes anybody's role, term, log or commit index. Each loop draws only from its own
random streams (node.py, network.py), so what it does up to a time T is a function of its
own state and streams alone, and can be computed without the event heap: that is `_cycle`,
a tight loop over one request/response loop, and `_ticks`, over one timer. The event loop
stays the model: a jump is only taken when it leaves the simulation exactly as running the
events one by one would have (tests/test_fastforward.py compares the two).

When: the cluster is at rest (quiescence.py: one leader, every member following it with
its whole log, every loop idle, heartbeats fast enough that no follower timer and no lease
check can act), no message is in flight, and nothing but Raft timers is in the heap before
T, besides events that would do nothing: cancelled timers, and the transport's failure
notices for calls nobody waits for any more (`idle_notice`, quiescence.py: a call that was
lost during an earlier fault is only given up after RaftTimeout, 10 s, and its notice must
not hold the cluster back until then). The jump still checks every follower timer and lease
check exactly as it replays them: one that would act means that argument is broken, and it
raises `FastForwardError` rather than leave a state the event loop would not have reached.

Other work. Whatever else is in the heap (the Nomad layer's gossip, reconcile and requests)
runs event by event: a jump ends just before the first such event, and the jumper is asked
again after it. So a served cluster at rest is jumped from one Serf probe to the next, and
the driver of a paced cluster sleeps until then (`quiet_until`).

Order. The heap breaks ties between events due at the same microsecond by the order they
were scheduled, i.e. by the order their parents ran (heaporder.py). `heaporder.precedes`
decides the few ties that matter here: a lease check and a reply due at the same
microsecond, a follower timer and a request, and the order of the events the jump leaves in
the heap. Timer tokens are only ever compared for equality, so the jump keeps them unique
rather than equal to the event loop's. RPC numbers are written in the trace under
trace="all": there the jump merges all its events into the heap's order, numbers the
leader's requests in it and writes every record the event loop would have (jumptrace.py);
otherwise it only keeps them unique.

Listeners. Under trace="all" a listener (the live page's feed) is told of every message as
it happens; a jump would tell it of a stretch at once, so none is taken while one listens.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from functools import cmp_to_key
from heapq import heapify
from typing import TYPE_CHECKING, Any

from ..core.faults import Fault
from ..core.leader import MIN_LEASE_CHECK, Follower
from ..core.messages import AppendResponse, Message
from ..core.node import FOLLOWER, HEARTBEAT, LEASE, REPLICATE, RaftNode
from . import heaporder, jumptrace
from .clock import is_noop
from .eventloop import APPEND, APPEND_REPLY, HEARTBEAT_REPLY
from .eventloop import HEARTBEAT as HEARTBEAT_CHANNEL
from .network import LinkConditions, Network
from .quiescence import at_rest, idle_notice

if TYPE_CHECKING:
    from .cluster import Cluster, SimServer

# Scales, in units of the cluster's own timing (at Nomad's: CT = 50 ms, HT = 1 s).
MIN_SPAN_CT = 1  # a stretch shorter than CT is cheaper to run event by event
JUMP_CT = 24_000  # one jump spans at most this many CT over the followers (300 s for 4):
# its loops' histories stay a few hundred thousand integers, whatever the cluster's size
RETRY_MIN_CT = 1  # after a failed check, run events for CT before trying again, doubling
RETRY_MAX_HT = 2  # up to 2 HT while the cluster stays busy

# A loop's events come in cycles of three: its timer fires (the request is sent), the
# request arrives (the reply is sent), the reply arrives (the timer is armed again). In a
# loop's history `events`, index i holds an event of kind i % 3.
FIRE, REQUEST, REPLY = 0, 1, 2


def _no_draw() -> float:  # stands in for a stream when there is no spread: no draw
    return 0.0


def _cycle(
    t: int,
    until: int,
    out: Callable[[], float],
    out_min: int,
    out_spread: int,
    back: Callable[[], float],
    back_min: int,
    back_spread: int,
    wait: Callable[[], float],
    wait_min: int,
    wait_spread: int,
) -> tuple[list[int], int, int]:
    """Run one request/response loop whose timer is due at `t` up to `until` (inclusive).

    Returns the due times of the events it ran, the kind of the next event and its due.
    Each draw is made exactly when the event loop makes it (the request's latency when the
    timer fires, the reply's when the request arrives, the next wait when the reply
    arrives), so the streams are left where the event loop would leave them."""
    events: list[int] = []
    add = events.append
    while t <= until:
        add(t)
        t += out_min + int(out() * out_spread)
        if t > until:
            return events, REQUEST, t
        add(t)
        t += back_min + int(back() * back_spread)
        if t > until:
            return events, REPLY, t
        add(t)
        t += wait_min + int(wait() * wait_spread)
    return events, FIRE, t


def _ticks(t: int, until: int, rand: Callable[[], float], base: int, spread: int) -> list[int]:
    """A timer that re-arms itself at every firing with U[base, base + spread): its firings
    up to `until`, then its next due time (the last element)."""
    events = [t]
    add = events.append
    while t <= until:
        t += base + int(rand() * spread)
        add(t)
    return events


def _last(events: list[int], kind: int, x: int, before: Callable[[int], bool]) -> int:
    """The index of the last event of `kind` that ran no later than an event due at x,
    -1 if none; `before(i)` decides a tie at x (whether events[i] ran first)."""
    i = bisect_right(events, x) - 1
    i -= (i - kind) % 3
    if i >= 0 and events[i] == x and not before(i):
        i -= 3
    return i


Link = tuple[tuple[str, str, str], LinkConditions]  # a connection (src, dst, channel), and
# its link's conditions
Timer = tuple[int, int]  # (due, sequence number) of a timer in the heap


class _Loop:
    """One of the leader's loops to one follower, as the jump found it and computed it."""

    def __init__(
        self, network: Network, name: str, f: Follower, timer: Timer, out: Link, back: Link
    ) -> None:
        self.network = network
        self.name = name  # HEARTBEAT or REPLICATE
        self.follower = f
        self.due, self.seq = timer  # its timer, in the heap when the jump began
        self.out, self.conditions_out = out  # the request's connection, and its link's...
        self.back, self.conditions_back = back  # ...and the reply's
        self.events: list[int] = []
        self.kind = FIRE
        self.next = self.due

    def run(self, until: int, wait: Callable[[], float], wait_min: int, spread: int) -> None:
        if self.due > until:
            return  # its timer does not fire: nothing sent, nothing drawn
        network = self.network
        out, back = self.conditions_out, self.conditions_back
        out_spread = out.latency_max - out.latency_min
        back_spread = back.latency_max - back.latency_min
        # A connection (and its stream) comes into being at its first message, as in
        # Network.route: the request's now, the reply's when the first request arrives.
        out_random = network.connection(*self.out).random
        conn = network.connections.get(self.back)
        back_random = conn.random if conn else lambda: network.connection(*self.back).random()
        self.events, self.kind, self.next = _cycle(
            self.due,
            until,
            out_random if out_spread else _no_draw,
            out.latency_min,
            out_spread + 1 if out_spread else 0,
            back_random if back_spread else _no_draw,
            back.latency_min,
            back_spread + 1 if back_spread else 0,
            wait if spread > 0 else _no_draw,
            wait_min,
            max(spread, 0),
        )
        if len(self.events) > REQUEST:
            network.connection(*self.back)  # a reply was sent (even without a draw)

    def last(self, kind: int, x: int, chain: list[int], at: int, seq: int) -> int:
        """Due time of this loop's last event of `kind` that ran before event chain[at]
        (due x) of another loop whose first event had sequence number `seq`; -1 if none."""
        events = self.events
        i = _last(
            events,
            kind,
            x,
            lambda i: heaporder.precedes(events, i - 1, self.seq, chain, at - 1, seq),
        )
        return events[i] if i >= 0 else -1


class _Server:
    """A follower as the jump found it: its node, its timer, the leader's two loops to it."""

    __slots__ = ("heartbeat", "node", "replicate", "server", "timer", "timer_seq")

    def __init__(self, server: SimServer, node: RaftNode) -> None:
        self.server, self.node = server, node
        self.timer: list[int] = []  # its polled timer: due when the jump began, firings, next
        self.timer_seq = 0
        self.heartbeat: _Loop
        self.replicate: _Loop


class FastForwardError(RuntimeError):
    """A replayed timer would have acted: the jump's preconditions failed to rule it out."""


class FastForward:
    """The scheduler's jumper for one cluster (clock.py's contract)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.jumps = 0  # how many jumps were taken (for tests and benchmarks)
        self.jumped = 0  # virtual time they covered, µs
        timing = cluster.timing
        self.min_span = max(1, MIN_SPAN_CT * timing.commit_timeout)
        self.retry_min = max(1, RETRY_MIN_CT * timing.commit_timeout)
        self.retry_max = max(self.retry_min, RETRY_MAX_HT * timing.heartbeat_timeout)
        self._retry = self.retry_min
        # Whether a jump writes the records of what it skips (trace="all").
        self._traced = cluster.watchers.keep_messages

    def __call__(self, until: int) -> int:
        cluster = self.cluster
        if self._traced and cluster.watchers.listeners:
            return until + 1  # (module docstring, Listeners)
        sched = cluster.sched
        heap = sched.heap
        if cluster.loop.in_flight_until >= heap[0][0]:
            return cluster.loop.in_flight_until + 1  # a message may still be in flight
        now = sched.now
        if cluster.network.blocked:
            return self._back_off(now)  # (the commonest reason not to jump: the cheapest)
        followers = max(1, len(cluster.servers) - 1)
        span = max(self.min_span, JUMP_CT * cluster.timing.commit_timeout // followers)
        target = min(until, now + span)
        if target - now < self.min_span:
            return until + 1  # not worth it: run the rest event by event
        # Other work (the Nomad layer's gossip and loops) runs event by event: jump up to it,
        # and do not even look at the cluster when it is due too soon.
        foreign = self._foreign()
        target = min(target, foreign - 1)
        if target - now < self.min_span:
            return foreign + 1
        found = self._quiescent()
        if found is None:
            return self._back_off(now)
        leader, servers, outsiders = found
        lease = self._timers(leader, servers, outsiders)
        if lease is None:
            return self._back_off(now)
        self._jump(leader, servers, outsiders, lease, target)
        self._retry = self.retry_min
        self.jumps += 1
        self.jumped += target - now
        return target + 1

    def quiet_until(self) -> int | None:
        """If the cluster is at rest: the last time before other work (the Nomad layer's)
        is due, which jumps could reach from here; None when it is not at rest."""
        cluster = self.cluster
        heap = cluster.sched.heap
        if not heap or cluster.loop.in_flight_until >= heap[0][0]:
            return None
        if self._traced and cluster.watchers.listeners:
            return None
        found = self._quiescent()
        if found is None or self._timers(*found) is None:
            return None
        return self._foreign() - 1

    def _foreign(self) -> int:
        """When the first event is due that is neither a Raft timer nor an event that would
        do nothing (a cancelled timer, an idle failure notice; under trace="all" that notice
        is traced when it comes, so it runs event by event)."""
        loop = self.cluster.loop
        fire = loop.fire_event
        notify = None if self._traced else loop.notify_event
        return min(
            (
                e[0]
                for e in self.cluster.sched.heap
                if e[2] is not fire
                and not is_noop(e)
                and not (e[2] is notify and idle_notice(self.cluster, e[3]))
            ),
            default=1 << 62,
        )

    def _back_off(self, now: int) -> int:
        retry = self._retry
        self._retry = min(2 * retry, self.retry_max)
        return now + retry

    # ------------------------------------------------------------ preconditions

    def _quiescent(self) -> tuple[SimServer, list[_Server], list[_Server]] | None:
        """The leader, its followers and the running servers outside its configuration if
        the cluster is at rest (quiescence.py)."""
        found = at_rest(self.cluster)
        if found is None:
            return None
        leader, followers, outsiders = found
        return leader, [_Server(*f) for f in followers], [_Server(*o) for o in outsiders]

    def _timers(
        self, leader: SimServer, servers: list[_Server], outsiders: list[_Server]
    ) -> tuple[int, int] | None:
        """Find every loop's timer in the heap (and build the loops); the lease timer's
        (due, seq)."""
        cluster = self.cluster
        fire = cluster.loop.fire_event
        live: dict[tuple[str, str, str], tuple[int, int]] = {}
        for due, seq, fn, arg in cluster.sched.heap:
            if fn is fire:
                server, incarnation, name, peer, token = arg
                node = server.node
                if (
                    node is not None
                    and server.incarnation == incarnation
                    and node.timer_token(name, peer) == token
                ):
                    live[server.name, name, peer] = (due, seq)
                # else: superseded or of a dead incarnation, a no-op when it comes due
        node = leader.node
        assert node is not None and node.leader_state is not None
        lease = live.get((leader.name, LEASE, ""))
        if lease is None or Fault.LEASE_NOT_REARMED in node.faults:
            return None  # (a jump replays the correct lease check: that fault runs as is)
        for o in outsiders:
            timer = live.get((o.server.name, FOLLOWER, ""))
            if timer is None:
                return None
            o.timer, o.timer_seq = [timer[0]], timer[1]
        network = cluster.network
        for s in servers:
            peer = s.server.id
            timer = live.get((s.server.name, FOLLOWER, ""))
            hb = live.get((leader.name, HEARTBEAT, peer))
            repl = live.get((leader.name, REPLICATE, peer))
            if timer is None or hb is None or repl is None:
                return None
            s.timer = [timer[0]]
            s.timer_seq = timer[1]
            f = node.leader_state.followers[peer]
            out = network.conditions(leader.id, peer)
            back = network.conditions(peer, leader.id)
            loops = []
            for name, timer, channels in (
                (HEARTBEAT, hb, (HEARTBEAT_CHANNEL, HEARTBEAT_REPLY)),  # channels: eventloop.py
                (REPLICATE, repl, (APPEND, APPEND_REPLY)),
            ):
                request = (leader.id, peer, channels[0])
                reply = (peer, leader.id, channels[1])
                for key in (request, reply):
                    conn = network.connections.get(key)
                    if conn is not None and conn.last_due > timer[0]:
                        return None  # FIFO could hold a message back: not at rest
                loops.append(_Loop(network, name, f, timer, (request, out), (reply, back)))
            s.heartbeat, s.replicate = loops
            if not self._first_contact_in_time(s, f, hb[0], out, back):
                return None
        return lease

    def _first_contact_in_time(
        self, s: _Server, f: Follower, heartbeat: int, out: LinkConditions, back: LinkConditions
    ) -> bool:
        """The first heartbeat (its timer due at `heartbeat`) reaches the follower within HT
        of its last contact, and its reply the leader within LLT of its own: with the gap
        bound of `at_rest`, no follower timer and no lease check can act during the jump."""
        timing = self.cluster.timing
        reached = heartbeat + out.latency_max
        if reached - s.node.last_contact >= timing.heartbeat_timeout:
            return False
        return reached + back.latency_max - f.last_contact <= timing.leader_lease_timeout

    # ------------------------------------------------------------ the jump

    def _jump(
        self,
        leader: SimServer,
        servers: list[_Server],
        outsiders: list[_Server],
        lease: tuple[int, int],
        until: int,
    ) -> None:
        """Compute every loop and timer up to `until` (inclusive), check that no timer
        acts, then write the outcome into the nodes, the network and the heap."""
        cluster = self.cluster
        timing = cluster.timing
        node = leader.node
        assert node is not None and node.leader_state is not None
        hb_spread = timing.heartbeat_max - timing.heartbeat_min
        for s in servers:
            f = s.heartbeat.follower
            s.heartbeat.run(until, f.hb_rand.random, timing.heartbeat_min, hb_spread)
            s.replicate.run(until, f.repl_rand.random, timing.commit_timeout, timing.commit_timeout)
            rand = s.node.rand.random if timing.election_spread > 0 else _no_draw
            s.timer = _ticks(
                s.timer[0], until, rand, timing.heartbeat_timeout, max(timing.election_spread, 0)
            )
            self._check_follower(s, timing.heartbeat_timeout)
        for o in outsiders:  # each firing only re-arms (idle_outside): nothing to check
            rand = o.node.rand.random if timing.election_spread > 0 else _no_draw
            o.timer = _ticks(
                o.timer[0], until, rand, timing.heartbeat_timeout, max(timing.election_spread, 0)
            )
        checks = self._lease(node, servers, lease, until)
        self._write(leader, servers + outsiders, checks, lease[1], until)

    def _check_follower(self, s: _Server, timeout: int) -> None:
        """Every replayed firing of s's polled timer must find a contact within HT (§3.3)."""
        firings = s.timer
        start = s.node.last_contact
        # Both loops' request arrivals in one sorted list: one bisect per firing. A request
        # due at the very microsecond of a firing is ordered exactly (_Loop.last).
        requests = sorted(s.heartbeat.events[REQUEST::3] + s.replicate.events[REQUEST::3])
        for at in range(len(firings) - 1):
            x = firings[at]
            i = bisect_right(requests, x) - 1
            contact = requests[i] if i >= 0 else start
            if contact == x:
                contact = max(
                    start,
                    s.heartbeat.last(REQUEST, x, firings, at, s.timer_seq),
                    s.replicate.last(REQUEST, x, firings, at, s.timer_seq),
                )
            if x - contact >= timeout:
                raise FastForwardError(f"{s.server.name}'s timer at {x} µs would campaign")

    def _lease(
        self, node: RaftNode, servers: list[_Server], lease: tuple[int, int], until: int
    ) -> list[int]:
        """Replay the leader's lease checks (checkLeaderLease, §3.8): each must find every
        voter's reply within LLT; the next check comes LLT minus the oldest contact later.
        Returns the checks' due times, then the next one's."""
        timeout = node.timing.leader_lease_timeout
        voters = set(node.latest.voters())
        # Per voter, both loops' reply arrivals in one sorted list (see _check_follower).
        watched = [
            (sorted(s.heartbeat.events[REPLY::3] + s.replicate.events[REPLY::3]), s)
            for s in servers
            if s.server.id in voters
        ]
        x, seq = lease
        checks = [x]
        while x <= until:
            at = len(checks) - 1
            oldest = 0
            for replies, s in watched:
                i = bisect_right(replies, x) - 1
                if i < 0:
                    contact = s.heartbeat.follower.last_contact  # no reply since the jump began
                elif replies[i] == x:
                    contact = max(
                        s.heartbeat.follower.last_contact,
                        s.heartbeat.last(REPLY, x, checks, at, seq),
                        s.replicate.last(REPLY, x, checks, at, seq),
                    )
                else:
                    contact = replies[i]
                oldest = max(oldest, x - contact)
            if oldest > timeout:
                raise FastForwardError(f"the lease check at {x} µs would step down")
            x += max(timeout - oldest, MIN_LEASE_CHECK)
            checks.append(x)
        return checks

    # ------------------------------------------------------------ writing the outcome

    def _write(
        self,
        leader: SimServer,
        servers: list[_Server],
        checks: list[int],
        lease_seq: int,
        until: int,
    ) -> None:
        cluster = self.cluster
        sched = cluster.sched
        node = leader.node
        assert node is not None and node.leader_state is not None
        state = node.leader_state
        last = node.storage.last_index
        # (due, history, first seq, callback, argument) of every event the jump leaves in
        # the heap that was not there before, sorted below into the event loop's order.
        pending: list[tuple[int, list[int], int, Callable[[Any], None], Any]] = []
        fire = cluster.loop.fire_event
        deliver = cluster.loop.deliver_event
        if len(checks) > 1:
            token = node.mint_timer(LEASE)
            arg = (leader, leader.incarnation, LEASE, "", token)
            pending.append((checks[-1], checks[:-1], lease_seq, fire, arg))
        flying = (
            jumptrace.transcribe(cluster.watchers, leader, servers, checks, lease_seq)
            if self._traced
            else None
        )
        sends = 0
        calls: list[tuple[_Loop, _Server]] = []
        for s in servers:
            follower = s.node
            if len(s.timer) > 1:
                token = follower.mint_timer(FOLLOWER)
                arg = (s.server, s.server.incarnation, FOLLOWER, "", token)
                pending.append((s.timer[-1], s.timer[:-1], s.timer_seq, fire, arg))
            if s.node.id not in state.followers:
                continue  # a server outside the configuration: its timer is all it has
            f = s.heartbeat.follower
            for loop in (s.heartbeat, s.replicate):
                events = loop.events
                if not events:
                    continue  # its timer did not fire: still in the heap, untouched
                sends += (len(events) + 2) // 3
                if loop.kind == FIRE:
                    token = node.mint_timer(loop.name, f.peer)
                    arg = (leader, leader.incarnation, loop.name, f.peer, token)
                    pending.append((loop.next, events, loop.seq, fire, arg))
                else:
                    node.disarm(loop.name, f.peer)
                    calls.append((loop, s))
                # Contacts: the follower's at each request, the leader's at each reply.
                i = _last(events, REQUEST, until, lambda i: True)
                if i >= 0:
                    follower.last_contact = max(follower.last_contact, events[i])
                i = _last(events, REPLY, until, lambda i: True)
                if i >= 0:
                    f.last_contact = max(f.last_contact, events[i])
                self._fifo(loop)
                if loop.name == REPLICATE:
                    f.target = last
        if flying is None:
            node.skip_rpcs(sends - len(calls))  # (numbered by the transcript otherwise)
        for loop, s in calls:
            f = loop.follower
            heartbeat = loop.name == HEARTBEAT
            msg: Message
            if flying is not None:
                msg = flying[loop]
                rpc = msg.rpc
            else:
                rpc = node.new_rpc()
                if loop.kind == REQUEST:
                    msg = jumptrace.request_in_flight(node, f, rpc, heartbeat)
                else:
                    msg = AppendResponse(
                        s.server.id, node.id, rpc, state.term, last, True, False, heartbeat
                    )
            if heartbeat:
                f.hb_rpc = rpc
            else:
                f.repl_rpc, f.repl_last = rpc, last
            pending.append((loop.next, loop.events, loop.seq, deliver, msg))
            cluster.loop.in_flight_until = max(cluster.loop.in_flight_until, loop.next)

        Pending = tuple[int, list[int], int, Any, Any]

        def order(a: Pending, b: Pending) -> int:
            if a[0] != b[0]:
                return -1 if a[0] < b[0] else 1
            return (
                -1
                if heaporder.precedes(a[1], len(a[1]) - 1, a[2], b[1], len(b[1]) - 1, b[2])
                else 1
            )

        pending.sort(key=cmp_to_key(order))
        heap = sched.heap
        # (What was due by `until` is either computed here or a no-op: `_foreign`.)
        heap[:] = [event for event in heap if event[0] > until]
        heap.extend((due, sched.next_seq(), fn, arg) for due, _, _, fn, arg in pending)
        heapify(heap)
        sched.now = until

    @staticmethod
    def _fifo(loop: _Loop) -> None:
        """Each connection remembers its latest arrival (FIFO order) unless it reorders."""
        events = loop.events
        for key, conditions, kind in (
            (loop.out, loop.conditions_out, REQUEST),
            (loop.back, loop.conditions_back, REPLY),
        ):
            conn = loop.network.connections.get(key)
            if conditions.reorder or conn is None:
                continue
            if loop.kind == kind:
                conn.last_due = loop.next  # sent, still in flight
                continue
            i = len(events) - 1
            i -= (i - kind) % 3
            if i >= 0:
                conn.last_due = events[i]
