"""Incident drills (issue 10 item 5, raftsim/web/drill.py, drills/*.txt): each drill played
over HTTP with its correct runbook scores "recovered, nothing lost", and with a wrong one
scores the damage; the same drill played twice with the demand clock scores the same."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from raftsim.cli import main
from raftsim.web import Background, Options
from raftsim.web.drill import Drill, DrillError, Score, Session, library, load
from raftsim.web.serve import Served

DRILLS = library()
Runbook = Callable[[Served, Path], None]


def post(served: Served, path: str, body: object = None) -> requests.Response:
    return requests.post(f"{served.sim.control_url}/v1/sim/{path}", json=body, timeout=30)


def advance(served: Served, by: str) -> None:
    assert post(served, "clock/advance", {"by": by}).status_code == 200


def play(
    drill: Drill,
    tmp_path: Path,
    runbook: Runbook,
    until: str = "120s",
    trace: list[str] | None = None,
) -> Score:
    """Serve the drill (demand clock), break it, play the runbook over HTTP, let virtual
    time run in steps until the goal holds or `until` passes, and score it."""
    options = Options(mode="demand", servers=drill.servers, seed=drill.seed)
    options.data_dir = str(tmp_path)
    background = Background(options)
    with background as served:

        async def setup() -> Session:
            session = Session(served.sim, drill)
            await session.setup()
            return session

        session = background.run(setup())
        runbook(served, tmp_path)
        for _ in range(int(until.removesuffix("s")) // 5):
            if background.run(_check(session)):
                break
            advance(served, "5s")

        async def score() -> Score:
            if trace is not None:
                trace.append(served.sim.cluster.trace_text())
            return session.score()

        return background.run(score())


async def _check(session: Session) -> bool:
    return session.check()


def leader_http(served: Served) -> str:
    state = requests.get(f"{served.sim.control_url}/v1/sim/state", timeout=10).json()
    leader: str = state["leader"]
    return served.sim.http[leader]


# ------------------------------------------------------------------ runbooks


def recover_with_peers_json(peers: list[str]) -> Runbook:
    def runbook(served: Served, data: Path) -> None:
        assert post(served, "servers/alice/crash").status_code == 200
        (data / "alice" / "server" / "raft" / "peers.json").write_text(json.dumps(peers))
        post(served, "servers/alice/restart")
        advance(served, "5s")
        for _ in range(2):
            assert post(served, "servers").status_code == 200

    return runbook


def force_leave_carol(served: Served, data: Path) -> None:
    answer = requests.put(
        f"{served.sim.http['alice']}/v1/agent/force-leave?node=carol.global", timeout=10
    )
    assert answer.status_code == 200, answer.text


def remove_live_bob(served: Served, data: Path) -> None:
    """Wrong: removes a live voter; with carol dead the leader is left alone with a
    configuration of two (itself and dead carol) and nothing commits any more."""
    peer = "/v1/operator/raft/peer?address=127.0.0.2:4647"
    requests.delete(f"{leader_http(served)}{peer}", timeout=10)


def remove_ghost(served: Served, data: Path) -> None:
    peer = "/v1/operator/raft/peer?address=127.0.0.3:4647"
    answer = requests.delete(f"{leader_http(served)}{peer}", timeout=10)
    assert answer.status_code == 200, answer.text


def force_leave_ghost(served: Served, data: Path) -> None:
    """Wrong: carol is alive in Serf (at her new address), so she refutes the leave and the
    ghost 127.0.0.3:4647 stays a voter."""
    requests.put(f"{served.sim.http['alice']}/v1/agent/force-leave?node=carol.global", timeout=10)


def leave_carol(served: Served, data: Path) -> None:
    assert post(served, "servers/carol/leave").status_code == 200


def remove_carol_again(served: Served, data: Path) -> None:
    """Wrong: she is alive in Serf, so the next reconcile adds her back once more."""
    requests.delete(f"{leader_http(served)}/v1/operator/raft/peer?address=127.0.0.3:4647")


def stop_then_remove_carol(served: Served, data: Path) -> None:
    """Stop her, wait until Serf finds her failed, then force-leave: the leader removes her
    (whether or not the reconcile had added her back meanwhile) and does not re-add her."""
    assert post(served, "servers/carol/crash").status_code == 200
    advance(served, "60s")
    force_leave_carol(served, data)


def restart_carol(served: Served, data: Path) -> None:
    """Wrong: a fresh process is still a removed, campaigning server."""
    post(served, "servers/carol/crash")
    post(served, "servers/carol/restart")


def heal(served: Served, data: Path) -> None:
    assert post(served, "heal").status_code == 200


def restart_the_old_leader(served: Served, data: Path) -> None:
    """Wrong: the partition is still there after the restart."""
    state = requests.get(f"{served.sim.control_url}/v1/sim/state", timeout=10).json()
    lonely = next(s["name"] for s in state["servers"] if [s["name"]] in state["network"]["groups"])
    post(served, f"servers/{lonely}/crash")
    post(served, f"servers/{lonely}/restart")


def recover_twice(served: Served, data: Path) -> None:
    """The first start without peers.info deletes peers.json unused: write it again."""
    peers = data / "alice" / "server" / "raft" / "peers.json"
    for _ in range(2):
        post(served, "servers/alice/crash")
        peers.write_text('["127.0.0.1:4647"]')
        assert post(served, "servers/alice/restart").status_code == 200
    advance(served, "5s")
    for _ in range(2):
        assert post(served, "servers").status_code == 200


def recover_once(served: Served, data: Path) -> None:
    """Wrong: the file is deleted unused and the runbook stops there."""
    post(served, "servers/alice/crash")
    (data / "alice" / "server" / "raft" / "peers.json").write_text('["127.0.0.1:4647"]')
    post(served, "servers/alice/restart")
    for _ in range(2):
        post(served, "servers")


def just_restart(served: Served, data: Path) -> None:
    """Wrong: the bad configuration is in alice's state now; a restart keeps it."""
    post(served, "servers/alice/crash")
    post(served, "servers/alice/restart")
    for _ in range(2):
        post(served, "servers")


CORRECT: dict[str, Runbook] = {
    "quorum-lost": recover_with_peers_json(["127.0.0.1:4647"]),
    "one-server-dead": force_leave_carol,
    "ghost-peer": remove_ghost,
    "reconcile-adds-back": leave_carol,
    "removed-server-disrupts": stop_then_remove_carol,
    "leader-partitioned": heal,
    "peers-json-without-peers-info": recover_twice,
    "peers-json-http-ports": recover_with_peers_json(["127.0.0.1:4647"]),
}
WRONG: dict[str, Runbook] = {
    # The HTTP port instead of the Raft port: a configuration of a server that does not exist.
    "quorum-lost": recover_with_peers_json(["127.0.0.1:4646"]),
    "one-server-dead": remove_live_bob,
    "ghost-peer": force_leave_ghost,
    "reconcile-adds-back": remove_carol_again,
    "removed-server-disrupts": restart_carol,
    "leader-partitioned": restart_the_old_leader,
    "peers-json-without-peers-info": recover_once,
    "peers-json-http-ports": just_restart,
}


def test_drill_library_has_a_runbook_for_every_drill() -> None:
    assert set(DRILLS) == set(CORRECT) == set(WRONG)


@pytest.mark.parametrize("name", sorted(DRILLS))
def test_drill_correct_runbook_recovers_with_nothing_lost(name: str, tmp_path: Path) -> None:
    score = play(DRILLS[name], tmp_path, CORRECT[name])

    assert score.recovered, score.lines()
    assert score.lost == 0 and score.unsafe == []
    assert score.api_calls >= 1 and score.virtual_us > 0


@pytest.mark.parametrize("name", sorted(DRILLS))
def test_drill_wrong_runbook_scores_the_damage(name: str, tmp_path: Path) -> None:
    score = play(DRILLS[name], tmp_path, WRONG[name], until="90s")

    assert not score.recovered, score.lines()
    if name == "quorum-lost":
        assert score.unsafe == ["alice's peers.json lists 127.0.0.1:4646: no server's"]


def test_drill_scores_the_same_twice_with_the_demand_clock(tmp_path: Path) -> None:
    """The same drill and runbook twice: the same trace, byte for byte, and the same score
    (the wall time aside)."""
    drill = DRILLS["ghost-peer"]
    traces: list[str] = []
    first = play(drill, tmp_path / "1", CORRECT["ghost-peer"], trace=traces)
    second = play(drill, tmp_path / "2", CORRECT["ghost-peer"], trace=traces)

    assert traces[0] == traces[1] and traces[0]
    assert (first.recovered, first.virtual_us, first.lost, first.api_calls) == (
        second.recovered,
        second.virtual_us,
        second.lost,
        second.api_calls,
    )


def test_drill_files_are_checked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("title x\nexplode now\ngoal voters=1\n")

    with pytest.raises(DrillError, match=r"bad\.txt:2: unknown line 'explode'"):
        load(bad)


def test_drill_list_names_every_drill(capsys: Any) -> None:
    assert main(["drill", "list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in DRILLS)


def test_drill_scores_disagreeing_peers_json_files_as_unsafe(tmp_path: Path) -> None:
    """Two survivors, each given a file listing only itself: an unsafe action, named."""
    path = tmp_path / "two-survivors.txt"
    path.write_text(
        "title Two survivors\ncluster servers=3 seed=1\nrun-for 5s\ncrash carol\ngoal voters=2\n"
    )

    def split(served: Served, data: Path) -> None:
        for name, address in (("alice", "127.0.0.1:4647"), ("bob", "127.0.0.2:4647")):
            post(served, f"servers/{name}/crash")
            (data / name / "server" / "raft" / "peers.json").write_text(json.dumps([address]))
        for name in ("alice", "bob"):
            assert post(served, f"servers/{name}/restart").status_code == 200

    score = play(load(path), tmp_path / "data", split, until="30s")

    assert score.unsafe == ["peers.json files that disagree (alice [alice], bob [bob])"]
