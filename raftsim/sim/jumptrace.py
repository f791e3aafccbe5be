"""The records of a jump (ring 1): under trace="all", what the event loop would have written
for every event a fast-forward (fastforward.py) computes instead of running.

The event loop writes, for each event of a cluster at rest (eventloop.py):

* a leader's loop timer fires: `TimerFired` (the loop's name, the follower's ID), then
  `MessageSent` of its AppendEntries, numbered by the leader's next RPC number;
* the request reaches the follower: `MessageDelivered`, then `MessageSent` of its reply;
* the reply reaches the leader: `MessageDelivered` (the loop's timer is armed again);
* a follower's polled timer or the leader's lease check fires: `TimerFired`.

A jump's loops and timers are computed one at a time; here their events are merged into the
heap's order (heaporder.py), which also decides the RPC numbers, since the leader numbers
its requests in the order its loops fire. A sent message and its delivery share one
object, as on the event loop; the messages still in flight at the end go into the heap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.events import Event
from ..core.leader import Follower
from ..core.messages import AppendEntries, AppendResponse, Message
from ..core.node import FOLLOWER, HEARTBEAT, LEASE, RaftNode
from .events import MessageDelivered, MessageSent, TimerFired
from .heaporder import INDEX_BITS, INDEX_MASK, Stream, heap_order

if TYPE_CHECKING:
    from .eventloop import Watchers
    from .fastforward import _Loop, _Server
    from .server import SimServer

FIRE, REQUEST = 0, 1  # a loop's events cycle through fire, request, reply (fastforward.py)


def request_in_flight(node: RaftNode, f: Follower, rpc: int, heartbeat: bool) -> AppendEntries:
    """A loop's request at rest, exactly as `LeaderState` builds it (a heartbeat carries no
    log position and no commit index)."""
    prev = 0 if heartbeat else f.next_index - 1
    commit = 0 if heartbeat else node.commit_index
    storage = node.storage
    header = (node.id, f.peer, rpc, storage.current_term, node.address)
    return AppendEntries(*header, prev, storage.term_at(prev), (), commit, heartbeat)


def transcribe(
    watchers: Watchers,
    leader: SimServer,
    servers: list[_Server],
    checks: list[int],
    lease_seq: int,
) -> dict[_Loop, Message]:
    """Write the jump's records to `watchers` in the event loop's order, numbering the
    leader's requests as it would; returns each loop's message still in flight (a loop
    whose timer is armed again has none)."""
    node = leader.node
    assert node is not None and node.leader_state is not None
    followers = node.leader_state.followers
    term, last = node.storage.current_term, node.storage.last_index
    streams: list[Stream] = [(checks, len(checks) - 1, lease_seq)]
    timers: list[str] = [leader.name]  # per timer stream: the server it fires on
    loops: list[_Loop] = []
    servers_of: list[str] = []
    for s in servers:
        streams.append((s.timer, len(s.timer) - 1, s.timer_seq))
        timers.append(s.server.name)
    lease_and_timers = len(streams)
    for s in servers:
        if s.node.id in followers:
            for loop in (s.heartbeat, s.replicate):
                streams.append((loop.events, len(loop.events), loop.seq))
                loops.append(loop)
                servers_of.append(s.server.name)
    # Per loop: what does not change during the jump (a leader at rest sends the same
    # request every time, but for its number).
    requests = [request_in_flight(node, loop.follower, 0, loop.name == HEARTBEAT) for loop in loops]
    flying: list[Message | None] = [None] * len(loops)
    records: list[Event] = []
    add = records.append
    name, leader_id = leader.name, node.id
    new_rpc = node.new_rpc
    for key in heap_order(streams):
        number, i = key >> INDEX_BITS, key & INDEX_MASK
        if number < lease_and_timers:
            t = streams[number][0][i]
            add(TimerFired(t, timers[number], LEASE if number == 0 else FOLLOWER, ""))
            continue
        n = number - lease_and_timers
        loop = loops[n]
        t = loop.events[i]
        phase = i % 3
        if phase == FIRE:
            r = requests[n]
            msg: Message = AppendEntries(
                leader_id,
                r.dst,
                new_rpc(),
                term,
                r.leader_address,
                r.prev_index,
                r.prev_term,
                (),
                r.commit,
                r.heartbeat,
            )
            add(TimerFired(t, name, loop.name, r.dst))
            add(MessageSent(t, name, msg))
        elif phase == REQUEST:
            request = flying[n]
            assert request is not None
            add(MessageDelivered(t, servers_of[n], request))
            r = requests[n]
            msg = AppendResponse(
                r.dst, leader_id, request.rpc, term, last, True, False, r.heartbeat
            )
            add(MessageSent(t, servers_of[n], msg))
        else:
            reply = flying[n]
            assert reply is not None
            add(MessageDelivered(t, name, reply))
            msg = reply
        flying[n] = msg
    if watchers.limit:
        for record in records:
            watchers.trace(record)  # (drops the oldest half when the limit is passed)
    else:
        watchers.records += records
    return {
        loop: msg
        for loop, msg in zip(loops, flying, strict=True)
        if msg is not None and loop.kind != FIRE
    }
