"""Who may drive the simulation (ring 2, raftsim/web/guard.py and the listeners' split in
raftsim/web/app.py): /v1/sim/ only on the control listener unless opted in; state-changing
calls refuse a foreign Origin or Host and non-JSON bodies; a token when one is configured
(always off loopback). A refusal is JSON, and changes nothing."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from raftsim.cli import build_parser
from raftsim.web import Options, Simulation, make_app, start
from raftsim.web.guard import is_loopback
from raftsim.web.serve import Served, banner, secured

Client = TestClient  # type: ignore[type-arg]
MakeClient = Callable[..., Awaitable[Client]]
CRASH = "/v1/sim/servers/carol/crash"


@pytest.fixture
def sim() -> Simulation:
    return Simulation(Options(mode="demand", seed=5))


@pytest.fixture
async def control(aiohttp_client: MakeClient, sim: Simulation) -> Client:
    """A client of the control surface, as the control listener serves it."""
    return await aiohttp_client(make_app(sim))


def fingerprint(sim: Simulation) -> str:
    return json.dumps(sim.state(), sort_keys=True)


def authority(client: Client) -> str:
    """host:port of the client's server, as a browser writes it in Host and Origin."""
    url = client.make_url("/")
    return f"{url.host}:{url.port}"


async def refused(
    client: Client, sim: Simulation, status: int, path: str = CRASH, **kwargs: object
) -> str:
    """POST, expect `status` with a JSON error and the simulation untouched; the error."""
    before = fingerprint(sim)
    async with client.post(path, **kwargs) as response:  # type: ignore[arg-type]
        assert response.status == status
        assert response.headers["Content-Type"] == "application/json"
        error = (await response.json())["error"]
    assert fingerprint(sim) == before
    assert isinstance(error, str)
    return error


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "null", "http://127.0.0.1:1", "https://127.0.0.1"]
)
async def test_guard_foreign_origin_is_refused(
    control: Client, sim: Simulation, origin: str
) -> None:
    """A page from any other origin (another site, another local port) cannot act: 403."""
    error = await refused(control, sim, 403, headers={"Origin": origin})
    assert "may not change the simulation" in error


async def test_guard_own_origin_is_accepted(control: Client, sim: Simulation) -> None:
    """A page served by the listener itself (127.0.0.1:PORT or localhost:PORT) can act."""
    port = control.make_url("/").port
    own = {"Origin": f"http://{authority(control)}"}
    async with control.post(CRASH, headers=own) as response:
        assert response.status == 200
    local = {"Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"}
    async with control.post("/v1/sim/servers/carol/restart", headers=local) as response:
        assert response.status == 200
    assert sim.cluster.servers["carol"].status == "up"


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("text/plain", '{"groups": [["alice"], ["bob", "carol"]]}'),
        ("text/plain;charset=UTF-8", '{"groups": [["alice"]]}'),
        ("application/x-www-form-urlencoded", "groups=alice"),
        ("multipart/form-data; boundary=x", "--x\r\n\r\n--x--\r\n"),
        ("application/octet-stream", "{}"),
    ],
)
async def test_guard_non_json_bodies_are_refused(
    control: Client, sim: Simulation, content_type: str, data: str
) -> None:
    """What a browser sends without asking first (text, forms) is a 415 even when it is JSON."""
    headers = {"Content-Type": content_type}
    path = "/v1/sim/partition"
    error = await refused(control, sim, 415, path, data=data.encode(), headers=headers)
    assert "application/json" in error


async def test_guard_post_without_a_body_is_accepted(control: Client, sim: Simulation) -> None:
    """`curl -X POST .../crash` (no body, no type) still acts; so does an explicit JSON body."""
    async with control.post(CRASH) as response:
        assert response.status == 200
    assert sim.cluster.servers["carol"].status == "down"
    async with control.post("/v1/sim/heal", json={}) as response:
        assert response.status == 200


@pytest.mark.parametrize("rebound", [False, True])
async def test_guard_foreign_host_is_refused(
    control: Client, sim: Simulation, rebound: bool
) -> None:
    """A Host naming something other than the listener is a 403, even with a matching
    Origin (a page whose domain now resolves to 127.0.0.1: DNS rebinding)."""
    port = control.make_url("/").port
    headers = {"Host": f"evil.example:{port}"}
    if rebound:
        headers["Origin"] = f"http://evil.example:{port}"
    error = await refused(control, sim, 403, headers=headers)
    assert "DNS rebinding" in error


async def test_guard_reads_need_no_origin(control: Client) -> None:
    """GETs change nothing and are not checked for Origin or Host (no token configured)."""
    headers = {"Origin": "http://evil.example", "Host": "evil.example"}
    async with control.get("/v1/sim/state", headers=headers) as response:
        assert response.status == 200


async def test_guard_sim_paths_on_a_nomad_listener_are_nomads_404(
    aiohttp_client: MakeClient, sim: Simulation
) -> None:
    """By default a server's listener answers /v1/sim/ as Nomad answers any unknown path."""
    alice = await aiohttp_client(make_app(sim, default_server="alice"))
    for method, path in [("POST", CRASH), ("GET", "/v1/sim/state"), ("GET", "/v1/sim")]:
        async with alice.request(method, path) as response:
            assert (response.status, await response.text()) == (404, "404 page not found\n")
            assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert sim.cluster.servers["carol"].status == "up"


async def test_guard_sim_on_servers_serves_control_on_nomad_listeners(
    aiohttp_client: MakeClient,
) -> None:
    """With `sim_on_servers` (--sim-on-servers) a server's listener serves /v1/sim/ too."""
    sim = Simulation(Options(mode="demand", seed=5, sim_on_servers=True))
    alice = await aiohttp_client(make_app(sim, default_server="alice"))
    async with alice.post(CRASH) as response:
        assert response.status == 200
    assert sim.cluster.servers["carol"].status == "down"
    async with alice.post(CRASH, headers={"Origin": "http://evil.example"}) as response:
        assert response.status == 403  # guarded there as on the control listener


async def test_guard_token_is_required_when_configured(aiohttp_client: MakeClient) -> None:
    """With a token, every control call (GET too) needs `Authorization: Bearer TOKEN`: 401
    without it or with a wrong one, and nothing changes; the right one is accepted."""
    sim = Simulation(Options(mode="demand", seed=5, control_token="s3cret-T0ken"))
    client = await aiohttp_client(make_app(sim))
    for headers in [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-T0ken"}]:
        async with client.get("/v1/sim/state", headers=headers) as response:
            assert response.status == 401
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert "Authorization: Bearer TOKEN" in (await response.json())["error"]
        error = await refused(client, sim, 401, headers=headers)
        assert "--control-token" in error
    right = {"Authorization": "Bearer s3cret-T0ken"}
    async with client.get("/v1/sim/state", headers=right) as response:
        assert response.status == 200
    async with client.post(CRASH, headers=right) as response:
        assert response.status == 200
    assert sim.cluster.servers["carol"].status == "down"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("myhost.example", False),
    ],
)
def test_guard_is_loopback(host: str, loopback: bool) -> None:
    """Only loopback addresses and localhost count as loopback; a name may resolve anywhere."""
    assert is_loopback(host) is loopback


def test_serve_secured_makes_up_a_token_off_loopback() -> None:
    """A control listener off loopback gets a fresh token unless one was given; on loopback
    none is made up."""
    plain = Options()
    assert secured(plain, ("127.0.0.1", 4649)) is plain
    assert secured(plain, None) is plain
    first = secured(plain, ("0.0.0.0", 4649)).control_token
    second = secured(plain, ("192.168.1.10", 4649)).control_token
    assert len(first) >= 32 and first != second
    given = Options(control_token="mine")
    assert secured(given, ("0.0.0.0", 4649)) is given
    assert "mine" not in repr(given)  # the token stays out of logged options


def test_serve_flags_reach_the_options() -> None:
    """`raftsim serve --sim-on-servers --control-token T` parses; a token with a space not."""
    parsed = build_parser().parse_args(["serve", "--sim-on-servers", "--control-token", "T-1"])
    assert (parsed.sim_on_servers, parsed.control_token) == (True, "T-1")
    defaults = build_parser().parse_args(["serve"])
    assert (defaults.sim_on_servers, defaults.control_token) == (False, None)
    for bad in ["two words", ""]:
        with pytest.raises(SystemExit):
            build_parser().parse_args(["serve", "--control-token", bad])


# ------------------------------------------------------------ real listeners


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    """Loopback, kernel-chosen ports, the defaults: /v1/sim/ on the control listener only."""
    running = await start(
        Options(mode="autojump", seed=2), http_port=0, ports=True, control=("127.0.0.1", 0)
    )
    yield running
    await running.close()


def curl_post(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """`curl -s -X POST URL`: no body, no content type."""
    request = urllib.request.Request(url, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


async def test_guard_served_sim_only_on_the_control_listener(served: Served) -> None:
    """Served by default: a server's listener answers /v1/sim/ with Nomad's 404 and does
    nothing; the control listener takes a bodyless POST, as `curl -X POST` sends it."""
    sim = served.sim
    alice = sim.http["alice"]
    url = f"{alice}/v1/sim/servers/bob/crash"
    async with aiohttp.ClientSession() as session, session.post(url) as response:
        assert (response.status, await response.text()) == (404, "404 page not found\n")
    assert sim.cluster.servers["bob"].status == "up"
    status, text = await asyncio.to_thread(curl_post, f"{sim.control_url}{CRASH}")
    assert status == 200 and json.loads(text)["servers"][2]["status"] == "down"


async def test_guard_served_token_and_banner() -> None:
    """A token given on loopback is required there; the banner prints a made-up token (and
    only a made-up one) and says when /v1/sim/ is on every listener."""
    options = Options(mode="autojump", seed=2, control_token="given", sim_on_servers=True)
    running = await start(options, http_port=0, ports=True, control=("127.0.0.1", 0))
    try:
        url = f"{running.sim.control_url}/v1/sim/heal"
        assert (await asyncio.to_thread(curl_post, url))[0] == 401
        right = {"Authorization": "Bearer given"}
        assert (await asyncio.to_thread(curl_post, url, right))[0] == 200
        text = banner(running)
        assert "given" not in text.replace("as given by", "")
        assert "every server's listener too" in text
        assert "made-up" in banner(replace(running, generated_token="made-up"))
    finally:
        await running.close()
