"""ACL tokens on Nomad's endpoints (raftsim/nomad/acl.py, `raftsim serve --acl`): a table of
endpoint x token kind x release with the exact status and body, each row citing the spec
(nomad-api.md §1 "ACL capabilities", "Error bodies", §2.x), then the cases that need more
than one request: the verdict after forwarding, the client tokens of /v1/sim/acl/tokens,
replay. Releases with ACLs: 0.8.7, 1.2.13 and 1.10.x (with `Authorization: Bearer`); 0.5.6
has none and ignores tokens."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
import requests
from aiohttp.test_utils import TestClient

from raftsim.cli import main as cli_main
from raftsim.nomad import NomadCluster
from raftsim.nomad.acl import ACL, Capability, check_rules
from raftsim.web import Background, Options, Simulation, make_app

from .served import until

Client = TestClient  # type: ignore[type-arg]
UNKNOWN = "10.9.9.9:4647"
DENIED = (403, "Permission denied")
NOT_FOUND = (403, "ACL token not found")
JSON_OK = (200, "(json)")
MISSING_0_5 = "Must specify ?address with IP:port of peer to remove"
NOT_IN_CONFIG = f'id "{UNKNOWN}" was not found in the Raft configuration'
ADDRESS_REFUSED = (
    400,
    "Removing a peer by address is not supported in the current raft protocol version",
)
# Client tokens the table uses, by kind: rules as POST /v1/sim/acl/tokens takes them.
RULES = {
    # Everything but management: the Raft endpoints still refuse it (IsManagement).
    "operator-write": {"operator": "write", "node": "write", "agent": "write"},
    "node-read": {"node": "read", "agent": "read"},
    "node-deny": {"node": "deny", "agent": "deny", "operator": "read"},
}
KINDS = ("none", "unknown", "management", "padded", "bearer", *RULES)


@dataclass
class Served:
    sim: Simulation
    control: Client
    clients: dict[str, Client]
    leader: str
    followers: list[str]
    secrets: dict[str, str]

    def headers(self, kind: str) -> dict[str, str]:
        management = self.sim.management_token or "e47e02a0-a4f4-f2fa-a816-c6181be8b3bf"
        if kind == "none":
            return {}
        if kind == "unknown":
            return {"X-Nomad-Token": "00000000-0000-0000-0000-000000000000"}
        if kind == "management":
            return {"X-Nomad-Token": management}
        if kind == "padded":  # Go's header parsing trims spaces and tabs (spec §1 step 2)
            return {"X-Nomad-Token": f" \t{management}\t "}
        if kind == "bearer":  # read from 1.4 only (spec §1 step 2)
            return {"Authorization": f"Bearer {management}"}
        return {"X-Nomad-Token": self.secrets.get(kind, "11111111-1111-1111-1111-111111111111")}

    async def call(
        self, via: str, method: str, path: str, headers: dict[str, str]
    ) -> tuple[int, str]:
        client = self.clients[via]
        async with client.request(method, path, headers=headers, allow_redirects=False) as r:
            return r.status, await r.text()


def trace(sim: Simulation) -> list[str]:
    return [line for line in sim.cluster.trace_lines() if " reset " not in line]


async def post(client: Client, path: str, body: object) -> tuple[int, dict[str, object]]:
    async with client.post(path, json=body) as response:
        return response.status, await response.json()


@pytest.fixture
def served(
    aiohttp_client: Callable[..., Awaitable[Client]],
) -> Callable[..., Awaitable[Served]]:
    async def make(release: str, acl: bool = True, seed: int = 3) -> Served:
        sim = Simulation(Options(mode="autojump", seed=seed, version=release, acl=acl))
        control = await aiohttp_client(make_app(sim))
        clients = {
            name: await aiohttp_client(make_app(sim, default_server=name))
            for name in sim.cluster.servers
        }

        def agreed() -> bool:
            leader = sim.cluster.leader()
            return leader is not None and all(v.leader == leader for v in sim.cluster.views())

        await until(agreed)
        await sim.driver.advance(1_000_000)  # 1.2.13: the leader loop has established itself
        leader = sim.cluster.leader()
        assert leader is not None
        secrets = {}
        if acl:
            for kind, rules in RULES.items():
                status, token = await post(
                    control, "/v1/sim/acl/tokens", {"name": kind, "rules": rules}
                )
                assert status == 200, token
                secrets[kind] = str(token["secret_id"])
        followers = [n for n in sim.cluster.servers if n != leader]
        return Served(sim, control, clients, leader, followers, secrets)

    return make


@dataclass(frozen=True)
class Case:
    """A request and its answer per token kind (with ACLs on, 0.8.7 and 1.2.13 alike);
    `other` answers the kinds not listed; `free` is the answer without ACLs (0.5.6, or a
    0.7+ release served without --acl), whatever the token."""

    spec: str
    method: str
    path: str
    answers: dict[str, tuple[int, str]]
    other: tuple[int, str]
    free: tuple[int, str]
    via: str = "leader"
    old: tuple[int, str] | None = None  # 0.5.6's answer where it differs from `free`
    new: tuple[int, str] | None = None  # 1.10.1's handler-level answer, whatever the token


MANAGEMENT_ONLY = {"management": JSON_OK, "padded": JSON_OK, "unknown": NOT_FOUND}
REMOVE = (500, NOT_IN_CONFIG)
REMOVE_VIA_FOLLOWER = (500, "rpc error: " + NOT_IN_CONFIG)
CASES = [
    Case(
        "§1 ACL, §2.1", "GET", "/v1/operator/raft/configuration", MANAGEMENT_ONLY, DENIED, JSON_OK
    ),
    # §1 "Forwarding prefix": the leader's `rpc error: Permission denied` loses its prefix
    # through the suffix rule; the verdict is the leader's.
    Case(
        "§1 ACL after forwarding, §2.1",
        "GET",
        "/v1/operator/raft/configuration",
        MANAGEMENT_ONLY,
        DENIED,
        JSON_OK,
        via="follower",
    ),
    Case(
        "§1 ACL, stale read decided locally",
        "GET",
        "/v1/operator/raft/configuration?stale",
        MANAGEMENT_ONLY,
        DENIED,
        JSON_OK,
        via="follower",
    ),
    Case(
        "§2.2 step 1 management",
        "DELETE",
        f"/v1/operator/raft/peer?id={UNKNOWN}",
        {"management": REMOVE, "padded": REMOVE, "unknown": NOT_FOUND},
        DENIED,
        REMOVE,
        old=(400, MISSING_0_5),
    ),
    Case(
        "§2.2 step 1 management, through a follower",
        "DELETE",
        f"/v1/operator/raft/peer?id={UNKNOWN}",
        {"management": REMOVE_VIA_FOLLOWER, "padded": REMOVE_VIA_FOLLOWER, "unknown": NOT_FOUND},
        DENIED,
        REMOVE_VIA_FOLLOWER,
        via="follower",
        old=(400, MISSING_0_5),
    ),
    Case(
        "§2.2 by address, management",
        "DELETE",
        f"/v1/operator/raft/peer?address={UNKNOWN}",
        {
            "management": (500, f'address "{UNKNOWN}" was not found in the Raft configuration'),
            "padded": (500, f'address "{UNKNOWN}" was not found in the Raft configuration'),
            "unknown": NOT_FOUND,
        },
        DENIED,
        (500, f'address "{UNKNOWN}" was not found in the Raft configuration'),
        new=ADDRESS_REFUSED,
    ),
    # §2.2's handler-level 400s come before the RPC, so before any ACL verdict.
    Case(
        "§2.2 handler 400 first",
        "DELETE",
        "/v1/operator/raft/peer?id=x&address=y",
        {},
        (400, "Must specify only one of ?id or ?address"),
        (400, "Must specify only one of ?id or ?address"),
        old=(500, 'address "y" was not found in the Raft configuration'),
        new=ADDRESS_REFUSED,
    ),
    Case("§1 ACL: status ignores tokens, §2.6", "GET", "/v1/status/leader", {}, JSON_OK, JSON_OK),
    Case("§1 ACL: status ignores tokens, §2.7", "GET", "/v1/status/peers", {}, JSON_OK, JSON_OK),
    Case(
        "§1 ACL: node:read, §2.8",
        "GET",
        "/v1/agent/members",
        {
            "management": JSON_OK,
            "padded": JSON_OK,
            "operator-write": JSON_OK,
            "node-read": JSON_OK,
            "unknown": NOT_FOUND,
        },
        DENIED,
        JSON_OK,
        via="follower",
    ),
    # §1 step 5 runs in s.parse, before the RPC that checks the token.
    Case(
        "§1 step 5 before ACL, §2.8",
        "GET",
        "/v1/agent/members?wait=soon",
        {},
        (400, "Invalid wait time"),
        (400, "Invalid wait time"),
        old=JSON_OK,  # 0.5.x's handler parsed no query (spec §2.8)
    ),
    Case(
        "§1 ACL: agent:write, §2.9",
        "PUT",
        "/v1/agent/force-leave?node=nobody.global",
        {
            "management": (200, ""),
            "padded": (200, ""),
            "operator-write": (200, ""),
            "unknown": NOT_FOUND,
        },
        DENIED,
        (200, ""),
        via="follower",
    ),
    # §2.9: AgentForceLeaveRequest checks agent:write before it looks for `node`.
    Case(
        "§2.9 ACL before the missing node",
        "POST",
        "/v1/agent/force-leave",
        {
            "management": (400, "missing node to force leave"),
            "padded": (400, "missing node to force leave"),
            "operator-write": (400, "missing node to force leave"),
            "unknown": NOT_FOUND,
        },
        DENIED,
        (400, "missing node to force leave"),
    ),
]


def expected(case: Case, release: str, acl: bool, kind: str) -> tuple[int, str]:
    if release == "0.5.6" and case.old is not None:
        return case.old
    if release == "1.10.1" and case.new is not None:
        return case.new
    if not acl:
        return case.free
    if release.startswith("1.10"):
        # spec §1 step 2: `Authorization: Bearer` from 1.4; "ACL capabilities": from 1.5
        # the operator RPCs and Status.Members authenticate first, and report an unknown
        # secret as `Permission denied` (nomad/*_endpoint.go at v1.10.1).
        if kind == "bearer":
            kind = "management"
        verdict = case.answers.get(kind, case.other)
        if verdict == NOT_FOUND and not case.path.startswith("/v1/agent/force-leave"):
            return DENIED  # (force-leave resolves the token itself: `ACL token not found`)
    return case.answers.get(kind, case.other)


@pytest.mark.parametrize(
    ("release", "acl"),
    [
        ("0.8.7", True),
        ("1.2.13", True),
        ("1.10.1", True),
        ("0.8.7", False),
        ("1.10.1", False),
        ("0.5.6", False),
    ],
)
@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c.spec} {c.method} {c.path} via {c.via}" for c in CASES]
)
async def test_acl_table(
    served: Callable[..., Awaitable[Served]], case: Case, release: str, acl: bool
) -> None:
    """Each row, for every token kind: the answer the spec section gives (0.5.6 and a
    release served without --acl: every token ignored)."""
    s = await served(release, acl)
    via = s.leader if case.via == "leader" else s.followers[0]
    for kind in KINDS:
        status, body = await s.call(via, case.method, case.path, s.headers(kind))
        want = expected(case, release, acl, kind)
        if want == JSON_OK:
            assert status == 200, (kind, body)
            json.loads(body)
        else:
            assert (status, body) == want, kind


@pytest.mark.parametrize("release", ["0.8.7", "1.2.13"])
async def test_acl_no_leader_comes_before_the_verdict(
    served: Callable[..., Awaitable[Served]], release: str
) -> None:
    """spec §1 "ACL capabilities": a follower with no leader answers `No cluster leader`
    (500, after the 5 s hold) before any ACL verdict; a stale read decides locally."""
    s = await served(release)
    s.sim.cluster.partition(*[[n] for n in s.sim.cluster.servers])
    await until(lambda: all(v.leader == "" for v in s.sim.cluster.views()))
    follower = s.followers[0]
    for kind in ("none", "unknown", "node-read", "management"):
        headers = s.headers(kind)
        answer = await s.call(follower, "GET", "/v1/operator/raft/configuration", headers)
        assert answer == (500, "No cluster leader"), kind
        answer = await s.call(follower, "DELETE", f"/v1/operator/raft/peer?id={UNKNOWN}", headers)
        assert answer == (500, "No cluster leader"), kind
    stale = "/v1/operator/raft/configuration?stale"
    assert await s.call(follower, "GET", stale, s.headers("unknown")) == NOT_FOUND
    assert await s.call(follower, "GET", stale, s.headers("node-read")) == DENIED
    status, body = await s.call(follower, "GET", stale, s.headers("management"))
    assert status == 200 and not any(x["Leader"] for x in json.loads(body)["Servers"])


async def test_acl_management_token_removes_a_peer(
    served: Callable[..., Awaitable[Served]],
) -> None:
    """spec §2.2: with the management token the removal runs (200, empty; the leader logs
    it: the reconcile adds the still-alive server back later, §3.2); with a token lacking
    management it does not run at all."""
    s = await served("1.2.13")
    target = s.sim.cluster.servers[s.followers[1]].address
    path = f"/v1/operator/raft/peer?id={target}"

    def removals() -> list[str]:
        return [text for _, _, text in s.sim.nomad.lines if "Removed Raft peer" in text]

    assert await s.call(s.followers[0], "DELETE", path, s.headers("operator-write")) == DENIED
    assert removals() == []
    assert await s.call(s.followers[0], "DELETE", path, s.headers("management")) == (200, "")
    assert removals() == [f"nomad.operator: Removed Raft peer with id {target!r}"]


# ------------------------------------------------------------ tokens and state


def test_acl_tokens_are_derived_from_the_seed() -> None:
    """The bootstrap secret comes from the seed the serve started with (and survives a
    reset, as the banner that printed it does); client tokens from the run's seed and
    their order, so a replay makes the same ones."""
    a = Simulation(Options(version="1.2.13", acl=True, seed=5))
    b = Simulation(Options(version="1.2.13", acl=True, seed=5))
    c = Simulation(Options(version="1.2.13", acl=True, seed=6))
    assert a.management_token == b.management_token != c.management_token
    assert len(a.management_token) == 36 and a.management_token.count("-") == 4
    a.act("acl_token", "x", (("node", "read"),))
    b.act("acl_token", "x", (("node", "read"),))
    assert list(a.nomad.acl.tokens) == list(b.nomad.acl.tokens)
    a.reset(9)
    assert a.management_token == b.management_token
    assert list(a.nomad.acl.tokens) == [a.management_token]
    assert Simulation(Options(version="0.8.7")).management_token == ""


def test_acl_state_says_whether_acls_are_on() -> None:
    """GET /v1/sim/state: `acl.enabled`, and the tokens without their secrets."""
    assert Simulation(Options()).state()["acl"] == {"enabled": False, "tokens": []}
    sim = Simulation(Options(version="0.8.7", acl=True))
    state = sim.state()["acl"]
    assert state["enabled"] is True  # type: ignore[index]
    [token] = state["tokens"]  # type: ignore[index]
    assert (token["name"], token["type"], token["rules"]) == ("Bootstrap Token", "management", {})
    assert sim.management_token not in json.dumps(sim.state())


def test_acl_only_for_releases_that_have_them() -> None:
    """0.5.6 has no ACLs (spec version landmarks: 0.7.0): asking for them is refused."""
    with pytest.raises(ValueError, match=r"Nomad 0\.5\.6 has no ACLs \(they came with 0\.7\)"):
        Simulation(Options(acl=True))
    sim = Simulation(Options())
    with pytest.raises(ValueError, match="has no ACLs"):
        NomadCluster(sim.cluster, acl=ACL(True, "secret"))
    assert cli_main(["serve", "--acl", "--no-control", "--http-port", "0"]) == 2


def test_acl_capabilities_follow_acl_go() -> None:
    """acl/acl.go: read allowed by read or write, write by write only, deny by nothing;
    management only for management tokens."""
    acl = ACL(True, "m")
    writer = acl.create("w", check_rules({"operator": "write", "agent": "write", "node": "write"}))
    reader = acl.create("r", check_rules({"operator": "read", "node": "read", "agent": "read"}))
    for capability, allowed in [
        (Capability.MANAGEMENT, (False, False)),
        (Capability.OPERATOR_READ, (True, True)),
        (Capability.OPERATOR_WRITE, (True, False)),
        (Capability.NODE_READ, (True, True)),
        (Capability.AGENT_WRITE, (True, False)),
    ]:
        got = tuple(acl.check(t.secret_id, capability) is None for t in (writer, reader))
        assert got == allowed, capability
        assert acl.check("m", capability) is None
    assert ACL().check("anything", Capability.MANAGEMENT) is None  # ACLs disabled


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"rules": {"namespace": "read"}}, "unknown scope 'namespace'"),
        ({"rules": {"node": "list"}}, "scope 'node': unknown level 'list'"),
        ({"rules": ["node"]}, '"rules" is an object'),
        ({"name": "x"}, '"rules" is required'),
        ({"name": 3, "rules": {}}, '"name" is a string'),
        ({"name": "x" * 257, "rules": {}}, '"name" is a string of at most 256'),
        ({"rules": {}, "policies": ["a"]}, "unknown field(s): policies"),
    ],
)
async def test_acl_token_bad_input_changes_nothing(
    served: Callable[..., Awaitable[Served]], body: dict[str, object], error: str
) -> None:
    """POST /v1/sim/acl/tokens: bad input is a 400 with the reason; no token, no input."""
    s = await served("0.8.7")
    before = (len(s.sim.nomad.acl.tokens), len(s.sim.journal))
    status, answer = await post(s.control, "/v1/sim/acl/tokens", body)
    assert status == 400 and error in str(answer["error"]), answer
    assert (len(s.sim.nomad.acl.tokens), len(s.sim.journal)) == before


async def test_acl_token_needs_acls(served: Callable[..., Awaitable[Served]]) -> None:
    s = await served("1.2.13", acl=False)
    status, answer = await post(s.control, "/v1/sim/acl/tokens", {"rules": {"node": "read"}})
    assert (status, answer) == (
        400,
        {"error": "ACLs are not enabled (raftsim serve --acl, Nomad 0.8.7 or 1.2.13)"},
    )


async def test_acl_requests_replay_to_the_same_verdicts(
    served: Callable[..., Awaitable[Served]],
) -> None:
    """Replay (raftsim/web/simulation.py): the token made through /v1/sim/ and the tokens
    of Nomad requests are recorded inputs, so a rebuilt run holds the same tokens and
    gives every recorded request the same answer (a different one fails the replay)."""
    s = await served("1.2.13")
    sim = s.sim
    answers = []
    for kind in ("none", "unknown", "node-read", "management"):
        headers = s.headers(kind)
        answers.append(await s.call(s.followers[0], "GET", "/v1/agent/members", headers))
        answers.append(await s.call(s.followers[0], "PUT", "/v1/agent/force-leave", headers))
        path = f"/v1/operator/raft/peer?id={sim.cluster.servers[s.followers[1]].address}"
        answers.append(await s.call(s.followers[0], "DELETE", path, headers))
        await sim.driver.advance(500_000)
    assert [status for status, _ in answers] == [403] * 6 + [200, 403, 403, 200, 400, 200]
    before = (trace(sim), dict(sim.nomad.acl.tokens), sim.state()["acl"])
    sim.replay(sim.cluster.now)
    assert (trace(sim), dict(sim.nomad.acl.tokens), sim.state()["acl"]) == before
    sim.replay(1)  # before the client tokens: only the bootstrap token
    assert list(sim.nomad.acl.tokens) == [sim.management_token]


def test_acl_page_asks_with_a_token() -> None:
    """POST /v1/sim/servers/{name}/http takes a `token`, sent as X-Nomad-Token, so the page
    can ask as a token holder; a token that is no header value is refused, unchanged."""
    options = Options(version="1.2.13", acl=True, mode="demand", seed=4)
    with Background(options) as served:
        control = served.sim.control_url
        requests.post(f"{control}/v1/sim/clock/advance", json={"by": "10s"}, timeout=30)

        def ask(**extra: str) -> dict[str, object]:
            body = {"path": "/v1/operator/raft/configuration", **extra}
            response = requests.post(f"{control}/v1/sim/servers/alice/http", json=body, timeout=30)
            return {"answered": response.status_code, **response.json()}

        refused = ask()
        assert (refused["answered"], refused["status"], refused["body"]) == (
            200,
            403,
            "Permission denied",
        )
        allowed = ask(token=served.sim.management_token)
        assert allowed["status"] == 200 and json.loads(str(allowed["body"]))["Servers"]
        bad = ask(token="a b")
        assert bad["answered"] == 400 and "visible ASCII" in str(bad["error"])


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        ("Bearer {t}", True),
        ("bearer {t}", True),  # the scheme in any case
        ("BEARER  {t}  extra", True),  # split at single spaces, the value's first word
        ("Bearer {t}\tx", False),  # a tab is no separator: "{t}\tx" is the secret
        ("Bearer\t{t}", False),  # nor here: one part, no scheme
        ("Basic {t}", False),
        ("{t}", False),
    ],
)
async def test_acl_bearer_token_is_parsed_as_nomad_does(
    served: Callable[..., Awaitable[Served]], header: str, allowed: bool
) -> None:
    """spec §1 step 2 (1.4+, command/agent/http.go parseToken at v1.10.1): without
    X-Nomad-Token, `Authorization: <scheme> <value>` split at single spaces; scheme
    `bearer` in any case; the secret is the value's first space-separated word."""
    s = await served("1.10.1")
    management = s.sim.management_token
    headers = {"Authorization": header.format(t=management)}
    status, body = await s.call(s.leader, "GET", "/v1/operator/raft/configuration", headers)
    assert (status == 200) is allowed, body
    if not allowed:
        assert (status, body) == DENIED
