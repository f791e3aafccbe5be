"""The time driver (ring 2, raftsim/web/driver.py): paced, paused, autojump and demand modes
against the asyncio loop (DESIGN.md "Time")."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from raftsim.nomad import Request
from raftsim.web import Options, Simulation
from raftsim.web.driver import MAX_SPEED, MIN_SPEED, MIN_TICK, check_mode


@pytest.fixture
async def running() -> AsyncIterator[Simulation]:
    sim = Simulation(Options(mode="paused", seed=4))
    sim.driver.start()
    yield sim
    await sim.driver.stop()


async def test_driver_paused_moves_nothing(running: Simulation) -> None:
    """Paused: virtual time stands still whatever the wall clock does."""
    await asyncio.sleep(0.05)
    assert running.cluster.now == 0


async def test_driver_paced_idle_cluster_sleeps_between_events(running: Simulation) -> None:
    """Paced: the task wakes about once per MIN_TICK at most, never spins (issue 3)."""
    running.driver.set_mode("paced", 1.0)
    before = running.driver.wakeups
    await asyncio.sleep(0.3)
    woke = running.driver.wakeups - before
    assert woke <= 0.3 / MIN_TICK + 10  # a spinning loop would wake thousands of times
    assert running.cluster.now > 0


async def test_driver_paced_state_gives_the_anchor_of_virtual_on_monotonic_time(
    running: Simulation,
) -> None:
    """Paced, the clock's state says where virtual time is anchored on the loop's clock
    (time.monotonic()); a change of speed re-anchors it at the current virtual time, and
    other modes have no anchor."""
    assert "anchor" not in running.driver.state()
    await running.driver.advance(3_000_000)
    before = asyncio.get_running_loop().time()
    running.driver.set_mode("paced", 10.0)
    state = running.driver.state()
    after = asyncio.get_running_loop().time()

    anchor = state["anchor"]
    assert isinstance(anchor, dict)
    assert anchor["virtual_us"] == 3_000_000
    assert before <= anchor["monotonic_s"] <= after
    assert anchor["monotonic_s"] == pytest.approx(time.monotonic(), abs=60)  # the same clock


async def test_driver_autojump_runs_ahead_of_the_wall_clock(running: Simulation) -> None:
    """Autojump: virtual time runs as fast as the events allow."""
    running.driver.set_mode("autojump")
    await asyncio.sleep(0.1)
    assert running.cluster.now > 1_000_000


async def test_driver_demand_stops_exactly_at_the_answer(running: Simulation) -> None:
    """Demand: frozen until a request waits, then jumps to the event that answers it."""
    running.driver.set_mode("demand")
    await running.driver.advance(10_000_000)
    running.cluster.partition(*[[n] for n in running.cluster.servers])
    await running.driver.advance(10_000_000)
    await asyncio.sleep(0.02)
    assert running.cluster.now == 20_000_000
    _result, error = await running.wait(
        lambda reply: running.nomad.call("bob", Request("Status.Leader", "global"), reply)
    )
    assert str(error) == "No cluster leader"
    answered = running.cluster.now
    assert 25_000_000 <= answered < 25_000_000 + 5_000_000 // 16
    await asyncio.sleep(0.02)
    assert running.cluster.now == answered


async def test_driver_demand_is_deterministic() -> None:
    """Demand mode: the same requests in the same order give the same virtual history."""

    async def history() -> list[tuple[int, str, str]]:
        sim = Simulation(Options(mode="demand", seed=9))
        sim.driver.start()
        try:
            await sim.driver.advance(5_000_000)
            sim.cluster.crash(sim.cluster.leader() or "alice")
            for entry in ("alice", "bob", "carol"):
                if sim.cluster.servers[entry].status == "up":
                    await sim.wait(
                        lambda reply, e=entry: sim.nomad.call(
                            e, Request("Status.Peers", "global"), reply
                        )
                    )
            return [*sim.nomad.lines, (sim.cluster.now, "", "")]
        finally:
            await sim.driver.stop()

    assert await history() == await history()


async def test_driver_advance_runs_an_exact_span(running: Simulation) -> None:
    """advance(span) moves the clock by exactly span, in any mode."""
    await running.driver.advance(2_500_000)
    assert running.cluster.now == 2_500_000
    await running.driver.advance(0, events=5)
    assert running.cluster.now >= 2_500_000


@pytest.mark.parametrize(
    ("mode", "speed"),
    [
        ("fast", 1.0),
        ("paced", 0),
        ("paced", -1),
        ("paced", True),
        ("paced", 1e9),
        ("paced", 0.0009),
        ("paced", 5e-324),
        ("paced", float("nan")),
    ],
)
def test_driver_rejects_bad_modes_and_speeds(mode: str, speed: object) -> None:
    """A mode outside the four, or a speed not in [0.001, 1e6], is a ValueError."""
    with pytest.raises(ValueError, match=r"mode|speed"):
        check_mode(mode, speed)


def test_driver_speed_bounds_are_accepted() -> None:
    """The slowest and the fastest allowed speeds are valid paced speeds."""
    assert check_mode("paced", MIN_SPEED) == ("paced", MIN_SPEED)
    assert check_mode("paced", MAX_SPEED) == ("paced", MAX_SPEED)
