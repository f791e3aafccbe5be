"""The autopilot endpoints (spec nomad-api.md §2.4, §2.5; §1 "Wrong method" and "ACL
capabilities") per release: a table of endpoint x release x case with exact status and body
(JSON in field order), then the cases that need more than one request. 0.5.6 has no
autopilot: its paths stay OperatorRequest's 404 for an unknown sub-path. The clock autojumps."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestClient

from raftsim.nomad.acl import check_rules
from raftsim.nomad.autopilot import go_duration
from raftsim.web import Options, Simulation, make_app

from .served import until

Client = TestClient  # type: ignore[type-arg]
RELEASES = ("0.5.6", "0.8.7", "1.2.13")
CONFIG = "/v1/operator/autopilot/configuration"
HEALTH = "/v1/operator/autopilot/health"
NEEDS_3 = "all servers must have raft_protocol set to 3 or higher to use this endpoint"
# 0.5.6: under its `/v1/operator/` subtree, OperatorRequest's default case (spec §1).
PAGE_404 = (404, "Invalid method")


def defaults(release: str, index: int) -> str:
    """spec §2.4's defaults; `MinQuorum` from 0.11."""
    quorum = '"MinQuorum":0,' if release == "1.2.13" else ""
    return (
        '{"CleanupDeadServers":true,"LastContactThreshold":"200ms","MaxTrailingLogs":250,'
        f'{quorum}"ServerStabilizationTime":"10s","EnableRedundancyZones":false,'
        '"DisableUpgradeMigration":false,"EnableCustomUpgrades":false,'
        f'"CreateIndex":{index},"ModifyIndex":{index}}}'
    )


@dataclass
class Served:
    sim: Simulation
    clients: dict[str, Client]
    leader: str
    followers: list[str]

    async def call(
        self, via: str, method: str, path: str, body: str | None = None, token: str = ""
    ) -> tuple[int, str]:
        headers = {"X-Nomad-Token": token} if token else {}
        async with self.clients[via].request(
            method, path, data=body, headers=headers, allow_redirects=False
        ) as response:
            return response.status, await response.text()


@pytest.fixture
def served(
    aiohttp_client: Callable[..., Awaitable[Client]],
) -> Callable[..., Awaitable[Served]]:
    async def make(release: str, acl: bool = False, mode: str = "autojump") -> Served:
        sim = Simulation(Options(mode=mode, seed=3, version=release, acl=acl))
        clients = {
            name: await aiohttp_client(make_app(sim, default_server=name))
            for name in sim.cluster.servers
        }

        def agreed() -> bool:
            leader = sim.cluster.leader()
            return leader is not None and all(v.leader == leader for v in sim.cluster.views())

        if mode == "demand":  # the clock moves only when told to
            await sim.driver.advance(10_000_000)
        await until(agreed)
        await sim.driver.advance(1_000_000)  # the leader loop has written the defaults
        leader = sim.cluster.leader()
        assert leader is not None
        followers = [n for n in sim.cluster.servers if n != leader]
        return Served(sim, clients, leader, followers)

    return make


def created(s: Served) -> int:
    config = s.sim.nomad.autopilot
    assert config is not None
    return config.create_index


@dataclass(frozen=True)
class Case:
    spec: str
    method: str
    path: str
    body: str | None
    answers: dict[str, tuple[int, str]]  # "{defaults}" stands for the defaults' JSON
    via: str = "leader"

    @property
    def id(self) -> str:
        return f"{self.spec} {self.method} {self.path} {self.body!r} via {self.via}"


def from_0_8(answer: tuple[int, str]) -> dict[str, tuple[int, str]]:
    return {"0.5.6": PAGE_404, "0.8.7": answer, "1.2.13": answer}


def bad_config(detail: str) -> dict[str, tuple[int, str]]:
    return from_0_8((400, "Error parsing autopilot config: " + detail))


CASES = [
    Case("§2.4 GET", "GET", CONFIG, None, from_0_8((200, "{defaults}"))),
    Case("§2.4 GET stale", "GET", CONFIG + "?stale", None, from_0_8((200, "{defaults}")), "f"),
    Case("§2.4 GET forwarded", "GET", CONFIG, None, from_0_8((200, "{defaults}")), "f"),
    Case("§1 bad index", "GET", CONFIG + "?index=x", None, from_0_8((400, "Invalid index"))),
    Case("§2.4 PUT", "PUT", CONFIG, "{}", from_0_8((200, "true"))),
    Case("§2.4 PUT cas miss", "PUT", CONFIG + "?cas=1", "{}", from_0_8((200, "false"))),
    Case("§2.4 PUT empty body", "PUT", CONFIG, "", bad_config("EOF")),
    Case(
        "§2.4 PUT not JSON",
        "PUT",
        CONFIG,
        "x",
        bad_config("invalid character 'x' looking for beginning of value"),
    ),
    Case(
        "§2.4 PUT array",
        "PUT",
        CONFIG,
        "[]",
        bad_config(
            "json: cannot unmarshal array into Go value of type struct { LastContactThreshold"
            " string; ServerStabilizationTime string; *api.Alias }"
        ),
    ),
    Case(
        "§2.4 PUT bad duration",
        "PUT",
        CONFIG,
        '{"LastContactThreshold":"5x"}',
        {
            "0.5.6": PAGE_404,
            "0.8.7": (400, "Error parsing autopilot config: time: invalid duration 5x"),
            "1.2.13": (400, 'Error parsing autopilot config: time: invalid duration "5x"'),
        },
    ),
    Case(
        "§2.4 PUT bad cas",
        "PUT",
        CONFIG + "?cas=x",
        "{}",
        from_0_8((400, 'Error parsing cas value: strconv.ParseUint: parsing "x": invalid syntax')),
    ),
    Case("§2.5 health needs protocol 3", "GET", HEALTH, None, from_0_8((500, NEEDS_3))),
    Case(
        "§2.5 health forwarded",
        "GET",
        HEALTH,
        None,
        from_0_8((500, "rpc error: " + NEEDS_3)),
        "f",
    ),
    *(
        Case("§1 wrong method", method, CONFIG, None, from_0_8((404, "Invalid method")))
        for method in ("POST", "DELETE")
    ),
    *(
        Case("§1 wrong method", method, HEALTH, None, from_0_8((404, "Invalid method")))
        for method in ("PUT", "POST", "DELETE")
    ),
]


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_autopilot_table(
    served: Callable[..., Awaitable[Served]], case: Case, release: str
) -> None:
    s = await served(release)
    via = s.leader if case.via == "leader" else s.followers[0]
    status, body = case.answers[release]
    if body == "{defaults}":
        body = defaults(release, created(s))
    assert await s.call(via, case.method, case.path, case.body) == (status, body)


@pytest.mark.parametrize("release", ["0.8.7", "1.2.13"])
async def test_autopilot_put_replaces_every_field_and_cas_applies_once(
    served: Callable[..., Awaitable[Served]], release: str
) -> None:
    """§2.4: the new configuration is the body alone (absent fields are Go's zero values);
    ModifyIndex is the write's Raft index; a `cas` at the current ModifyIndex applies,
    the same `cas` again does not and changes nothing."""
    s = await served(release)
    follower = s.followers[0]
    body = '{"cleanupdeadservers":false,"LastContactThreshold":"1m30s","MaxTrailingLogs":9}'
    assert await s.call(follower, "PUT", CONFIG, body) == (200, "true")
    status, text = await s.call(s.leader, "GET", CONFIG)
    got = json.loads(text)
    assert status == 200
    assert got["CleanupDeadServers"] is False
    assert got["LastContactThreshold"] == "1m30s"
    assert got["MaxTrailingLogs"] == 9
    assert got["ServerStabilizationTime"] == "0s"
    assert got["CreateIndex"] == created(s) < got["ModifyIndex"]
    cas = f"?cas={got['ModifyIndex']}"
    assert await s.call(s.leader, "PUT", CONFIG + cas, '{"MaxTrailingLogs":7}') == (200, "true")
    assert await s.call(s.leader, "PUT", CONFIG + cas, '{"MaxTrailingLogs":5}') == (200, "false")
    assert json.loads((await s.call(s.leader, "GET", CONFIG))[1])["MaxTrailingLogs"] == 7


async def test_autopilot_acl_capabilities(served: Callable[..., Awaitable[Served]]) -> None:
    """§1 "ACL capabilities": reads need operator:read, the PUT operator:write."""
    s = await served("1.2.13", acl=True)
    assert await s.call(s.leader, "GET", CONFIG) == (403, "Permission denied")
    assert await s.call(s.leader, "GET", HEALTH) == (403, "Permission denied")
    assert await s.call(s.leader, "PUT", CONFIG, "{}") == (403, "Permission denied")
    unknown = "00000000-0000-0000-0000-000000000000"
    assert await s.call(s.leader, "GET", CONFIG, token=unknown) == (403, "ACL token not found")
    secret = s.sim.nomad.acl.create("r", check_rules({"operator": "read"})).secret_id
    status, _ = await s.call(s.leader, "GET", CONFIG, token=secret)
    assert status == 200
    assert await s.call(s.leader, "GET", HEALTH, token=secret) == (500, NEEDS_3)
    assert await s.call(s.leader, "PUT", CONFIG, "{}", secret) == (403, "Permission denied")
    management = s.sim.management_token
    assert await s.call(s.leader, "PUT", CONFIG, "{}", management) == (200, "true")


def test_go_duration() -> None:
    """time.Duration.String() for the values a configuration may hold."""
    assert go_duration(0) == "0s"
    assert go_duration(200_000_000) == "200ms"
    assert go_duration(1_500_000) == "1.5ms"
    assert go_duration(10_000_000_000) == "10s"
    assert go_duration(90_000_000_000) == "1m30s"
    assert go_duration(3_600_000_000_000) == "1h0m0s"
    assert go_duration(1_500) == "1.5µs"


async def test_autopilot_writes_replay_to_the_same_configuration(
    served: Callable[..., Awaitable[Served]],
) -> None:
    """Replay (raftsim/web/simulation.py): a PUT goes through the journal like every Nomad
    request, so a rebuilt run applies the same writes at the same Raft indexes, and bad
    input (a 400 before any RPC, a missed `cas`) changes nothing."""
    s = await served("0.8.7")
    sim = s.sim
    assert await s.call(s.followers[0], "PUT", CONFIG, '{"MaxTrailingLogs":3}') == (200, "true")
    before_bad = sim.nomad.autopilot
    assert (await s.call(s.leader, "PUT", CONFIG, '{"MaxTrailingLogs":"x"}'))[0] == 400
    assert await s.call(s.leader, "PUT", CONFIG + "?cas=1", "{}") == (200, "false")
    assert sim.nomad.autopilot == before_bad
    before = sim.nomad.autopilot
    assert before is not None and before.max_trailing_logs == 3
    sim.replay(sim.cluster.now)
    assert sim.nomad.autopilot == before


HEALTH_FIELDS = ["Healthy", "FailureTolerance", "Servers", "Leader", "Voters"]
SERVER_FIELDS = [
    "ID",
    "Name",
    "Address",
    "SerfStatus",
    "Version",
    "Leader",
    "LastContact",
    "LastTerm",
    "LastIndex",
    "Healthy",
    "Voter",
    "StableSince",
]
CONFIGURATION = "/v1/operator/raft/configuration"


async def test_autopilot_health_under_protocol_3_is_200_healthy_then_429(
    served: Callable[..., Awaitable[Served]],
) -> None:
    """§2.5 (1.10.x): the leader's autopilot state, in Nomad's field order: 200 while every
    server is healthy; a crashed follower loses contact with the leader (> 200 ms, §3.3), so
    at the next 2 s refresh the same body says unhealthy, with status 429."""
    s = await served("1.10.1", mode="demand")  # virtual time only where the test says
    await s.sim.driver.advance(5_000_000)
    status, text = await s.call(s.followers[0], "GET", HEALTH)  # forwarded to the leader
    assert status == 200, text
    body = json.loads(text)
    assert list(body) == HEALTH_FIELDS
    ids = {name: s.sim.nomad.node_id(name) for name in s.sim.cluster.servers}
    assert body["Healthy"] is True and body["FailureTolerance"] == 1
    assert body["Leader"] == ids[s.leader]
    assert sorted(body["Voters"]) == sorted(ids.values())
    for server in body["Servers"]:
        assert list(server) == SERVER_FIELDS
        assert server["SerfStatus"] == "alive" and server["Version"] == "1.10.1"
        assert server["Healthy"] is True and server["Voter"] is True
        assert server["Leader"] is (server["ID"] == ids[s.leader])
        assert server["StableSince"].startswith("2025-01-01T00:00:")
        assert server["StableSince"].endswith("Z") and len(server["StableSince"]) == 20
        assert server["LastContact"] == "0s" or server["LastContact"].endswith("ms")
    assert {srv["Name"] for srv in body["Servers"]} == {
        f"{name}.global" for name in s.sim.cluster.servers
    }
    victim = s.followers[1]
    s.sim.act("crash", victim)
    await s.sim.driver.advance(3_000_000)
    status, text = await s.call(s.leader, "GET", HEALTH)
    assert status == 429, text
    body = json.loads(text)
    assert list(body) == HEALTH_FIELDS
    assert body["Healthy"] is False and body["FailureTolerance"] == 0
    dead = next(srv for srv in body["Servers"] if srv["ID"] == ids[victim])
    assert dead["Healthy"] is False and dead["Voter"] is True
    assert dead["LastContact"].endswith("s") and not dead["LastContact"].endswith("ms")


async def test_autopilot_cleanup_dead_servers_false_set_by_put_disables_cleanup(
    served: Callable[..., Awaitable[Served]],
) -> None:
    """§2.4, §3.3 (1.10.x): with CleanupDeadServers false (PUT) a failed server stays in
    the Raft configuration; switched back on, the next pass removes it."""
    s = await served("1.10.1", mode="demand")
    off = (
        '{"CleanupDeadServers":false,"LastContactThreshold":"200ms","MaxTrailingLogs":250,'
        '"ServerStabilizationTime":"10s"}'
    )
    assert await s.call(s.leader, "PUT", CONFIG, off) == (200, "true")
    victim = s.followers[0]
    s.sim.act("crash", victim)
    await s.sim.driver.advance(120_000_000)

    async def nodes() -> list[str]:
        status, text = await s.call(s.leader, "GET", CONFIGURATION)
        assert status == 200, text
        return [srv["Node"] for srv in json.loads(text)["Servers"]]

    assert f"{victim}.global" in await nodes()
    assert await s.call(s.leader, "PUT", CONFIG, off.replace("false", "true")) == (200, "true")
    await s.sim.driver.advance(12_000_000)
    assert f"{victim}.global" not in await nodes()
