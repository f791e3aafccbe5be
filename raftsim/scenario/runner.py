"""The scenario runner (ring 2): executes scenario commands (commands.py) one by one against
one `Cluster` in virtual time, and returns what each printed and what it made (the client
request of a `propose`, whether `run-until` got there). See the package docstring.

A command prints the records it caused, with two kinds of lines of the runner's own among
them: a client request's result, and a safety violation, each right after the records of
the event where it happened. Nothing polls for them: a request's future calls back, and
so does the safety checker on a violation; the runner then has its line placed once that
event is over, by the stop predicate of a run that waits for a condition, or by a call the
scheduler makes right after the event (`Scheduler.call_next`) while time runs freely, so
that `run-for` with requests pending still runs at full speed and may skip idle stretches.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..core.errors import RaftsimError
from ..core.events import (
    EVENT_CLASSES,
    CommitAdvanced,
    ConfigurationChanged,
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
)
from ..core.future import Future
from ..core.profile import PROFILES
from ..core.timing import SECOND, Timing
from ..nomad.cluster import NomadCluster
from ..nomad.version import VERSIONS
from ..sim import events as sim_events
from ..sim.checkers import Violation
from ..sim.cluster import Cluster, UnknownServerError
from ..sim.datadir import PEERS_JSON
from ..sim.render import fmt_configuration, fmt_entry, fmt_event, fmt_time
from .commands import (
    AddServer,
    Await,
    Check,
    Command,
    Crash,
    Cut,
    Heal,
    Isolate,
    Log,
    MembershipChange,
    NewCluster,
    Partition,
    Pause,
    PeersJson,
    Propose,
    RemoveServer,
    Restart,
    Resume,
    RunFor,
    RunUntil,
    SetNetwork,
    Status,
    Trace,
    TransferLeadership,
)
from .transcript import ArgError
from .vocabulary import CONDITIONS, Condition, fmt_span, leader_is

# What a command prints by default: changes of the servers' state and the operator's own
# actions, not message traffic, timers, appends, applies and votes (`trace` shows those),
# so transcripts stay short.
SHOWN: frozenset[type[Event]] = frozenset(
    {RoleChanged, TermChanged, LeaderChanged, ConfigurationChanged, CommitAdvanced}
    | {LogTruncated, LogOverwritten, LeaseLost, SnapshotTaken, SnapshotInstalled}
    | {PreVoteStarted, TimeoutNowReceived, TransferStarted, TransferEnded}
    | {sim_events.ServerCrashed, sim_events.ServerRestarted, sim_events.ServerPaused}
    | {sim_events.ServerResumed, sim_events.ServerStarted, sim_events.Partitioned}
    | {sim_events.LinkCut, sim_events.Healed, sim_events.NetworkChanged}
    | {sim_events.Proposed, sim_events.ChangeRequested}
    | {sim_events.NomadLogged, sim_events.Recovered, sim_events.StartFailed}
)
MESSAGE_EVENTS = (sim_events.MessageSent, sim_events.MessageDelivered, sim_events.MessageDropped)
WITHIN = 60 * SECOND  # run-until's and await's bound when the command gives none
STILL = {  # what a run-until timeout says is still the case
    "leader": "no leader",
    "no-leader": "a leader remains",
    "stable": "not stable",
    "new-leader": "no new leader",
}


@dataclass(slots=True)
class ClientRequest:
    """A client request a command made; its outcome is printed when it resolves."""

    number: int
    via: str
    what: str
    future: Future


@dataclass(slots=True)
class Output:
    """What one command printed, and what it made: the request of a propose or membership
    change (None if refused at once), whether run-until's condition held or await's request
    resolved in time, and the server add-server started."""

    lines: list[str]
    request: ClientRequest | None = None
    reached: bool | None = None
    started: str | None = None


class Runner:
    """Executes commands one at a time against one cluster; returns each one's output."""

    def __init__(self) -> None:
        self._cluster: Cluster | None = None
        self.nomad: NomadCluster | None = None  # Nomad's layer, with `cluster nomad=...`
        self.violations: list[Violation] = []  # every cluster's, in the order found
        self.requests: list[ClientRequest] = []
        self.pending: list[ClientRequest] = []  # not resolved yet, by number
        self.extra: list[tuple[int, str]] = []  # (record position, line) to interleave
        self.seen_violations = 0  # violations whose lines are placed
        self.last_start = 0  # first record of the last command that ran time or acted
        self._resolved: list[ClientRequest] = []  # resolved, lines not placed yet
        self._due = False  # a result or a violation waits to be placed
        self._after_event = False  # place it right after its event (a watched free run)

    @property
    def started(self) -> bool:
        """Has a `cluster` command run yet?"""
        return self._cluster is not None

    @property
    def cluster(self) -> Cluster:
        if self._cluster is None:
            raise ArgError("no cluster yet: the first command must be 'cluster servers=N ...'")
        return self._cluster

    def _name(self, server_id: str) -> str:
        return self.cluster.names.get(server_id, server_id)

    def execute(self, line: str) -> list[str]:
        """Run one command line and return its output lines."""
        return self.run(Command.parse(line)).lines

    def run(self, command: Command) -> Output:
        """Run one command; its output lines start with the records it caused."""
        start = len(self._cluster.records) if self._cluster is not None else 0
        self.extra = []
        try:
            output = self._dispatch(command)
        except UnknownServerError as error:
            raise ArgError(f"{command.word}: {error}") from None
        if isinstance(command, NewCluster):
            start = 0
        if not command.observes:
            self.last_start = start
        if isinstance(command, Trace):
            return output
        self._place()
        output.lines = [*self._records(start, _default_kind), *output.lines]
        return output

    def _dispatch(self, command: Command) -> Output:
        match command:
            case NewCluster():
                return self._new_cluster(command)
            case RunFor(span=span):
                self._run(span.us)
            case RunUntil():
                return self._run_until(command)
            case Await():
                return self._await(command)
            case Crash() | Restart() | Pause() | Resume():
                return self._process(command)
            # (The cluster looks every name up, in order, before it changes anything.)
            case PeersJson():
                return self._peers_json(command)
            case Isolate(server=name):
                self.cluster.isolate(name)
            case Partition(groups=groups):
                self.cluster.partition(*groups)
            case Cut(src=src, dst=dst):
                self.cluster.cut(src, dst)
            case Heal():
                self.cluster.heal()
            case SetNetwork():
                self._set_network(command)
            case Propose():
                return self._propose(command)
            case AddServer():
                return self._add_server()
            case MembershipChange():
                return self._change(command)
            case TransferLeadership(server=name, via=via):
                if name is not None:
                    self.cluster.server(name)
                what = f"transfer-leadership {name or '-'}"
                return self._request(what, lambda v: self.cluster.transfer_leadership(name, v), via)
            case Status():
                return Output(self._status())
            case Trace():
                return Output(self._trace(command))
            case Log(server=name):
                entries = self.cluster.log(name)
                lines = [fmt_entry(e, self._name) for e in entries]
                snapshot = self.cluster.server(name).storage.snapshot
                if snapshot is not None:  # (first: it covers what the log no longer holds)
                    configuration = fmt_configuration(snapshot.configuration, self._name)
                    lines.insert(
                        0,
                        f"snapshot {snapshot.index}/{snapshot.term}"
                        f" config{configuration}@{snapshot.configuration_index}",
                    )
                return Output(lines or ["(empty)"])
            case Check():
                return Output([str(v) for v in self.cluster.violations] or ["ok"])
            case _:
                raise ArgError(f"{command.word}: not a command the runner knows")
        return Output([])

    # -------------------------------------------------------------- output and time

    def _records(self, start: int, keep: Callable[[Event], bool]) -> list[str]:
        """Records from `start` that `keep` accepts, with result and violation lines."""
        cluster = self.cluster
        extra = sorted(self.extra, key=lambda item: item[0])
        lines: list[str] = []
        for position in range(start, len(cluster.records)):
            while extra and extra[0][0] <= position:
                lines.append(extra.pop(0)[1])
            if keep(cluster.records[position]):
                lines.append(fmt_event(cluster.records[position], cluster.names))
        self.extra = []
        return lines + [line for _, line in extra]

    def _on_resolved(self, request: ClientRequest) -> None:
        """A pending request's future is done (called inside the node's step: only note)."""
        self.pending.remove(request)
        self._resolved.append(request)
        self._mark()

    def _on_violation(self, violation: Violation) -> None:
        """The checker found a violation (called while an event is recorded: only note)."""
        self.violations.append(violation)
        self._mark()

    def _mark(self) -> None:
        """Something waits to be placed: in a free run that watches requests, ask the
        scheduler to call back right after the event now running."""
        if self._after_event and not self._due:
            self.cluster.sched.call_next(self._place_after_event)
        self._due = True

    def _place_after_event(self, _: object) -> None:
        self._place()

    def _place(self) -> None:
        """Put the lines of what resolved or broke since the last time at the current end
        of the records: results by request number, then violations."""
        self._due = False
        cluster = self.cluster
        position, now = len(cluster.records), fmt_time(cluster.now)
        if self._resolved:
            for request in sorted(self._resolved, key=lambda r: r.number):
                what = f"#{request.number} {request.what}: {_outcome(request.future)}"
                self.extra.append((position, f"{now:>13} {request.via:<6} {'result':<9} {what}"))
            self._resolved.clear()
        for v in cluster.violations[self.seen_violations :]:
            line = f"{fmt_time(v.time):>13} {','.join(v.servers):<6} VIOLATION {v.rule}: {v.detail}"
            if v.cause:  # (an operator's recovery came first: `check` names it)
                line += " [operator-caused]"
            self.extra.append((position, line))
        self.seen_violations = len(cluster.violations)

    def _run(self, span: int, stop: Condition | None = None) -> bool:
        """Run for `span` µs, or until `stop` holds (True)."""
        cluster = self.cluster
        if stop is None:
            # Time runs freely (cluster.run_for may skip idle stretches). With requests
            # pending, their results and any violation are placed right after their event;
            # with none, a violation is listed after the command's records, as the runner
            # always did (scenarios/11-... shows it: changing it rewrites that transcript).
            self._after_event = bool(self.pending)
            try:
                cluster.run_for(span)
            finally:
                self._after_event = False
            return False

        def predicate(c: Cluster) -> bool:
            if self._due:
                self._place()
            return stop(c)

        # Every condition and placement here follows state-level events (request outcomes
        # and violations come with one), so idle stretches in between may be skipped.
        return cluster.run_until(predicate, span, state_only=True)

    # -------------------------------------------------------------- setup and time

    def _new_cluster(self, command: NewCluster) -> Output:
        timing = Timing.paper() if command.timing == "paper" else Timing.nomad()
        if command.snapshot_threshold is not None:
            timing = replace(timing, snapshot_threshold=command.snapshot_threshold)
        if command.trailing_logs is not None:
            timing = replace(timing, trailing_logs=command.trailing_logs)
        version = VERSIONS[command.nomad] if command.nomad is not None else None
        profile = version.profile if version is not None else PROFILES[command.profile or "P1"]
        self._cluster = Cluster(
            3 if command.servers is None else command.servers,
            command.seed or 0,
            timing,
            profile,
            faults=command.faults,
            trace=command.trace or "all",
        )
        self.nomad = None
        if version is not None:
            self.nomad = NomadCluster(self._cluster, version)
            self.nomad.log_listeners.append(self._on_nomad_log)
        self._cluster.checker.listeners.append(self._on_violation)
        self.requests, self.pending, self._resolved = [], [], []
        self.seen_violations, self._due = 0, False
        return Output([])

    def _on_nomad_log(self, server: str, text: str) -> None:
        self.cluster.record(sim_events.NomadLogged(self.cluster.now, server, text))

    def _run_until(self, command: RunUntil) -> Output:
        within = command.within.us if command.within is not None else WITHIN
        cluster = self.cluster
        condition = CONDITIONS[command.condition](cluster)
        still = STILL[command.condition]
        if command.leader is not None:
            cluster.server(command.leader)
            condition = leader_is(command.leader)
            still = f"{command.leader} is not the leader"
        at = fmt_time
        if not self._run(within, condition):
            line = f"timeout: {still} after {fmt_span(within)} (at {at(cluster.now)})"
            return Output([line], reached=False)
        leader = command.leader or cluster.leader()
        if command.condition == "no-leader" or leader is None:
            return Output([f"no leader at {at(cluster.now)}"], reached=True)
        view = cluster.view(leader)
        if command.condition == "stable":
            state = f"leader {leader} (term {view.term}), commit {view.commit_index}"
            return Output([f"stable at {at(cluster.now)}: {state}"], reached=True)
        return Output([f"leader {leader} (term {view.term}) at {at(cluster.now)}"], reached=True)

    def _await(self, command: Await) -> Output:
        within = command.within.us if command.within is not None else WITHIN
        if not self.requests:
            raise ArgError("await: no request has been made yet")
        request = self.requests[-1]
        if command.request is not None:
            if not 1 <= command.request <= len(self.requests):
                raise ArgError(f"await: there is no request #{command.request}")
            request = self.requests[command.request - 1]
        what = f"#{request.number} {request.what}"
        if request.future.done:
            return Output([f"{what}: {_outcome(request.future)} (already)"], request, True)
        if not self._run(within, lambda _: request.future.done):
            now = fmt_time(self.cluster.now)
            line = f"timeout: #{request.number} still pending after {fmt_span(within)} (at {now})"
            return Output([line], request, False)
        return Output([], request, True)

    # -------------------------------------------------------------- faults

    def _process(self, command: Crash | Restart | Pause | Resume) -> Output:
        self.cluster.server(command.server)
        try:
            getattr(self.cluster, command.word)(command.server)
        except RaftsimError as error:  # crash a crashed server, resume a running one...
            return Output([f"error: {error}"])
        return Output([])

    def _peers_json(self, command: PeersJson) -> Output:
        server = self.cluster.server(command.server)
        if self.cluster.profile.raft_protocol < 3:
            text = json.dumps(list(command.addresses))
        else:
            text = json.dumps([self._config_entry(entry) for entry in command.addresses])
        server.directory.write(PEERS_JSON, text.encode())
        return Output([f"{command.server}/server/raft/{PEERS_JSON}: {text}"])

    def _config_entry(self, entry: str) -> dict[str, object] | str:
        """A protocol-3 peers.json entry (spec nomad-api.md §5 Formats): a server's name
        stands for its ID and Raft address, `ID@ADDRESS` gives both; a trailing `~` marks a
        nonvoter, as the transcripts mark one. Anything else is written as the string it
        is, the old format an operator may still write (and the server refuses)."""
        non_voter = entry.endswith("~")
        server_id, at, address = entry.removesuffix("~").partition("@")
        if not at:
            named = self.cluster.servers.get(server_id)
            if named is None:
                return entry
            server_id, address = named.id, named.address
        out: dict[str, object] = {"id": server_id, "address": address}
        if non_voter:
            out["non_voter"] = True
        return out

    def _set_network(self, command: SetNetwork) -> None:
        latency = None
        if command.latency is not None:
            low, high = command.latency
            latency = (low.us, (high or low).us)
        loss, duplicate = command.loss, command.duplicate
        try:
            self.cluster.set_network(
                latency,
                None if loss is None else loss.value,
                None if duplicate is None else duplicate.value,
                command.reorder,
            )
        except ValueError as error:  # LinkConditions validates before anything changes
            raise ArgError(f"network: {error}") from None

    # -------------------------------------------------------------- clients

    def _request(self, what: str, call: Callable[[str | None], Future], via: str | None) -> Output:
        cluster = self.cluster
        if via is not None:
            cluster.server(via)
        answering = via or cluster.leader() or next(iter(cluster.servers))
        try:
            future = call(via)
        except RaftsimError as error:  # NotLeaderError, ShutdownError: the client's answer
            return Output([f"error: {error}"])
        request = ClientRequest(len(self.requests) + 1, answering, what, future)
        self.requests.append(request)
        if not future.done:
            self.pending.append(request)
            future.add_done_callback(lambda _: self._on_resolved(request))
        return Output([f"#{request.number} {what}: {_outcome(future)}"], request)

    def _propose(self, command: Propose) -> Output:
        data = command.data
        return self._request(
            f"propose {data}", lambda v: self.cluster.propose(data, v), command.via
        )

    def _add_server(self) -> Output:
        name = self.cluster.add_server()
        hint = f"add it with add-voter {name} or add-nonvoter {name}"
        return Output([f"started {name} (empty; {hint})"], started=name)

    def _change(self, command: MembershipChange) -> Output:
        name = command.server
        if not isinstance(command, RemoveServer):
            # Removing an unknown server is legal (hashicorp RemoveUnknownPeer writes an
            # identical configuration); adding or demoting one that does not exist is a typo.
            self.cluster.server(name)
        call = getattr(self.cluster, command.word.replace("-", "_"))
        return self._request(f"{command.word} {name}", lambda v: call(name, v), command.via)

    # -------------------------------------------------------------- views

    def _status(self) -> list[str]:
        rows = [
            ["name", "status", "role", "term", "leader", "commit", "last", "latest", "committed"]
        ]
        for v in self.cluster.views():
            # A crashed server has no volatile state: no leader, commit or configurations.
            up = v.status != "down"
            latest = f"{fmt_configuration(v.latest, self._name)}@{v.latest_index}"
            committed = f"{fmt_configuration(v.committed, self._name)}@{v.committed_index}"
            rows.append(
                [v.name, v.status, v.role or "-", str(v.term), (v.leader or "-") if up else "-"]
                + [str(v.commit_index) if up else "-", str(v.last_index)]
                + ([latest, committed] if up else ["-", "-"])
            )
        return _table(rows, numeric={3, 5, 6})

    def _trace(self, command: Trace) -> list[str]:
        kinds = frozenset(EVENT_CLASSES if command.kinds is None else command.kinds)
        ids: set[str] = set()
        for name in command.servers or ():
            ids |= {name, self.cluster.server(name).id}

        def keep(event: Event) -> bool:
            if event.kind not in kinds:
                return False
            if not ids or event.server in ids:
                return True
            # A message event also concerns the server at its other end.
            if isinstance(event, MESSAGE_EVENTS):
                return event.message.src in ids or event.message.dst in ids
            return False

        self.extra = []
        return self._records(self.last_start, keep)


# ------------------------------------------------------------------ helpers


def _default_kind(event: Event) -> bool:
    # Followers echo every commit index they learn; the leader's commit is the decision.
    return type(event) in SHOWN and (not isinstance(event, CommitAdvanced) or event.leader)


def _outcome(future: Future) -> str:
    if not future.done:
        return "pending"
    if future.error is not None:
        return f"error: {future.error}"
    # (A leadership transfer's future carries no index: it is done when leadership moved.)
    return f"index {future.index}" if future.index else "done"


def _table(rows: list[list[str]], numeric: set[int]) -> list[str]:
    """Aligned columns; numeric columns right-aligned below the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for r, row in enumerate(rows):
        cells = [
            cell.rjust(widths[i]) if r and i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append(" ".join(cells).rstrip())
    return lines
