"""Runbooks for the drill library (ring 2): what an engineer does to each drill of
`drills/`, over HTTP, as plain functions, and `play`, which serves a drill with the demand
clock, plays one runbook against it and scores it. The tests play every drill's correct and
wrong runbooks (tests/test_drills.py); the bench times the correct ones (figure (r)).

A runbook gets the served cluster and the data directory (each server's Raft directory is
`DATA/<name>/server/raft/`, where the engineer writes peers.json with their own tools) and
talks to the cluster only over HTTP: Nomad's API on the servers' listeners and /v1/sim/ for
what the engineer does outside Nomad (stopping a process, starting a new machine). The
client is the standard library's, so the runbooks need nothing beyond raftsim itself.

`CORRECT` recovers each drill; `WRONG` is a plausible mistake whose damage the score shows;
`LOST` is what the correct runbook still loses where reality leaves no better choice.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .drill import Drill, Score, Session
from .serve import Background, Served
from .simulation import Options

Runbook = Callable[[Served, Path], None]
# The servers are on loopback: never through a proxy the environment may name.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class RunbookError(RuntimeError):
    """A step of a runbook got an answer its author did not expect."""


@dataclass(frozen=True)
class Answer:
    status: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def call(method: str, url: str, body: object = None) -> Answer:
    """One HTTP request; an error status is an answer too, not an exception."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with _OPENER.open(request, timeout=30) as response:
            return Answer(response.status, response.read().decode())
    except urllib.error.HTTPError as error:
        with error:
            return Answer(error.code, error.read().decode())


def ok(answer: Answer) -> Answer:
    """The answer, if it is a 200."""
    if answer.status != 200:
        raise RunbookError(f"{answer.status} {answer.text}")
    return answer


def post(served: Served, path: str, body: object = None) -> Answer:
    """POST /v1/sim/PATH on the control listener."""
    return call("POST", f"{served.sim.control_url}/v1/sim/{path}", body)


def sim_state(served: Served) -> dict[str, Any]:
    """GET /v1/sim/state."""
    state: dict[str, Any] = call("GET", f"{served.sim.control_url}/v1/sim/state").json()
    return state


def advance(served: Served, by: str) -> None:
    ok(post(served, "clock/advance", {"by": by}))


def leader_http(served: Served) -> str:
    """The HTTP address of the server the simulation says leads."""
    return served.sim.http[str(sim_state(served)["leader"])]


def play(
    drill: Drill,
    data: Path,
    runbook: Runbook,
    until: str = "120s",
    trace: list[str] | None = None,
) -> Score:
    """Serve the drill (demand clock: the same run every time), break it, play the runbook
    over HTTP, let virtual time run in 5 s steps until the goal holds or `until` passes,
    and score it; with `trace`, the cluster's trace text is appended to it."""
    options = Options(mode="demand", servers=drill.servers, seed=drill.seed, version=drill.release)
    options.data_dir = str(data)
    background = Background(options)
    with background as served:

        async def setup() -> Session:
            session = Session(served.sim, drill)
            await session.setup()
            return session

        session = background.run(setup())
        runbook(served, data)
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


def _peers_json(data: Path, name: str) -> Path:
    return data / name / "server" / "raft" / "peers.json"


# ------------------------------------------------------------------ runbooks


def recover_with_peers_json(peers: list[str]) -> Runbook:
    """Stop alice, write her peers.json, start her, then add two new servers."""

    def runbook(served: Served, data: Path) -> None:
        ok(post(served, "servers/alice/crash"))
        _peers_json(data, "alice").write_text(json.dumps(peers))
        post(served, "servers/alice/restart")
        advance(served, "5s")
        for _ in range(2):
            ok(post(served, "servers"))

    return runbook


def recover_by_id(served: Served, data: Path) -> None:
    """Protocol 3 (Nomad 1.10): alice's node ID from her own Serf view (members works
    without a leader), then the object format of peers.json, then new servers."""
    members = ok(call("GET", f"{served.sim.http['alice']}/v1/agent/members")).json()
    tags = next(m["Tags"] for m in members["Members"] if m["Name"] == "alice.global")
    entry = {"id": tags["id"], "address": f"{tags['rpc_addr']}:{tags['port']}", "non_voter": False}
    ok(post(served, "servers/alice/crash"))
    _peers_json(data, "alice").write_text(json.dumps([entry]))
    post(served, "servers/alice/restart")
    advance(served, "5s")
    for _ in range(2):
        ok(post(served, "servers"))


def force_leave_carol(served: Served, data: Path) -> None:
    ok(call("PUT", f"{served.sim.http['alice']}/v1/agent/force-leave?node=carol.global"))


def remove_live_bob(served: Served, data: Path) -> None:
    """Wrong: removes a live voter; with carol dead the leader is left alone with a
    configuration of two (itself and dead carol) and nothing commits any more."""
    call("DELETE", f"{leader_http(served)}/v1/operator/raft/peer?address=127.0.0.2:4647")


def remove_ghost(served: Served, data: Path) -> None:
    peer = "/v1/operator/raft/peer?address=127.0.0.3:4647"
    ok(call("DELETE", f"{leader_http(served)}{peer}"))


def force_leave_ghost(served: Served, data: Path) -> None:
    """Wrong: carol is alive in Serf (at her new address), so she refutes the leave and the
    ghost 127.0.0.3:4647 stays a voter."""
    call("PUT", f"{served.sim.http['alice']}/v1/agent/force-leave?node=carol.global")


def leave_carol(served: Served, data: Path) -> None:
    ok(post(served, "servers/carol/leave"))


def remove_carol_again(served: Served, data: Path) -> None:
    """Wrong: she is alive in Serf, so the next reconcile adds her back once more."""
    call("DELETE", f"{leader_http(served)}/v1/operator/raft/peer?address=127.0.0.3:4647")


def stop_then_remove_carol(served: Served, data: Path) -> None:
    """Stop her, wait until Serf finds her failed, then force-leave: the leader removes her
    (whether or not the reconcile had added her back meanwhile) and does not re-add her."""
    ok(post(served, "servers/carol/crash"))
    advance(served, "60s")
    force_leave_carol(served, data)


def restart_carol(served: Served, data: Path) -> None:
    """Wrong: a fresh process is still a removed, campaigning server."""
    post(served, "servers/carol/crash")
    post(served, "servers/carol/restart")


def heal(served: Served, data: Path) -> None:
    ok(post(served, "heal"))


def restart_the_old_leader(served: Served, data: Path) -> None:
    """Wrong: the partition is still there after the restart."""
    state = sim_state(served)
    groups = state["network"]["groups"]
    lonely = next(s["name"] for s in state["servers"] if [s["name"]] in groups)
    post(served, f"servers/{lonely}/crash")
    post(served, f"servers/{lonely}/restart")


def recover_twice(served: Served, data: Path) -> None:
    """The first start without peers.info deletes peers.json unused: write it again."""
    for _ in range(2):
        post(served, "servers/alice/crash")
        _peers_json(data, "alice").write_text('["127.0.0.1:4647"]')
        ok(post(served, "servers/alice/restart"))
    advance(served, "5s")
    for _ in range(2):
        ok(post(served, "servers"))


def recover_once(served: Served, data: Path) -> None:
    """Wrong: the file is deleted unused and the runbook stops there."""
    post(served, "servers/alice/crash")
    _peers_json(data, "alice").write_text('["127.0.0.1:4647"]')
    post(served, "servers/alice/restart")
    for _ in range(2):
        post(served, "servers")


def just_restart(served: Served, data: Path) -> None:
    """Wrong: the bad configuration is in alice's state now; a restart keeps it."""
    post(served, "servers/alice/crash")
    post(served, "servers/alice/restart")
    for _ in range(2):
        post(served, "servers")


def _voters(served: Served) -> dict[str, bool]:
    """GET /v1/operator/raft/configuration on alice: each server's Node and Voter."""
    answer = ok(call("GET", f"{served.sim.http['alice']}/v1/operator/raft/configuration"))
    return {s["Node"]: s["Voter"] for s in answer.json()["Servers"]}


def watch_autopilot(served: Served, data: Path) -> None:
    """Nomad 1.10: nothing to do. The configuration still lists carol as a voter; a minute
    later (Serf finds her failed, autopilot's next pass force-leaves her, the leader's
    reconcile removes her) it no longer does."""
    if _voters(served).get("carol.global") is not True:
        raise RunbookError("carol should still be a voter before autopilot acts")
    advance(served, "60s")
    if "carol.global" in _voters(served):
        raise RunbookError("autopilot should have removed carol within a minute")


def disable_cleanup(served: Served, data: Path) -> None:
    """Wrong: CleanupDeadServers off "so that autopilot keeps its hands off the cluster":
    carol stays a voter, and every write still needs both survivors."""
    config = {"CleanupDeadServers": False, "LastContactThreshold": "200ms"}
    config |= {"MaxTrailingLogs": 250, "ServerStabilizationTime": "10s"}
    url = f"{served.sim.http['alice']}/v1/operator/autopilot/configuration"
    ok(call("PUT", url, config))


CORRECT: dict[str, Runbook] = {
    "quorum-lost": recover_with_peers_json(["127.0.0.1:4647"]),
    "one-server-dead": force_leave_carol,
    "ghost-peer": remove_ghost,
    "reconcile-adds-back": leave_carol,
    "removed-server-disrupts": stop_then_remove_carol,
    "leader-partitioned": heal,
    "peers-json-without-peers-info": recover_twice,
    "peers-json-http-ports": recover_with_peers_json(["127.0.0.1:4647"]),
    "stale-survivor": recover_with_peers_json(["127.0.0.1:4647"]),
    "autopilot-removes-dead-server": watch_autopilot,
    "quorum-lost-protocol-3": recover_by_id,
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
    # The old server list copied into peers.json: the lost servers are voters again, and a
    # survivor alone is no majority of three.
    "stale-survivor": recover_with_peers_json(
        ["127.0.0.1:4647", "127.0.0.2:4647", "127.0.0.3:4647"]
    ),
    "autopilot-removes-dead-server": disable_cleanup,
    # The protocol-1 habit: a list of addresses, which protocol 3's reader refuses
    # (`json: cannot unmarshal string into Go value of type raft.configEntry`): alice
    # stays down.
    "quorum-lost-protocol-3": recover_with_peers_json(["127.0.0.1:4647"]),
}
# Committed entries the correct runbook cannot save (0 where not listed): in stale-survivor
# only alice's log is left, and bob and carol had committed four entries past its end
# (carol's no-op and barrier as leader of term 4, job-2 and job-3).
LOST: dict[str, int] = {"stale-survivor": 4}
