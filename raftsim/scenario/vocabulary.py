"""Words the scenario language, the fault schedules and the campaign share (ring 2), each
defined once: the cluster conditions a run waits for (a leader, a new leader, stable) or
checks at the end (converged), how a span of virtual time is written, and the names of
faults: the core's deliberate bugs (`Fault`) and the kinds of scheduled ops.

It sits with the scenario runner, the lowest of the three (raftsim.testing and
raftsim.campaign import it; it imports only sim and core)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..core.faults import Fault
from ..core.timing import SECOND
from ..core.types import Role
from ..sim.cluster import UP, Cluster

# ------------------------------------------------------------------ fault names

FAULT_KINDS = (
    "crash",
    "pause",
    "partition",
    "cut",
    "loss",
    "latency",
    "duplicate",
    "reorder",
    "crash-mid-replication",
    "crash-at-election",
)
CHANGE_KINDS = ("add", "remove", "remove-leader", "demote", "add-nonvoter", "change-at-election")
ALL_KINDS = (*FAULT_KINDS, "propose", *CHANGE_KINDS)


# Drawn besides ALL_KINDS only under profiles that have the operation (P3, P4: raft-semantics
# §3.9), so that P1 and P2 schedules draw exactly as they always did.
TRANSFER_KINDS = ("transfer-leadership",)
KNOWN_KINDS = (*ALL_KINDS, *TRANSFER_KINDS)


def fault_kinds(kinds: Iterable[str]) -> tuple[str, ...]:
    """The kinds of scheduled ops named (empty names skipped, order and repeats kept: the
    schedule draws from them as given); ValueError on none or an unknown one."""
    given = tuple(kind for kind in kinds if kind)
    if not given:
        raise ValueError(f"no fault kinds given; known: {', '.join(KNOWN_KINDS)}")
    unknown = [kind for kind in given if kind not in KNOWN_KINDS]
    if unknown:
        raise ValueError(f"unknown fault kinds {unknown}; known: {', '.join(KNOWN_KINDS)}")
    return given


def core_faults(names: Iterable[str]) -> tuple[Fault, ...]:
    """Deliberate core bugs by their values ('early-config', ...), empty names skipped;
    ValueError naming the first unknown one."""
    faults = []
    for name in filter(None, names):
        try:
            faults.append(Fault(name))
        except ValueError:
            known = ", ".join(f.value for f in Fault)
            raise ValueError(f"unknown fault {name!r} (faults: {known})") from None
    return tuple(faults)


# ------------------------------------------------------------------ conditions

Condition = Callable[[Cluster], bool]


def has_leader(cluster: Cluster) -> bool:
    return cluster.leader() is not None


def no_leader(cluster: Cluster) -> bool:
    return cluster.leader() is None


def leader_is(name: str) -> Condition:
    """`name` leads (whatever the others believe)."""
    return lambda cluster: cluster.view(name).role is Role.LEADER


def new_leader(cluster: Cluster) -> Condition:
    """A leader other than the one (name and term) leading `cluster` now, if any: a
    re-election of the same server in a later term counts."""
    before = cluster.leader()
    old = (before, _term(cluster, before)) if before else None
    return lambda c: (now := c.leader()) is not None and (now, _term(c, now)) != old


def _term(cluster: Cluster, name: str) -> int:
    # (what cluster.view(name).term says, without building the whole view: this runs
    # after every event while a schedule waits for an election)
    return cluster.servers[name].storage.current_term


def stable(cluster: Cluster) -> bool:
    """A leader whose whole log is committed, known by every running member of its latest
    configuration, each at the leader's commit index (servers outside it do not count:
    a removed server never hears from the leader again)."""
    leader = cluster.leader()
    if leader is None:
        return False
    lead = cluster.view(leader)
    if lead.commit_index != lead.last_index:
        return False
    members = set(lead.latest.ids())
    return all(
        v.leader == leader and v.commit_index == lead.commit_index
        for v in cluster.views()
        if v.status == UP and v.id in members
    )


def converged(cluster: Cluster) -> bool:
    """What a fault schedule must reach once its faults are undone: a leader whose latest
    configuration is committed and held, with that commit, by every running member. Unlike
    `stable`, later entries may still be on their way."""
    leader = cluster.leader()
    if leader is None:
        return False
    view = cluster.view(leader)
    members = set(view.latest.ids())
    return view.committed_index == view.latest_index and all(
        v.latest_index == view.latest_index and v.commit_index >= view.latest_index
        for v in cluster.views()
        if v.id in members and v.status == UP
    )


# What `run-until` waits for, by name: each made when the command starts (new-leader
# remembers who leads then).
CONDITIONS: dict[str, Callable[[Cluster], Condition]] = {
    "leader": lambda _: has_leader,
    "new-leader": new_leader,
    "no-leader": lambda _: no_leader,
    "stable": lambda _: stable,
}


# ------------------------------------------------------------------ spans of time


def fmt_span(us: int) -> str:
    """A duration as scenario files write it, in the largest exact unit: 10s, 250ms,
    1500us (render.fmt_time writes instants: 1016.717ms)."""
    if us % SECOND == 0:
        return f"{us // SECOND}s"
    return f"{us // 1000}ms" if us % 1000 == 0 else f"{us}us"


def fmt_hms(us: int) -> str:
    """A long stretch of virtual time to the second, as campaign summaries add them up:
    3h26m23s."""
    seconds = us // SECOND
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m{rest % 60:02d}s"
