"""The simulation-control surface under /v1/sim/ (ring 2, raftsim/web/control.py) and the
listeners that follow the servers' lives (raftsim/web/app.py): actions answer with the new
state; bad input gets a 400 with a JSON error and changes nothing."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from raftsim.sim.render import event_from_json
from raftsim.web import Options, Simulation, make_app, start
from raftsim.web.control import MAX_BODY
from raftsim.web.serve import Served

Client = TestClient  # type: ignore[type-arg]


@pytest.fixture
def sim() -> Simulation:
    return Simulation(Options(mode="demand", seed=5))


@pytest.fixture
async def control(aiohttp_client: Callable[..., Awaitable[Client]], sim: Simulation) -> Client:
    """A client of the control surface (no default server: Nomad paths are not served)."""
    return await aiohttp_client(make_app(sim))


async def post(client: Client, path: str, body: object = None) -> tuple[int, dict[str, object]]:
    async with client.post(path, json=body) as response:  # None: no body at all
        return response.status, await response.json()


def fingerprint(sim: Simulation) -> str:
    """Everything /v1/sim/state shows, to prove that a refused action changed nothing."""
    return json.dumps(sim.state(), sort_keys=True)


async def test_web_control_state_shows_every_server(control: Client, sim: Simulation) -> None:
    """GET /v1/sim/state: roles, terms, leaders, indexes, configurations, network, clock."""
    await sim.driver.advance(10_000_000)
    async with control.get("/v1/sim/state") as response:
        assert response.status == 200
        state = await response.json()
    assert [s["name"] for s in state["servers"]] == ["alice", "bob", "carol"]
    assert state["leader"] in ("alice", "bob", "carol")
    assert state["time_us"] == sim.cluster.now == 10_000_000
    first = state["servers"][0]
    assert first["latest"]["servers"][0] == {
        "id": "127.0.0.1:4647",
        "name": "alice",
        "address": "127.0.0.1:4647",
        "suffrage": "Voter",
    }
    assert state["network"] == {
        "partitioned": False,
        "groups": [["alice", "bob", "carol"]],
        "blocked": [],
    }
    assert state["clock"]["mode"] == "demand"


async def test_web_control_crash_and_restart(control: Client, sim: Simulation) -> None:
    """POST .../crash and .../restart act and answer with the new state."""
    status, state = await post(control, "/v1/sim/servers/carol/crash")
    assert status == 200
    assert [s["status"] for s in state["servers"]] == ["up", "up", "down"]  # type: ignore[index]
    status, state = await post(control, "/v1/sim/servers/carol/restart")
    assert status == 200 and sim.cluster.servers["carol"].status == "up"


async def test_web_control_pause_and_resume(control: Client, sim: Simulation) -> None:
    """POST .../pause freezes a server (a second pause is refused, the state says paused);
    .../resume thaws it; each answers with the new state."""
    status, state = await post(control, "/v1/sim/servers/bob/pause")
    assert status == 200
    assert [s["status"] for s in state["servers"]] == ["up", "paused", "up"]  # type: ignore[index]
    status, answer = await post(control, "/v1/sim/servers/bob/pause")
    assert status == 400 and answer["error"] == "bob is not running"
    status, state = await post(control, "/v1/sim/servers/bob/resume")
    assert status == 200 and sim.cluster.servers["bob"].status == "up"


async def test_web_control_network_sets_every_link_or_one(control: Client, sim: Simulation) -> None:
    """POST /v1/sim/network changes the default conditions, or one direction of one link,
    keeping the fields it was not given."""
    status, _ = await post(control, "/v1/sim/network", {"latency": "1ms-5ms", "loss": 0.01})
    assert status == 200
    network = sim.cluster.network
    assert (network.default.latency_min, network.default.latency_max) == (1000, 5000)
    assert network.default.loss == 0.01 and not network.default.reorder
    body = {"from": "alice", "to": "bob", "reorder": True, "duplicate": 0.2}
    status, _ = await post(control, "/v1/sim/network", body)
    ids = {name: s.id for name, s in sim.cluster.servers.items()}
    link = network.conditions(ids["alice"], ids["bob"])
    assert status == 200 and link.reorder and link.duplicate == 0.2 and link.loss == 0.01
    assert network.conditions(ids["bob"], ids["alice"]) == network.default
    assert sim.cluster.trace_lines()[-1].endswith("network   alice->bob duplicate=0.2 reorder=True")


async def test_web_control_trace_gives_events_since_a_time(
    control: Client, sim: Simulation
) -> None:
    """GET /v1/sim/trace?since=T: the recorded events from T on, as JSON lines that read
    back; a bad T is a 400."""
    await sim.driver.advance(10_000_000)
    async with control.get("/v1/sim/trace") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/x-ndjson"
        every = [json.loads(line) for line in (await response.text()).splitlines()]
    assert len(every) == len(sim.cluster.records) and every[0]["t"] == 0
    since = every[len(every) // 2]["t"]
    async with control.get(f"/v1/sim/trace?since={since}") as response:
        later = [json.loads(line) for line in (await response.text()).splitlines()]
    assert later and all(event["t"] >= since for event in later)
    assert later == [event for event in every if event["t"] >= since]
    assert event_from_json(later[0]).kind == later[0]["event"]
    async with control.get("/v1/sim/trace?since=-1") as response:
        assert response.status == 400
        assert "whole microseconds" in (await response.json())["error"]


async def test_web_control_cut_is_one_way_and_heal_removes_it(
    control: Client, sim: Simulation
) -> None:
    """POST /v1/sim/cut blocks one direction only, on top of what is there; heal lifts it."""
    status, state = await post(control, "/v1/sim/cut", {"from": "alice", "to": "bob"})
    assert status == 200
    ids = {name: s.id for name, s in sim.cluster.servers.items()}
    assert sim.cluster.network.blocked == {(ids["alice"], ids["bob"])}
    assert state["network"]["blocked"] == ["alice->bob"]  # type: ignore[index]
    status, _ = await post(control, "/v1/sim/cut", {"from": "carol", "to": "alice"})
    assert len(sim.cluster.network.blocked) == 2
    await post(control, "/v1/sim/heal")
    assert sim.cluster.network.blocked == set()


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/v1/sim/servers/zed/crash", None, "unknown server 'zed'"),
        ("/v1/sim/servers/alice/restart", None, "alice is not down"),
        ("/v1/sim/partition", None, '"groups" must be a non-empty list'),
        ("/v1/sim/partition", {"groups": []}, '"groups" must be a non-empty list'),
        ("/v1/sim/partition", {"groups": [["alice"], []]}, "each group must be a non-empty"),
        ("/v1/sim/partition", {"groups": [["alice"], ["alice"]]}, "alice is in more than one"),
        ("/v1/sim/partition", {"groups": [["alice"], ["zed"]]}, "unknown server 'zed'"),
        ("/v1/sim/partition", {"groups": [["alice", 3]]}, "server names are strings"),
        ("/v1/sim/partition", {"groups": [["alice"]], "x": 1}, "unknown field(s): x"),
        ("/v1/sim/partition", [1], "the body must be a JSON object"),
        ("/v1/sim/clock", {"mode": "fast"}, "mode must be one of"),
        ("/v1/sim/clock", {"speed": 0}, "speed must be from 0.001"),
        ("/v1/sim/clock", {"speed": "1"}, "speed must be a number"),
        ("/v1/sim/clock/advance", {}, 'give exactly one of "by"'),
        ("/v1/sim/clock/advance", {"by": "2h"}, "at most 1h"),
        ("/v1/sim/clock/advance", {"by": "soon"}, "not a duration"),
        ("/v1/sim/clock/advance", {"events": 0}, '"events" must be an integer'),
        ("/v1/sim/clock/advance", {"by": "\u0661\u0660s"}, "not a duration"),  # Arabic-Indic 10
        ("/v1/sim/clock/advance", {"by": "\uff11\uff10s"}, "not a duration"),  # fullwidth 10
        ("/v1/sim/clock", {"speed": 0.0001}, "speed must be from 0.001"),
        ("/v1/sim/clock", {"speed": 1e-300}, "speed must be from 0.001"),
        ("/v1/sim/servers/carol/crash", {"force": True}, "unknown field(s): force"),
        ("/v1/sim/heal", [], "the body must be a JSON object"),
        ("/v1/sim/servers/zed/pause", None, "unknown server 'zed'"),
        ("/v1/sim/servers/alice/resume", None, "alice is not paused"),
        ("/v1/sim/servers/alice/pause", {"for": "1s"}, "unknown field(s): for"),
        ("/v1/sim/cut", None, '"from" and "to" must be server names'),
        ("/v1/sim/cut", {"from": "alice"}, '"from" and "to" must be server names'),
        ("/v1/sim/cut", {"from": "alice", "to": "zed"}, "unknown server 'zed'"),
        ("/v1/sim/cut", {"from": "alice", "to": "alice"}, "got alice twice"),
        ("/v1/sim/cut", {"from": "alice", "to": 2}, '"from" and "to" must be server names'),
        ("/v1/sim/network", None, 'give at least one of "latency"'),
        ("/v1/sim/network", {"loss": 1.5}, "loss must be a probability"),
        ("/v1/sim/network", {"loss": "a lot"}, '"loss" is a probability'),
        ("/v1/sim/network", {"duplicate": True}, '"duplicate" is a probability'),
        ("/v1/sim/network", {"latency": "5ms-1ms"}, "latency needs 0 <= min <= max"),
        ("/v1/sim/network", {"latency": "fast"}, '"latency": not a duration'),
        ("/v1/sim/network", {"reorder": "yes"}, '"reorder" is true or false'),
        ("/v1/sim/network", {"loss": 0.1, "from": "alice"}, '"from" and "to" go together'),
        ("/v1/sim/network", {"loss": 0.1, "from": "alice", "to": "zed"}, "unknown server"),
        ("/v1/sim/network", {"loss": 0.1, "from": "bob", "to": "bob"}, "got bob twice"),
    ],
)
async def test_web_control_bad_input_is_400_and_changes_nothing(
    control: Client, sim: Simulation, path: str, body: object, message: str
) -> None:
    """Bad control input: 400, `{"error": ...}` saying what is wrong, the cluster untouched."""
    before = fingerprint(sim)
    status, answer = await post(control, path, body)
    assert status == 400
    assert message in str(answer["error"])
    assert fingerprint(sim) == before


async def test_web_control_invalid_json_is_400(control: Client, sim: Simulation) -> None:
    """A body that is not JSON at all is refused the same way."""
    headers = {"Content-Type": "application/json"}
    async with control.post("/v1/sim/partition", data=b"{groups", headers=headers) as response:
        assert response.status == 400
        assert "not valid JSON" in (await response.json())["error"]


def nested(depth: int) -> bytes:
    return b'{"groups": ' + b"[" * depth + b'"alice"' + b"]" * depth + b"}"


@pytest.mark.parametrize("depth", [16, 20_000])
async def test_web_control_deeply_nested_json_is_400(
    control: Client, sim: Simulation, depth: int, caplog: pytest.LogCaptureFixture
) -> None:
    """JSON nested past MAX_DEPTH is a 400 before json.loads could recurse, not a crash."""
    before = fingerprint(sim)
    headers = {"Content-Type": "application/json"}
    with caplog.at_level(logging.ERROR, logger="raftsim.web"):
        async with control.post("/v1/sim/partition", data=nested(depth), headers=headers) as r:
            assert r.status == 400
            assert "nests arrays and objects more than 16 deep" in (await r.json())["error"]
    assert fingerprint(sim) == before and caplog.records == []


async def test_web_control_brackets_inside_strings_do_not_count(control: Client) -> None:
    """Depth counts structure only: a server name full of brackets is just a wrong name."""
    status, answer = await post(control, "/v1/sim/partition", {"groups": [["[" * 40]]})
    assert status == 400 and "unknown server" in str(answer["error"])


async def chunks(data: bytes, size: int = 8192) -> AsyncIterator[bytes]:
    """A body sent chunked (no Content-Length), as a generator gives it to aiohttp."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


def padded(size: int) -> bytes:
    """A valid partition body of exactly `size` bytes."""
    core = b'{"groups": [["alice"]]}'
    return core[:-1] + b" " * (size - len(core)) + b"}"


@pytest.mark.parametrize(
    ("size", "chunked"),
    [(100_000, False), (100_000, True), (2 * 1024 * 1024, True), (MAX_BODY + 1, True)],
)
async def test_web_control_body_over_the_cap_is_413(
    control: Client, sim: Simulation, size: int, chunked: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """A body over 64 KiB is a 413 whether its length is declared or it comes chunked
    (aiohttp's own 1 MiB limit is never reached); nothing applied, nothing logged."""
    before = fingerprint(sim)
    data = padded(size)
    payload: object = chunks(data) if chunked else data
    headers = {"Content-Type": "application/json"}
    with caplog.at_level(logging.ERROR, logger="raftsim.web"):
        async with control.post("/v1/sim/partition", data=payload, headers=headers) as r:
            assert r.status == 413
            assert (await r.json())["error"] == f"the body is larger than {MAX_BODY} bytes"
    assert fingerprint(sim) == before and caplog.records == []


@pytest.mark.parametrize("chunked", [False, True])
async def test_web_control_body_at_the_cap_is_read(
    control: Client, sim: Simulation, chunked: bool
) -> None:
    """A body of exactly MAX_BODY bytes is still taken, sent either way."""
    data = padded(MAX_BODY)
    payload: object = chunks(data) if chunked else data
    headers = {"Content-Type": "application/json"}
    async with control.post("/v1/sim/partition", data=payload, headers=headers) as r:
        assert r.status == 200
    assert sim.state()["network"]["partitioned"] is True  # type: ignore[index]


async def test_web_control_partition_replaces_and_heal_removes(
    control: Client, sim: Simulation
) -> None:
    """POST /v1/sim/partition sets the groups (replacing earlier ones; servers in no group
    form one more group); heal removes them."""
    status, state = await post(control, "/v1/sim/partition", {"groups": [["alice"], ["bob"]]})
    assert status == 200
    assert state["network"]["groups"] == [["alice"], ["bob"], ["carol"]]  # type: ignore[index]
    status, state = await post(control, "/v1/sim/partition", {"groups": [["carol"]]})
    assert state["network"]["groups"] == [["alice", "bob"], ["carol"]]  # type: ignore[index]
    status, state = await post(control, "/v1/sim/heal")
    assert state["network"]["partitioned"] is False  # type: ignore[index]
    # The trace says what happened: a heal only where there was a partition to remove.
    kinds = [e.kind for e in sim.cluster.records if e.kind in ("partition", "heal")]
    assert kinds == ["partition", "heal", "partition", "heal"]


async def test_web_control_clock_and_advance(control: Client, sim: Simulation) -> None:
    """The clock's mode and speed can be read and changed; advance runs virtual time."""
    async with control.get("/v1/sim/clock") as response:
        assert (await response.json())["mode"] == "demand"
    status, clock = await post(control, "/v1/sim/clock", {"mode": "paused", "speed": 2})
    assert (status, clock["mode"], clock["speed"]) == (200, "paused", 2.0)
    start = sim.cluster.now
    status, state = await post(control, "/v1/sim/clock/advance", {"by": "1.5s"})
    assert status == 200 and state["time_us"] == start + 1_500_000
    status, state = await post(control, "/v1/sim/clock/advance", {"events": 10})
    assert status == 200 and state["time_us"] > start + 1_500_000  # type: ignore[operator]


async def test_web_control_leave_is_graceful(control: Client, sim: Simulation) -> None:
    """POST .../leave: Nomad's graceful leave, answered once the server has exited."""
    await sim.driver.advance(10_000_000)
    leader = sim.cluster.leader()
    follower = next(n for n in sim.cluster.servers if n != leader)
    status, state = await post(control, f"/v1/sim/servers/{follower}/leave")
    assert status == 200
    row = next(s for s in state["servers"] if s["name"] == follower)  # type: ignore[attr-defined]
    assert (row["status"], row["left"]) == ("down", True)
    status, answer = await post(control, f"/v1/sim/servers/{follower}/leave")
    assert status == 400 and "not running" in str(answer["error"])


async def test_web_control_unknown_paths_and_methods(control: Client) -> None:
    """Unknown /v1/sim/ paths are a JSON 404; a wrong method a 405 with Allow."""
    async with control.get("/v1/sim/nothing") as response:
        assert response.status == 404
    async with control.delete("/v1/sim/state") as response:
        assert (response.status, response.headers["Allow"]) == (405, "GET")
    async with control.get("/v1/status/leader") as response:
        # The control listener is no Nomad server: Go's 404 for Nomad paths.
        assert (response.status, await response.text()) == (404, "404 page not found\n")


async def test_web_control_serves_the_openapi_document(control: Client) -> None:
    """GET /v1/sim/openapi.json: the shipped OpenAPI document."""
    async with control.get("/v1/sim/openapi.json") as response:
        doc = await response.json()
    assert doc["openapi"].startswith("3.")
    assert "/v1/operator/raft/configuration" in doc["paths"]
    assert "/v1/sim/partition" in doc["paths"]


# ------------------------------------------------------------ real listeners


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    """The real thing on loopback: one listener per server (ports mode, kernel-chosen),
    each serving /v1/sim/ too."""
    options = Options(mode="autojump", seed=2, sim_on_servers=True)
    running = await start(options, http_port=0, ports=True, control=("127.0.0.1", 0))
    yield running
    await running.close()


async def test_web_listener_of_a_crashed_server_refuses_connections(served: Served) -> None:
    """A crashed server's own listener stops answering; restart reopens the same address."""
    sim = served.sim
    alice, carol = sim.http["alice"], sim.http["carol"]
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{sim.control_url}/v1/sim/servers/carol/crash") as response:
            assert response.status == 200
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get(f"{carol}/v1/status/peers?stale") as response:
                await response.read()
        async with session.get(f"{alice}/v1/agent/members") as response:
            assert response.status == 200
        async with session.post(f"{alice}/v1/sim/servers/carol/restart") as response:
            assert response.status == 200  # with sim_on_servers, on every live listener
        assert sim.http["carol"] == carol
        async with session.get(f"{carol}/v1/status/peers?stale") as response:
            assert response.status == 200


async def test_web_crash_through_the_servers_own_listener_still_answers(served: Served) -> None:
    """Crashing a server through its own listener: the reply goes out, then it closes."""
    bob = served.sim.http["bob"]
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{bob}/v1/sim/servers/bob/crash") as response:
            assert response.status == 200
            assert response.headers.get("Connection", "").lower() == "close"
        await asyncio.sleep(0)
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get(f"{bob}/v1/agent/members") as response:
                await response.read()
