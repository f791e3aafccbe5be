"""Outage recovery over HTTP (issue 10 items 1 and 2): data directories on disk with
peers.info and peers.json (spec nomad-api.md §5), `PUT /v1/agent/join` as Nomad 0.5.6
answers it (command/agent/agent_endpoint.go AgentJoinRequest), new servers, and servers
restarted at a new address (a ghost peer under Raft protocol 1)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from raftsim.sim.datadir import PEERS_INFO_TEXT
from raftsim.web import Background, Options
from raftsim.web.disk import DataDirs
from raftsim.web.serve import Served, banner


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with Background(Options(mode="demand", seed=0, data_dir=str(tmp_path))) as running:
        yield running


def post(served: Served, path: str, body: object = None) -> requests.Response:
    return requests.post(f"{served.sim.control_url}/v1/sim/{path}", json=body, timeout=30)


def advance(served: Served, by: str) -> dict[str, Any]:
    response = post(served, "clock/advance", {"by": by})
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


def get(served: Served, server: str, path: str) -> requests.Response:
    return requests.get(f"{served.sim.http[server]}{path}", timeout=10)


def state(served: Served) -> dict[str, Any]:
    answer: dict[str, Any] = requests.get(
        f"{served.sim.control_url}/v1/sim/state", timeout=10
    ).json()
    return answer


def raft(tmp_path: Path, name: str) -> Path:
    return tmp_path / name / "server" / "raft"


def wait_listening(served: Served, name: str) -> None:
    for _ in range(100):
        if name in served.sim.http:
            return
        time.sleep(0.02)
    raise AssertionError(f"{name} never got a listener")


# ------------------------------------------------------------------ data directories (§5)


def test_data_dir_holds_each_servers_raft_directory_with_peers_info(
    served: Served, tmp_path: Path
) -> None:
    """`DIR/<name>/server/raft/peers.info` with Nomad's text, written on the first start;
    the banner says where the data directory is."""
    for name in ("alice", "bob", "carol"):
        assert (raft(tmp_path, name) / "peers.info").read_text() == PEERS_INFO_TEXT
        assert not (raft(tmp_path, name) / "peers.json").exists()
    assert f"data     {tmp_path}" in banner(served)


def test_data_dir_from_an_earlier_serve_is_refused(tmp_path: Path) -> None:
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "leftover").write_text("x")

    with pytest.raises(ValueError, match="is not empty"):
        DataDirs(tmp_path).check_fresh(["alice"])


def test_quorum_loss_recovery_over_http(served: Served, tmp_path: Path) -> None:
    """Nomad's outage guide with two of three servers lost for good: stop the survivor,
    write peers.json with its own Raft address, start it. A bad file first: the start
    fails with Nomad's text (500) and the server stays down; fixed, it recovers, deletes
    the file and leads; a new server joins and is added by the leader's reconcile."""
    advance(served, "5s")
    for name in ("bob", "carol", "alice"):
        assert post(served, f"servers/{name}/crash").status_code == 200
    peers = raft(tmp_path, "alice") / "peers.json"
    peers.write_text('["127.0.0.1:4647",]')

    failed = post(served, "servers/alice/restart")

    assert failed.status_code == 500
    assert failed.json() == {
        "error": "alice did not start: recovery failed to parse peers.json: invalid "
        "character ']' looking for beginning of value",
        "server": "alice",
    }
    assert state(served)["servers"][0]["status"] == "down"
    assert peers.exists()

    peers.write_text(json.dumps(["127.0.0.1:4647"]))
    assert post(served, "servers/alice/restart").status_code == 200
    assert not peers.exists()
    advance(served, "5s")
    assert get(served, "alice", "/v1/status/leader").json() == "127.0.0.1:4647"
    assert get(served, "alice", "/v1/status/peers").json() == ["127.0.0.1:4647"]

    grown = post(served, "servers")
    assert grown.status_code == 200
    dave = grown.json()["servers"][3]
    assert (dave["name"], dave["address"]) == ("dave", "127.0.0.4:4647")
    assert (raft(tmp_path, "dave") / "peers.info").exists()
    advance(served, "70s")  # the leader's reconcile runs at least every 60 s
    assert get(served, "alice", "/v1/status/peers").json() == ["127.0.0.1:4647", "127.0.0.4:4647"]
    assert state(served)["violations"] == []


# ------------------------------------------------------------------ join (agent_endpoint.go)


def test_agent_join_answers_as_nomad_0_5_6(served: Served) -> None:
    """200 `{"num_joined":N,"error":""}`; no address: 400 `missing address to join`; a
    join that fails everywhere is still a 200 with memberlist's errors; GET: 405."""
    alice = served.sim.http["alice"]

    missing = requests.put(f"{alice}/v1/agent/join", timeout=10)
    assert (missing.status_code, missing.text) == (400, "missing address to join")
    wrong = requests.get(f"{alice}/v1/agent/join?address=127.0.0.2", timeout=10)
    assert (wrong.status_code, wrong.text) == (405, "Invalid method")

    ok = requests.put(f"{alice}/v1/agent/join?address=127.0.0.2:4648", timeout=10)
    assert (ok.status_code, ok.text) == (200, '{"num_joined":1,"error":""}')

    refused = requests.post(f"{alice}/v1/agent/join?address=10.9.9.9", timeout=10)
    assert refused.status_code == 200
    assert refused.json() == {
        "num_joined": 0,
        "error": "1 error(s) occurred:\n\n* Failed to join 10.9.9.9: dial tcp 10.9.9.9:4648: "
        "getsockopt: connection refused",
    }


def test_new_server_left_unjoined_waits_for_the_operator(served: Served) -> None:
    """{"join": false}: the new server knows nobody and is not added to Raft; once joined
    (on its own listener, as `nomad server-join` does), the leader adds it."""
    advance(served, "5s")
    assert post(served, "servers", {"join": False}).status_code == 200
    wait_listening(served, "dave")
    advance(served, "70s")
    leader = get(served, "dave", "/v1/agent/members").json()
    assert [m["Name"] for m in leader["Members"]] == ["dave.global"]
    peers = get(served, "alice", "/v1/status/peers").json()
    assert "127.0.0.4:4647" not in peers

    joined = requests.put(f"{served.sim.http['dave']}/v1/agent/join?address=127.0.0.1", timeout=10)
    assert joined.json() == {"num_joined": 1, "error": ""}
    advance(served, "70s")
    assert "127.0.0.4:4647" in get(served, "alice", "/v1/status/peers").json()


def test_add_server_bad_input_changes_nothing(served: Served) -> None:
    before = state(served)["servers"]

    for body in ({"join": "yes"}, {"name": "dave"}, [1]):
        response = post(served, "servers", body)
        assert response.status_code == 400, response.text
        assert "error" in response.json()

    assert state(served)["servers"] == before


# ------------------------------------------------------------------ a new address


def test_restart_at_a_new_address_leaves_a_ghost_peer(served: Served) -> None:
    """Under Raft protocol 1 the ID is the address: carol back at 127.0.0.9 is a new
    server to Raft. Serf sees her at the new address and the leader adds that; the old
    address stays in the configuration as a ghost (Node `(unknown)`) until removed."""
    advance(served, "5s")
    post(served, "servers/carol/crash")

    assert post(served, "servers/carol/restart", {"address": "127.0.0.9:4647"}).status_code == 200
    advance(served, "90s")

    leader = get(served, "alice", "/v1/status/leader").json()
    who = {"127.0.0.1:4647": "alice", "127.0.0.2:4647": "bob"}[leader]
    configuration = get(served, who, "/v1/operator/raft/configuration").json()
    rows = [(s["Address"], s["Node"]) for s in configuration["Servers"]]
    assert ("127.0.0.3:4647", "(unknown)") in rows
    assert ("127.0.0.9:4647", "carol.global") in rows
    members = get(served, who, "/v1/agent/members").json()["Members"]
    assert {m["Name"]: m["Addr"] for m in members}["carol.global"] == "127.0.0.9"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"address": "127.0.0.9"}, '"address" is a Raft address IP:port such as'),
        ({"address": "127.0.0.2:4647"}, "127.0.0.2:4647 is bob's address"),
        ({"address": 4647}, '"address" is a Raft address'),
        ({"addr": "127.0.0.9:4647"}, "unknown field(s): addr"),
    ],
)
def test_restart_with_a_bad_address_changes_nothing(
    served: Served, body: dict[str, object], error: str
) -> None:
    post(served, "servers/carol/crash")
    before = state(served)["servers"]

    response = post(served, "servers/carol/restart", body)

    assert response.status_code == 400
    assert error in response.json()["error"]
    assert state(served)["servers"] == before


def test_a_newline_in_a_path_reaches_the_routes_table(served: Served) -> None:
    """A percent-encoded newline in a path segment is answered by the routes table (a 400
    naming the unknown server; Go's 404 on a Nomad path), not by aiohttp's own 404, which
    the control surface turned into a 500 (found by fuzzing the new /v1/sim/servers calls)."""
    control = requests.post(f"{served.sim.control_url}/v1/sim/servers/a%0Ab/crash", timeout=10)
    nomad = requests.get(f"{served.sim.http['alice']}/v1/status/le%0Ader", timeout=10)

    assert control.status_code == 400
    assert control.json()["error"].startswith("unknown server 'a\\nb'")
    assert (nomad.status_code, nomad.text) == (404, "404 page not found\n")


def test_replay_of_a_recovery_reads_the_recorded_files_and_reset_recreates_the_dirs(
    served: Served, tmp_path: Path
) -> None:
    """A restart records the peers files it found on disk, so replaying the run (the page's
    time slider) recovers the same way although the file is gone from disk; a reset gives
    every server a fresh data directory (peers.info only)."""
    advance(served, "5s")
    for name in ("bob", "carol", "alice"):
        post(served, f"servers/{name}/crash")
    (raft(tmp_path, "alice") / "peers.json").write_text('["127.0.0.1:4647"]')
    post(served, "servers/alice/restart")
    post(served, "servers", {"join": True})
    live = advance(served, "70s")

    replayed = post(served, "replay", {"time_us": live["time_us"]})

    assert replayed.status_code == 200, replayed.text
    keep = ("name", "status", "role", "term", "commit_index", "latest")
    rows = [{k: s[k] for k in keep} for s in replayed.json()["servers"]]
    assert rows == [{k: s[k] for k in keep} for s in live["servers"]]
    assert not (raft(tmp_path, "alice") / "peers.json").exists()

    (raft(tmp_path, "bob") / "peers.json").write_text("[]")
    assert post(served, "reset", {"seed": 0}).status_code == 200
    for name in ("alice", "bob", "carol"):
        assert sorted(p.name for p in raft(tmp_path, name).iterdir()) == ["peers.info"]
    assert not (tmp_path / "dave").exists()


def test_data_dir_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    """(`raftsim serve` prints it as `error: ...` and exits 2, as for any bad option.)"""
    taken = tmp_path / "a-file"
    taken.write_text("x")

    with pytest.raises(ValueError, match=r"cannot use .*a-file as the data directory"):
        DataDirs(taken)


def test_a_temporary_data_dir_goes_when_the_serve_stops() -> None:
    """The default data directory (a fresh temporary one) is removed again; one given stays
    (the other tests' tmp_path)."""
    with Background(Options(mode="demand", data_dir="")) as running:
        assert running.sim.data is not None
        root = running.sim.data.root
        assert (root / "alice" / "server" / "raft" / "peers.info").exists()

    assert not root.exists()
