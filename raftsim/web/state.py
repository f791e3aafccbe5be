"""The JSON of `GET /v1/sim/state` (ring 2): what every server believes, the network and
the clock, in the form the page and scripts read. `cluster_state` needs only a `Cluster`
(the page's lessons run bare clusters); `Simulation.state` adds the Nomad layer's views.
"""

from __future__ import annotations

from ..core.types import Configuration, Entry, EntryKind
from ..sim.cluster import Cluster
from ..sim.render import fmt_time

LOG_TAIL = 16  # entries of each server's log the state shows (the newest; the page's strip)


def cluster_state(cluster: Cluster) -> dict[str, object]:
    """The state of a bare cluster; a served simulation adds `http`, `left`, `serf`."""
    names = cluster.names
    timing = cluster.timing
    servers = []
    for view in cluster.views():
        server = cluster.servers[view.name]
        node = server.node
        storage = server.storage
        timer = cluster.election_timer(view.name)
        log = storage.log[-LOG_TAIL:]
        servers.append(
            {
                "name": view.name,
                "id": view.id,
                "address": view.address,
                "status": view.status,
                "role": view.role or "-",
                "term": view.term,
                # The vote persisted for the current term ("" if none in this term).
                "voted_for": names.get(storage.vote_for, storage.vote_for)
                if storage.vote_term == storage.current_term
                else "",
                "leader": view.leader,
                "commit_index": view.commit_index,
                "last_index": view.last_index,
                "last_term": view.last_term,
                "applied": view.applied,
                "latest": _configuration(view.latest, view.latest_index, names),
                "committed": _configuration(view.committed, view.committed_index, names),
                "log": [_entry(entry) for entry in log],
                # The election timer the page draws as a draining arc: hashicorp's follower
                # timer acts once no leader was heard for `span_us` since `contact_us`.
                "timer": None
                if timer is None or node is None
                else {
                    "kind": timer[0],
                    "due_us": timer[1],
                    "contact_us": max(node.last_contact, 0),
                    "span_us": timing.heartbeat_timeout
                    if timer[0] == "follower"
                    else timing.election_timeout,
                },
            }
        )
    blocked = sorted(
        (names.get(src, src), names.get(dst, dst)) for src, dst in cluster.network.blocked
    )
    return {
        "time_us": cluster.now,
        "time": fmt_time(cluster.now),
        "events": cluster.sched.executed,  # events run one by one so far (a step runs one)
        "seed": cluster.seed,
        "raft_profile": cluster.profile.name,
        "leader": cluster.leader(),
        "servers": servers,
        "network": {
            "partitioned": bool(blocked),
            "groups": _groups(list(cluster.servers), set(blocked)),
            "blocked": [f"{a}->{b}" for a, b in blocked],
        },
        "violations": [str(v) for v in cluster.violations],
    }


def _entry(entry: Entry) -> dict[str, object]:
    out: dict[str, object] = {"index": entry.index, "term": entry.term, "kind": entry.kind.value}
    if entry.kind is EntryKind.COMMAND:
        out["data"] = entry.data
    return out


def _configuration(configuration: Configuration, index: int, names: dict[str, str]) -> JSONDict:
    return {
        "index": index,
        "servers": [
            {
                "id": s.id,
                "name": names.get(s.id, ""),
                "address": s.address,
                "suffrage": str(s.suffrage),
            }
            for s in configuration.servers
        ],
    }


JSONDict = dict[str, object]


def _groups(names: list[str], blocked: set[tuple[str, str]]) -> list[list[str]]:
    """Servers that can talk both ways, grouped (exact for partitions; cuts split pairs)."""
    groups: list[list[str]] = []
    for name in names:
        for group in groups:
            if all((name, o) not in blocked and (o, name) not in blocked for o in group):
                group.append(name)
                break
        else:
            groups.append([name])
    return groups
