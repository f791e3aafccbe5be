"""The event loop's work (ring 1): what the cluster does when an event comes due. A timer
fires or a message arrives at a server's Raft node, and `drain` carries out what the node
asked for: report its events to the `Watchers` (trace, checkers, listeners), apply committed
entries, arm timers, send messages. The `Cluster` owns one `EventLoop` and one `Watchers`.

The transport behaves like hashicorp's TCP one: a crashed server refuses connections at once;
a partitioned or lossy link is silent and the caller gives up after RaftTimeout; a paused
server's messages queue. Each kind of call travels on its own connection (network.py): a
heartbeat and its reply on the heartbeat loop's, other AppendEntries on the replication
loop's, votes on their own, as each hashicorp loop keeps its own pooled connection.

This is the model. fastforward.py computes stretches of it faster, and must agree with it.
"""

from __future__ import annotations

from collections.abc import Callable

from ..core.events import EntryApplied, Event
from ..core.messages import (
    AppendEntries,
    AppendResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    Message,
    PreVoteResponse,
    RequestPreVote,
    RequestVote,
    RpcFailure,
    TimeoutNow,
    TimeoutNowResponse,
    VoteResponse,
)
from ..core.node import RaftNode
from ..core.types import EntryKind
from .checkers import SafetyChecker
from .clock import Scheduler
from .events import MessageDelivered, MessageDropped, MessageSent, TimerFired, TraceDropped
from .network import Network
from .server import DOWN, PAUSED, UP, SimServer

__all__ = ["DOWN", "PAUSED", "UP", "EventLoop", "SimServer", "Watchers"]

REQUESTS = (AppendEntries, RequestVote, InstallSnapshot, TimeoutNow, RequestPreVote)

# Channels (network.py): the connection each kind of message travels on.
HEARTBEAT, APPEND, VOTE = "heartbeat", "append", "vote"
HEARTBEAT_REPLY, APPEND_REPLY, VOTE_REPLY = "heartbeat-reply", "append-reply", "vote-reply"
TRANSFER, TRANSFER_REPLY = "timeout-now", "timeout-now-reply"  # a leadership transfer's call


class Watchers:
    """Where events go: the trace (kept by level), the safety checker and the listeners."""

    __slots__ = (
        "checker",
        "dropped",
        "keep_messages",
        "limit",
        "listeners",
        "messages",
        "records",
        "states",
        "version",
    )

    def __init__(self, checker: SafetyChecker, trace: str, limit: int | None = None) -> None:
        self.checker = checker
        self.records: list[Event] = []
        self.listeners: list[Callable[[Event], None]] = []
        self.messages = trace == "all"  # message-level events exist only then (or watched)
        self.keep_messages = self.messages  # and are kept in the trace only under "all"
        self.states = trace != "off"  # whether state-level events are kept
        self.version = 0  # state-level events so far: what changed since a look, cheaply
        # A bounded trace keeps at most `limit` records: past it, the oldest half goes, and
        # a `TraceDropped` record at the start says how many went (a long serve's memory).
        self.limit = limit
        self.dropped = 0

    def record(self, event: Event) -> None:
        """A state-level event: to the trace (if kept), the checker and every listener."""
        self.version += 1
        if self.states:
            self.records.append(event)
            if self.limit and len(self.records) > self.limit:
                self._drop_oldest()
        self.checker.on_event(event)
        for listener in self.listeners:
            listener(event)

    def _drop_oldest(self) -> None:
        records = self.records
        keep = len(records) // 2
        start = len(records) - keep
        gone = start - (1 if self.dropped else 0)  # (the old marker is no event of the run)
        self.dropped += gone
        first = records[start]
        records[:start] = [TraceDropped(first.time, "-", self.dropped)]

    def trace(self, event: Event) -> None:
        """A message-level event (trace="all", or watched): no checker has a rule about one."""
        if self.keep_messages:
            self.records.append(event)
            if self.limit and len(self.records) > self.limit:
                self._drop_oldest()
        for listener in self.listeners:
            listener(event)


class EventLoop:
    """The event callbacks: timers firing and messages arriving at the servers `by_id`."""

    def __init__(
        self,
        sched: Scheduler,
        network: Network,
        rpc_timeout: int,
        by_id: dict[str, SimServer],
        watchers: Watchers,
    ) -> None:
        self.sched = sched
        self.network = network
        self.rpc_timeout = rpc_timeout
        self.by_id = by_id  # the cluster's own map, servers added later included
        self.watchers = watchers
        self._trace_messages = watchers.messages
        # The event callbacks, bound once: the fast-forward recognises events by them.
        self.fire_event = self._fire
        self.deliver_event = self._deliver
        self.notify_event = self._notify
        # Every delivery is due at or before this time: once the clock passes it, no message
        # is in flight (the fast-forward's cheapest precondition). The transport's failure
        # notices are not counted: one for a call lost in a fault comes RaftTimeout later,
        # and the fast-forward looks at each (quiescence.py `idle_notice`).
        self.in_flight_until = 0

    def drain(self, server: SimServer) -> None:
        """Carry out what the node asked for: trace and check events, apply, arm, send."""
        node = server.node
        assert node is not None
        if node.events or node.applied:
            self._drain_state(server, node)
        timers = node.timers
        if timers:
            at = self.sched.at
            fire = self.fire_event
            incarnation = server.incarnation
            for timer, peer, due, token in timers:
                at(due, fire, (server, incarnation, timer, peer, token))
            timers.clear()
        if node.messages:
            messages = node.messages
            node.messages = []
            self._send_all(messages, server.name)

    def _drain_state(self, server: SimServer, node: RaftNode) -> None:
        """State changes and applied entries: to the trace, the checkers and the FSM."""
        record = self.watchers.record
        if node.events:
            events = node.events
            node.events = []
            for event in events:
                record(event)
        if node.applied:
            now = self.sched.now
            applied = node.applied
            node.applied = []
            for entry in applied:
                if entry.kind is EntryKind.COMMAND:
                    server.fsm.append(entry.data)
                record(EntryApplied(now, server.name, entry))

    def _fire(self, arg: tuple[SimServer, int, str, str, int]) -> None:
        server, incarnation, timer, peer, token = arg
        node = server.node
        if server.incarnation != incarnation or node is None:
            return
        if server.status == PAUSED:
            server.defer(self.fire_event, arg)
            return
        if node.fire(timer, peer, token, self.sched.now):
            if self._trace_messages:
                self.watchers.trace(TimerFired(self.sched.now, server.name, timer, peer))
            self.drain(server)

    def _send_all(self, messages: list[Message], name: str) -> None:
        """Put a node's messages on the network.

        The common case, an AppendEntries or its reply to a running server over a link with
        the default conditions, no loss, no duplication and no cut, is `Network.route` and
        `_send` inlined: the hottest path of the simulation, one message per event. Every
        other case goes through `_send`; test_fastforward.py checks both give one trace."""
        now = self.sched.now
        network = self.network
        c = network.default
        if network.links or c.loss or c.duplicate:
            for msg in messages:
                self._send(msg, name, now)
            return
        trace = self._trace_messages
        by_id = self.by_id
        at = self.sched.at
        deliver = self.deliver_event
        connections = network.connections
        blocked = network.blocked  # (a partition leaves most links open: one look each)
        latency = c.latency_min
        spread = c.latency_max - latency
        fifo = not c.reorder
        for msg in messages:
            if isinstance(msg, AppendEntries):
                channel = HEARTBEAT if msg.heartbeat else APPEND
            elif isinstance(msg, AppendResponse):
                channel = HEARTBEAT_REPLY if msg.heartbeat else APPEND_REPLY
            else:
                self._send(msg, name, now)
                continue
            src, dst = msg.src, msg.dst
            target = by_id.get(dst)
            if target is None or target.status == DOWN or (blocked and (src, dst) in blocked):
                self._send(msg, name, now)
                continue
            if trace:
                self.watchers.trace(MessageSent(now, name, msg))
            conn = connections.get((src, dst, channel)) or network.connection(src, dst, channel)
            due = now + latency
            if spread:
                due += int(conn.random() * (spread + 1))
            if fifo:
                if due < conn.last_due:  # noqa: PLR1730 (a call to max() costs more)
                    due = conn.last_due
                conn.last_due = due
            at(due, deliver, msg)
            if due > self.in_flight_until:  # noqa: PLR1730
                self.in_flight_until = due

    def _send(self, msg: Message, name: str, now: int) -> None:
        """Put one message on the network."""
        # The message's connection, one branch per type. AppendEntries and their replies
        # first: nearly every message is one. Anything else has no connection and must not
        # travel on some other's: RpcFailure is never sent (the caller's transport makes
        # it, _notify), and a type no branch names is a bug to report.
        if isinstance(msg, AppendEntries):
            is_request, channel = True, HEARTBEAT if msg.heartbeat else APPEND
        elif isinstance(msg, AppendResponse):
            is_request, channel = False, HEARTBEAT_REPLY if msg.heartbeat else APPEND_REPLY
        elif isinstance(msg, RequestVote):
            is_request, channel = True, VOTE
        elif isinstance(msg, VoteResponse):
            is_request, channel = False, VOTE_REPLY
        elif isinstance(msg, InstallSnapshot):
            is_request, channel = True, APPEND  # the replication loop's own connection
        elif isinstance(msg, InstallSnapshotResponse):
            is_request, channel = False, APPEND_REPLY
        elif isinstance(msg, RequestPreVote):
            is_request, channel = True, VOTE
        elif isinstance(msg, PreVoteResponse):
            is_request, channel = False, VOTE_REPLY
        elif isinstance(msg, TimeoutNow):
            is_request, channel = True, TRANSFER
        elif isinstance(msg, TimeoutNowResponse):
            is_request, channel = False, TRANSFER_REPLY
        else:
            raise TypeError(f"{type(msg).__name__} has no channel: it cannot be sent")
        if self._trace_messages:
            self.watchers.trace(MessageSent(now, name, msg))
        dst = self.by_id.get(msg.dst)
        if dst is None or dst.status == DOWN:
            if is_request:
                # A crashed server's port refuses the connection at once.
                failure = RpcFailure(msg.dst, msg.src, msg.rpc, "connection refused")
                self._post(now + self.network.round_trip(msg.src, msg.dst), failure)
            return
        arrivals = self.network.route(msg.src, msg.dst, now, channel)
        if not arrivals:
            if self._trace_messages:
                self.watchers.trace(MessageDropped(now, name, msg, "lost"))
            self._time_out(msg, now)
            return
        at = self.sched.at
        deliver = self.deliver_event
        for due in arrivals:
            at(due, deliver, msg)
            if due > self.in_flight_until:  # noqa: PLR1730 (a call to max() costs more)
                self.in_flight_until = due

    def _post(self, due: int, failure: RpcFailure) -> None:
        """Schedule the caller's transport's failure notice."""
        self.sched.at(due, self.notify_event, failure)

    def _time_out(self, msg: Message, now: int) -> None:
        """The caller of a lost request or reply gives up after RaftTimeout (§3.10)."""
        if isinstance(msg, RpcFailure):
            return
        if isinstance(msg, REQUESTS):
            failure = RpcFailure(msg.dst, msg.src, msg.rpc, "i/o timeout")
        else:
            failure = RpcFailure(msg.src, msg.dst, msg.rpc, "i/o timeout")
        self._post(now + self.rpc_timeout, failure)

    def _notify(self, failure: RpcFailure) -> None:
        """The caller's own transport reports a failed call: no network is involved."""
        server = self.by_id[failure.dst]
        if server.status == DOWN:
            return
        if server.status == PAUSED:
            server.defer(self.notify_event, failure)
            return
        if self._trace_messages:
            self.watchers.trace(MessageDelivered(self.sched.now, server.name, failure))
        node = server.node
        assert node is not None
        node.step(failure, self.sched.now)
        self.drain(server)

    def _deliver(self, msg: Message) -> None:
        server = self.by_id[msg.dst]
        now = self.sched.now
        if self.network.blocked and (msg.src, msg.dst) in self.network.blocked:
            # Cut while in flight: lost, like every later message on that link.
            if self._trace_messages:
                self.watchers.trace(MessageDropped(now, server.name, msg, "cut"))
            self._time_out(msg, now)
            return
        status = server.status
        if status != UP:
            if status == DOWN:
                if self._trace_messages:
                    self.watchers.trace(MessageDropped(now, server.name, msg, "down"))
                if isinstance(msg, REQUESTS):
                    failure = RpcFailure(msg.dst, msg.src, msg.rpc, "connection reset by peer")
                    self._post(now + self.network.round_trip(msg.src, msg.dst) // 2, failure)
                return
            server.defer(self.deliver_event, msg)
            if isinstance(msg, REQUESTS):
                self._time_out(msg, now)
            return
        if self._trace_messages:
            self.watchers.trace(MessageDelivered(now, server.name, msg))
        node = server.node
        assert node is not None
        node.step(msg, now)
        self.drain(server)
