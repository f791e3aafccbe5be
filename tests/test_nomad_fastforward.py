"""A served cluster (the Nomad layer on) at rest is fast-forwarded like a bare `Cluster`: its
Raft loops are jumped between the Nomad layer's own events (gossip, reconcile), and the
outcome is exactly what running every event gives (sim/fastforward.py, web/driver.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from raftsim import Cluster
from raftsim.core import SECOND
from raftsim.nomad.cluster import NomadCluster
from raftsim.nomad.version import VERSIONS
from raftsim.web import Options, Simulation
from raftsim.web.driver import AUTOJUMP, PAUSED

from .test_fastforward import snapshot

HOUR = 3600 * SECOND


def nomad_snapshot(cluster: Cluster, nomad: NomadCluster) -> dict[str, Any]:
    """The cluster's snapshot plus everything the Nomad layer holds."""
    state = snapshot(cluster)
    for name, server in sorted(nomad.servers.items()):
        serf = server.serf
        state[f"nomad/{name}"] = {
            "members": [
                (m.info.name, m.status, m.state, m.incarnation, m.ltime, m.changed)
                for m in sorted(serf.members.values(), key=lambda m: m.info.name)
            ],
            "clock": serf.clock,
            "incarnation": serf.incarnation,
            "queue": [b.update for b in serf.queue],
            "leader_loop": server.leader_loop.term if server.leader_loop else None,
        }
    state["nomad/log"] = list(nomad.lines)
    return state


def served(fast_forward: bool) -> tuple[Cluster, NomadCluster]:
    cluster = Cluster(5, seed=11, fast_forward=fast_forward)
    return cluster, NomadCluster(cluster)


def test_nomad_idle_hour_is_jumped_to_the_event_loops_state() -> None:
    """An idle hour of a 5-server served cluster: far fewer events run, the same state."""
    jumping, eager = served(True), served(False)
    for cluster, _ in (jumping, eager):
        cluster.run_for(HOUR)
    assert jumping[0].fast_forward is not None and jumping[0].fast_forward.jumps > 100
    assert jumping[0].sched.executed * 10 < eager[0].sched.executed
    assert nomad_snapshot(*jumping) == nomad_snapshot(*eager)
    # The hour had reconciles (a barrier each) and gossip: the state moved.
    assert jumping[0].view("alice").commit_index > 50
    assert any("leadership acquired" in line for _, _, line in jumping[1].lines)


async def test_nomad_served_cluster_in_autojump_is_jumped_exactly() -> None:
    """`raftsim serve --clock autojump` left alone for an hour of virtual time jumps its
    idle stretches (the test counts jumps and events run) and reaches exactly the state
    the event-by-event run reaches at the same virtual time."""
    sim = Simulation(Options(servers=5, seed=11, mode=AUTOJUMP))
    sim.driver.start()
    try:
        for _ in range(100_000):  # bounded: an hour takes well under a second here
            if sim.cluster.now >= HOUR:
                break
            await asyncio.sleep(0.001)
        sim.driver.set_mode(PAUSED)
    finally:
        await sim.driver.stop()
    # The driver may stop between two events due at the same microsecond: finish that one.
    sim.cluster.run_for(0)
    reached = sim.cluster.now
    assert reached >= HOUR
    eager = served(False)
    eager[0].run_for(reached)  # every event, up to the same virtual time
    assert sim.cluster.fast_forward is not None and sim.cluster.fast_forward.jumps > 100
    assert sim.cluster.sched.executed * 10 < eager[0].sched.executed
    assert nomad_snapshot(sim.cluster, sim.nomad) == nomad_snapshot(*eager)


def test_nomad_idle_hour_with_autopilot_is_jumped_exactly() -> None:
    """Nomad 1.10.1: the leader's autopilot adds a health refresh every 2 s and a pass every
    10 s (spec §3.3), which run event by event between jumps: the idle hour is still
    jumped, to exactly the state of the event-by-event run, autopilot's included."""
    version = VERSIONS["1.10.1"]
    runs = []
    for fast in (True, False):
        cluster = Cluster(5, seed=11, fast_forward=fast, profile=version.profile)
        nomad = NomadCluster(cluster, version)
        cluster.run_for(HOUR)
        runs.append((cluster, nomad))
    (jumping, jumping_nomad), (eager, eager_nomad) = runs
    assert jumping.fast_forward is not None and jumping.fast_forward.jumps > 100
    assert jumping.sched.executed * 10 < eager.sched.executed
    assert nomad_snapshot(jumping, jumping_nomad) == nomad_snapshot(eager, eager_nomad)
    leader = jumping.leader()
    assert leader is not None
    loops = [n.servers[leader].leader_loop for n in (jumping_nomad, eager_nomad)]
    pilots = [loop.autopilot for loop in loops if loop is not None]
    assert len(pilots) == 2 and pilots[0] is not None and pilots[1] is not None
    assert pilots[0].health() == pilots[1].health()
    assert pilots[0].health()["Healthy"] is True
