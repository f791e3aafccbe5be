"""The listeners that follow the servers' lives (raftsim/web/app.py, `Listeners`): however
crash, restart, leave, pause and resume interleave, a down server's listener refuses
connections and a running (or paused) one's accepts, once the control calls have answered."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator

import aiohttp
import pytest

from raftsim.core.errors import RaftsimError
from raftsim.web import Options, start
from raftsim.web.serve import Served

OPERATIONS = 300  # concurrent control calls per stress round
HANG = 120  # seconds: only a call that never answers takes anywhere near this


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    """Five servers on loopback, one host and kernel-chosen ports; the clock moves only
    while a request waits on it (leave), so the stress spends no CPU on idle Raft."""
    running = await start(
        Options(servers=5, mode="demand", seed=7),
        http_port=0,
        ports=True,
        control=("127.0.0.1", 0),
    )
    yield running
    await running.close()


async def accepts(address: tuple[str, int]) -> bool:
    """Does a new TCP connection to `address` get through (False: refused)?"""
    try:
        _, writer = await asyncio.open_connection(*address)
    except ConnectionRefusedError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def mismatches(served: Served, session: aiohttp.ClientSession) -> list[str]:
    """Servers whose listener disagrees with the state the control surface reports."""
    async with session.get(f"{served.sim.control_url}/v1/sim/state") as response:
        state = await response.json()
    wrong = []
    for row in state["servers"]:
        address = served.listeners.bound[row["name"]]
        listening = await accepts(address)
        if listening != (row["status"] != "down"):
            wrong.append(f"{row['name']} is {row['status']} but listening={listening}")
    return wrong


async def stress(served: Served, session: aiohttp.ClientSession, seed: int) -> None:
    """OPERATIONS random lifecycle actions, all in flight at once; refusals are expected
    (restart of a running server...), the point is how the accepted ones interleave."""
    sim = served.sim
    rng = random.Random(seed)
    names = list(sim.cluster.servers)

    async def control(name: str, action: str) -> None:
        url = f"{sim.control_url}/v1/sim/servers/{name}/{action}"
        async with session.post(url) as response:
            await response.read()
            assert response.status in (200, 400), (seed, action, name, response.status)

    async def direct(name: str, action: str) -> None:
        # The control surface has no pause/resume (yet): act on the cluster from this
        # loop, between the HTTP handlers' steps, as the driver would.
        await asyncio.sleep(rng.random() / 1000)
        with contextlib.suppress(RaftsimError):  # pausing a server that is down...
            getattr(sim.cluster, action)(name)

    calls, leaves = [], []
    for _ in range(OPERATIONS):
        name = rng.choice(names)
        action = rng.choices(
            ["crash", "restart", "leave", "pause", "resume"], weights=[10, 10, 1, 3, 3]
        )[0]
        if action == "leave":
            leaves.append(asyncio.ensure_future(control(name, action)))
        elif action in ("pause", "resume"):
            calls.append(direct(name, action))
        else:
            calls.append(control(name, action))
    try:
        await asyncio.gather(*calls)
        # A leave waits for its server to run again (a paused process leaves nothing).
        for name, server in sim.cluster.servers.items():
            if server.status == "paused":
                sim.cluster.resume(name)
        await asyncio.gather(*leaves)
    finally:
        for leave in leaves:
            leave.cancel()


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_listeners_follow_the_servers_under_concurrent_lifecycle_calls(
    served: Served, seed: int, caplog: pytest.LogCaptureFixture
) -> None:
    """After hundreds of concurrent crash/restart/leave/pause/resume calls have answered,
    each down server refuses connections and each other one accepts, every time."""
    caplog.set_level(logging.WARNING)
    async with aiohttp.ClientSession() as session:
        for round_ in range(3):
            # A guard against a hang (a call never answered), not a measure of speed.
            await asyncio.wait_for(stress(served, session, seed * 100 + round_), HANG)
            for check in range(3):
                wrong = await mismatches(served, session)
                assert not wrong, f"seed {seed * 100 + round_}, check {check}: {wrong}"
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not problems, f"seed {seed}: {problems}"


async def test_listeners_crash_refuses_the_next_connection(served: Served) -> None:
    """Once POST .../crash has answered, a new connection to that server's listener is
    refused; once .../restart has answered, it is accepted again."""
    sim = served.sim
    address = served.listeners.bound["bob"]
    async with aiohttp.ClientSession() as session:
        for _ in range(20):
            async with session.post(f"{sim.control_url}/v1/sim/servers/bob/crash") as response:
                assert response.status == 200
            assert not await accepts(address)
            async with session.post(f"{sim.control_url}/v1/sim/servers/bob/restart") as response:
                assert response.status == 200
            assert await accepts(address)


async def test_listeners_crash_closes_idle_connections(served: Served) -> None:
    """A crash also closes the server's connections that have not sent a request yet:
    the process that held them is gone."""
    sim = served.sim
    reader, writer = await asyncio.open_connection(*served.listeners.bound["carol"])
    url = f"{sim.control_url}/v1/sim/servers/carol/crash"
    async with aiohttp.ClientSession() as session, session.post(url) as response:
        assert response.status == 200
    with contextlib.suppress(ConnectionResetError):  # closed by an abort: a reset
        # Nothing was written: only the server closing the connection ends this read.
        assert await asyncio.wait_for(reader.read(), HANG) == b""
    writer.close()


async def test_listeners_leave_closes_the_listener(served: Served) -> None:
    """A server that left gracefully has exited: its listener refuses connections."""
    sim = served.sim
    async with aiohttp.ClientSession() as session:
        url = f"{sim.control_url}/v1/sim/servers/dave/leave"
        async with session.post(url) as response:
            assert response.status == 200
            state = await response.json()
    row = next(s for s in state["servers"] if s["name"] == "dave")
    assert (row["status"], row["left"]) == ("down", True)
    assert not await accepts(served.listeners.bound["dave"])


async def test_listeners_crash_during_a_leave_answers_the_leave(served: Served) -> None:
    """A server crashed while it is leaving has exited all the same: the leave call
    answers (the state shows it down, not left) and its listener is closed."""
    sim = served.sim
    sim.driver.set_mode("paused")  # the leave cannot complete: virtual time stands still
    async with aiohttp.ClientSession() as session:
        url = f"{sim.control_url}/v1/sim/servers/erin/leave"
        leave = asyncio.ensure_future(session.post(url))
        while "erin" not in sim.nomad.leaving:
            await asyncio.sleep(0)
        async with session.post(f"{sim.control_url}/v1/sim/servers/erin/crash") as response:
            assert response.status == 200
        async with await asyncio.wait_for(leave, HANG) as response:
            assert response.status == 200
            state = await response.json()
    row = next(s for s in state["servers"] if s["name"] == "erin")
    assert (row["status"], row["left"]) == ("down", False)
    assert not await accepts(served.listeners.bound["erin"])
