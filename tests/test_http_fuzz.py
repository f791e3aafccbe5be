"""Fuzz the whole HTTP surface from its shipped OpenAPI document with schemathesis (issue 3):
no crash, no undocumented status (a 5xx only where the document lists it, with Nomad's
plain-text error), bodies that match their schemas, and the cluster intact afterwards.

Nomad's endpoints are fuzzed on one server's listener, /v1/sim/ on the control listener.
The clock runs in `demand` mode; generated clock changes are kept to the fast modes and
generated `advance` spans to a few seconds, so the whole run stays within seconds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from raftsim.web import Background, Options
from raftsim.web.serve import Served

DOCUMENT = json.loads(resources.files("raftsim.web").joinpath("openapi.json").read_text())
schema = schemathesis.openapi.from_dict(DOCUMENT)
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]
FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
# What a Nomad 5xx may say (spec §1 "Error bodies", §3.1, §3.4, §2.9).
NOMAD_500 = (
    "No cluster leader",
    "Not ready to serve consistent reads",  # 1.2.13, §3.1
    "No path to region",
    "rpc error: ",
    "address ",
    "id ",  # 0.8.7, 1.2.13: `id "<id>" was not found in the Raft configuration`
    "Need at least one voter",
    "need at least one voter",  # 1.10.x: hashicorp/raft's texts lowercased (§3.4)
    "operation not supported with current protocol version",  # 1.10.0: RemovePeer, §2.2
    "node is not the leader",
    "leadership lost while committing log",
    "raft is already shutdown",
    "timed out broadcasting node removal",
    "all servers must have raft_protocol set to 3",  # 0.8.7, 1.2.13: autopilot health, §2.5
    "autopilot config not initialized yet",  # §2.4, before the first leader wrote it
)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with Background(Options(mode="demand", seed=11)) as running:
        yield running


def tame(case: Any) -> None:
    """Keep generated clock changes fast (no pause, no crawl) and advances short."""
    body = case.body
    if not isinstance(body, dict):
        return
    if case.operation.path == "/v1/sim/clock":
        if body.get("mode") in ("paced", "paused"):
            body["mode"] = "demand"
        if isinstance(body.get("speed"), int | float) and not isinstance(body["speed"], bool):
            body["speed"] = min(max(float(body["speed"]), 1.0), 1e6)
    if case.operation.path == "/v1/sim/network":
        if isinstance(body.get("latency"), str):
            body["latency"] = "1ms-5ms"  # (a valid huge latency would only slow the run)
        for key in ("loss", "duplicate"):
            if isinstance(body.get(key), float) and 0 <= body[key] <= 1:
                body[key] = min(body[key], 0.3)
    if case.operation.path == "/v1/sim/servers/{name}/restart":
        # (Moving servers leaves ghost peers the intact test below would have to remove:
        # test_http_fuzz_membership_calls fuzzes addresses on a cluster of its own.)
        body.pop("address", None)
    if case.operation.path == "/v1/sim/servers/{name}/http" and "method" in body:
        body["method"] = "GET"  # (a generated DELETE could remove a peer for good)
    if case.operation.path == "/v1/sim/clock/advance":
        if isinstance(body.get("events"), int) and not isinstance(body["events"], bool):
            body["events"] = min(body["events"], 1000)
        if isinstance(body.get("by"), str) and body["by"].endswith(("m", "h")):
            body["by"] = "2s"


def check_5xx(case: Any, response: requests.Response) -> None:
    if response.status_code >= 500:
        assert response.status_code == 500, response.text
        assert response.text.startswith(NOMAD_500), response.text


@schema.include(path_regex="^/v1/(operator|status|agent)/").parametrize()
@FUZZ
def test_http_fuzz_nomad_endpoints(case: Any, served: Served) -> None:
    """Nomad's endpoints on alice's listener conform to the document; 5xx only as Nomad's."""
    response = case.call(base_url=served.sim.http["alice"], timeout=10)
    check_5xx(case, response)
    case.validate_response(response, checks=CHECKS)


@pytest.fixture(
    scope="module", params=["0.8.7", "1.2.13", "1.2.13 --acl", "1.10.0", "1.10.1 --acl"]
)
def release_served(request: pytest.FixtureRequest) -> Iterator[Served]:
    """The releases other than the default, which `served` fuzzes; 1.2.13 and 1.10.1 with
    ACLs too (generated tokens are unknown secrets or none: the 403s must be documented)."""
    version, _, acl = str(request.param).partition(" ")
    options = Options(mode="demand", seed=11, version=version, acl=bool(acl))
    with Background(options) as running:
        yield running


@schema.include(path_regex="^/v1/(operator|status|agent)/").parametrize()
@FUZZ
def test_http_fuzz_nomad_endpoints_per_release(case: Any, release_served: Served) -> None:
    """The same for Nomad 0.8.7, 1.2.13 and 1.10.x: the document notes where they differ; the
    autopilot paths (routed from 0.8.7, spec §2.4, §2.5) are fuzzed here, and on 0.5.6 by
    the test above as the 404 it documents."""
    response = case.call(base_url=release_served.sim.http["alice"], timeout=10)
    check_5xx(case, response)
    case.validate_response(response, checks=CHECKS)


@schema.include(path="/v1/sim/acl/tokens").parametrize()
@FUZZ
def test_http_fuzz_acl_tokens(case: Any, release_served: Served) -> None:
    """POST /v1/sim/acl/tokens conforms to the document with ACLs on (a token, 200) and
    off (400), and never answers 5xx."""
    response = case.call(base_url=release_served.sim.control_url, timeout=30)
    assert response.status_code < 500, response.text
    case.validate_response(response, checks=CHECKS)


# (The event stream never ends by itself: tests/test_web_feed.py covers it.)
@(
    schema.include(path_regex="^/v1/sim/")
    .exclude(path="/v1/sim/events")
    .exclude(path="/v1/sim/servers")
    .parametrize()
)
@FUZZ
def test_http_fuzz_simulation_control(case: Any, served: Served) -> None:
    """The control surface conforms to the document and never answers 5xx."""
    tame(case)
    response = case.call(base_url=served.sim.control_url, timeout=30)
    assert response.status_code < 500, response.text
    case.validate_response(response, checks=CHECKS)


def test_http_fuzz_leaves_the_cluster_intact(served: Served) -> None:
    """After the fuzzing: the simulator still serves, no safety violation, and once every
    server is back and the network healed, one leader with every server as a voter."""
    control = served.sim.control_url

    def post(path: str, body: object = None) -> Any:
        response = requests.post(f"{control}/v1/sim/{path}", json=body, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    post("clock", {"mode": "demand"})
    state = post("heal")
    for server in state["servers"]:
        if server["status"] == "down":
            post(f"servers/{server['name']}/restart")
        elif server["status"] == "paused":
            post(f"servers/{server['name']}/resume")
    calm = {"latency": "200us-600us", "loss": 0, "duplicate": 0, "reorder": False}
    post("network", calm)
    names = [server["name"] for server in state["servers"]]
    for src in names:
        for dst in names:
            if src != dst:
                post("network", {**calm, "from": src, "to": dst})
    for _ in range(60):  # at most 600 virtual seconds to converge
        state = post("clock/advance", {"by": "10s"})
        assert state["violations"] == []
        lead = state["leader"]
        rows = {s["name"]: s for s in state["servers"]}
        if lead and all(s["leader"] == lead for s in rows.values()):
            voters = [s for s in rows[lead]["committed"]["servers"] if s["suffrage"] == "Voter"]
            if len(voters) == len(rows):
                break
    else:
        raise AssertionError(f"not converged within 600 virtual seconds: {state}")
    answer = requests.get(f"{served.sim.http[lead]}/v1/status/peers", timeout=10)
    assert answer.status_code == 200 and len(answer.json()) == 3


@pytest.fixture(scope="module")
def growing() -> Iterator[Served]:
    """A cluster of its own for the calls that add servers, move them and join them."""
    with Background(Options(mode="demand", seed=12)) as running:
        yield running


@schema.include(path_regex="^/v1/sim/servers(/[{]name[}]/(restart|crash))?$").parametrize()
@FUZZ
def test_http_fuzz_membership_calls(case: Any, growing: Served) -> None:
    """Adding servers, restarting them (at new addresses too) and crashing them conform to
    the document; no 5xx (no peers.json is written here, so every start succeeds)."""
    response = case.call(base_url=growing.sim.control_url, timeout=30)
    assert response.status_code < 500, response.text
    case.validate_response(response, checks=CHECKS)


@schema.include(path="/v1/agent/join").parametrize()
@FUZZ
def test_http_fuzz_agent_join(case: Any, growing: Served) -> None:
    """PUT/POST /v1/agent/join: 200 with the JSON result, Nomad's 400 (or its 405 for
    another method); never a 5xx."""
    response = case.call(base_url=growing.sim.http["alice"], timeout=10)
    assert response.status_code < 500, (case.method, case.path, response.text)
    case.validate_response(response, checks=CHECKS)


def test_http_fuzz_membership_leaves_the_simulator_serving(growing: Served) -> None:
    """After the membership fuzzing the simulator still runs and found no violation."""
    control = growing.sim.control_url
    state = requests.post(f"{control}/v1/sim/clock/advance", json={"by": "30s"}, timeout=60)
    assert state.status_code == 200, state.text
    assert state.json()["violations"] == []
