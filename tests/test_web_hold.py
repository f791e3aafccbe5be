"""Requests held by a clock that does not move (raftsim/web/simulation.py `wait`, and
`Hold` in raftsim/nomad/endpoints.py): after `hold_limit` seconds of wall-clock time they
get a 504 with a JSON error, and, unless they had already changed something, they are
withdrawn: when the clock moves again, nothing of them is applied."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from raftsim.cli import build_parser
from raftsim.web import Options, start
from raftsim.web.serve import Served

EVENTUALLY = 20  # seconds: far above the limits configured here


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    """Three servers with a leader, then the clock paused; requests held 0.2 s at most."""
    running = await start(
        Options(servers=3, mode="demand", seed=11, hold_limit=0.2),
        http_port=0,
        ports=True,
        control=("127.0.0.1", 0),
    )
    await running.sim.driver.advance(10_000_000)
    assert running.sim.cluster.leader() is not None
    running.sim.driver.set_mode("paused")
    yield running
    await running.close()


def url(served: Served, name: str, path: str) -> str:
    return served.sim.http[name] + path


def peers(served: Served, name: str) -> list[str]:
    return [s.address for s in served.sim.cluster.servers[name].node.latest.servers]


async def test_hold_follower_request_is_withdrawn_with_504(served: Served) -> None:
    """A removal sent to a follower while the clock is paused waits at the follower (its
    forward needs virtual time): 504, and once time runs, the peer is still there."""
    cluster = served.sim.cluster
    leader = cluster.leader()
    follower = next(n for n in cluster.servers if n != leader)
    victim = next(n for n in cluster.servers if n not in (leader, follower))
    address = cluster.servers[victim].address
    async with aiohttp.ClientSession() as session:
        request = session.delete(url(served, follower, f"/v1/operator/raft/peer?address={address}"))
        async with await asyncio.wait_for(request, EVENTUALLY) as response:
            assert response.status == 504
            error = (await response.json())["error"]
    assert "withdrawn before it changed anything: nothing was applied" in error
    await served.sim.driver.advance(30_000_000)
    assert address in peers(served, leader)
    assert not cluster.violations


async def test_hold_request_already_in_the_log_says_it_may_apply(served: Served) -> None:
    """On the leader's own listener the removal reaches the Raft log at once, before any
    hold: the 504 says so, and when time runs it is applied, as the answer warned."""
    cluster = served.sim.cluster
    leader = cluster.leader()
    assert leader is not None
    victim = next(n for n in cluster.servers if n != leader)
    address = cluster.servers[victim].address
    async with aiohttp.ClientSession() as session:
        request = session.delete(url(served, leader, f"/v1/operator/raft/peer?address={address}"))
        async with await asyncio.wait_for(request, EVENTUALLY) as response:
            assert response.status == 504
            error = (await response.json())["error"]
    assert "proposed to the leader's Raft log and may still be applied" in error
    await served.sim.driver.advance(30_000_000)
    assert address not in peers(served, leader)


async def test_hold_read_gets_504_and_the_cluster_keeps_serving(served: Served) -> None:
    """A read held by the paused clock gets the 504 too; the clock running again, the same
    read is answered."""
    cluster = served.sim.cluster
    follower = next(n for n in cluster.servers if n != cluster.leader())
    async with aiohttp.ClientSession() as session:
        read = session.get(url(served, follower, "/v1/status/peers"))
        async with await asyncio.wait_for(read, EVENTUALLY) as response:
            assert response.status == 504
            assert response.content_type == "application/json"
        served.sim.driver.set_mode("demand")
        async with session.get(url(served, follower, "/v1/status/peers")) as response:
            assert response.status == 200


async def test_hold_limit_zero_waits_for_the_clock(served: Served) -> None:
    """With no limit the held request simply waits; it is answered once the clock moves."""
    served.sim.options.hold_limit = 0
    cluster = served.sim.cluster
    follower = next(n for n in cluster.servers if n != cluster.leader())
    async with aiohttp.ClientSession() as session:
        task = asyncio.ensure_future(session.get(url(served, follower, "/v1/status/peers")))
        await asyncio.sleep(0.5)  # more than the 0.2 s the others were held
        assert not task.done()
        served.sim.driver.set_mode("demand")
        served.sim.driver.kick()
        async with await asyncio.wait_for(task, EVENTUALLY) as response:
            assert response.status == 200


@pytest.mark.parametrize(("text", "seconds"), [("0", 0.0), ("30s", 30.0), ("1.5m", 90.0)])
def test_hold_cli_flag_parses_durations(text: str, seconds: float) -> None:
    """`raftsim serve --hold-limit 30s` (0: no limit)."""
    options = build_parser().parse_args(["serve", "--hold-limit", text])
    assert options.hold_limit == seconds


async def test_hold_leave_held_says_it_has_begun(served: Served) -> None:
    """A graceful leave starts at once and cannot be taken back: its 504 says so (not a
    400, not "nothing was applied")."""
    cluster = served.sim.cluster
    name = next(n for n in cluster.servers if n != cluster.leader())
    control = served.sim.control_url
    async with aiohttp.ClientSession() as session:
        request = session.post(f"{control}/v1/sim/servers/{name}/leave")
        async with await asyncio.wait_for(request, EVENTUALLY) as response:
            assert response.status == 504
            error = (await response.json())["error"]
    assert f"begun ({name} is leaving)" in error


async def test_hold_withdrawal_is_replayed_at_its_instant(served: Served) -> None:
    """The withdrawal is an input of the run: replayed, the removal is withdrawn again at
    the same virtual time, and the rebuilt cluster still holds the peer."""
    cluster = served.sim.cluster
    leader = cluster.leader()
    follower = next(n for n in cluster.servers if n != leader)
    victim = next(n for n in cluster.servers if n not in (leader, follower))
    address = cluster.servers[victim].address
    async with aiohttp.ClientSession() as session:
        request = session.delete(url(served, follower, f"/v1/operator/raft/peer?address={address}"))
        async with await asyncio.wait_for(request, EVENTUALLY) as response:
            assert response.status == 504
    await served.sim.driver.advance(30_000_000)
    assert leader is not None and address in peers(served, leader)
    served.sim.replay(served.sim.cluster.now)
    assert address in peers(served, leader)
    assert served.sim.cluster.violations == []


async def test_hold_replay_does_not_withdraw_what_was_applied(served: Served) -> None:
    """A removal already in the leader's log when its hold ran out is applied again on
    replay: the withdrawal is replayed at its own instant, after the proposal."""
    cluster = served.sim.cluster
    leader = cluster.leader()
    assert leader is not None
    victim = next(n for n in cluster.servers if n != leader)
    address = cluster.servers[victim].address
    async with aiohttp.ClientSession() as session:
        request = session.delete(url(served, leader, f"/v1/operator/raft/peer?address={address}"))
        async with await asyncio.wait_for(request, EVENTUALLY) as response:
            assert response.status == 504
    await served.sim.driver.advance(30_000_000)
    assert address not in peers(served, leader)
    served.sim.replay(served.sim.cluster.now)
    assert address not in peers(served, leader)
