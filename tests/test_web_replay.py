"""The journal of inputs and the replay it allows (raftsim/web/simulation.py, teaching.py):
the page's time slider rebuilds a served run from its seed and recorded inputs, control
calls and Nomad API requests alike, and gets the run it had, event for event."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient

from raftsim.web import Options, Simulation, make_app

Client = TestClient  # type: ignore[type-arg]


@pytest.fixture
def sim() -> Simulation:
    return Simulation(Options(mode="demand", seed=21))


async def post(client: Client, path: str, body: object = None) -> tuple[int, dict[str, object]]:
    async with client.post(path, json=body) as response:
        return response.status, await response.json()


def shown(sim: Simulation) -> str:
    """The state as the page shows it, without what belongs to the wall clock."""
    state = sim.state()
    for key in ("clock", "horizon_us", "inputs", "events", "replayable"):
        state.pop(key)
    return json.dumps(state, sort_keys=True)


def trace(sim: Simulation) -> list[str]:
    return [line for line in sim.cluster.trace_lines() if " reset " not in line]


async def play(sim: Simulation, control: Client, nomad: Client) -> None:
    """Control calls and Nomad API requests at several virtual times."""
    await sim.driver.advance(3_000_000)
    assert (await post(control, "/v1/sim/servers/carol/crash"))[0] == 200
    await sim.driver.advance(1_500_000)
    async with nomad.get("/v1/operator/raft/configuration") as response:
        assert response.status == 200
    assert (await post(control, "/v1/sim/partition", {"groups": [["alice"], ["bob", "carol"]]}))[
        0
    ] == 200
    await sim.driver.advance(4_000_000)
    assert (await post(control, "/v1/sim/heal"))[0] == 200
    assert (await post(control, "/v1/sim/servers/carol/restart"))[0] == 200
    assert (await post(control, "/v1/sim/servers/alice/timeout"))[0] == 200
    await sim.driver.advance(3_000_000)


async def test_replay_back_and_forth_gives_the_same_run(
    aiohttp_client: Callable[..., Awaitable[Client]], sim: Simulation
) -> None:
    control = await aiohttp_client(make_app(sim))
    nomad = await aiohttp_client(make_app(sim, default_server="bob"))
    await play(sim, control, nomad)
    end = sim.cluster.now
    live_state, live_trace = shown(sim), trace(sim)
    assert len(sim.journal) == 6  # crash, the read, partition, heal, restart, timeout

    status, state = await post(control, "/v1/sim/replay", {"time_us": end // 2})
    assert status == 200 and state["time_us"] == end // 2 and state["horizon_us"] == end
    assert state["clock"]["mode"] == "paused"  # type: ignore[index]
    assert trace(sim) == [line for line in live_trace if _time(line) <= end // 2]

    status, state = await post(control, "/v1/sim/replay", {"time_us": end})
    assert status == 200
    assert shown(sim) == live_state
    assert trace(sim) == live_trace


async def test_replay_matches_a_fresh_run_with_the_same_inputs(
    aiohttp_client: Callable[..., Awaitable[Client]], sim: Simulation
) -> None:
    """A second simulation of the same seed, given the same inputs at the same times, is
    the same run: what the slider shows is what happened."""
    control = await aiohttp_client(make_app(sim))
    nomad = await aiohttp_client(make_app(sim, default_server="bob"))
    await play(sim, control, nomad)
    fresh = Simulation(Options(mode="demand", seed=21))
    fresh_control = await aiohttp_client(make_app(fresh))
    fresh_nomad = await aiohttp_client(make_app(fresh, default_server="bob"))
    await play(fresh, fresh_control, fresh_nomad)
    assert shown(fresh) == shown(sim) and trace(fresh) == trace(sim)
    await post(control, "/v1/sim/replay", {"time_us": 1_000_000})
    await post(control, "/v1/sim/replay", {"time_us": fresh.cluster.now})
    assert shown(fresh) == shown(sim)


async def test_running_on_from_a_rewound_point_starts_a_new_future(
    aiohttp_client: Callable[..., Awaitable[Client]], sim: Simulation
) -> None:
    control = await aiohttp_client(make_app(sim))
    await sim.driver.advance(2_000_000)
    await post(control, "/v1/sim/servers/bob/crash")
    await sim.driver.advance(2_000_000)
    status, _ = await post(control, "/v1/sim/replay", {"time_us": 1_000_000})
    assert status == 200 and len(sim.future) == 1
    await sim.driver.advance(2_000_000)  # past the recorded crash, which did not happen now
    state = sim.state()
    assert state["horizon_us"] == state["time_us"] == 3_000_000
    assert not sim.future and sim.cluster.servers["bob"].status == "up"
    status, error = await post(control, "/v1/sim/replay", {"time_us": 3_500_000})
    assert status == 400 and "not reached" in str(error["error"])


async def test_reset_starts_over_and_bad_input_changes_nothing(
    aiohttp_client: Callable[..., Awaitable[Client]], sim: Simulation
) -> None:
    control = await aiohttp_client(make_app(sim))
    await sim.driver.advance(2_000_000)
    before = shown(sim)
    for path, body in [
        ("/v1/sim/replay", {"time_us": -1}),
        ("/v1/sim/replay", {"time_us": "1s"}),
        ("/v1/sim/reset", {"seed": -3}),
        ("/v1/sim/reset", {"seed": True}),
        ("/v1/sim/step", {"until": "lunch"}),
        ("/v1/sim/servers/nobody/timeout", None),
        ("/v1/sim/propose", {"data": ""}),
    ]:
        status, error = await post(control, path, body)
        assert status == 400 and error["error"], (path, body)
        assert shown(sim) == before, (path, body)
    status, state = await post(control, "/v1/sim/reset", {"seed": 4})
    assert status == 200 and state["seed"] == 4 and state["time_us"] == 0
    assert not sim.journal


async def test_step_runs_one_event_or_on_to_the_next_election(
    aiohttp_client: Callable[..., Awaitable[Client]], sim: Simulation
) -> None:
    control = await aiohttp_client(make_app(sim))
    before = sim.cluster.sched.executed
    status, state = await post(control, "/v1/sim/step", {"until": "event"})
    assert status == 200 and state["events"] == before + 1
    status, state = await post(control, "/v1/sim/step", {"until": "election"})
    assert status == 200 and state["reached"] and state["leader"]
    leader = state["leader"]
    status, state = await post(control, "/v1/sim/step", {"until": "commit"})
    assert status == 200 and state["reached"]
    assert any(s["commit_index"] > 1 for s in state["servers"] if s["name"] == leader)  # type: ignore[union-attr]


def _time(line: str) -> int:
    """A trace line's virtual time in µs ('   1114.299ms alice ...')."""
    return round(float(line.split(maxsplit=1)[0].removesuffix("ms")) * 1000)


async def test_a_run_with_too_many_inputs_stops_being_replayable(
    aiohttp_client: Callable[..., Awaitable[Client]],
    sim: Simulation,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Memory stays bounded: past the journal's limit the inputs are dropped and replay is
    refused with a reason; a reset makes a new, replayable run."""
    monkeypatch.setattr("raftsim.web.simulation.JOURNAL_LIMIT", 3)
    control = await aiohttp_client(make_app(sim))
    for action in ("pause", "resume", "pause", "resume"):
        assert (await post(control, f"/v1/sim/servers/alice/{action}"))[0] == 200
    assert not sim.journal and sim.state()["replayable"] is False
    status, error = await post(control, "/v1/sim/replay", {"time_us": 0})
    assert status == 400 and "can no longer be replayed" in str(error["error"])
    await post(control, "/v1/sim/reset")
    assert sim.state()["replayable"] is True


async def test_reset_and_replay_wait_for_an_advance_to_finish(
    aiohttp_client: Callable[..., Awaitable[Client]], sim: Simulation
) -> None:
    """An advance holds the scheduler between its slices: a reset, a replay or a step in
    the meantime is refused (400) and changes nothing."""
    control = await aiohttp_client(make_app(sim))
    await sim.driver.advance(2_000_000)
    before = shown(sim)
    advancing = asyncio.ensure_future(sim.driver.advance(events=100_000))
    await asyncio.sleep(0)
    assert sim.driver.advancing
    for path, body in [
        ("/v1/sim/reset", {"seed": 9}),
        ("/v1/sim/replay", {"time_us": 1_000_000}),
        ("/v1/sim/step", {"until": "event"}),
    ]:
        status, error = await post(control, path, body)
        assert status == 400 and "advancing" in str(error["error"]), (path, error)
    assert sim.options.seed == 21
    await advancing
    assert shown(sim) != before  # (the advance itself went on)
