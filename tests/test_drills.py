"""Incident drills (issue 10 item 5, raftsim/web/drill.py, drills/*.txt): each drill played
over HTTP with its correct runbook (raftsim/web/runbooks.py) scores "recovered, nothing
lost" (or, where reality leaves no better choice, exactly what is lost), and with a wrong
one scores the damage; the same drill played twice with the demand clock scores the same."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from raftsim.cli import main
from raftsim.web.drill import DrillError, library, load
from raftsim.web.runbooks import CORRECT, LOST, WRONG, leader_http, play, post
from raftsim.web.serve import Served

DRILLS = library()


def test_drill_library_has_a_runbook_for_every_drill() -> None:
    assert set(DRILLS) == set(CORRECT) == set(WRONG)


@pytest.mark.parametrize("name", sorted(DRILLS))
def test_drill_correct_runbook_recovers_losing_nothing_it_could_keep(
    name: str, tmp_path: Path
) -> None:
    score = play(DRILLS[name], tmp_path, CORRECT[name])

    assert score.recovered, score.lines()
    assert score.lost == LOST.get(name, 0) and score.unsafe == []
    assert score.api_calls >= 1 and score.virtual_us > 0


def test_drill_with_a_survivor_behind_loses_what_only_the_lost_servers_held(
    tmp_path: Path,
) -> None:
    """stale-survivor: alice was down while bob and carol committed; then they were lost for
    good. Recovering alice with peers.json is all that is left to do, and it recovers; the
    score counts the committed entries her log never had, by name."""
    score = play(DRILLS["stale-survivor"], tmp_path, CORRECT["stale-survivor"])

    assert score.recovered and score.unsafe == []
    assert score.lost == 4
    assert score.lost_entries == ["5/4 noop", "6/4 barrier", "7/4 job-2", "8/4 job-3"]
    assert "committed entries lost: 4 (5/4 noop, 6/4 barrier, 7/4 job-2, 8/4 job-3)" in (
        score.lines()
    )


@pytest.mark.parametrize("name", sorted(DRILLS))
def test_drill_wrong_runbook_scores_the_damage(name: str, tmp_path: Path) -> None:
    score = play(DRILLS[name], tmp_path, WRONG[name], until="90s")

    assert not score.recovered, score.lines()
    if name == "quorum-lost":
        assert score.unsafe == ["alice's peers.json lists 127.0.0.1:4646: no server's"]


@pytest.mark.parametrize("name", ["ghost-peer", "stale-survivor"])
def test_drill_scores_the_same_twice_with_the_demand_clock(name: str, tmp_path: Path) -> None:
    """The same drill and runbook twice: the same trace, byte for byte, and the same score
    (the wall time aside), what was lost included."""
    traces: list[str] = []
    first = play(DRILLS[name], tmp_path / "1", CORRECT[name], trace=traces)
    second = play(DRILLS[name], tmp_path / "2", CORRECT[name], trace=traces)

    assert traces[0] == traces[1] and traces[0]
    first.wall_s = second.wall_s = 0.0
    assert first == second


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
            assert post(served, f"servers/{name}/restart").status == 200

    score = play(load(path), tmp_path / "data", split, until="30s")

    assert score.unsafe == ["peers.json files that disagree (alice [alice], bob [bob])"]


def _python_nomad(address: str) -> Any:
    """A python-nomad client of one server's HTTP API ("http://127.0.0.1:4646")."""
    import nomad  # noqa: PLC0415 (a test dependency, not raftsim's)

    host, port = address.removeprefix("http://").rsplit(":", 1)
    return nomad.Nomad(host=host, port=int(port), timeout=10)


def _force_leave_carol_with_python_nomad(served: Served, data: Path) -> None:
    _python_nomad(served.sim.http["alice"]).agent.force_leave("carol.global")


def _remove_ghost_with_python_nomad(served: Served, data: Path) -> None:
    client = _python_nomad(leader_http(served))
    assert client.operator.delete_peer("127.0.0.3:4647") is True


@pytest.mark.parametrize(
    ("name", "runbook"),
    [
        ("one-server-dead", _force_leave_carol_with_python_nomad),
        ("ghost-peer", _remove_ghost_with_python_nomad),
    ],
)
def test_drill_runbooks_with_python_nomad(name: str, runbook: Any, tmp_path: Path) -> None:
    """The drills an operator recovers with Nomad's own calls, played with python-nomad
    (`agent.force_leave`, `operator.delete_peer`) as they would be from a script."""
    score = play(DRILLS[name], tmp_path, runbook)
    assert score.recovered and score.lost == 0 and score.unsafe == [], score.lines()


def _wait(served: Served, data: Path) -> None:
    """No action at all: the engineer only waits."""


@pytest.mark.parametrize("release", ["0.5.6", "1.2.13", "1.10.1"])
def test_drill_one_dead_server_goes_by_itself_only_with_raft_autopilot(
    release: str, tmp_path: Path
) -> None:
    """nomad-api §3.2, §3.3: a crashed server of three stays a voter until someone removes
    it on 0.5.6 (no autopilot) and 1.2.13 (Consul's autopilot acts only when failed <
    voters/2, here 1 < 1); on 1.10.1 raft-autopilot force-leaves it by itself."""
    drill = replace(DRILLS["autopilot-removes-dead-server"], release=release)
    score = play(drill, tmp_path, _wait, until="120s")

    assert score.recovered is (release == "1.10.1"), score.lines()
    assert score.api_calls == 0


def test_drill_release_is_read_from_the_cluster_line(tmp_path: Path) -> None:
    """The drill format's `cluster ... release=VERSION` (0.5.6 by default); an unknown
    release is refused with the file and line."""
    assert DRILLS["autopilot-removes-dead-server"].release == "1.10.1"
    assert DRILLS["one-server-dead"].release == "0.5.6"
    bad = tmp_path / "bad.txt"
    bad.write_text("title x\ncluster servers=3 release=9.9.9\ngoal voters=1\n")
    with pytest.raises(DrillError, match=r"bad\.txt:2: no Nomad release 9\.9\.9"):
        load(bad)
