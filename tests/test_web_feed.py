"""The live event feed, GET /v1/sim/events (raftsim/web/feed.py): Server-Sent Events of the
cluster's typed events, resumable with Last-Event-ID, a lagging client dropped."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from raftsim.sim.render import event_from_json
from raftsim.web import Options, Simulation, make_app

Client = TestClient  # type: ignore[type-arg]


@pytest.fixture
def sim() -> Simulation:
    return Simulation(Options(mode="demand", seed=5))


@pytest.fixture
async def control(aiohttp_client: Callable[..., Awaitable[Client]], sim: Simulation) -> Client:
    return await aiohttp_client(make_app(sim))


async def next_message(response: ClientResponse) -> tuple[int, dict[str, object]]:
    """The next SSE message of a stream: its id and its data (comment lines skipped)."""
    number, data = 0, ""
    while True:
        line = (await asyncio.wait_for(response.content.readline(), 10)).decode()
        if line.startswith("id: "):
            number = int(line[4:])
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "\n" and data:
            return number, json.loads(data)


async def test_web_feed_streams_events_as_they_happen(control: Client, sim: Simulation) -> None:
    """A crash and a restart over /v1/sim/ reach a connected client at once, numbered, in
    the JSON form that reads back to the event."""
    async with control.get("/v1/sim/events") as stream:
        assert stream.status == 200
        assert stream.headers["Content-Type"] == "text/event-stream"
        await control.post("/v1/sim/servers/carol/crash")
        number, data = await next_message(stream)
        assert data["event"] == "crash" and data["server"] == "carol"
        assert event_from_json(data).kind == "crash"
        await control.post("/v1/sim/servers/carol/restart")
        later, data = await next_message(stream)
        assert later > number and data["event"] == "restart"


async def test_web_feed_resumes_from_last_event_id(control: Client, sim: Simulation) -> None:
    """A client that reconnects with Last-Event-ID gets exactly the events it missed."""
    await sim.driver.advance(5_000_000)
    missed = list(sim.feed.ring)
    assert len(missed) > 3
    after = missed[1][0]
    headers = {"Last-Event-ID": str(after)}
    async with control.get("/v1/sim/events", headers=headers) as stream:
        got = [await next_message(stream) for _ in range(len(missed) - 2)]
    assert [number for number, _ in got] == [number for number, _, _ in missed[2:]]
    assert [data["event"] for _, data in got] == [event.kind for _, event, _ in missed[2:]]
    assert [data["caption"] for _, data in got] == [text for _, _, text in missed[2:]]


async def test_web_feed_says_what_a_resume_cannot_give(control: Client, sim: Simulation) -> None:
    """Resuming from before the ring's oldest event starts with a `dropped` event counting
    what is gone."""
    sim.feed.ring = type(sim.feed.ring)(sim.feed.ring, maxlen=5)
    await sim.driver.advance(5_000_000)
    oldest = sim.feed.ring[0][0]
    async with control.get("/v1/sim/events", headers={"Last-Event-ID": "1"}) as stream:
        _, first = await next_message(stream)
        number, _ = await next_message(stream)
    assert first["event"] == "dropped" and first["count"] == oldest - 2
    assert number == oldest


async def test_web_feed_drops_a_client_that_lags(control: Client, sim: Simulation) -> None:
    """A client that does not read is dropped once its backlog is full: memory stays
    bounded, and the feed goes on for the others."""
    sim.cluster.crash("carol")
    event = sim.feed.ring[-1][1]
    async with control.get("/v1/sim/events") as stream:
        assert stream.status == 200
        (client,) = sim.feed.clients
        for _ in range(client.queue.maxsize + 1):  # (the feed's own listener, as the
            sim.feed._on_event(event)  # cluster calls it, faster than any run would)
        assert client.dropped and not sim.feed.clients
        assert len(sim.feed.ring) <= sim.feed.ring.maxlen  # type: ignore[operator]
