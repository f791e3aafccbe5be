"""End to end: `raftsim serve` in a subprocess, driven by the real python-nomad client
(spec nomad-api.md §6) as an operator rehearsing an outage would. The clock runs in `demand`
mode: virtual time moves only while a request waits on it (or when the test advances it),
so every run sees the same virtual history and the 5 s hold costs milliseconds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import nomad
import pytest
import requests
from nomad.api import exceptions

from raftsim.web.app import loopback_usable


@dataclass
class Serve:
    process: subprocess.Popen[str]
    http: dict[str, tuple[str, int]]
    control: str
    banner: list[str]

    def sim(self, path: str, body: object = None) -> Any:
        response = requests.post(f"{self.control}/v1/sim/{path}", json=body, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def state(self) -> Any:
        return requests.get(f"{self.control}/v1/sim/state", timeout=30).json()

    def advance(self, span: str) -> Any:
        return self.sim("clock/advance", {"by": span})

    def client(self, name: str) -> nomad.Nomad:
        host, port = self.http[name]
        return nomad.Nomad(host=host, port=port, timeout=5)

    def address(self, name: str) -> str:
        return next(s["address"] for s in self.state()["servers"] if s["name"] == name)


@contextmanager
def serving(*extra: str) -> Iterator[Serve]:
    """`raftsim serve` on loopback, kernel-chosen ports; --ports where 127.0.0.2 is missing."""
    command = [sys.executable, "-m", "raftsim", "serve", "--clock", "demand", "--seed", "1"]
    command += ["--http-port", "0", "--control", "127.0.0.1:0", *extra]
    if not loopback_usable():
        command.append("--ports")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    banner: list[str] = []
    http: dict[str, tuple[str, int]] = {}
    control = ""
    for line in process.stdout:
        banner.append(line.rstrip("\n"))
        words = line.split()
        if len(words) == 5 and words[1] == "raft" and words[3] == "http":
            host, port = words[4].removeprefix("http://").rsplit(":", 1)
            http[words[0]] = (host, int(port))
        if words[:1] == ["control"]:
            control = words[1].removesuffix("/v1/sim/state")
        if line.startswith("Ctrl-C"):
            break
    try:
        yield Serve(process, http, control, banner)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Nomad 0.5.6, the default release."""
    with serving() as served:
        yield served


def leaders(configuration: dict[str, Any]) -> list[str]:
    return [s["Address"] for s in configuration["Servers"] if s["Leader"]]


def test_http_python_nomad_operator_rehearsal(serve: Serve) -> None:
    """python-nomad against three emulated Nomad 0.5.6 servers: configuration, removal,
    errors, a leaderless outage with stale reads, and recovery (issue 3's proof)."""
    assert serve.banner[-1] == "Ctrl-C stops it."
    assert any(line.startswith("example: curl") for line in serve.banner)
    assert sorted(serve.http) == ["alice", "bob", "carol"]
    serve.advance("30s")
    state = serve.state()
    leader = state["leader"]
    followers = [n for n in serve.http if n != leader]
    leader_address = serve.address(leader)

    # spec §2.1: one leader, ID == Address (P1), Index = the latest configuration's index.
    on_leader = serve.client(leader)
    configuration = on_leader.operator.get_configuration()
    assert leaders(configuration) == [leader_address]
    assert [s["ID"] for s in configuration["Servers"]] == [
        s["Address"] for s in configuration["Servers"]
    ]
    latest = next(s for s in state["servers"] if s["name"] == leader)["latest"]["index"]
    assert configuration["Index"] == latest
    assert on_leader.status.leader.get_leader() == leader_address
    assert len(on_leader.status.peers.get_peers()) == 3
    members = serve.client(followers[0]).agent.get_members()["Members"]
    assert [(m["Name"], m["Status"]) for m in members] == [
        ("alice.global", "alive"),
        ("bob.global", "alive"),
        ("carol.global", "alive"),
    ]

    # spec §2.2: removing a follower changes Servers and raises Index.
    victim = serve.address(followers[0])
    assert on_leader.operator.delete_peer(victim) is True
    after = on_leader.operator.get_configuration()
    assert victim not in [s["Address"] for s in after["Servers"]]
    assert after["Index"] > configuration["Index"]

    # spec §2.2: an unknown address is Nomad's 500 text (prefixed through a follower) ...
    with pytest.raises(exceptions.BaseNomadException) as unknown:
        on_leader.operator.delete_peer("10.9.9.9:4647")
    response = unknown.value.nomad_resp
    text = 'address "10.9.9.9:4647" was not found in the Raft configuration'
    assert (response.status_code, response.text) == (500, text)
    with pytest.raises(exceptions.BaseNomadException) as forwarded:
        serve.client(followers[1]).operator.delete_peer("10.9.9.9:4647")
    assert forwarded.value.nomad_resp.text == "rpc error: " + text
    # ... and a missing one (python-nomad drops a None parameter) the 400 text.
    with pytest.raises(exceptions.BadRequestNomadException) as missing:
        on_leader.operator.delete_peer(None)
    assert missing.value.nomad_resp.text == "Must specify ?address with IP:port of peer to remove"

    # spec §3.2: Serf still sees the removed server alive, so the leader's reconcile adds
    # it back within 60 s.
    for _ in range(30):
        serve.advance("5s")
        current = serve.state()
        lead = current["leader"]
        if lead and victim in [
            s["address"]
            for s in next(x for x in current["servers"] if x["name"] == lead)["committed"][
                "servers"
            ]
        ]:
            break
    else:
        pytest.fail("the removed server never came back")
    serve.advance("30s")

    # The leader crashes and the survivors cannot elect (each alone): stale reads show each
    # follower's own view, with no leader; non-stale reads fail after the 5 s hold.
    leader = serve.state()["leader"]
    followers = [n for n in serve.http if n != leader]
    serve.sim(f"servers/{leader}/crash")
    serve.sim("partition", {"groups": [[f] for f in followers]})
    serve.advance("10s")
    for name in followers:
        client = serve.client(name)
        view = client.operator.get_configuration(stale=True)
        own = next(s for s in serve.state()["servers"] if s["name"] == name)
        assert [s["Address"] for s in view["Servers"]] == [
            s["address"] for s in own["latest"]["servers"]
        ]
        assert view["Index"] == own["latest"]["index"]
        assert leaders(view) == []
        for call in (client.status.leader.get_leader, client.status.peers.get_peers):
            with pytest.raises(exceptions.BaseNomadException) as no_leader:
                call()
            assert no_leader.value.nomad_resp.status_code == 500
            assert no_leader.value.nomad_resp.text == "No cluster leader"
        host, port = serve.http[name]
        raw = requests.get(f"http://{host}:{port}/v1/operator/raft/configuration", timeout=5)
        assert (raw.status_code, raw.text) == (500, "No cluster leader")
    # A crashed server's listener refuses connections.
    with pytest.raises(exceptions.BaseNomadException):
        serve.client(leader).status.leader.get_leader()

    # After restart (and heal) the cluster converges again.
    serve.sim(f"servers/{leader}/restart")
    serve.sim("heal")
    for _ in range(20):
        serve.advance("5s")
        current = serve.state()
        lead = current["leader"]
        if lead and all(s["leader"] == lead for s in current["servers"]):
            break
    else:
        pytest.fail("no leader after the restart")
    lead_address = serve.address(lead)
    for name in serve.http:
        configuration = serve.client(name).operator.get_configuration()
        assert leaders(configuration) == [lead_address]
        assert len(configuration["Servers"]) == 3
        assert serve.client(name).status.leader.get_leader() == lead_address
    assert serve.state()["violations"] == []


def test_http_serve_stops_cleanly_on_ctrl_c(serve: Serve) -> None:
    """Ctrl-C (SIGINT) stops `raftsim serve` with status 0 and a last line."""
    serve.process.send_signal(signal.SIGINT)
    assert serve.process.wait(timeout=20) == 0
    assert serve.process.stdout is not None
    assert serve.process.stdout.read().strip().endswith("raftsim serve: stopped")


@pytest.mark.parametrize("release", ["0.8.7", "1.2.13"])
def test_http_python_nomad_on_protocol_2_releases(release: str) -> None:
    """python-nomad against Nomad 0.8.7 and 1.2.13 (Raft protocol 2): its removal by
    address works there (spec §6 "Interplay facts"), its errors carry those releases'
    texts (§2.2), and its `stale=False` is still a stale read before 1.5 (§1 step 3)."""
    with serving("--nomad-version", release) as serve:
        assert serve.banner[0].startswith(
            f"raftsim serve: 3 server(s) emulating Nomad {release} (Raft protocol 2, "
        )
        serve.advance("30s")
        state = serve.state()
        assert (state["nomad_version"], state["raft_profile"]) == (release, "P2")
        leader = state["leader"]
        followers = [n for n in serve.http if n != leader]
        on_leader = serve.client(leader)

        # spec §2.1: RaftProtocol is the string "2"; Index per raft-semantics §2.10.
        configuration = on_leader.operator.get_configuration()
        assert [s["RaftProtocol"] for s in configuration["Servers"]] == ["2", "2", "2"]
        latest = next(s for s in state["servers"] if s["name"] == leader)["latest"]["index"]
        assert configuration["Index"] == (latest if release == "0.8.7" else 0)
        tags = serve.client(followers[0]).agent.get_members()["Members"][0]["Tags"]
        assert (tags["build"], tags["raft_vsn"], tags["rpc_addr"]) == (release, "2", "127.0.0.1")

        # spec §2.2 and §6: delete_peer's `?address=` removes the server (200 -> True).
        victim = serve.address(followers[0])
        assert on_leader.operator.delete_peer(victim) is True
        after = on_leader.operator.get_configuration()
        assert victim not in [s["Address"] for s in after["Servers"]]

        # Unknown address: 500, prefixed through a follower; none at all: the 0.8 text.
        text = 'address "10.9.9.9:4647" was not found in the Raft configuration'
        with pytest.raises(exceptions.BaseNomadException) as unknown:
            serve.client(followers[1]).operator.delete_peer("10.9.9.9:4647")
        response = unknown.value.nomad_resp
        assert (response.status_code, response.text) == (500, "rpc error: " + text)
        with pytest.raises(exceptions.BadRequestNomadException) as missing:
            on_leader.operator.delete_peer(None)
        assert missing.value.nomad_resp.text == (
            "Must specify either ?id with the server's ID or ?address with IP:port of peer "
            "to remove"
        )

        # A leaderless cluster: get_configuration(stale=False) sends `?stale=False`, which
        # these releases read as stale (presence), so it answers; status calls do not.
        serve.sim(f"servers/{leader}/crash")
        serve.sim("partition", {"groups": [[f] for f in followers]})
        serve.advance("10s")
        client = serve.client(followers[1])
        view = client.operator.get_configuration(stale=False)
        assert leaders(view) == []
        with pytest.raises(exceptions.BaseNomadException) as no_leader:
            client.status.leader.get_leader()
        assert (no_leader.value.nomad_resp.status_code, no_leader.value.nomad_resp.text) == (
            500,
            "No cluster leader",
        )
        assert serve.state()["violations"] == []


@pytest.mark.parametrize("release", ["1.10.0", "1.10.1"])
def test_http_python_nomad_on_protocol_3_releases(release: str) -> None:
    """python-nomad against Nomad 1.10 (Raft protocol 3): its reads work, IDs are node
    UUIDs (spec §2.1, §3.5); its removal by address, the only one it has, fails: Raft
    refuses RemovePeer under protocol 3 on 1.10.0 (500), the handler refuses `?address=`
    from 1.10.1 (400, spec §2.2); and its `stale=False` is a consistent read from 1.5
    (§1 step 3), so without a leader it fails where older releases answered."""
    with serving("--nomad-version", release) as serve:
        serve.advance("30s")
        state = serve.state()
        assert (state["nomad_version"], state["raft_protocol"]) == (release, 3)
        leader = state["leader"]
        followers = [n for n in serve.http if n != leader]
        on_leader = serve.client(leader)
        configuration = on_leader.operator.get_configuration()
        servers = configuration["Servers"]
        assert [s["RaftProtocol"] for s in servers] == ["3", "3", "3"]
        assert all(s["ID"] != s["Address"] and len(s["ID"]) == 36 for s in servers)
        assert configuration["Index"] == 0

        victim = serve.address(followers[0])
        with pytest.raises(exceptions.BaseNomadException) as refused:
            serve.client(followers[1]).operator.delete_peer(victim)
        response = refused.value.nomad_resp
        if release == "1.10.0":
            expected = (500, "rpc error: operation not supported with current protocol version")
        else:
            expected = (
                400,
                "Removing a peer by address is not supported in the current raft protocol version",
            )
            assert isinstance(refused.value, exceptions.BadRequestNomadException)
        assert (response.status_code, response.text) == expected
        assert victim in [s["Address"] for s in on_leader.operator.get_configuration()["Servers"]]

        # Without a leader: `?stale=False` is no stale read any more; `stale=True` is.
        serve.sim(f"servers/{leader}/crash")
        serve.sim("partition", {"groups": [[f] for f in followers]})
        serve.advance("10s")
        client = serve.client(followers[1])
        with pytest.raises(exceptions.BaseNomadException) as no_leader:
            client.operator.get_configuration(stale=False)
        assert (no_leader.value.nomad_resp.status_code, no_leader.value.nomad_resp.text) == (
            500,
            "No cluster leader",
        )
        assert leaders(client.operator.get_configuration(stale=True)) == []
        assert serve.state()["violations"] == []


@pytest.mark.parametrize("release", ["0.8.7", "1.2.13"])
def test_http_python_nomad_with_acl_tokens(release: str) -> None:
    """python-nomad's `token=` (X-Nomad-Token, spec §6) against `raftsim serve --acl`: the
    banner's management token may do everything (§1 "ACL capabilities"); no token, an
    unknown one and a client token without the right get the 403 texts, which python-nomad
    raises as URLNotAuthorizedNomadException; status calls ignore tokens (§2.6)."""
    with serving("--nomad-version", release, "--acl") as serve:
        [line] = [line for line in serve.banner if line.split()[:1] == ["acl"]]
        management = line.split()[3]
        assert line.split()[1:3] == ["management", "token"] and len(management) == 36
        assert serve.state()["acl"]["enabled"] is True
        serve.advance("30s")
        leader = serve.state()["leader"]
        followers = [n for n in serve.http if n != leader]

        def client(name: str, token: str | None) -> nomad.Nomad:
            host, port = serve.http[name]
            return nomad.Nomad(host=host, port=port, timeout=5, token=token)

        admin = client(followers[0], management)
        assert len(admin.operator.get_configuration()["Servers"]) == 3
        assert len(admin.agent.get_members()["Members"]) == 3
        assert admin.agent.force_leave("nobody.global") == 200

        # A client token made through the control surface: node:read, not agent:write.
        reader = serve.sim("acl/tokens", {"name": "reader", "rules": {"node": "read"}})
        assert (reader["type"], reader["rules"]) == ("client", {"node": "read"})
        limited = client(followers[0], reader["secret_id"])
        assert len(limited.agent.get_members()["Members"]) == 3
        for kind, who in (
            ("Permission denied", client(followers[0], None)),
            ("ACL token not found", client(followers[0], "not-a-token")),
            ("Permission denied", limited),
        ):
            for call in (
                who.operator.get_configuration,
                lambda who=who: who.operator.delete_peer("10.9.9.9:4647"),
                lambda who=who: who.agent.force_leave("nobody.global"),
            ):
                with pytest.raises(exceptions.URLNotAuthorizedNomadException) as refused:
                    call()
                response = refused.value.nomad_resp
                assert (response.status_code, response.text) == (403, kind)
            assert who.status.leader.get_leader() == serve.address(leader)

        # The management token removes a peer through a follower (§2.2): True.
        assert admin.operator.delete_peer(serve.address(followers[1])) is True
        assert serve.state()["violations"] == []
