"""Captions (ring 2): one plain sentence per typed event, for the page and its lessons.

A caption is made here, from the event and the cluster it happened in at the moment it
happened (who else is a voter, whom an ID names), never guessed by the page. Every kind of
event has one; an event of a kind added later falls back to its trace text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.events import (
    CommitAdvanced,
    ConfigurationChanged,
    EntriesAppended,
    EntryApplied,
    Event,
    LeaderChanged,
    LeaseLost,
    LogOverwritten,
    LogTruncated,
    PreVoteStarted,
    RoleChanged,
    SnapshotInstalled,
    SnapshotTaken,
    TermChanged,
    TimeoutNowReceived,
    TransferEnded,
    TransferStarted,
    VoteGranted,
)
from ..core.messages import (
    AppendEntries,
    AppendResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    PreVoteResponse,
    RequestPreVote,
    RequestVote,
    RpcFailure,
    TimeoutNow,
    TimeoutNowResponse,
    VoteResponse,
)
from ..core.transfer import STEPPED_DOWN
from ..core.types import Configuration, Entry, Role
from ..nomad.events import MemberChanged, RequestAnswered, RequestReceived
from ..sim import events as sim
from ..sim.cluster import Cluster
from ..sim.render import fmt_detail, fmt_time

Caption = Callable[[Any, Cluster], str]
CAPTIONS: dict[type[Event], Caption] = {}


def caption(event: Event, cluster: Cluster) -> str:
    """The event as one sentence (call it when the event happens: it reads the cluster)."""
    make = CAPTIONS.get(type(event))
    if make is None:
        names = cluster.names
        return f"{event.server}: {event.kind} {fmt_detail(event, lambda i: names.get(i, i))}"
    return make(event, cluster)


def _of(*classes: type[Event]) -> Callable[[Caption], Caption]:
    def register(fn: Caption) -> Caption:
        for cls in classes:
            CAPTIONS[cls] = fn
        return fn

    return register


def _names(cluster: Cluster, ids: tuple[str, ...] | list[str]) -> str:
    """`alice`, `alice and bob`, `alice, bob and carol`."""
    names = [cluster.names.get(i, i) for i in ids]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _members(configuration: Configuration, cluster: Cluster) -> str:
    return "[" + " ".join(cluster.names.get(s.id, s.id) for s in configuration.servers) + "]"


def _entries(entries: tuple[Entry, ...]) -> str:
    if not entries:
        return "no entries"
    first, last = entries[0].index, entries[-1].index
    kinds = sorted({e.kind.value for e in entries})
    where = f"entry {first}" if first == last else f"entries {first}-{last}"
    return f"{where} ({', '.join(kinds)}, term {entries[-1].term})"


# ------------------------------------------------------------------ Raft state


@_of(RoleChanged)
def _role(event: RoleChanged, cluster: Cluster) -> str:
    s, term = event.server, event.term
    if event.role is Role.CANDIDATE:
        node = cluster.servers[s].node
        voters = () if node is None else node.latest.voters()
        me = cluster.servers[s].id
        others = [v for v in voters if v != me]
        if node is not None and node.pre_vote is not None:
            # (Whom it asks is the `pre-vote` event's caption, which follows.)
            return f"{s} hears no leader: it becomes a candidate, still in term {term}"
        if node is not None and node.transfer_candidacy:
            return (
                f"{s} becomes a candidate for term {term} at once, told to by its leader "
                f"(TimeoutNow), and asks {_names(cluster, others)} for votes that leader "
                "stickiness does not hold back (leadership transfer)"
            )
        if not others:
            return f"{s}'s election timer fired: {s} becomes a candidate for term {term}"
        return (
            f"{s}'s election timer fired: {s} becomes a candidate for term {term} "
            f"and asks {_names(cluster, others)} for votes"
        )
    if event.role is Role.LEADER:
        return f"{s} has the votes of a majority: it becomes the leader for term {term}"
    return f"{s} is a follower in term {term}"


@_of(TermChanged)
def _term(event: TermChanged, cluster: Cluster) -> str:
    return f"{event.server} moves to term {event.term} and stores it"


@_of(VoteGranted)
def _vote(event: VoteGranted, cluster: Cluster) -> str:
    candidate = cluster.names.get(event.candidate, event.candidate)
    if candidate == event.server:
        return f"{event.server} votes for itself in term {event.term}"
    return f"{event.server} votes for {candidate} in term {event.term} and stores its vote"


@_of(LeaderChanged)
def _leader(event: LeaderChanged, cluster: Cluster) -> str:
    if not event.leader:
        return f"{event.server} no longer knows a leader"
    leader = cluster.names.get(event.leader, event.leader)
    if leader == event.server:
        return f"{event.server} knows it is the leader"
    return f"{event.server} learns that {leader} is the leader"


@_of(CommitAdvanced)
def _commit(event: CommitAdvanced, cluster: Cluster) -> str:
    if event.leader:
        return (
            f"{event.server}, leader of term {event.term}, commits up to index {event.index}: "
            f"a majority of the voters stores it"
        )
    return f"{event.server} learns from the leader that entries up to {event.index} are committed"


@_of(ConfigurationChanged)
def _config(event: ConfigurationChanged, cluster: Cluster) -> str:
    return (
        f"{event.server}'s configuration: latest {_members(event.latest, cluster)} at index "
        f"{event.latest_index}, committed {_members(event.committed, cluster)} at index "
        f"{event.committed_index}"
    )


@_of(EntriesAppended)
def _append(event: EntriesAppended, cluster: Cluster) -> str:
    return f"{event.server} appends {_entries(event.entries)} to its log"


@_of(LogTruncated)
def _truncate(event: LogTruncated, cluster: Cluster) -> str:
    return (
        f"{event.server} deletes its log from index {event.index} on: "
        f"it conflicts with the leader's"
    )


@_of(SnapshotTaken)
def _snapshot(event: SnapshotTaken, cluster: Cluster) -> str:
    return (
        f"{event.server} snapshots its state up to index {event.index} and deletes its log "
        f"up to index {event.through}, keeping the newest entries"
    )


@_of(SnapshotInstalled)
def _install(event: SnapshotInstalled, cluster: Cluster) -> str:
    source = cluster.names.get(event.source, event.source)
    return (
        f"{event.server} installs {source}'s snapshot up to index {event.index}: "
        f"the entries it lacked were deleted from {source}'s log"
    )


@_of(LogOverwritten)
def _overwrite(event: LogOverwritten, cluster: Cluster) -> str:
    return f"{event.server} overwrites {_entries(event.entries)} in place (a deliberate bug)"


@_of(LeaseLost)
def _lease(event: LeaseLost, cluster: Cluster) -> str:
    return (
        f"{event.server} heard from only {event.contacted} voters within its lease: it steps down"
    )


@_of(PreVoteStarted)
def _pre_vote(event: PreVoteStarted, cluster: Cluster) -> str:
    s = event.server
    node = cluster.servers[s].node
    voters = () if node is None else node.latest.voters()
    others = [v for v in voters if v != cluster.servers[s].id]
    if not others:
        return f"{s} starts a pre-vote for term {event.term}: its own is enough"
    return (
        f"{s} asks {_names(cluster, others)} whether they would vote for it in term "
        f"{event.term}, before it raises its own term (pre-vote)"
    )


@_of(TimeoutNowReceived)
def _timeout_now(event: TimeoutNowReceived, cluster: Cluster) -> str:
    sender = cluster.names.get(event.sender, event.sender)
    return (
        f"{sender}, leader in term {event.term}, tells {event.server} to start an election "
        f"now: {event.server} skips pre-vote, and voters that know a leader vote all the same"
    )


@_of(TransferStarted)
def _transfer(event: TransferStarted, cluster: Cluster) -> str:
    target = cluster.names.get(event.target, event.target)
    return (
        f"{event.server} starts handing leadership over to {target}: it takes no new entries "
        f"until {target} has its whole log and is told to start an election"
    )


@_of(TransferEnded)
def _transfer_end(event: TransferEnded, cluster: Cluster) -> str:
    target = cluster.names.get(event.target, event.target)
    if event.outcome == STEPPED_DOWN:
        return f"{event.server} is no longer leader: its leadership transfer to {target} is over"
    return (
        f"{event.server}'s leadership transfer to {target} ends ({event.outcome}): it leads "
        f"on and takes new entries again"
    )


@_of(EntryApplied)
def _apply(event: EntryApplied, cluster: Cluster) -> str:
    entry = event.entry
    return f"{event.server} applies entry {entry.index} ({entry.kind.value}) to its state machine"


# ------------------------------------------------------------------ messages


def _message_text(message: object, cluster: Cluster) -> str:
    """What a message says, from its sender to its receiver."""
    name = cluster.names.get
    match message:
        case RequestVote():
            return (
                f"{name(message.src, message.src)} asks {name(message.dst, message.dst)} for "
                f"its vote in term {message.term} (its log ends at index {message.last_index}, "
                f"term {message.last_term})"
            )
        case VoteResponse():
            verdict = "grants" if message.granted else "refuses"
            return (
                f"{name(message.src, message.src)} {verdict} {name(message.dst, message.dst)} "
                f"its vote for term {message.term}"
            )
        case AppendEntries():
            src, dst = name(message.src, message.src), name(message.dst, message.dst)
            if message.heartbeat:
                return f"{src} sends {dst} a heartbeat (term {message.term})"
            if message.entries:
                return (
                    f"{src} sends {dst} {_entries(tuple(message.entries))} after index "
                    f"{message.prev_index} (commit {message.commit})"
                )
            return (
                f"{src} sends {dst} an empty AppendEntries after index {message.prev_index} "
                f"(commit {message.commit})"
            )
        case AppendResponse():
            src, dst = name(message.src, message.src), name(message.dst, message.dst)
            if message.success:
                return f"{src} tells {dst} its log matches up to index {message.last_log}"
            return (
                f"{src} tells {dst} its log does not match (it ends at index "
                f"{message.last_log}, term {message.term})"
            )
        case InstallSnapshot():
            return (
                f"{name(message.src, message.src)} sends {name(message.dst, message.dst)} its "
                f"snapshot up to index {message.last_index} (term {message.last_term})"
            )
        case InstallSnapshotResponse():
            verdict = "installed" if message.success else "refused"
            return (
                f"{name(message.src, message.src)} tells {name(message.dst, message.dst)} it "
                f"{verdict} the snapshot (term {message.term})"
            )
        case RequestPreVote():
            return (
                f"{name(message.src, message.src)} asks {name(message.dst, message.dst)} "
                f"whether it would vote for it in term {message.term} (pre-vote)"
            )
        case PreVoteResponse():
            verdict = "would vote" if message.granted else "would not vote"
            return (
                f"{name(message.src, message.src)} tells {name(message.dst, message.dst)} it "
                f"{verdict} for it (pre-vote; its term is {message.term})"
            )
        case TimeoutNow():
            return (
                f"{name(message.src, message.src)} tells {name(message.dst, message.dst)} to "
                f"start an election now (leadership transfer, term {message.term})"
            )
        case TimeoutNowResponse():
            return (
                f"{name(message.src, message.src)} tells {name(message.dst, message.dst)} it "
                f"starts the election"
            )
        case RpcFailure():
            return (
                f"{name(message.dst, message.dst)}'s call to {name(message.src, message.src)} "
                f"failed: {message.reason}"
            )
    return type(message).__name__


@_of(sim.MessageSent)
def _send(event: sim.MessageSent, cluster: Cluster) -> str:
    return _message_text(event.message, cluster)


@_of(sim.MessageDelivered)
def _deliver(event: sim.MessageDelivered, cluster: Cluster) -> str:
    message = event.message
    sender = cluster.names.get(message.src, message.src)
    return f"{event.server} receives {type(message).__name__} from {sender}"


@_of(sim.MessageDropped)
def _drop(event: sim.MessageDropped, cluster: Cluster) -> str:
    message = event.message
    sender = cluster.names.get(message.src, message.src)
    return f"{type(message).__name__} from {sender} to {event.server} is lost ({event.reason})"


@_of(sim.TimerFired)
def _timer(event: sim.TimerFired, cluster: Cluster) -> str:
    peer = f" (for {cluster.names.get(event.peer, event.peer)})" if event.peer else ""
    return f"{event.server}'s {event.timer} timer fires{peer}"


# ------------------------------------------------------------------ processes and network


_LIFECYCLE = {
    sim.ServerCrashed: "{s} crashes: it loses what it kept in memory; its log, term and vote "
    "survive on disk",
    sim.ServerRestarted: "{s} restarts from its log, term and vote on disk",
    sim.ServerPaused: "{s} is paused: it does nothing until resumed, and messages to it wait",
    sim.ServerResumed: "{s} resumes and handles what waited",
    sim.ServerStarted: "a new, empty server {s} starts",
    sim.TimedOut: "{s}'s election timer is made to expire now",
}


@_of(*_LIFECYCLE)
def _lifecycle(event: Event, cluster: Cluster) -> str:
    return _LIFECYCLE[type(event)].format(s=event.server)


@_of(sim.Partitioned)
def _partition(event: sim.Partitioned, cluster: Cluster) -> str:
    sides = " | ".join(" ".join(group) for group in event.groups)
    return f"the network splits into {sides}: only servers on the same side can talk"


@_of(sim.LinkCut)
def _cut(event: sim.LinkCut, cluster: Cluster) -> str:
    return f"messages from {event.src} to {event.dst} are lost from now on (one way only)"


@_of(sim.Healed)
def _heal(event: sim.Healed, cluster: Cluster) -> str:
    return "the network is healed: every server can reach every other"


@_of(sim.NetworkChanged)
def _network(event: sim.NetworkChanged, cluster: Cluster) -> str:
    changes = ", ".join(f"{key} {value}" for key, value in event.changes)
    where = f"the link {event.link}" if event.link else "every link"
    return f"{where} changes: {changes}"


@_of(sim.Proposed)
def _propose(event: sim.Proposed, cluster: Cluster) -> str:
    return f"a client asks {event.server} to apply the command {event.data!r}"


@_of(sim.ChangeRequested)
def _change(event: sim.ChangeRequested, cluster: Cluster) -> str:
    return f"{event.server} is asked to {event.command} {event.target}"


@_of(sim.TraceDropped)
def _dropped(event: sim.TraceDropped, cluster: Cluster) -> str:
    return f"{event.count} earlier events are no longer kept"


@_of(sim.ClusterReset)
def _reset(event: sim.ClusterReset, cluster: Cluster) -> str:
    if event.how == "replay":
        return (
            f"the run is replayed from seed {event.seed} and its recorded inputs up to "
            f"{fmt_time(event.time)}"
        )
    return f"the simulation starts over from seed {event.seed}"


@_of(sim.NomadLogged)
def _logged(event: sim.NomadLogged, cluster: Cluster) -> str:
    return f"{event.server}'s Nomad agent logs: {event.line}"


@_of(sim.Recovered)
def _recovered(event: sim.Recovered, cluster: Cluster) -> str:
    return (
        f"{event.server} recovers from peers.json: its configuration is now "
        f"{_members(event.configuration, cluster)}, and everything in its log up to index "
        f"{event.index} counts as committed (its term is kept)"
    )


@_of(sim.StartFailed)
def _start_failed(event: sim.StartFailed, cluster: Cluster) -> str:
    return f"{event.server} does not start ({event.error}) and stays down"


# ------------------------------------------------------------------ the Nomad layer


@_of(MemberChanged)
def _member(event: MemberChanged, cluster: Cluster) -> str:
    return f"{event.server}'s Serf sees {event.member} {event.change} (now {event.status})"


@_of(RequestReceived)
def _request(event: RequestReceived, cluster: Cluster) -> str:
    return f"{event.server}'s HTTP API receives a request: {event.method}"


@_of(RequestAnswered)
def _answered(event: RequestAnswered, cluster: Cluster) -> str:
    outcome = f"error {event.error!r}" if event.error else "success"
    return f"{event.server} answers {event.method}: {outcome}"
