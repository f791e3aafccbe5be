"""Nomad's HTTP endpoints as raftsim serves them (ring 2, raftsim/web/nomad_api.py), through
aiohttp's test client, for every case of spec nomad-api.md's 0.5.x column. The clock runs in
autojump mode, so the 5 s no-leader hold costs milliseconds."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient

from raftsim.web import Options, Simulation, make_app
from raftsim.web.app import ROUTER
from raftsim.web.routes import RESOLVED_KEPT, RESOLVED_PATH_MAX

from .served import until

Client = TestClient  # type: ignore[type-arg]
Clients = Callable[[str], Awaitable[Client]]

NO_META = ("X-Nomad-Index", "X-Nomad-KnownLeader", "X-Nomad-LastContact")


@pytest.fixture
def sim() -> Simulation:
    return Simulation(Options(mode="autojump", seed=3))


@pytest.fixture
async def clients(aiohttp_client: Callable[..., Awaitable[Client]], sim: Simulation) -> Clients:
    """Test clients that reach the simulation as each server's listener would (the apps
    share the simulation and its one clock driver, which starts with the first)."""
    made = {
        name: await aiohttp_client(make_app(sim, default_server=name))
        for name in sim.cluster.servers
    }

    async def client(name: str) -> Client:
        return made[name]

    return client


async def roles(sim: Simulation) -> tuple[str, list[str]]:
    """Wait for a leader every server follows; (leader, followers)."""

    def agreed() -> bool:
        leader = sim.cluster.leader()
        return leader is not None and all(v.leader == leader for v in sim.cluster.views())

    await until(agreed)
    leader = sim.cluster.leader()
    assert leader is not None
    return leader, [n for n in sim.cluster.servers if n != leader]


async def no_leader(sim: Simulation) -> None:
    """Every server alone: no election can win and every server forgets its leader."""
    await roles(sim)
    sim.cluster.partition(*[[n] for n in sim.cluster.servers])
    await until(lambda: all(v.leader == "" for v in sim.cluster.views()))


async def get(client: Client, path: str, method: str = "GET") -> tuple[int, str, dict[str, str]]:
    async with client.request(method, path) as response:
        return response.status, await response.text(), dict(response.headers)


# ------------------------------------------------------------ §2.1 configuration


async def test_web_configuration_on_leader_is_nomads_json(
    sim: Simulation, clients: Clients
) -> None:
    """spec §2.1: Servers in configuration order, fields in Go's order, Index = latestIndex."""
    leader, _ = await roles(sim)
    status, body, headers = await get(await clients(leader), "/v1/operator/raft/configuration")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert body.startswith('{"Servers":[{"ID":"127.0.0.1:4647","Node":"alice.global",')
    assert body.endswith(f',"Index":{sim.cluster.view(leader).latest_index}}}')
    address = sim.cluster.servers[leader].address
    assert f'"Address":"{address}","Leader":true,"Voter":true}}' in body
    assert body.count('"Leader":true') == 1
    assert not any(h in headers for h in NO_META)  # spec §1: none of these calls setMeta
    assert "Server" not in headers


@pytest.mark.parametrize("query", ["?stale", "?stale=", "?stale=false", "?stale=False"])
async def test_web_configuration_stale_any_value_reads_locally(
    sim: Simulation, clients: Clients, query: str
) -> None:
    """spec §1 step 3 (before 1.5): the key's presence alone allows a stale read."""
    await no_leader(sim)
    status, body, _ = await get(await clients("bob"), f"/v1/operator/raft/configuration{query}")
    assert status == 200
    assert '"Leader":true' not in body and body.count('"Leader":false') == 3


async def test_web_configuration_without_leader_fails_after_the_hold(
    sim: Simulation, clients: Clients
) -> None:
    """spec §2.1 errors, §3.1: no leader and not stale → 500 `No cluster leader` after 5 s."""
    await no_leader(sim)
    start = sim.cluster.now
    status, body, headers = await get(await clients("bob"), "/v1/operator/raft/configuration")
    assert (status, body) == (500, "No cluster leader")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert sim.cluster.now - start >= 5_000_000


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_web_configuration_wrong_method_is_405_empty(
    sim: Simulation, clients: Clients, method: str
) -> None:
    """spec §1 "Wrong method": configuration answers 405 with an empty body."""
    status, body, headers = await get(
        await clients("alice"), "/v1/operator/raft/configuration", method
    )
    assert (status, body) == (405, "")
    assert "Content-Type" not in headers


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("wait=soon", "Invalid wait time"),
        ("wait=5", "Invalid wait time"),
        ("index=-1", "Invalid index"),
        ("index=1.5", "Invalid index"),
        ("wait=5s&index=x", "Invalid index"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/operator/raft/configuration", "/v1/status/leader"])
async def test_web_bad_wait_or_index_is_400(
    sim: Simulation, clients: Clients, path: str, query: str, text: str
) -> None:
    """spec §1 step 5: a bad `wait` → `Invalid wait time`, a bad `index` → `Invalid index`."""
    status, body, _ = await get(await clients("alice"), f"{path}?{query}")
    assert (status, body) == (400, text)


@pytest.mark.parametrize("path", ["/v1/operator/raft/configuration", "/v1/status/peers"])
async def test_web_unknown_region_has_no_path(sim: Simulation, clients: Clients, path: str) -> None:
    """spec §2.1 errors, §3.1 step 2: 500 `No path to region`, even for a stale read."""
    status, body, _ = await get(await clients("alice"), f"{path}?region=europe&stale")
    assert (status, body) == (500, "No path to region")


async def test_web_empty_region_means_the_agents_own(sim: Simulation, clients: Clients) -> None:
    """spec §1 step 1: `?region=` (empty) is the agent's region."""
    status, _, _ = await get(await clients("alice"), "/v1/status/peers?region=&stale")
    assert status == 200


# ------------------------------------------------------------ §2.2 peer removal


async def test_web_peer_without_address_is_400(sim: Simulation, clients: Clients) -> None:
    """spec §2.2 (0.5.5-0.7.x): no `address` key → 400 with Nomad's text."""
    status, body, _ = await get(await clients("alice"), "/v1/operator/raft/peer", "DELETE")
    assert (status, body) == (400, "Must specify ?address with IP:port of peer to remove")


async def test_web_peer_unknown_address_on_the_leader_is_500(
    sim: Simulation, clients: Clients
) -> None:
    """spec §2.2 step 2: not in the configuration → 500, Go %q quoting, no prefix."""
    leader, _ = await roles(sim)
    path = "/v1/operator/raft/peer?address=10.0.0.9:4647"
    status, body, _ = await get(await clients(leader), path, "DELETE")
    assert (status, body) == (
        500,
        'address "10.0.0.9:4647" was not found in the Raft configuration',
    )


async def test_web_peer_error_through_a_follower_has_the_prefix(
    sim: Simulation, clients: Clients
) -> None:
    """spec §1 "Forwarding prefix": the leader's error reaches the client as `rpc error: ...`."""
    _, followers = await roles(sim)
    path = "/v1/operator/raft/peer?address=10.0.0.9:4647"
    status, body, _ = await get(await clients(followers[0]), path, "DELETE")
    expected = 'rpc error: address "10.0.0.9:4647" was not found in the Raft configuration'
    assert (status, body) == (500, expected)


async def test_web_peer_empty_address_counts_as_present(sim: Simulation, clients: Clients) -> None:
    """spec §2.2: presence is by key: `?address=` passes the check and fails the lookup."""
    leader, _ = await roles(sim)
    status, body, _ = await get(await clients(leader), "/v1/operator/raft/peer?address=", "DELETE")
    assert (status, body) == (500, 'address "" was not found in the Raft configuration')


@pytest.mark.parametrize("method", ["GET", "POST", "PUT"])
async def test_web_peer_wrong_method_is_405_empty(
    sim: Simulation, clients: Clients, method: str
) -> None:
    """spec §1 "Wrong method": `/peer` answers 405 with an empty body in 0.5.5-0.7.x."""
    status, body, _ = await get(await clients("alice"), "/v1/operator/raft/peer?address=x", method)
    assert (status, body) == (405, "")


async def test_web_peer_removal_ignores_stale_and_needs_a_leader(
    sim: Simulation, clients: Clients
) -> None:
    """spec §2.2: `stale` has no effect on removal (hashicorp/nomad#4430): no leader → 500."""
    await no_leader(sim)
    path = "/v1/operator/raft/peer?address=127.0.0.2:4647&stale"
    status, body, _ = await get(await clients("carol"), path, "DELETE")
    assert (status, body) == (500, "No cluster leader")


async def test_web_peer_removal_succeeds_with_an_empty_200(
    sim: Simulation, clients: Clients
) -> None:
    """spec §2.2 step 4: 200, empty body, and the change is committed before the reply."""
    sim.driver.set_mode("demand")  # nothing runs between the calls: no reconcile sneaks in
    await sim.driver.advance(10_000_000)
    leader, followers = await roles(sim)
    address = sim.cluster.servers[followers[0]].address
    before = sim.cluster.view(leader).latest_index
    client = await clients(followers[1])
    status, body, headers = await get(client, f"/v1/operator/raft/peer?address={address}", "DELETE")
    assert (status, body) == (200, "")
    assert "Content-Type" not in headers
    view = sim.cluster.view(leader)
    assert view.committed_index == view.latest_index > before
    assert address not in [s.address for s in view.committed.servers]


# ------------------------------------------------------------ §2.6, §2.7 status


async def test_web_status_leader_is_the_leaders_address(sim: Simulation, clients: Clients) -> None:
    """spec §2.6: a JSON string with the leader's Raft address, from any server."""
    leader, followers = await roles(sim)
    expected = f'"{sim.cluster.servers[leader].address}"'
    for name in (leader, *followers):
        status, body, _ = await get(await clients(name), "/v1/status/leader")
        assert (status, body) == (200, expected)


async def test_web_status_leader_stale_without_leader_is_empty(
    sim: Simulation, clients: Clients
) -> None:
    """spec §2.6: `""` when a stale-answering server knows no leader; else 500 after the hold."""
    await no_leader(sim)
    assert (await get(await clients("bob"), "/v1/status/leader?stale"))[:2] == (200, '""')
    assert (await get(await clients("bob"), "/v1/status/leader"))[:2] == (500, "No cluster leader")


async def test_web_status_peers_lists_the_configuration(sim: Simulation, clients: Clients) -> None:
    """spec §2.7: every address of the configuration, in order; 500 without a leader."""
    await roles(sim)
    status, body, _ = await get(await clients("carol"), "/v1/status/peers")
    assert (status, body) == (200, '["127.0.0.1:4647","127.0.0.2:4647","127.0.0.3:4647"]')
    await no_leader(sim)
    assert (await get(await clients("carol"), "/v1/status/peers"))[:2] == (500, "No cluster leader")


@pytest.mark.parametrize("path", ["/v1/status/leader", "/v1/status/peers", "/v1/agent/members"])
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_web_status_and_members_wrong_method_is_405(
    sim: Simulation, clients: Clients, path: str, method: str
) -> None:
    """spec §1 "Wrong method": 405 with the body `Invalid method`."""
    assert (await get(await clients("alice"), path, method))[:2] == (405, "Invalid method")


# ------------------------------------------------------------ §2.8, §2.9 agent


async def test_web_members_is_the_local_serf_view(sim: Simulation, clients: Clients) -> None:
    """spec §2.8: never forwarded: answers without a leader, with 0.5.x's tags."""
    await no_leader(sim)
    client = await clients("bob")
    async with client.get("/v1/agent/members") as response:
        assert response.status == 200
        data = await response.json()
    assert list(data) == ["ServerName", "ServerRegion", "ServerDC", "Members"]
    assert (data["ServerName"], data["ServerRegion"], data["ServerDC"]) == ("bob", "global", "dc1")
    first = data["Members"][0]
    assert (
        first["Name"] == "alice.global" and first["Addr"] == "127.0.0.1" and first["Port"] == 4648
    )
    assert list(first["Tags"]) == ["build", "dc", "expect", "mvn", "port", "region", "role", "vsn"]
    assert first["Tags"]["build"] == "0.5.6" and first["Tags"]["port"] == "4647"


async def test_web_force_leave_without_node_is_400(sim: Simulation, clients: Clients) -> None:
    """spec §2.9: 400 `missing node to force leave` (also for an empty value)."""
    for path in ("/v1/agent/force-leave", "/v1/agent/force-leave?node="):
        assert (await get(await clients("alice"), path, "PUT"))[:2] == (
            400,
            "missing node to force leave",
        )


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_web_force_leave_wrong_method_is_405(
    sim: Simulation, clients: Clients, method: str
) -> None:
    """spec §1 "Wrong method": force-leave takes PUT or POST; else 405 `Invalid method`."""
    status, body, _ = await get(await clients("alice"), "/v1/agent/force-leave?node=x", method)
    assert (status, body) == (405, "Invalid method")


@pytest.mark.parametrize("method", ["PUT", "POST"])
async def test_web_force_leave_of_an_unknown_node_is_an_empty_200(
    sim: Simulation, clients: Clients, method: str
) -> None:
    """spec §2.9: an unmatched name is silently accepted: 200, empty body."""
    await roles(sim)
    status, body, _ = await get(await clients("alice"), "/v1/agent/force-leave?node=zed", method)
    assert (status, body) == (200, "")


async def test_web_force_leave_of_a_failed_server_removes_it(
    sim: Simulation, clients: Clients
) -> None:
    """spec §2.9 + §3.2: failed → left, and the leader removes it from Raft."""
    leader, followers = await roles(sim)
    victim = followers[0]
    sim.cluster.crash(victim)
    serf = sim.nomad.serf_view
    await until(lambda: any(m["status"] == "failed" for m in serf(leader)))
    status, _, _ = await get(
        await clients(leader), f"/v1/agent/force-leave?node={victim}.global", "POST"
    )
    assert status == 200
    address = sim.cluster.servers[victim].address
    await until(
        lambda: address not in [s.address for s in sim.cluster.view(leader).committed.servers]
    )


# ------------------------------------------------------------ §1 routing


@pytest.mark.parametrize(
    ("path", "method", "status", "body"),
    [
        ("/v1/operator/raft/configurationX?stale", "GET", 200, None),  # prefix match
        ("/v1/operator/raft/peers?address=1.2.3.4:1", "DELETE", 500, None),  # `peers` is `peer`
        ("/v1/operator/raft/", "GET", 404, "Invalid method"),
        ("/v1/operator/raft/transfer-leadership", "PUT", 404, "Invalid method"),
        ("/v1/operator/autopilot/health", "GET", 404, "Invalid method"),
        ("/v1/jobs", "GET", 404, "404 page not found\n"),
        ("/v1/status/leader/", "GET", 404, "404 page not found\n"),
        ("/v1/agent/leave", "PUT", 404, "404 page not found\n"),
        ("/", "GET", 404, "404 page not found\n"),
    ],
)
async def test_web_routing_follows_go_servemux(
    sim: Simulation, clients: Clients, path: str, method: str, status: int, body: str | None
) -> None:
    """spec §1 "Wrong method / unknown sub-path"; anything else under /v1/ is Go's 404."""
    await roles(sim)
    got = await get(await clients("alice"), path, method)
    assert got[0] == status
    if body is not None:
        assert got[1] == body


async def test_web_unclean_paths_redirect(sim: Simulation, clients: Clients) -> None:
    """Go's ServeMux: 301 to the cleaned path (query kept); a subtree root gains its slash."""
    client = await clients("alice")
    async with client.get("/v1//status/./leader?stale", allow_redirects=False) as response:
        assert response.status == 301
        assert response.headers["Location"] == "/v1/status/leader?stale"
    async with client.get("/v1/operator", allow_redirects=False) as response:
        assert (response.status, response.headers["Location"]) == (301, "/v1/operator/")


async def test_web_paths_answer_the_same_every_time(sim: Simulation, clients: Clients) -> None:
    """The router keeps each path's resolution: asking again, after more distinct paths
    than it keeps, gets ServeMux's same answers (spec §1 "Paths": redirect, subtree, 404)."""
    client = await clients("alice")
    paths = [
        "/v1//status/./leader?stale",
        "/v1/operator",
        "/v1/operator/raft/nowhere",
        "/v1/nowhere",
        "/v1/status/peers?stale",
    ]

    async def answers() -> list[tuple[int, str, str]]:
        got = []
        for path in paths:
            async with client.get(path, allow_redirects=False) as response:
                got.append(
                    (response.status, response.headers.get("Location", ""), await response.text())
                )
        return got

    first = await answers()
    assert [status for status, _, _ in first] == [301, 301, 404, 404, 200]
    assert await answers() == first
    router = client.app[ROUTER]
    long_path = "/v1/status/peers/" + "x" * RESOLVED_PATH_MAX
    assert router.resolve(long_path) == router.resolve(long_path) == (None,)
    assert long_path not in router._resolved  # a 1 MB path is not kept
    for i in range(RESOLVED_KEPT + 1):  # more paths than the router keeps
        assert router.resolve(f"/v1/nowhere/{i}") == (None,)
    assert await answers() == first


async def test_web_pretty_indents_and_ends_with_a_newline(
    sim: Simulation, clients: Clients
) -> None:
    """spec §1: `?pretty` (any value but 0) indents the JSON and adds a trailing newline."""
    status, body, _ = await get(await clients("alice"), "/v1/status/peers?stale&pretty")
    assert status == 200 and body.startswith("[\n    ") and body.endswith("]\n")
    status, body, _ = await get(await clients("alice"), "/v1/status/peers?stale&pretty=0")
    assert body.startswith('["')


async def test_web_request_held_by_a_crashing_server_closes_its_connection(
    sim: Simulation, clients: Clients
) -> None:
    """A server that crashes mid-request answers nothing: the connection just closes."""
    await no_leader(sim)
    sim.driver.set_mode("paused")  # hold the request in the 5 s hold loop
    client = await clients("bob")
    request = asyncio.ensure_future(get(client, "/v1/status/leader"))
    await until(lambda: sim.driver.waiting > 0)
    sim.cluster.crash("bob")
    with pytest.raises(Exception, match=r"(?i)disconnect|closed|reset"):
        await request
