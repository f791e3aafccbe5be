"""Figure (c): one leader-crash failover of a 3-server cluster, raftsim against PySyncObj.

Both do the same thing: wait until all three servers agree on a leader, kill the leader,
and measure the wall time until the two survivors agree on a new leader (one that is
actually leading). raftsim does it in virtual time (`crash`, then `run_until`); PySyncObj
does it for real, three SyncObj instances in this process talking TCP over 127.0.0.1 on
free ports picked at run time, with Nomad's timeouts as closely as SyncObjConf allows.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

from pysyncobj import SyncObj, SyncObjConf

from raftsim import Cluster

from .common import (
    Row,
    Section,
    fmt_ratio,
    fmt_seconds,
    fresh_heap,
    median,
    perf_counter,
    wall_limit,
)

GOAL_RATIO = 1_000
TRIALS = 5
RAFTSIM_SEEDS = tuple(range(1, TRIALS + 1))
LEADER_WAIT_S = 30.0  # PySyncObj: first leader, and agreement after the crash
THREAD_JOIN_S = 5.0

# hashicorp/raft defaults as Nomad uses them (raft_multiplier 1), mapped onto SyncObjConf.
# Names are checked against the installed SyncObjConf at run time (see syncobj_conf).
PYSYNCOBJ_CONF: dict[str, Any] = {
    # HeartbeatTimeout = ElectionTimeout = 1 s; hashicorp draws both timers from U[1 s, 2 s).
    # PySyncObj's single election timer is drawn from U[raftMinTimeout, raftMaxTimeout).
    "raftMinTimeout": 1.0,
    "raftMaxTimeout": 2.0,
    # The leader heartbeats every HeartbeatTimeout/10 (100 ms, plus up to 100 ms jitter).
    "appendEntriesPeriod": 0.1,
    # LeaderLeaseTimeout = 500 ms: a leader without a quorum's contact steps down.
    "leaderFallbackTimeout": 0.5,
    # RaftTimeout (the TCP transport's I/O timeout) = 10 s.
    "connectionTimeout": 10.0,
    # No counterpart in hashicorp (it redials per RPC); short so the first start is quick.
    "connectionRetryTime": 0.5,
    # The tick (poll) period bounds how late a timer can be noticed; PySyncObj's default.
    "autoTickPeriod": 0.05,
    # Bounded binding (ports are picked free just before), no disk.
    "bindRetryTime": 0.2,
    "maxBindRetries": 10,
    "journalFile": None,
    "fullDumpFile": None,
    "dynamicMembershipChange": False,
}


# ------------------------------------------------------------------ raftsim


@dataclass(frozen=True)
class Failover:
    wall_s: float
    virtual_s: float | None  # raftsim only: the simulated time the failover took
    old: str
    new: str


def _agreed(cluster: Cluster, survivors: list[str], old: str) -> str | None:
    """The new leader the survivors agree on, if they do and it really leads."""
    leaders = {cluster.view(name).leader for name in survivors}
    if len(leaders) != 1:
        return None
    (leader,) = leaders
    if leader in ("", old) or cluster.leader() != leader:
        return None
    return leader


def raftsim_failover(seed: int) -> Failover:
    fresh_heap()
    cluster = Cluster(3, seed=seed)
    names = list(cluster.servers)

    def all_agree(c: Cluster) -> bool:
        leader = c.leader()
        return leader is not None and _agreed(c, names, "") == leader

    if not cluster.run_until(all_agree, "60s"):
        raise RuntimeError(f"raftsim: no agreed leader within 60 s (virtual), seed {seed}")
    old = cluster.leader()
    assert old is not None
    survivors = [n for n in names if n != old]
    start_virtual = cluster.now
    start = perf_counter()
    cluster.crash(old)
    ok = cluster.run_until(lambda c: _agreed(c, survivors, old) is not None, "60s")
    wall = perf_counter() - start
    if not ok:
        raise RuntimeError(f"raftsim: no new leader within 60 s (virtual), seed {seed}")
    new = _agreed(cluster, survivors, old)
    assert new is not None
    return Failover(wall, (cluster.now - start_virtual) / 1e6, old, new)


def measure_raftsim(seeds: tuple[int, ...] = RAFTSIM_SEEDS) -> list[Failover]:
    with wall_limit(60.0, "raftsim failovers"):
        raftsim_failover(seeds[0])  # warm-up (imports, caches), not counted
        return [raftsim_failover(seed) for seed in seeds]


# ------------------------------------------------------------------ PySyncObj


def free_ports(count: int) -> list[int]:
    """Ports the kernel reports free on 127.0.0.1 right now (all held until all are found)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def syncobj_conf(**overrides: Any) -> Any:
    """A SyncObjConf with PYSYNCOBJ_CONF, refusing any option name the package lacks."""
    options = {**PYSYNCOBJ_CONF, **overrides}
    conf = SyncObjConf()
    unknown = sorted(k for k in options if not hasattr(conf, k))
    if unknown:
        raise RuntimeError(f"SyncObjConf has no option(s) {unknown}")
    conf = SyncObjConf(**options)
    conf.validate()
    return conf


def _wait(predicate: Callable[[], Any], timeout: float, poll: float = 0.002) -> Any:
    deadline = perf_counter() + timeout
    event = threading.Event()
    while True:
        value = predicate()
        if value:
            return value
        if perf_counter() > deadline:
            return None
        event.wait(poll)


def _leader_of(obj: Any) -> str | None:
    leader = obj._getLeader()
    return None if leader is None else str(leader.id)


def _agreed_leader(objs: dict[str, Any], exclude: str | None = None) -> str | None:
    """The address all `objs` name as leader, if they agree and that node really leads."""
    leaders = {_leader_of(o) for o in objs.values()}
    if len(leaders) != 1:
        return None
    (leader,) = leaders
    if leader is None or leader == exclude or leader not in objs or not objs[leader]._isLeader():
        return None
    return leader


def _stop(objs: list[Any]) -> list[str]:
    """Destroy every SyncObj, join its tick thread; names of threads still alive."""
    for obj in objs:
        with contextlib.suppress(Exception):
            obj.destroy()
    alive = []
    for obj in objs:
        thread = getattr(obj, "_SyncObj__thread", None)
        if thread is not None:
            thread.join(THREAD_JOIN_S)
            if thread.is_alive():
                alive.append(thread.name)
    return alive


def pysyncobj_failover() -> tuple[Failover, float]:
    """One failover; also returns the seconds the crashed leader took to stop."""
    ports = free_ports(3)
    addrs = [f"127.0.0.1:{p}" for p in ports]
    objs: dict[str, Any] = {}
    try:
        for addr in addrs:
            objs[addr] = SyncObj(addr, [a for a in addrs if a != addr], conf=syncobj_conf())
        old = _wait(lambda: _agreed_leader(objs), LEADER_WAIT_S)
        if old is None:
            raise RuntimeError(f"PySyncObj: no agreed leader within {LEADER_WAIT_S:g} s")
        survivors = {a: o for a, o in objs.items() if a != old}
        start = perf_counter()
        objs[old].destroy()  # the tick thread closes every socket at its next tick
        objs[old]._SyncObj__thread.join(THREAD_JOIN_S)
        stopped = perf_counter() - start
        new = _wait(lambda: _agreed_leader(survivors, exclude=old), LEADER_WAIT_S)
        wall = perf_counter() - start
        if new is None:
            raise RuntimeError(f"PySyncObj: no new leader within {LEADER_WAIT_S:g} s")
        return Failover(wall, None, old, new), stopped
    finally:
        leftover = _stop(list(objs.values()))
        if leftover:
            raise RuntimeError(f"PySyncObj threads still running after destroy: {leftover}")


def measure_pysyncobj(trials: int = TRIALS) -> tuple[list[Failover], list[float]]:
    results, stops = [], []
    before = {t.ident for t in threading.enumerate()}
    with wall_limit(trials * (2 * LEADER_WAIT_S + 3 * THREAD_JOIN_S) + 10, "PySyncObj failovers"):
        for _ in range(trials):
            failover, stopped = pysyncobj_failover()
            results.append(failover)
            stops.append(stopped)
    extra = [t.name for t in threading.enumerate() if t.ident not in before]
    if extra:
        raise RuntimeError(f"threads left behind by PySyncObj: {extra}")
    return results, stops


def measure(trials: int = TRIALS) -> dict[str, Any]:
    # PySyncObj logs connection errors to the root logger; the dead leader's port is meant
    # to refuse connections, so keep them out of the report.
    logging.getLogger("pysyncobj").setLevel(logging.CRITICAL)
    raft = measure_raftsim(tuple(range(1, trials + 1)))
    pso, stops = measure_pysyncobj(trials)
    return {"raftsim": raft, "pysyncobj": pso, "stops": stops}


def section(result: dict[str, Any]) -> Section:
    raft: list[Failover] = result["raftsim"]
    pso: list[Failover] = result["pysyncobj"]
    stops: list[float] = result["stops"]
    raft_wall = median([f.wall_s for f in raft])
    pso_wall = median([f.wall_s for f in pso])
    ratio = pso_wall / raft_wall
    sec = Section("c")
    sec.rows.append(Row("(c) leader failover, 3 servers: raftsim wall", fmt_seconds(raft_wall)))
    sec.rows.append(Row("(c) leader failover, 3 nodes: PySyncObj wall", fmt_seconds(pso_wall)))
    sec.rows.append(
        Row(
            "(c) failover speed-up, PySyncObj wall / raftsim wall",
            fmt_ratio(ratio),
            f">= {GOAL_RATIO:,}x",
            ratio >= GOAL_RATIO,
        )
    )
    virt = median([f.virtual_s for f in raft if f.virtual_s is not None])
    sec.params.append(
        "(c) raftsim: Cluster(3, seed=s), run_until all 3 agree on a leader, then time "
        "crash(leader) + run_until(the 2 survivors agree on a new, leading leader); "
        f"median of {len(raft)} (seeds {', '.join(str(s) for s in range(1, len(raft) + 1))}; "
        f"walls {', '.join(fmt_seconds(f.wall_s) for f in raft)}; "
        f"virtual failover times {', '.join(f'{f.virtual_s:.3f}' for f in raft)} s, "
        f"median {virt:.3f} s)"
    )
    conf = ", ".join(
        f"{k}={v}"
        for k, v in PYSYNCOBJ_CONF.items()
        if k not in ("journalFile", "fullDumpFile", "dynamicMembershipChange")
    )
    sec.params.append(
        f"(c) PySyncObj {version('pysyncobj')}: 3 in-process SyncObj on 127.0.0.1 "
        f"(free ports), {conf}; wait for agreement, "
        f"time destroy(leader) until the 2 survivors agree on a new leader; median of "
        f"{len(pso)} (walls {', '.join(fmt_seconds(f.wall_s) for f in pso)}; the old leader's "
        f"tick thread had stopped {', '.join(f'{s * 1e3:.0f}' for s in stops)} ms after "
        "destroy)"
    )
    return sec
