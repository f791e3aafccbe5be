"""Nomad's endpoints per emulated release (raftsim/nomad/version.py): every case of spec
nomad-api.md whose answer depends on the release, as a table of endpoint x release x case,
each row citing the section it comes from, then the cases that need more than one request.
Releases: 0.5.6 (Raft protocol 1), 0.8.7 and 1.2.13 (protocol 2), 1.10.0 and 1.10.1
(protocol 3). The clock autojumps. Below the HTTP API: test_nomad_releases.py."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestClient

from raftsim.cli import main as cli_main
from raftsim.core.types import Suffrage
from raftsim.nomad import VERSIONS, endpoints
from raftsim.web import Options, Simulation, make_app

from .served import until

Client = TestClient  # type: ignore[type-arg]
RELEASES = ("0.5.6", "0.8.7", "1.2.13", "1.10.0", "1.10.1")
PROTOCOL = {"0.5.6": 1, "0.8.7": 2, "1.2.13": 2, "1.10.0": 3, "1.10.1": 3}
UNKNOWN = "10.9.9.9:4647"
MISSING_0_5 = "Must specify ?address with IP:port of peer to remove"
MISSING_0_8 = (
    "Must specify either ?id with the server's ID or ?address with IP:port of peer to remove"
)
BOTH_0_8 = "Must specify only one of ?id or ?address"
NOT_FOUND_ID = f'id "{UNKNOWN}" was not found in the Raft configuration'
NOT_FOUND_ADDRESS = f'address "{UNKNOWN}" was not found in the Raft configuration'
# 1.10.1+ (spec §2.2).
ADDRESS_REFUSED = (
    400,
    "Removing a peer by address is not supported in the current raft protocol version",
)
MISSING_ID = (400, "Must specify the peer's ID to remove")
STALE_NOT_BOOL = (400, "Expect `true` or `false` for `stale` query string parameter")
PER_PAGE_NOT_NUMBER = (400, "Expect a number for `per_page` query string parameter")


@dataclass(frozen=True)
class Case:
    """One request and its answer (status, body) per release; `via` is who receives it."""

    spec: str
    method: str
    path: str
    answers: dict[str, tuple[int, str]]
    via: str = "leader"

    @property
    def id(self) -> str:
        return f"{self.spec} {self.method} {self.path} via {self.via}"


def same(status: int, body: str) -> dict[str, tuple[int, str]]:
    return dict.fromkeys(RELEASES, (status, body))


def split(
    before_0_8: tuple[int, str],
    from_0_8: tuple[int, str],
    from_1_10_1: tuple[int, str] | None = None,
) -> dict[str, tuple[int, str]]:
    """0.5.6's answer, then 0.8.7's for every later release (1.10.1's when it differs)."""
    answers = dict.fromkeys(RELEASES, from_0_8)
    answers["0.5.6"] = before_0_8
    if from_1_10_1 is not None:
        answers["1.10.1"] = from_1_10_1
    return answers


def from_1_8(before: tuple[int, str], after: tuple[int, str]) -> dict[str, tuple[int, str]]:
    """An answer that changed with 1.8 (1.10.0 and 1.10.1 here)."""
    return {r: after if r.startswith("1.10") else before for r in RELEASES}


PEER = "/v1/operator/raft/peer"
TRANSFER = "/v1/operator/raft/transfer-leadership"
UNKNOWN_SUB = (404, "Invalid method")
CASES = [
    # §1 "Wrong method": /peer is a bare 405 in 0.5.5-0.7.x, CodedError(404) from 0.8.
    *(
        Case("§1 wrong method", method, PEER, split((405, ""), (404, "Invalid method")))
        for method in ("GET", "PUT", "POST")
    ),
    Case("§1 wrong method", "POST", "/v1/operator/raft/configuration", same(405, "")),
    Case("§1 wrong method", "PUT", "/v1/operator/raft/configuration", same(405, "")),
    Case("§1 wrong method", "POST", "/v1/status/leader", same(405, "Invalid method")),
    Case("§1 wrong method", "DELETE", "/v1/status/peers", same(405, "Invalid method")),
    Case("§1 wrong method", "PUT", "/v1/agent/members", same(405, "Invalid method")),
    Case("§1 wrong method", "GET", "/v1/agent/force-leave", same(405, "Invalid method")),
    # §1: "/v1/operator/raft/<anything else>" is OperatorRequest's 404; prefix matching.
    Case("§1 unknown sub-path", "GET", "/v1/operator/raft/snapshot", same(404, "Invalid method")),
    Case(
        "§1 prefix match",
        "DELETE",
        "/v1/operator/raft/peers?address=" + UNKNOWN,
        split((500, NOT_FOUND_ADDRESS), (500, NOT_FOUND_ADDRESS), ADDRESS_REFUSED),
    ),
    # command/agent/http.go: OperatorRequest is registered at /v1/operator/ in 0.5.x and at
    # /v1/operator/raft/ from 0.8, so elsewhere under /v1/operator/ ServeMux answers.
    Case(
        "§1 unknown sub-path",
        "GET",
        "/v1/operator/nothing",
        split((404, "Invalid method"), (404, "404 page not found\n")),
    ),
    # §2.2's table, per version column.
    Case(
        "§2.2 no parameter",
        "DELETE",
        PEER,
        split((400, MISSING_0_5), (400, MISSING_0_8), MISSING_ID),
    ),
    Case(
        "§2.2 id only",
        "DELETE",
        f"{PEER}?id={UNKNOWN}",
        split((400, MISSING_0_5), (500, NOT_FOUND_ID)),
    ),
    Case(
        "§2.2 id through a follower",
        "DELETE",
        f"{PEER}?id={UNKNOWN}",
        split((400, MISSING_0_5), (500, "rpc error: " + NOT_FOUND_ID)),
        via="follower",
    ),
    Case(
        "§2.2 stale ignored",
        "DELETE",
        f"{PEER}?stale&id={UNKNOWN}",
        split((400, MISSING_0_5), (500, "rpc error: " + NOT_FOUND_ID)),
        via="follower",
    ),
    Case(
        "§2.2 empty id is present",
        "DELETE",
        f"{PEER}?id=",
        split((400, MISSING_0_5), (500, 'id "" was not found in the Raft configuration')),
    ),
    Case(
        "§2.2 id quoted as Go's %q",
        "DELETE",
        f"{PEER}?id=a%22b%0A",
        split((400, MISSING_0_5), (500, 'id "a\\"b\\n" was not found in the Raft configuration')),
    ),
    Case(
        "§2.2 both",
        "DELETE",
        f"{PEER}?id=x&address={UNKNOWN}",
        split((500, NOT_FOUND_ADDRESS), (400, BOTH_0_8), ADDRESS_REFUSED),
    ),
    Case(
        "§2.2 address",
        "DELETE",
        f"{PEER}?address={UNKNOWN}",
        split((500, NOT_FOUND_ADDRESS), (500, NOT_FOUND_ADDRESS), ADDRESS_REFUSED),
    ),
    Case(
        "§2.2 address through a follower",
        "DELETE",
        f"{PEER}?address={UNKNOWN}",
        split(
            (500, "rpc error: " + NOT_FOUND_ADDRESS),
            (500, "rpc error: " + NOT_FOUND_ADDRESS),
            ADDRESS_REFUSED,
        ),
        via="follower",
    ),
    Case(
        "§2.2 empty address is present",
        "DELETE",
        f"{PEER}?address=",
        split(
            (500, 'address "" was not found in the Raft configuration'),
            (500, 'address "" was not found in the Raft configuration'),
            ADDRESS_REFUSED,
        ),
    ),
    # §1 step 3: before 1.5 any `stale` is a stale read; from 1.8 a value that is no Go
    # bool is a 400, and it is parsed before `wait`.
    Case(
        "§1 step 3 stale not a bool",
        "GET",
        "/v1/status/peers?stale=maybe&wait=soon",
        from_1_8((400, "Invalid wait time"), STALE_NOT_BOOL),
    ),
    Case(
        "§1 step 3 stale=yes",
        "GET",
        "/v1/status/leader?stale=yes",
        from_1_8((200, "(leader)"), STALE_NOT_BOOL),
    ),
    Case(
        "§1 step 3 on members",
        "GET",
        "/v1/agent/members?stale=2",
        from_1_8((200, "(members)"), STALE_NOT_BOOL),
    ),
    # §1 step 4 (1.8+): per_page must be a number (a 32-bit one), checked before `wait`.
    Case(
        "§1 step 4 per_page",
        "GET",
        "/v1/status/peers?per_page=ten&wait=soon",
        from_1_8((400, "Invalid wait time"), PER_PAGE_NOT_NUMBER),
    ),
    Case(
        "§1 step 4 per_page range",
        "GET",
        "/v1/status/peers?per_page=2147483648",
        from_1_8((200, "(peers)"), PER_PAGE_NOT_NUMBER),
    ),
    Case("§1 step 4 per_page number", "GET", "/v1/status/peers?per_page=-3", same(200, "(peers)")),
    # §2.3 (1.7+): transfer-leadership's handler-level 400s; before 1.7 an unknown
    # sub-path (§1: OperatorRequest's 404).
    *(
        Case(
            f"§2.3 {query or 'no parameter'}", "PUT", TRANSFER + query, from_1_8(UNKNOWN_SUB, want)
        )
        for query, want in (
            ("", (400, "must specify id or address")),
            ("?id=x&address=y", (400, "must specify either id or address")),
            ("?id=", (400, "id must be non-empty")),
            ("?id=a&id=b", (400, "must specify only one id")),
            ("?address=", (400, "address must be non-empty")),
            ("?address=a&address=b", (400, "must specify only one address")),
            ("?id=x", (400, "id must be a uuid: uuid string is wrong length")),
            (
                "?id=24caa671-5fbd-4cc4-9d03-0e2be0203agz",
                (400, "id must be a uuid: encoding/hex: invalid byte: U+0067 'g'"),
            ),
            ("?address=10.0.0.1", (400, "address must be in IP:port format: not an ip:port")),
            (
                "?address=1.2.3:4647",
                (
                    400,
                    'address must be in IP:port format: ParseAddr("1.2.3"): IPv4 address too short',
                ),
            ),
        )
    ),
    Case("§1 wrong method, §2.3", "GET", TRANSFER, from_1_8(UNKNOWN_SUB, (405, "Invalid method"))),
    # §1 step 5 through s.parse, which the members handler calls from 0.8 only.
    Case(
        "§2.8 members parse wait",
        "GET",
        "/v1/agent/members?wait=soon",
        split((200, "(members)"), (400, "Invalid wait time")),
    ),
    Case(
        "§2.8 members parse index",
        "GET",
        "/v1/agent/members?index=-1",
        split((200, "(members)"), (400, "Invalid index")),
    ),
    Case("§1 step 5", "GET", "/v1/status/peers?wait=soon", same(400, "Invalid wait time")),
    Case("§2.9 no node", "PUT", "/v1/agent/force-leave", same(400, "missing node to force leave")),
    Case("§3.1 region", "GET", "/v1/status/leader?region=eu", same(500, "No path to region")),
]


@dataclass
class Served:
    sim: Simulation
    clients: dict[str, Client]
    leader: str
    followers: list[str]

    def address(self, name: str) -> str:
        return self.sim.cluster.servers[name].address

    async def call(self, via: str, method: str, path: str) -> tuple[int, str]:
        async with self.clients[via].request(method, path, allow_redirects=False) as response:
            return response.status, await response.text()


@pytest.fixture
def served(
    request: pytest.FixtureRequest, aiohttp_client: Callable[..., Awaitable[Client]]
) -> Callable[[str, int], Awaitable[Served]]:
    async def make(release: str, servers: int = 3) -> Served:
        sim = Simulation(Options(mode="autojump", seed=3, version=release, servers=servers))
        clients = {
            name: await aiohttp_client(make_app(sim, default_server=name))
            for name in sim.cluster.servers
        }

        def agreed() -> bool:
            leader = sim.cluster.leader()
            return leader is not None and all(v.leader == leader for v in sim.cluster.views())

        await until(agreed)
        leader = sim.cluster.leader()
        assert leader is not None
        followers = [n for n in sim.cluster.servers if n != leader]
        return Served(sim, clients, leader, followers)

    return make


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_release_table(
    served: Callable[[str], Awaitable[Served]], case: Case, release: str
) -> None:
    """Each row: the answer the spec section gives for this release."""
    s = await served(release)
    via = s.leader if case.via == "leader" else s.followers[0]
    status, body = await s.call(via, case.method, case.path)
    expected = case.answers[release]
    if expected[1] == "(members)":
        assert status == expected[0] and json.loads(body)["ServerName"] == via
    elif expected[1] == "(leader)":
        assert (status, json.loads(body)) == (expected[0], s.address(s.leader))
    elif expected[1] == "(peers)":
        assert (status, len(json.loads(body))) == (expected[0], 3)
    else:
        assert (status, body) == expected


@pytest.mark.parametrize("release", ["0.8.7", "1.2.13"])
async def test_release_operator_root_redirects_from_0_8(
    served: Callable[[str], Awaitable[Served]], release: str
) -> None:
    """ServeMux: a subtree `/v1/operator/raft/` answers its root with a 301 to it (0.8+);
    0.5.x's `/v1/operator/` subtree hands `/v1/operator/raft` to OperatorRequest (404)."""
    s = await served(release)
    async with s.clients[s.leader].get("/v1/operator/raft", allow_redirects=False) as response:
        assert response.status == 301
        assert response.headers["Location"] == "/v1/operator/raft/"
    old = await served("0.5.6")
    assert await old.call(old.leader, "GET", "/v1/operator/raft") == (404, "Invalid method")


# ------------------------------------------------------------ §2.1 configuration


@pytest.mark.parametrize("release", RELEASES)
async def test_release_configuration_fields_and_index(
    served: Callable[[str], Awaitable[Served]], release: str
) -> None:
    """spec §2.1: ID = Address (protocols 1 and 2, §3.5); `RaftProtocol` from 0.8, a string
    (the member's raft_vsn tag); `Index` per raft-semantics §2.10: latestIndex with the
    hashicorp/raft of 0.5.6 and 0.8.7, always 0 with 1.2.13's (v1.1.3-pre)."""
    s = await served(release)
    status, body = await s.call(s.followers[0], "GET", "/v1/operator/raft/configuration")
    assert status == 200
    data = json.loads(body)
    assert list(data) == ["Servers", "Index"]
    keys = ["ID", "Node", "Address", "Leader", "Voter"]
    if release != "0.5.6":
        keys.append("RaftProtocol")
    for server in data["Servers"]:
        assert list(server) == keys
        name = server["Node"].removesuffix(".global")
        if PROTOCOL[release] < 3:
            assert server["ID"] == server["Address"]
        else:  # §3.5: the node UUID, the Serf `id` tag
            assert UUID.fullmatch(server["ID"]) and server["ID"] != server["Address"]
            assert server["ID"] == s.sim.nomad.info(name).tag("id")  # type: ignore[union-attr]
        if release != "0.5.6":
            assert server["RaftProtocol"] == str(PROTOCOL[release])
    latest = s.sim.cluster.view(s.leader).latest_index
    assert latest > 0
    assert data["Index"] == (latest if release in ("0.5.6", "0.8.7") else 0)


@pytest.mark.parametrize("release", ["0.8.7", "1.2.13"])
async def test_release_raft_protocol_unknown_without_a_serf_member(
    served: Callable[[str], Awaitable[Served]], release: str
) -> None:
    """spec §2.1: a configuration entry no Serf member advertises has `Node` "(unknown)"
    and `RaftProtocol` "unknown" (nomad/operator_endpoint.go at v0.8.7 and v1.2.13)."""
    s = await served(release)
    server = s.sim.nomad.servers[s.leader]
    gone = next(n for n, m in server.serf.members.items() if m.info.server == s.followers[0])
    del server.serf.members[gone]  # as if reaped: the leader's Serf forgot it
    result = endpoints.raft_configuration(server, server.node)
    assert isinstance(result, dict)
    entry = next(e for e in result["Servers"] if e["Address"] == s.address(s.followers[0]))
    assert (entry["Node"], entry["RaftProtocol"]) == ("(unknown)", "unknown")


@pytest.mark.parametrize("release", ["0.5.6", "0.8.7", "1.2.13"])
async def test_release_stale_counts_by_presence(
    served: Callable[[str], Awaitable[Served]], release: str
) -> None:
    """spec §1 step 3: before 1.5 `?stale=false` is a stale read too (python-nomad's
    `stale=False`, §6): it answers without a leader."""
    s = await served(release)
    s.sim.cluster.partition(*[[n] for n in s.sim.cluster.servers])
    await until(lambda: all(v.leader == "" for v in s.sim.cluster.views()))
    for value in ("", "=", "=false", "=False", "=0"):
        path = f"/v1/operator/raft/configuration?stale{value}"
        status, body = await s.call(s.followers[0], "GET", path)
        assert status == 200, (path, body)
        assert [x["Leader"] for x in json.loads(body)["Servers"]] == [False] * 3


@pytest.mark.parametrize("release", ["1.10.0", "1.10.1"])
async def test_release_stale_is_a_bool_from_1_5(
    served: Callable[[str], Awaitable[Served]], release: str
) -> None:
    """spec §1 step 3: from 1.5 `stale` is a Go bool, an empty value meaning stale: with
    no leader `?stale=false` holds and fails with `No cluster leader`, as python-nomad's
    `stale=False` then does (§6); `?stale`, `?stale=` and the true spellings answer."""
    s = await served(release)
    s.sim.cluster.partition(*[[n] for n in s.sim.cluster.servers])
    await until(lambda: all(v.leader == "" for v in s.sim.cluster.views()))
    for value in ("", "=", "=true", "=1", "=T", "=TRUE"):
        path = f"/v1/operator/raft/configuration?stale{value}"
        status, body = await s.call(s.followers[0], "GET", path)
        assert status == 200, (path, body)
    for value in ("=false", "=False", "=0", "=f"):
        path = f"/v1/status/peers?stale{value}"
        assert await s.call(s.followers[0], "GET", path) == (500, "No cluster leader"), path


# ------------------------------------------------------------ §2.2 removal


@pytest.mark.parametrize(
    ("release", "key"),
    [
        ("0.5.6", "address"),
        ("0.8.7", "address"),
        ("0.8.7", "id"),
        ("1.2.13", "address"),
        ("1.2.13", "id"),
        ("1.10.0", "id"),
        ("1.10.1", "id"),
    ],
)
async def test_release_removal_commits_before_the_empty_200(
    served: Callable[[str], Awaitable[Served]], release: str, key: str
) -> None:
    """spec §2.2 step 3-4: through a follower, by `?id=` (RemoveServer: every server runs
    protocol 2 or 3) or `?address=` (RemovePeer); 200, empty, and the leader's committed
    configuration no longer lists the server when the answer comes. The ID is the address
    under protocols 1 and 2, the node UUID under 3 (§3.5)."""
    s = await served(release)
    s.sim.driver.set_mode("demand")  # nothing runs between the calls: no reconcile sneaks in
    victim = s.followers[1]
    address = s.address(victim)
    server_id = s.sim.cluster.servers[victim].id
    assert (server_id == address) == (PROTOCOL[release] < 3)
    value = server_id if key == "id" else address
    status, body = await s.call(s.followers[0], "DELETE", f"{PEER}?{key}={value}")
    assert (status, body) == (200, "")
    leader = s.sim.cluster.view(s.leader)
    assert address not in [x.address for x in leader.committed.servers]
    lines = [text for _, name, text in s.sim.nomad.lines if name == s.leader]
    said = f"Removed Raft peer with id {value!r}" if key == "id" else f"Removed Raft peer {value!r}"
    assert any(said in line for line in lines), lines


@pytest.mark.parametrize(
    ("release", "key", "need"),
    [
        ("0.5.6", "address", "Need"),
        ("0.8.7", "id", "Need"),
        ("1.2.13", "id", "Need"),
        ("1.10.0", "id", "need"),
        ("1.10.1", "id", "need"),
    ],
)
async def test_release_removing_the_last_voter_is_refused(
    served: Callable[[str, int], Awaitable[Served]], release: str, key: str, need: str
) -> None:
    """spec §3.4: Raft refuses a configuration without a voter (500, Raft's text). Up to
    1.2.13 the vendored hashicorp/raft predates its lowercased errors (d58cb41, 2021)."""
    s = await served(release, 1)
    s.sim.driver.set_mode("demand")
    value = s.sim.cluster.servers[s.leader].id if key == "id" else s.address(s.leader)
    status, body = await s.call(s.leader, "DELETE", f"{PEER}?{key}={value}")
    assert (status, body) == (500, f"{need} at least one voter in configuration: {{[]}}")
    assert [x.suffrage for x in s.sim.cluster.view(s.leader).committed.servers] == [Suffrage.VOTER]


# ------------------------------------------------------------ §2.8 members


# setupSerf's tags per release (nomad/server.go at v0.5.6, v0.8.7, v1.2.13, v1.10.0); the
# agent answers them as a Go map, which encoding/json writes with its keys sorted.
TAGS = {
    "0.5.6": ["role", "region", "dc", "vsn", "mvn", "build", "port", "expect"],
    "0.8.7": [
        *("role", "region", "dc", "vsn", "mvn", "build"),
        *("raft_vsn", "id", "rpc_addr", "port", "expect"),
    ],
    "1.10.0": [
        *("role", "region", "dc", "build", "revision", "vsn"),
        *("raft_vsn", "id", "rpc_addr", "port", "expect"),
    ],
}
TAGS["1.2.13"] = TAGS["0.8.7"]
TAGS["1.10.1"] = TAGS["1.10.0"]
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.mark.parametrize("release", RELEASES)
async def test_release_members_tags(
    served: Callable[[str], Awaitable[Served]], release: str
) -> None:
    """spec §2.8: 0.5.5 had vsn, mvn, build, port, bootstrap, expect; 0.8.7 and 1.2.13 also
    raft_vsn, id (the node UUID) and rpc_addr; 1.3+ adds revision and drops mvn. Their
    Serf's delegate protocol tops out at 5 (4 in 0.5.6's)."""
    s = await served(release)
    status, body = await s.call(s.followers[0], "GET", "/v1/agent/members")
    assert status == 200
    members = json.loads(body)["Members"]
    ids = set()
    for member in members:
        tags = member["Tags"]
        assert list(tags) == sorted(TAGS[release])
        assert tags["build"] == release and tags["vsn"] == "1"
        assert tags.get("mvn", "1") == "1"
        assert member["DelegateMax"] == (4 if release == "0.5.6" else 5)
        if release != "0.5.6":
            assert tags["raft_vsn"] == str(PROTOCOL[release])
            assert tags["rpc_addr"] == member["Addr"]
            assert UUID.fullmatch(tags["id"]), tags["id"]
            ids.add(tags["id"])
    assert len(ids) == (0 if release == "0.5.6" else 3)


# ------------------------------------------------------------ selection


def test_release_selection() -> None:
    """Options, the state and the CLI name the release; an unknown one is refused clearly."""
    assert set(VERSIONS) == set(RELEASES)
    sim = Simulation(Options(version="0.8.7"))
    state = sim.state()
    assert (state["nomad_version"], state["raft_profile"]) == ("0.8.7", "P2")
    with pytest.raises(
        ValueError,
        match=r"unknown Nomad version '0.8.6' \(known: 0.5.6, 0.8.7, 1.2.13, 1.10.0, 1.10.1\)",
    ):
        Simulation(Options(version="0.8.6"))
    with pytest.raises(SystemExit) as exit_:
        cli_main(["serve", "--nomad-version", "1.2.17"])
    assert exit_.value.code == 2


# ------------------------------------------------------------ §2.3 transfer-leadership


@pytest.mark.parametrize("key", ["id", "address"])
async def test_release_transfer_leadership_moves_the_leader(
    served: Callable[[str], Awaitable[Served]], key: str
) -> None:
    """spec §2.3 (1.10.x): through a follower, by `id` or `address`: 200 with From (the old
    leader) and To (the target), Noop false, Err null, once leadership has moved."""
    s = await served("1.10.1")
    target = s.followers[1]
    server = s.sim.cluster.servers[target]
    value = server.id if key == "id" else server.address
    old = s.sim.cluster.servers[s.leader]
    path = f"/v1/operator/raft/transfer-leadership?{key}={value}"
    status, body = await s.call(s.followers[0], "PUT", path)
    assert status == 200, body
    assert json.loads(body) == {
        "From": {"Address": old.address, "ID": old.id},
        "To": {"Address": server.address, "ID": server.id},
        "Noop": False,
        "Err": None,
    }
    await until(lambda: s.sim.cluster.leader() == target)
    assert s.sim.cluster.violations == []


async def test_release_transfer_leadership_to_the_leader_is_a_noop(
    served: Callable[[str], Awaitable[Served]],
) -> None:
    """spec §2.3: the target is the current leader: success with `Noop: true`, nothing
    moves."""
    s = await served("1.10.1")
    leader = s.sim.cluster.servers[s.leader]
    status, body = await s.call(
        s.leader, "POST", f"/v1/operator/raft/transfer-leadership?id={leader.id}"
    )
    assert status == 200 and json.loads(body)["Noop"] is True
    assert s.sim.cluster.leader() == s.leader


@pytest.mark.parametrize("via", ["leader", "follower"])
async def test_release_transfer_leadership_target_not_found_is_a_coded_400(
    served: Callable[[str], Awaitable[Served]], via: str
) -> None:
    """spec §2.3: a target outside the configuration is the leader's coded 400, which
    crosses forwarding without the `rpc error: ` prefix (spec §1, 0.11+)."""
    s = await served("1.10.1")
    unknown = "00000000-0000-0000-0000-000000000000"
    entry = s.leader if via == "leader" else s.followers[0]
    answer = await s.call(entry, "PUT", f"/v1/operator/raft/transfer-leadership?id={unknown}")
    assert answer == (400, f'id "{unknown}" was not found in the Raft configuration')
