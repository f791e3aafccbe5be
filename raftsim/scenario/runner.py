"""The scenario runner (ring 2): executes scenario commands one by one against one `Cluster`
in virtual time and returns what each printed. See the package docstring for the commands."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

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
    RoleChanged,
    TermChanged,
)
from ..core.faults import Fault
from ..core.leader import Future
from ..core.profile import PROFILES
from ..core.timing import Timing
from ..sim import events as sim_events
from ..sim.cluster import Cluster, UnknownServerError
from ..sim.render import fmt_configuration, fmt_entry, fmt_event, fmt_time
from ..sim.timeparse import duration
from .transcript import ArgError

# What a command prints by default: changes of the servers' state and the operator's own
# actions, not message traffic, timers, appends, applies and votes (`trace` shows those),
# so transcripts stay short.
SHOWN: frozenset[type[Event]] = frozenset(
    {RoleChanged, TermChanged, LeaderChanged, ConfigurationChanged, CommitAdvanced}
    | {LogTruncated, LogOverwritten, LeaseLost}
    | {sim_events.ServerCrashed, sim_events.ServerRestarted, sim_events.ServerPaused}
    | {sim_events.ServerResumed, sim_events.ServerStarted, sim_events.Partitioned}
    | {sim_events.LinkCut, sim_events.Healed, sim_events.NetworkChanged}
    | {sim_events.Proposed, sim_events.ChangeRequested}
)
MESSAGE_EVENTS = (sim_events.MessageSent, sim_events.MessageDelivered, sim_events.MessageDropped)
OBSERVERS = ("status", "trace", "log", "check")  # commands that neither run time nor act


# ------------------------------------------------------------------ arguments


class Args:
    """A command's words: positionals, and key=value options taken one by one."""

    def __init__(self, command: str, words: Sequence[str]) -> None:
        self.command = command
        self.positional: list[str] = []
        self.options: dict[str, str] = {}
        for word in words:
            key, eq, value = word.partition("=")
            if not (eq and key):
                self.positional.append(word)
            elif key in self.options:
                raise ArgError(f"{command}: {key}= given twice")
            else:
                self.options[key] = value

    def take(self, key: str) -> str | None:
        return self.options.pop(key, None)

    def duration(self, key: str, default: str) -> int:
        return _duration(self.take(key) or default, f"{self.command}: {key}=")

    def finish(self, count: int | None = 0) -> list[str]:
        """Reject unknown options; return the positionals (exactly `count` unless None)."""
        if self.options:
            raise ArgError(f"{self.command}: unknown argument {sorted(self.options)[0]}=")
        if count is not None and len(self.positional) != count:
            want = "no arguments" if count == 0 else f"{count} argument(s)"
            got = " ".join(self.positional) or "none"
            raise ArgError(f"{self.command} takes {want}, got {got}")
        return self.positional


def _duration(text: str, what: str) -> int:
    try:
        return duration(text)
    except ValueError as error:
        raise ArgError(f"{what} {error}") from None


def _number(text: str, what: str, kind: type[int] | type[float]) -> float:
    try:
        return kind(text)
    except ValueError:
        raise ArgError(f"{what} must be a number, got {text!r}") from None


# ------------------------------------------------------------------ the runner


@dataclass(slots=True)
class Request:
    """A client request a command made; its outcome is printed when it resolves."""

    number: int
    via: str
    what: str
    future: Future


class Runner:
    """Executes commands one at a time against one cluster; returns each one's output."""

    def __init__(self) -> None:
        self._cluster: Cluster | None = None
        self.requests: list[Request] = []
        self.pending: list[Request] = []
        self.extra: list[tuple[int, str]] = []  # (record position, line) to interleave
        self.seen_violations = 0
        self.last_start = 0  # first record of the last command that ran time or acted
        self.handlers: dict[str, Callable[[Args], list[str]]] = {
            "cluster": self._cmd_cluster,
            "run-for": self._cmd_run_for,
            "run-until": self._cmd_run_until,
            "await": self._cmd_await,
            "isolate": self._cmd_isolate,
            "partition": self._cmd_partition,
            "cut": self._cmd_cut,
            "heal": self._cmd_heal,
            "network": self._cmd_network,
            "propose": self._cmd_propose,
            "add-server": self._cmd_add_server,
            "status": self._cmd_status,
            "trace": self._cmd_trace,
            "log": self._cmd_log,
            "check": self._cmd_check,
        }
        for command in ("crash", "restart", "pause", "resume"):
            self.handlers[command] = self._process_command(command)
        for command in ("add-voter", "add-nonvoter", "demote-voter", "remove-server"):
            self.handlers[command] = self._change_command(command)

    @property
    def cluster(self) -> Cluster:
        if self._cluster is None:
            raise ArgError("no cluster yet: the first command must be 'cluster servers=N ...'")
        return self._cluster

    def _name(self, server_id: str) -> str:
        return self.cluster.names.get(server_id, server_id)

    def execute(self, line: str) -> list[str]:
        """Run one command line and return its output lines."""
        command, *words = line.split()
        handler = self.handlers.get(command)
        if handler is None:
            known = ", ".join(sorted(self.handlers))
            raise ArgError(f"unknown command {command!r} (commands: {known})")
        start = len(self._cluster.records) if self._cluster is not None else 0
        self.extra = []
        try:
            tail = handler(Args(command, words))
        except UnknownServerError as error:
            raise ArgError(f"{command}: {error}") from None
        if command == "cluster":
            start = 0
        if command not in OBSERVERS:
            self.last_start = start
        if command == "trace":
            return tail
        self._poll()
        return [*self._records(start, _default_kind), *tail]

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

    def _poll(self) -> None:
        """Note requests that resolved and violations that appeared. Called after every
        event while time runs, so that each line lands where it happened in the trace."""
        cluster = self.cluster
        position, now = len(cluster.records), fmt_time(cluster.now)
        for request in [r for r in self.pending if r.future.done]:
            self.pending.remove(request)
            what = f"#{request.number} {request.what}: {_outcome(request.future)}"
            self.extra.append((position, f"{now:>13} {request.via:<6} {'result':<9} {what}"))
        for v in cluster.violations[self.seen_violations :]:
            line = f"{fmt_time(v.time):>13} {','.join(v.servers):<6} VIOLATION {v.rule}: {v.detail}"
            self.extra.append((position, line))
        self.seen_violations = len(cluster.violations)

    def _run(self, span: int, stop: Callable[[Cluster], bool] | None = None) -> bool:
        """Run for `span` µs, or until `stop` holds (True), polling after every event."""
        if stop is None and not self.pending:
            # Nothing to watch: let the cluster run freely (and skip idle stretches).
            self.cluster.run_for(span)
            return False

        def predicate(cluster: Cluster) -> bool:
            self._poll()
            return stop is not None and stop(cluster)

        return self.cluster.run_until(predicate, span)

    # -------------------------------------------------------------- setup and time

    def _cmd_cluster(self, args: Args) -> list[str]:
        servers = int(_number(args.take("servers") or "3", "cluster: servers=", int))
        seed = int(_number(args.take("seed") or "0", "cluster: seed=", int))
        timing = args.take("timing") or "nomad"
        if timing not in ("nomad", "paper"):
            raise ArgError(f"cluster: timing= must be nomad or paper, got {timing!r}")
        profile = args.take("profile") or "P1"
        if profile not in PROFILES:
            known = ", ".join(PROFILES)
            raise ArgError(f"cluster: profile= must be one of {known}, got {profile!r}")
        faults = []
        for value in filter(None, (args.take("faults") or "").split(",")):
            try:
                faults.append(Fault(value))
            except ValueError:
                known = ", ".join(f.value for f in Fault)
                raise ArgError(f"cluster: unknown fault {value!r} (faults: {known})") from None
        trace = args.take("trace") or "all"
        if trace not in ("all", "state", "off"):
            raise ArgError(f"cluster: trace= must be all, state or off, got {trace!r}")
        args.finish()
        if servers < 1:
            raise ArgError(f"cluster: servers= must be at least 1, got {servers}")
        timings = Timing.nomad() if timing == "nomad" else Timing.paper()
        self._cluster = Cluster(
            servers, seed, timings, PROFILES[profile], faults=faults, trace=trace
        )
        self.requests, self.pending, self.seen_violations = [], [], 0
        return []

    def _cmd_run_for(self, args: Args) -> list[str]:
        (span,) = args.finish(1)
        self._run(_duration(span, "run-for:"))
        return []

    def _cmd_run_until(self, args: Args) -> list[str]:
        within = args.duration("within", "60s")
        named = args.take("leader")
        what = (args.finish(0 if named is not None else 1) or ["leader"])[0]
        cluster = self.cluster
        conditions: dict[str, Callable[[Cluster], bool]] = {
            "leader": lambda c: c.leader() is not None,
            "no-leader": lambda c: c.leader() is None,
            "stable": _stable,
        }
        # new-leader: a leader other than the one (name and term) leading now, if any.
        before = cluster.leader()
        old = (before, cluster.view(before).term) if before else None
        conditions["new-leader"] = lambda c: (
            (now := c.leader()) is not None and (now, c.view(now).term) != old
        )
        still = {
            "leader": "no leader",
            "no-leader": "a leader remains",
            "stable": "not stable",
            "new-leader": "no new leader",
        }
        if named is not None:
            cluster.server(named)
            conditions["leader"] = lambda c: c.view(named).role == "Leader"
            still["leader"] = f"{named} is not the leader"
        if what not in conditions:
            raise ArgError(
                f"run-until: unknown condition {what!r}"
                " (leader, leader=NAME, new-leader, no-leader, stable)"
            )
        at = fmt_time
        if not self._run(within, conditions[what]):
            return [f"timeout: {still[what]} after {_span(within)} (at {at(cluster.now)})"]
        leader = named or cluster.leader()
        if what == "no-leader" or leader is None:
            return [f"no leader at {at(cluster.now)}"]
        view = cluster.view(leader)
        if what == "stable":
            state = f"leader {leader} (term {view.term}), commit {view.commit_index}"
            return [f"stable at {at(cluster.now)}: {state}"]
        return [f"leader {leader} (term {view.term}) at {at(cluster.now)}"]

    def _cmd_await(self, args: Args) -> list[str]:
        within = args.duration("within", "60s")
        words = args.finish(None)
        if len(words) > 1:
            raise ArgError(f"await takes at most one request number, got {' '.join(words)}")
        if not self.requests:
            raise ArgError("await: no request has been made yet")
        request = self.requests[-1]
        if words:
            number = int(_number(words[0].lstrip("#"), "await: the request number", int))
            if not 1 <= number <= len(self.requests):
                raise ArgError(f"await: there is no request #{number}")
            request = self.requests[number - 1]
        if request not in self.pending:
            return [f"#{request.number} {request.what}: {_outcome(request.future)} (already)"]
        if not self._run(within, lambda _: request.future.done):
            now = fmt_time(self.cluster.now)
            return [f"timeout: #{request.number} still pending after {_span(within)} (at {now})"]
        return []

    # -------------------------------------------------------------- faults

    def _process_command(self, command: str) -> Callable[[Args], list[str]]:
        def handler(args: Args) -> list[str]:
            (name,) = args.finish(1)
            self.cluster.server(name)
            try:
                getattr(self.cluster, command)(name)
            except RaftsimError as error:  # crash a crashed server, resume a running one...
                return [f"error: {error}"]
            return []

        return handler

    def _cmd_isolate(self, args: Args) -> list[str]:
        (name,) = args.finish(1)
        self.cluster.isolate(name)
        return []

    def _cmd_partition(self, args: Args) -> list[str]:
        groups: list[list[str]] = [[]]
        for part in " ".join(args.finish(None)).replace("|", " | ").split():
            if part == "|":
                groups.append([])
            else:
                groups[-1].append(self.cluster.server(part).name)
        if len(groups) < 2 or not all(groups):
            raise ArgError("partition needs groups separated by '|': partition alice bob | carol")
        names = [n for g in groups for n in g]
        if len(names) != len(set(names)):
            raise ArgError("partition: a server appears in two groups")
        self.cluster.partition(*groups)
        return []

    def _cmd_cut(self, args: Args) -> list[str]:
        (link,) = args.finish(1)
        src, arrow, dst = link.partition("->")
        if not (arrow and src and dst):
            raise ArgError(f"cut takes one link written src->dst, got {link!r}")
        self.cluster.server(src)
        self.cluster.server(dst)
        self.cluster.cut(src, dst)
        return []

    def _cmd_heal(self, args: Args) -> list[str]:
        args.finish()
        self.cluster.heal()
        return []

    def _cmd_network(self, args: Args) -> list[str]:
        latency = None
        if (text := args.take("latency")) is not None:
            low, _, high = text.partition("-")
            latency = (_duration(low, "network: latency="), _duration(high or low, "network:"))
        loss, duplicate = (args.take(key) for key in ("loss", "duplicate"))
        reorder = args.take("reorder")
        if reorder not in (None, "true", "false"):
            raise ArgError(f"network: reorder= must be true or false, got {reorder!r}")
        args.finish()
        try:
            self.cluster.set_network(
                latency,
                None if loss is None else _number(loss, "network: loss=", float),
                None if duplicate is None else _number(duplicate, "network: duplicate=", float),
                None if reorder is None else reorder == "true",
            )
        except ValueError as error:  # LinkConditions validates before anything changes
            raise ArgError(f"network: {error}") from None
        return []

    # -------------------------------------------------------------- clients

    def _request(
        self, what: str, call: Callable[[str | None], Future], via: str | None
    ) -> list[str]:
        cluster = self.cluster
        if via is not None:
            cluster.server(via)
        answering = via or cluster.leader() or next(iter(cluster.servers))
        try:
            future = call(via)
        except RaftsimError as error:  # NotLeaderError, ShutdownError: the client's answer
            return [f"error: {error}"]
        request = Request(len(self.requests) + 1, answering, what, future)
        self.requests.append(request)
        if not future.done:
            self.pending.append(request)
        return [f"#{request.number} {what}: {_outcome(future)}"]

    def _cmd_propose(self, args: Args) -> list[str]:
        via = args.take("via")
        (data,) = args.finish(1)
        return self._request(f"propose {data}", lambda v: self.cluster.propose(data, v), via)

    def _change_command(self, command: str) -> Callable[[Args], list[str]]:
        def handler(args: Args) -> list[str]:
            via = args.take("via")
            (name,) = args.finish(1)
            if command != "remove-server":
                # Removing an unknown server is legal (hashicorp RemoveUnknownPeer writes an
                # identical configuration); adding or demoting one that does not exist is a typo.
                self.cluster.server(name)
            call = getattr(self.cluster, command.replace("-", "_"))
            return self._request(f"{command} {name}", lambda v: call(name, v), via)

        return handler

    def _cmd_add_server(self, args: Args) -> list[str]:
        args.finish()
        name = self.cluster.add_server()
        return [f"started {name} (empty; add it with add-voter {name} or add-nonvoter {name})"]

    # -------------------------------------------------------------- views

    def _cmd_status(self, args: Args) -> list[str]:
        args.finish()
        rows = [
            ["name", "status", "role", "term", "leader", "commit", "last", "latest", "committed"]
        ]
        for v in self.cluster.views():
            # A crashed server has no volatile state: no leader, commit or configurations.
            up = v.status != "down"
            latest = f"{fmt_configuration(v.latest, self._name)}@{v.latest_index}"
            committed = f"{fmt_configuration(v.committed, self._name)}@{v.committed_index}"
            rows.append(
                [v.name, v.status, v.role, str(v.term), (v.leader or "-") if up else "-"]
                + [str(v.commit_index) if up else "-", str(v.last_index)]
                + ([latest, committed] if up else ["-", "-"])
            )
        return _table(rows, numeric={3, 5, 6})

    def _cmd_trace(self, args: Args) -> list[str]:
        every = frozenset(EVENT_CLASSES)
        kinds = frozenset((args.take("kinds") or ",".join(every)).split(","))
        servers = args.take("servers")
        args.finish()
        if unknown := sorted(kinds - every):
            known = ", ".join(sorted(every))
            raise ArgError(f"trace: unknown kind {unknown[0]!r} (kinds: {known})")
        ids: set[str] = set()
        for name in filter(None, (servers or "").split(",")):
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

    def _cmd_log(self, args: Args) -> list[str]:
        (name,) = args.finish(1)
        return [fmt_entry(e, self._name) for e in self.cluster.log(name)] or ["(empty)"]

    def _cmd_check(self, args: Args) -> list[str]:
        args.finish()
        return [str(v) for v in self.cluster.violations] or ["ok"]


# ------------------------------------------------------------------ helpers


def _default_kind(event: Event) -> bool:
    # Followers echo every commit index they learn; the leader's commit is the decision.
    return type(event) in SHOWN and (not isinstance(event, CommitAdvanced) or event.leader)


def _span(us: int) -> str:
    """A duration as scenario files write it: 10s, 250ms, 1500us."""
    if us % 1_000_000 == 0:
        return f"{us // 1_000_000}s"
    return f"{us // 1000}ms" if us % 1000 == 0 else f"{us}us"


def _outcome(future: Future) -> str:
    if not future.done:
        return "pending"
    return f"error: {future.error}" if future.error is not None else f"index {future.index}"


def _stable(cluster: Cluster) -> bool:
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
        if v.status == "up" and v.id in members
    )


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
