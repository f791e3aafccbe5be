"""What `raftsim serve` prints on the console: the timeline (issue 10 item 4,
raftsim/web/timeline.py), one line per significant event with its virtual time, none with
`--quiet` (Options.quiet); and a hint when a port is taken."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from raftsim.core.errors import RaftsimError
from raftsim.nomad.endpoints import JSON, Request
from raftsim.sim.datadir import PEERS_JSON
from raftsim.web import Options, Simulation
from raftsim.web.timeline import Timeline, fmt_clock


def watched(**options: Any) -> tuple[Simulation, list[str]]:
    sim = Simulation(Options(mode="demand", seed=0, **options))
    lines: list[str] = []
    Timeline(sim, lines.append)
    return sim, lines


def test_timeline_clock_is_seconds_with_milliseconds() -> None:
    assert fmt_clock(1_214_123) == "    1.214s"
    assert fmt_clock(3_600_000_000) == " 3600.000s"


def test_timeline_shows_elections_processes_network_and_serf() -> None:
    sim, lines = watched()
    cluster = sim.cluster
    cluster.run_for("5s")
    leader = cluster.leader()
    assert leader is not None
    assert f"    1.214s  {leader:<6}  leader elected (term 2)" in lines

    follower = next(n for n in cluster.servers if n != leader)
    cluster.partition([follower])
    cluster.crash(leader)
    cluster.heal()
    cluster.run_for("60s")

    assert any(
        line.endswith(f"{leader:<6}  crashed (it was the leader: leader lost)") for line in lines
    )
    assert any("partition" in line for line in lines)
    assert any(line.endswith("network healed") for line in lines)
    failed = [line for line in lines if f"serf: {leader}.global is failed" in line]
    assert len(failed) == 1  # once, however many servers see it


def test_timeline_shows_an_api_write_and_configuration_change_with_its_index() -> None:
    sim, lines = watched()
    cluster = sim.cluster
    cluster.run_for("5s")
    leader = cluster.leader()
    assert leader is not None
    answers: list[tuple[JSON, RaftsimError | None]] = []
    request = Request("Operator.RaftRemovePeerByAddress", "global", address="127.0.0.3:4647")
    sim.nomad.call(leader, request, lambda result, error: answers.append((result, error)))
    cluster.run_for("1s")

    assert answers == [(None, None)]
    text = "\n".join(lines)
    assert "configuration [alice bob] appended at index 4" in text
    assert "configuration [alice bob] committed at index 4" in text
    assert f"{leader:<6}  API remove-peer: ok" in text


def test_timeline_shows_a_recovery_and_a_failed_start() -> None:
    sim, lines = watched()
    cluster = sim.cluster
    cluster.run_for("5s")
    for name in ("bob", "carol", "alice"):
        cluster.crash(name)
    alice = cluster.server("alice")
    alice.directory.write(PEERS_JSON, b"{}")
    with contextlib.suppress(RaftsimError):
        cluster.restart("alice")
    alice.directory.write(PEERS_JSON, json.dumps([alice.address]).encode())
    cluster.restart("alice")

    text = "\n".join(lines)
    assert (
        "alice   did not start: recovery failed to parse peers.json: json: cannot unmarshal "
        "object into Go value of type []string"
    ) in text
    assert "alice   [INFO] nomad: found peers.json file, recovering Raft configuration..." in text
    assert (
        "alice   recovered from peers.json: configuration [alice], log committed up to index 3"
        in text
    )


def test_quiet_simulation_prints_nothing(capsys: object) -> None:
    sim = Simulation(Options(mode="demand", seed=0, quiet=True))
    sim.cluster.run_for("5s")

    assert capsys.readouterr().out == ""  # type: ignore[attr-defined]


def test_serve_gives_a_hint_when_a_port_is_in_use(capsys: object) -> None:
    """README: a port already in use names the options that move the listeners."""
    import socket  # noqa: PLC0415

    from raftsim.web.serve import PORT_HINT, run  # noqa: PLC0415

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status = run(Options(mode="demand"), http_port=0, control=("127.0.0.1", port))

    assert status == 1
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert "error: cannot listen:" in err and PORT_HINT in err
    assert "--http-port" in PORT_HINT and "--control" in PORT_HINT


def test_timeline_shows_each_api_write_once_whatever_the_trace() -> None:
    """With every message traced (`--trace all`, or the page drawing messages), request
    events reach the cluster's listeners too: the timeline still prints a write once."""
    sim, lines = watched(trace="all")
    sim.cluster.run_for("5s")
    leader = sim.cluster.leader()
    assert leader is not None
    request = Request("Operator.RaftRemovePeerByAddress", "global", address="127.0.0.3:4647")
    sim.nomad.call(leader, request, lambda result, error: None)
    sim.cluster.run_for("1s")

    assert sum("API remove-peer: ok" in line for line in lines) == 1


def test_timeline_shows_the_protocol_3_writes() -> None:
    """Nomad 1.10's writes are on the timeline too: a removal by ID and a leadership
    transfer (with its answer), not only 0.5.6's removal by address."""
    sim, lines = watched(version="1.10.1")
    sim.cluster.run_for("30s")
    leader = sim.cluster.leader()
    assert leader is not None
    other = next(n for n in sorted(sim.cluster.servers) if n != leader)
    target = sim.cluster.server(other).id
    answers: list[tuple[JSON, RaftsimError | None]] = []
    transfer = Request("Operator.TransferLeadershipToPeer", "global", id=target)
    sim.nomad.call(leader, transfer, lambda result, error: answers.append((result, error)))
    sim.cluster.run_for("5s")
    new = sim.cluster.leader()
    assert new == other and answers[-1][1] is None
    removal = Request("Operator.RaftRemovePeerByID", "global", id=sim.cluster.server(leader).id)
    sim.nomad.call(new, removal, lambda result, error: answers.append((result, error)))
    sim.cluster.run_for("5s")

    assert answers[-1] == (None, None)
    text = "\n".join(lines)
    assert f"{leader:<6}  API transfer-leadership: ok" in text
    assert f"{new:<6}  API remove-peer: ok" in text
