"""Seeded fault schedules: crashes, restarts, pauses, partitions (symmetric and asymmetric),
loss, latency, duplication, reordering, client proposals and membership changes, at random
virtual times.

A schedule is plain data (a list of `Op`, ops.py), generated from a seed (or by
hypothesis) and run against a cluster through the scenario language itself: every op
becomes one or more scenario commands (`Crash("bob")`, `Partition(...)`,
`RemoveServer("carol")`), which are executed and recorded with their output. So what a
campaign ran is, verbatim, a scenario file that `raftsim run` replays exactly: a failing
schedule is handed back as a transcript.

Targets are symbolic ("the leader", "a follower", "a down server") and resolved when the op
runs, from the op's own draw, so the same seed always does the same thing; an op that does
not apply at its time (restart a server that is up) is skipped. Membership changes and
crashes can also be fired the instant a new leader is elected, where the 2015
single-server-change bug (spec §4.2) and Figure 8 of the paper live.

An exception raised while a schedule runs (a crash of the simulator itself) ends it and is
kept in the outcome, with the command that raised, so that campaigns report it like a
violation. A schedule that does not converge is watched while it settles, to tell the known
P1/P2 flapping of hashicorp/raft (flapping.py, docs/campaigns.md) from anything else.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from ..core.faults import Fault
from ..core.future import Future
from ..core.timing import MS, SECOND
from ..core.types import Role
from ..scenario.commands import (
    AddNonvoter,
    AddServer,
    AddVoter,
    Check,
    Command,
    Crash,
    Cut,
    DemoteVoter,
    Heal,
    MembershipChange,
    NewCluster,
    Number,
    Partition,
    Pause,
    Propose,
    RemoveServer,
    Restart,
    Resume,
    RunFor,
    RunUntil,
    SetNetwork,
    Span,
    TransferLeadership,
)
from ..scenario.runner import Output
from ..scenario.runner import Runner as ScenarioRunner
from ..scenario.transcript import Block, render
from ..scenario.vocabulary import (
    ALL_KINDS,
    CHANGE_KINDS,
    FAULT_KINDS,
    converged,
)
from ..sim.checkers import Violation
from ..sim.cluster import DOWN, PAUSED, UP, Cluster
from ..sim.render import fmt_time
from .deadlock import known_deadlock
from .flapping import Campaign, Deposition, FlapWatch, known_flapping
from .ops import Op, generate

__all__ = [
    "ALL_KINDS",
    "CHANGE_KINDS",
    "EVENT_BUDGET",
    "FAULT_KINDS",
    "Campaign",
    "Deposition",
    "Op",
    "Outcome",
    "ScheduleRunner",
    "describe",
    "generate",
    "known_flapping",
    "run_seed",
]

MAX_SERVERS = 9  # `add` starts new servers up to this many
SETTLE = 60 * SECOND
# How much of the end of settling a non-converged schedule is judged on: a flapping leader
# is elected and deposed every 1-2 s, so this sees several rounds.
FLAP_WINDOW = 20 * SECOND
# Once stable after settling, a schedule runs this much longer with no fault and must keep
# one leader in one term, every running member at its last index: a cluster that merely
# touches stability for a moment does not pass. Two seconds are a whole follower timeout
# (U[1 s, 2 s)): a member the leader does not reach campaigns within it. Each second costs
# campaigns about 5 % of their throughput (a cluster with servers outside its configuration
# is not fast-forwarded), hence not longer.
QUIET_WINDOW = 2 * SECOND
# Events a schedule may run (per 60 s of schedule; longer ones get proportionally more)
# before it is reported as a retry storm and stopped: about 10x the most any of 1,000
# default schedules ran (12,175; median 2,227, 99th percentile 9,350), fast-forward on.
EVENT_BUDGET = 125_000
EVENT_BUDGET_RULE = "Event budget"
# The network `settle` restores: Nomad's LAN (network.py), no loss, duplication or reordering.
SETTLED_NETWORK = SetNetwork(
    (Span("200us"), Span("600us")), Number("0"), Number("0"), reorder=False
)


@dataclass(slots=True)
class Outcome:
    """What running one schedule did."""

    seed: int
    servers: int
    faults: tuple[Fault, ...]
    # The cluster's trace while it ran: with "off" (campaigns: no records kept, faster) the
    # outputs lack the records a replay prints, and the schedule cannot be written out.
    trace: str = "off"
    commands: list[Command] = field(default_factory=list)  # the scenario commands, in order
    outputs: list[list[str]] = field(default_factory=list)  # what each printed as it ran
    simulated: int = 0  # µs of virtual time covered
    elections: int = 0  # distinct (leader, term) pairs seen
    changes_committed: int = 0
    violations: list[Violation] = field(default_factory=list)
    leader_at_end: str | None = None
    converged: bool = False  # after settling: a leader, latest committed everywhere
    # Why the quiet window after settling failed ("" if it held or was never reached).
    quiet_broken: str = ""
    # Not converged, and exactly the known flapping (known_flapping), or one of protocol
    # 3's known deadlocks, named (deadlock.py): hashicorp's own, not failures.
    known_flapping: bool = False
    known_deadlock: str = ""
    # An exception raised while running the schedule: "IndexError: list index out of
    # range", its type, and the command that raised (the last one the transcript shows).
    crash: str = ""
    crash_type: str = ""
    crash_command: Command | None = None

    @property
    def known(self) -> str:
        """Which known non-convergence this is ("" if it converged or is unexplained)."""
        if self.known_flapping:
            return "flapping"
        return self.known_deadlock

    def scenario(self, why: str = "") -> str:
        """This schedule as a scenario transcript, with each command's output as it ran:
        byte for byte what `raftsim run` prints replaying it. That takes the state-level
        records, so the schedule must have run with trace "state" (or "all"); the `cluster`
        command is written without its trace option, and replays with the default, "all",
        which shows the same lines (the records it adds are message-level, never shown by
        default, and it turns off fast-forward, which is exact)."""
        if self.trace == "off":
            raise ValueError(
                "this schedule ran with trace='off', which keeps no records for its"
                " transcript: run it again with trace='state' to write it out"
            )
        comments = [f"# {line}" if line else "#" for line in why.splitlines()]
        blocks = [Block(0, [], str(command)) for command in self.commands]
        outputs = list(self.outputs)
        if self.crash_command is not None:
            # The transcript ends with the command that crashed the simulator: replaying it
            # raises the same exception there.
            note = f"# simulator crash in the next command (the schedule ends here): {self.crash}"
            blocks.append(Block(0, [note], str(self.crash_command)))
            outputs.append([])
        if blocks:
            blocks[0].comments = comments + blocks[0].comments
        return render(blocks, outputs)


class ScheduleRunner:
    """Runs ops on a fresh cluster through scenario commands, recording each one with what
    it printed."""

    def __init__(
        self,
        seed: int,
        servers: int = 5,
        faults: Sequence[Fault] = (),
        trace: str = "off",
        profile: str = "P1",
        event_budget: int | None = EVENT_BUDGET,
    ) -> None:
        self.scenario = ScenarioRunner()
        self.event_budget = event_budget  # per 60 s of schedule (None: unbounded)
        self.budget: int | None = None  # this schedule's, set by `run`
        self.outcome = Outcome(seed, servers, tuple(faults), trace)
        command = NewCluster(
            servers, seed, profile=None if profile == "P1" else profile, faults=tuple(faults)
        )
        # Recorded without the trace option, so that the transcript replays with the
        # default one (Outcome.scenario).
        self._record(command, self.scenario.run(replace(command, trace=trace)))
        self.cluster: Cluster = self.scenario.cluster
        self.do(RunUntil("leader", within=Span("30s")))
        self.start = self.cluster.now
        self.watch: FlapWatch | None = None
        self.quiet_since = 0  # when the quiet window after settling began
        self.proposals = 0
        self.wait_limit = 10 * SECOND
        self.changes: list[Future] = []
        self.leaders: set[tuple[str, int]] = set()
        self._note_leaders()

    def do(self, command: Command | str) -> Output:
        """Execute one scenario command and record it with its output (a command line is
        parsed first: a RaftMachine subclass may write its own commands as text)."""
        if isinstance(command, str):
            command = Command.parse(command)
        try:
            output = self.scenario.run(command)
        except Exception:
            self.outcome.crash_command = command
            raise
        self._record(command, output)
        return output

    def _record(self, command: Command, output: Output) -> None:
        self.outcome.commands.append(command)
        self.outcome.outputs.append(output.lines)

    def _note_leaders(self) -> None:
        for name, server in self.cluster.servers.items():
            if server.node is not None and server.node.role is Role.LEADER:
                self.leaders.add((name, server.storage.current_term))

    def names(self, status: str) -> list[str]:
        return [n for n, s in self.cluster.servers.items() if s.status == status]

    def members(self) -> list[str]:
        """Servers in the leader's latest configuration (anyone's, with no leader)."""
        leader = self.cluster.leader()
        views = [self.cluster.view(leader)] if leader else self.cluster.views()
        ids = {s.id for v in views for s in v.latest.servers}
        return [n for n, s in self.cluster.servers.items() if s.id in ids]

    # ------------------------------------------------------------ running

    def run(self, ops: Sequence[Op], settle: int = SETTLE) -> Outcome:
        """Run the ops, settle and check; an exception raised on the way (a simulator
        crash) ends the schedule and is kept in the outcome rather than raised, and so
        does a retry storm that runs past the event budget."""
        if self.event_budget is not None:
            span = ops[-1].at if ops else 0
            self.budget = self.event_budget * max(1, -(-span // (60 * SECOND)))
        try:
            for i, op in enumerate(ops):
                if self.over_budget():
                    return self.finish()  # a retry storm: stop here, reported
                delay = self.start + op.at - self.cluster.now
                if delay > 0:
                    self.do(RunFor(Span.micros(delay)))
                # Ops that wait for an election wait at most until the next op is due.
                following = ops[i + 1].at if i + 1 < len(ops) else op.at + 10 * SECOND
                self.wait_limit = max(MS, self.start + following - self.cluster.now)
                self._note_leaders()
                self.apply(op)
            if not self.over_budget():
                self.settle(settle)
                self.over_budget()  # (the settle is one command: checked after it)
            return self.finish()
        except Exception as error:
            return self.crashed(error)

    def crashed(self, error: Exception) -> Outcome:
        """The outcome of a schedule that `error` ended: what it covered until then."""
        outcome = self.outcome
        outcome.crash_type = type(error).__name__
        outcome.crash = f"{outcome.crash_type}: {error}"
        outcome.simulated = self.cluster.now
        outcome.elections = len(self.cluster.checker.leaders_elected())
        outcome.violations = list(self.cluster.violations)
        return outcome

    def over_budget(self) -> bool:
        """Whether the schedule has run more events than its budget; reports it the first
        time, as a violation of rule "Event budget" (a retry storm would otherwise run the
        campaign many times slower than normal, unnoticed)."""
        cluster = self.cluster
        executed = cluster.sched.executed
        if self.budget is None or executed <= self.budget:
            return False
        if not any(v.rule == EVENT_BUDGET_RULE for v in cluster.checker.violations):
            cluster.checker.report(
                EVENT_BUDGET_RULE,
                ("-",),
                cluster.now,
                f"event budget exceeded: {executed} events in"
                f" {(cluster.now - self.start) / SECOND:.1f} simulated s (budget {self.budget})",
            )
        return True

    def settle(self, span: int) -> None:
        """Undo every fault, then run until the cluster is stable (a leader with its log
        committed, known by every running member at its commit index), at most `span`.
        Under P1/P2 removed servers that keep campaigning can delay this for a while
        (spec §2.8), so the bound is generous."""
        self.do(Heal())
        self.do(SETTLED_NETWORK)
        for name in self.names(PAUSED):
            self.do(Resume(name))
        for name in self.names(DOWN):
            self.do(Restart(name))
        self.watch = FlapWatch(self.cluster)
        self.cluster.listeners.append(self.watch)
        # Stable, then a quiet window; a window broken soon after the heal (a leader whose
        # last contact with a quorum predates it steps down by its lease, a member that
        # heard nobody during the fault times out) is settling still under way: settle and
        # try again, within the same bound. The last window decides: a cluster that only
        # ever touches stability until the bound runs out fails.
        deadline = self.cluster.now + span
        try:
            while self.cluster.now < deadline:
                left = Span.micros(deadline - self.cluster.now)
                if not self.do(RunUntil("stable", within=left)).reached:
                    break
                self.outcome.quiet_broken = self._quiet_window()
                if not self.outcome.quiet_broken:
                    break
        finally:
            self.cluster.listeners.remove(self.watch)

    def _quiet_window(self) -> str:
        """Run QUIET_WINDOW more with no fault; what broke the quiet, "" if nothing did."""
        cluster = self.cluster
        leader = cluster.leader()
        assert leader is not None  # (stable: there is one)
        term = cluster.servers[leader].storage.current_term
        elected = len(cluster.checker.leaders_elected())
        self.quiet_since = cluster.now
        self.do(RunFor(Span.micros(QUIET_WINDOW)))
        if len(cluster.checker.leaders_elected()) != elected or cluster.leader() != leader:
            return f"leadership changed in the quiet window (was {leader}, term {term})"
        lead = cluster.view(leader)
        if lead.term != term:
            return f"{leader}'s term moved from {term} to {lead.term} in the quiet window"
        members = set(lead.latest.ids())
        behind = sorted(
            v.name
            for v in cluster.views()
            if v.status == UP and v.id in members and v.last_index != lead.last_index
        )
        if behind:
            return f"not at the leader's last index after the quiet window: {', '.join(behind)}"
        return ""

    def finish(self) -> Outcome:
        self._note_leaders()
        cluster, outcome = self.cluster, self.outcome
        self.do(Check())
        outcome.simulated = cluster.now
        outcome.elections = len(cluster.checker.leaders_elected())
        outcome.changes_committed = sum(1 for f in self.changes if f.done and not f.error)
        outcome.violations = list(cluster.violations)
        outcome.leader_at_end = cluster.leader()
        outcome.converged = converged(cluster) and not outcome.quiet_broken
        if not outcome.converged and self.watch is not None:
            # A broken quiet window is judged on the window alone: one deposition there of
            # the known kind is the flapping starting over; anything else is unexplained.
            quiet = bool(outcome.quiet_broken)
            since = self.quiet_since if quiet else cluster.now - FLAP_WINDOW
            outcome.known_flapping = known_flapping(
                [d for d in self.watch.depositions if d.time >= since],
                [c for c in self.watch.campaigns if c.time >= since],
                rounds=1 if quiet else 2,
            )
        if not outcome.converged and not outcome.known_flapping:
            outcome.known_deadlock = known_deadlock(cluster)
        return outcome

    def _request(self, command: MembershipChange) -> None:
        request = self.do(command).request
        if request is not None:
            self.changes.append(request.future)

    def apply(self, op: Op) -> None:
        rand = random.Random(op.pick)
        handler = getattr(self, "_op_" + op.kind.replace("-", "_"))
        handler(rand, op)

    # ------------------------------------------------------------ faults

    def _op_crash(self, rand: random.Random, op: Op) -> None:
        down, up = self.names(DOWN), self.names(UP)
        leader = self.cluster.leader()
        if down and op.value < 0.5:
            self.do(Restart(rand.choice(down)))
        elif up:
            self.do(Crash(leader if leader and op.value < 0.75 else rand.choice(up)))

    def _op_pause(self, rand: random.Random, op: Op) -> None:
        paused, up = self.names(PAUSED), self.names(UP)
        if paused and op.value < 0.5:
            self.do(Resume(rand.choice(paused)))
        elif up:
            self.do(Pause(rand.choice(up)))

    def _op_partition(self, rand: random.Random, op: Op) -> None:
        if op.value < 0.3:
            self.do(Heal())
            return
        names = sorted(self.cluster.servers)
        if len(names) < 2:
            return
        rand.shuffle(names)
        cut = rand.randrange(1, len(names))
        self.do(Partition((tuple(sorted(names[:cut])), tuple(sorted(names[cut:])))))

    def _op_cut(self, rand: random.Random, op: Op) -> None:
        names = sorted(self.cluster.servers)
        if len(names) >= 2:
            src, dst = rand.sample(names, 2)
            self.do(Cut(src, dst))

    def _op_loss(self, rand: random.Random, op: Op) -> None:
        self.do(SetNetwork(loss=Number(str(round(op.value * 0.3, 3)))))

    def _op_latency(self, rand: random.Random, op: Op) -> None:
        self.do(SetNetwork(latency=(Span("200us"), Span(f"{1 + int(op.value * 50)}ms"))))

    def _op_duplicate(self, rand: random.Random, op: Op) -> None:
        """Up to a fifth of the messages on every link delivered twice: the core must
        take a repeated request or reply (an RPC retried after a lost answer) in its
        stride."""
        self.do(SetNetwork(duplicate=Number(str(round(op.value * 0.2, 3)))))

    def _op_reorder(self, rand: random.Random, op: Op) -> None:
        """Messages on a link may overtake each other (pipelined calls on separate
        connections); mostly turned on, sometimes off again (value 0, the mildest: off)."""
        self.do(SetNetwork(reorder=op.value >= 0.3))

    def _op_crash_mid_replication(self, rand: random.Random, op: Op) -> None:
        """The leader dies while a burst of entries is still reaching its followers: the
        tail it leaves on a minority is what Figure 8 of the paper is about."""
        leader = self.cluster.leader()
        if not leader:
            return
        for _ in range(1 + int(op.value * 100)):
            self._propose()
        self.do(RunFor(Span.micros(rand.randrange(3 * MS))))
        if self.cluster.servers[leader].status == UP:
            self.do(Crash(leader))

    def _op_crash_at_election(self, rand: random.Random, op: Op) -> None:
        """A leader that dies before its no-op spreads leaves its followers' logs behind."""
        leader = self._next_leader()
        if leader is None:
            return
        self.do(RunFor(Span.micros(rand.randrange(2 * MS))))
        if self.cluster.servers[leader].status == UP:
            self.do(Crash(leader))

    def _next_leader(self) -> str | None:
        """Wait for a new leader (at most until the next op is due); None if none came."""
        waited = self.do(RunUntil("new-leader", within=Span.micros(self.wait_limit)))
        return self.cluster.leader() if waited.reached else None

    # ------------------------------------------------------------ clients

    def _propose(self) -> None:
        self.proposals += 1
        self.do(Propose(f"x{self.proposals}"))

    def _op_propose(self, rand: random.Random, op: Op) -> None:
        if not self.cluster.leader():
            return
        # Mostly single commands, sometimes a burst that leaves a slow follower more than
        # one AppendEntries batch (64 entries) behind.
        for _ in range(1 + int(op.value**4 * 150)):
            self._propose()

    def _op_change_at_election(self, rand: random.Random, op: Op) -> None:
        if self._next_leader() is not None:
            self._op_remove(rand, op)

    def _op_add(self, rand: random.Random, op: Op) -> None:
        if not self.cluster.leader():
            return
        outsiders = sorted(set(self.cluster.servers) - set(self.members()))
        if outsiders and op.value < 0.5:
            name = rand.choice(outsiders)
        elif len(self.cluster.servers) < MAX_SERVERS:
            started = self.do(AddServer()).started
            assert started is not None
            name = started
        else:
            return
        self._request(AddVoter(name))

    def _op_add_nonvoter(self, rand: random.Random, op: Op) -> None:
        outsiders = sorted(set(self.cluster.servers) - set(self.members()))
        if self.cluster.leader() and outsiders:
            self._request(AddNonvoter(rand.choice(outsiders)))

    def _op_remove_leader(self, rand: random.Random, op: Op) -> None:
        leader = self.cluster.leader()
        if leader:
            self._request(RemoveServer(leader))

    def _op_remove(self, rand: random.Random, op: Op) -> None:
        leader = self.cluster.leader()
        if not leader:
            return
        members = self.members()
        if len(members) <= 2:
            self._op_add(rand, op)
            return
        followers = [n for n in members if n != leader]
        if followers:
            self._request(RemoveServer(rand.choice(followers)))

    def _op_transfer_leadership(self, rand: random.Random, op: Op) -> None:
        """The leader hands leadership over (raft-semantics §3.9): to the voter it picks, or
        to a member named at random (a nonvoter too: hashicorp/raft does not check it)."""
        leader = self.cluster.leader()
        if not leader:
            return
        others = [n for n in self.members() if n != leader]
        target = rand.choice(others) if others and op.value >= 0.5 else None
        self.do(TransferLeadership(target))  # (not a membership change: not counted)

    def _op_demote(self, rand: random.Random, op: Op) -> None:
        leader = self.cluster.leader()
        followers = [n for n in self.members() if n != leader]
        if leader and followers:
            self._request(DemoteVoter(rand.choice(followers)))


def run_seed(
    seed: int,
    servers: int = 5,
    duration: int = 60 * SECOND,
    kinds: Sequence[str] = ALL_KINDS,
    faults: Sequence[Fault] = (),
    rate: float = 0.5,
    trace: str = "off",
    event_budget: int | None = EVENT_BUDGET,
) -> Outcome:
    """Generate and run one seeded schedule with every checker on (trace "state" to write
    it out as a transcript afterwards: Outcome.scenario); `event_budget`: ScheduleRunner's."""
    runner = ScheduleRunner(seed, servers, faults, trace, event_budget=event_budget)
    return runner.run(generate(seed, duration, kinds, rate, runner.cluster.profile.name))


def describe(outcome: Outcome) -> str:
    return (
        f"seed {outcome.seed}: {len(outcome.commands)} commands, "
        f"{fmt_time(outcome.simulated)} simulated, {outcome.elections} elections, "
        f"{outcome.changes_committed} changes committed, {len(outcome.violations)} violations"
    )
