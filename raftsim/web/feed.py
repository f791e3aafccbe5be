"""The live event feed (ring 2): `GET /v1/sim/events`, the cluster's events as Server-Sent
Events, for the page and for anyone who wants to watch a served cluster.

The feed listens to the cluster (`Cluster.listeners`: every state-level event, and the
message-level ones under trace="all") and numbers the events it sees; each SSE message is
`id: N` and `data: <the event's JSON form>` (docs/events.md). It keeps the newest events in
a ring, so a client that reconnects with `Last-Event-ID: N` gets what it missed; when that
reaches back past the ring, a `dropped` event first says how many are gone. Memory is
bounded per client too: a client that falls `CLIENT_BACKLOG` events behind is dropped (its
stream ends; it may reconnect and resume), never buffered without limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from typing import TYPE_CHECKING

from aiohttp import web

from ..core.events import Event
from ..sim.events import MessageDelivered, MessageDropped, MessageSent, TraceDropped
from ..sim.render import event_json
from .captions import caption

if TYPE_CHECKING:
    from .simulation import Simulation

# An event as the feed sends it: its number, the event, and its caption, made as it happens
# (captions read the cluster: who else was a voter then).
Item = tuple[int, Event, str]
RING = 10_000  # events kept for resuming
CLIENT_BACKLOG = 2_000  # events a client may be behind before it is dropped
# The message-level events a client may ask for: messages on the network (the page draws
# them). Timer firings and API request/answer pairs stay in the trace (`--trace all`).
MESSAGES = (MessageSent, MessageDelivered, MessageDropped)
BATCH = CLIENT_BACKLOG  # events written at once at most
FLUSH = 0.05  # s between two writes to one client at most (20 a second)
KEEP_ALIVE = 15.0  # s of silence before a comment line keeps proxies from closing the stream


class _Client:
    __slots__ = ("dropped", "messages", "queue")

    def __init__(self, messages: bool) -> None:
        self.queue: asyncio.Queue[Item] = asyncio.Queue(CLIENT_BACKLOG)
        self.dropped = False
        self.messages = messages  # whether it wants message-level events


class EventFeed:
    """Numbers the cluster's events, keeps the newest, and fans them out to SSE clients."""

    def __init__(self, sim: Simulation, ring: int = RING) -> None:
        self.sim = sim
        self.next_id = 1
        self.ring: deque[Item] = deque(maxlen=ring)
        self.clients: set[_Client] = set()
        sim.listen(self._on_event)

    def _on_event(self, event: Event) -> None:
        # Called inside the simulation's step: only queue, never await or write here.
        # Message-level events (reported while a client asks for them) are not kept for
        # resuming: the ring is for what a reconnecting client must not miss.
        message = event.message_level
        if message and (
            type(event) not in MESSAGES or not any(client.messages for client in self.clients)
        ):
            return
        item = (self.next_id, event, caption(event, self.sim.cluster))
        self.next_id += 1
        if not message:
            self.ring.append(item)
        for client in list(self.clients):
            if message and not client.messages:
                continue
            try:
                client.queue.put_nowait(item)
            except asyncio.QueueFull:
                client.dropped = True  # too slow: its stream ends, memory stays bounded
                self.clients.discard(client)

    def _missed(self, last_id: int) -> list[Item]:
        """What a client that saw `last_id` missed: from the ring, behind a `dropped`
        event when part of it is gone."""
        items = [item for item in self.ring if item[0] > last_id]
        oldest = self.ring[0][0] if self.ring else self.next_id
        if last_id + 1 < oldest:
            first_time = self.ring[0][1].time if self.ring else self.sim.cluster.now
            gone = TraceDropped(first_time, "-", oldest - last_id - 1)
            items.insert(0, (oldest - 1, gone, caption(gone, self.sim.cluster)))
        return items

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """One SSE client, from now (or from `Last-Event-ID`) until it leaves or lags; with
        `?messages=1` also the messages sent, delivered and dropped, as the page
        draws them: the simulation then reports them while the client is connected. A new
        client (no `Last-Event-ID`) may ask with `?recent=N` for the newest N kept first."""
        header = request.headers.get("Last-Event-ID", "")
        messages = request.query.get("messages", "") in ("1", "true")
        text = request.query.get("recent", "0")
        recent = min(int(text), RING) if text.isascii() and text.isdigit() else 0
        last_id = int(header) if header.isascii() and header.isdigit() else None
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        client = _Client(messages)
        # (No await between these two: no event can slip in between backlog and queue.)
        if last_id is not None:
            backlog = self._missed(last_id)
        else:  # a new client may ask for the newest events kept (the page's narration)
            backlog = list(self.ring)[-recent:] if recent else []
        self.clients.add(client)
        if messages:
            self.sim.watch_messages(+1)
        try:
            if backlog:
                await response.write(b"".join(map(self._message, backlog)))
            queue = client.queue
            while not client.dropped:
                try:
                    item = await asyncio.wait_for(queue.get(), KEEP_ALIVE)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                # Events go out at most every FLUSH seconds, what was queued in one write:
                # each write to a local browser costs the kernel's work for both ends.
                await asyncio.sleep(FLUSH)
                chunk = [self._message(item)]
                while not queue.empty() and len(chunk) < BATCH:
                    chunk.append(self._message(queue.get_nowait()))
                await response.write(b"".join(chunk))
            with contextlib.suppress(ConnectionResetError):
                await response.write_eof()  # dropped for lagging: the stream ends
        except ConnectionResetError:
            pass  # the client left
        finally:
            self.clients.discard(client)
            if messages:
                self.sim.watch_messages(-1)
        return response

    def _message(self, item: Item) -> bytes:
        """One SSE message: the event's JSON form plus its `caption` (captions.py)."""
        number, event, text = item
        out = event_json(event, self.sim.cluster.names)
        out["caption"] = text
        return f"id: {number}\ndata: {json.dumps(out, sort_keys=True)}\n\n".encode()
