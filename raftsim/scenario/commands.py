"""The scenario language's commands as values (ring 2): one frozen class per command, whose
`parse(line)` reads a command line and whose `str()` writes it back. The runner executes
these objects (runner.py), and fault schedules build them directly instead of writing text
to be parsed back (raftsim.testing.schedules). What every command line shares, its words,
values and the `Command` base, is syntax.py's.

Round trip: `Command.parse(str(c)) == c` for every command, and `str(Command.parse(line))
== line` for a canonical line: words separated by single spaces, options in the order
`str` writes them, each written once. A duration (`Span`) or a probability (`Number`) keeps
its spelling, so `run-for 5000us` stays `run-for 5000us`, not `run-for 5ms`. Parsing checks
everything a line alone can get wrong, with the error texts the runner always gave;
whatever needs the cluster (unknown servers, a bad probability) is checked when it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..core.events import EVENT_CLASSES
from ..core.faults import Fault
from ..core.profile import PROFILES
from ..nomad.version import VERSIONS
from .syntax import (
    Args,
    Command,
    Number,
    Span,
    option_words,
    parse_int,
    parse_number,
    parse_span,
)
from .transcript import ArgError
from .vocabulary import CONDITIONS, core_faults

# The syntax (syntax.py) is importable from here too, with the commands.
__all__ = [
    "AddNonvoter",
    "AddServer",
    "AddVoter",
    "Args",
    "Await",
    "Check",
    "Command",
    "Crash",
    "Cut",
    "DemoteVoter",
    "Heal",
    "Isolate",
    "Log",
    "MembershipChange",
    "NewCluster",
    "Number",
    "Partition",
    "Pause",
    "PeersJson",
    "Propose",
    "RemoveServer",
    "Restart",
    "Resume",
    "RunFor",
    "RunUntil",
    "SetNetwork",
    "Span",
    "Status",
    "Trace",
    "TransferLeadership",
]

# ------------------------------------------------------------------ shapes


@dataclass(frozen=True, slots=True)
class _Bare(Command):
    """A command without arguments."""

    @classmethod
    def _from_args(cls, args: Args) -> Command:
        args.finish()
        return cls()

    def words(self) -> list[str]:
        return []


@dataclass(frozen=True, slots=True)
class _OnServer(Command):
    """A command about one server, named."""

    server: str

    @classmethod
    def _from_args(cls, args: Args) -> Command:
        (server,) = args.finish(1)
        return cls(server)

    def words(self) -> list[str]:
        return [self.server]


# ------------------------------------------------------------------ setup and time


@dataclass(frozen=True, slots=True)
class NewCluster(Command):
    """`cluster`: a fresh cluster (options left out take their defaults)."""

    word: ClassVar[str] = "cluster"
    servers: int | None = None  # 3
    seed: int | None = None  # 0
    timing: str | None = None  # nomad
    profile: str | None = None  # P1
    faults: tuple[Fault, ...] = ()
    trace: str | None = None  # all
    # Snapshots (hashicorp SnapshotThreshold, TrailingLogs): small values make a scenario
    # compact its logs in a few entries (the defaults, 8192 and 10240, are never reached).
    snapshot_threshold: int | None = None
    trailing_logs: int | None = None
    # A Nomad release (`nomad=1.10.1`): its Raft profile, and Nomad's layer around the
    # cluster (Serf, the leader's reconcile, autopilot), whose log lines join the trace.
    nomad: str | None = None

    @classmethod
    def _from_args(cls, args: Args) -> Command:
        servers, seed = (args.take(key) or None for key in ("servers", "seed"))
        nomad = args.take("nomad") or None
        snapshots = [args.take(key) or None for key in ("snapshot-threshold", "trailing-logs")]
        threshold, trailing = (
            None if value is None else parse_int(value, f"cluster: {key}=")
            for value, key in zip(snapshots, ("snapshot-threshold", "trailing-logs"), strict=True)
        )
        count = None if servers is None else parse_int(servers, "cluster: servers=")
        number = None if seed is None else parse_int(seed, "cluster: seed=")
        timing = args.take("timing") or None
        if timing not in (None, "nomad", "paper"):
            raise ArgError(f"cluster: timing= must be nomad or paper, got {timing!r}")
        profile = args.take("profile") or None
        if profile is not None and profile not in PROFILES:
            known = ", ".join(PROFILES)
            raise ArgError(f"cluster: profile= must be one of {known}, got {profile!r}")
        try:
            faults = core_faults((args.take("faults") or "").split(","))
        except ValueError as error:
            raise ArgError(f"cluster: {error}") from None
        trace = args.take("trace") or None
        if trace not in (None, "all", "state", "off"):
            raise ArgError(f"cluster: trace= must be all, state or off, got {trace!r}")
        args.finish()
        if nomad is not None:
            if nomad not in VERSIONS:
                known = ", ".join(VERSIONS)
                raise ArgError(f"cluster: nomad= must be one of {known}, got {nomad!r}")
            if profile is not None:
                raise ArgError(
                    f"cluster: nomad={nomad} runs Raft profile {VERSIONS[nomad].profile.name}: "
                    "give nomad= or profile=, not both"
                )
        if count is not None and count < 1:
            raise ArgError(f"cluster: servers= must be at least 1, got {count}")
        if threshold is not None and threshold < 1:
            raise ArgError(f"cluster: snapshot-threshold= must be at least 1, got {threshold}")
        return cls(count, number, timing, profile, faults, trace, threshold, trailing, nomad)

    def words(self) -> list[str]:
        faults = ",".join(f.value for f in self.faults) or None
        return option_words(
            servers=self.servers,
            seed=self.seed,
            timing=self.timing,
            profile=self.profile,
            faults=faults,
            trace=self.trace,
        ) + option_words(
            **{"snapshot-threshold": self.snapshot_threshold, "trailing-logs": self.trailing_logs},
            nomad=self.nomad,
        )


@dataclass(frozen=True, slots=True)
class RunFor(Command):
    """`run-for SPAN`: let virtual time pass."""

    word: ClassVar[str] = "run-for"
    span: Span

    @classmethod
    def _from_args(cls, args: Args) -> Command:
        (span,) = args.finish(1)
        return cls(parse_span(span, "run-for:"))

    def words(self) -> list[str]:
        return [str(self.span)]


@dataclass(frozen=True, slots=True)
class RunUntil(Command):
    """`run-until CONDITION [within=SPAN]`, or `run-until leader=NAME`."""

    word: ClassVar[str] = "run-until"
    condition: str = "leader"  # a name in vocabulary.CONDITIONS
    leader: str | None = None  # leader=NAME: that server leads (condition is "leader")
    within: Span | None = None  # 60s

    def __post_init__(self) -> None:
        if self.leader is not None and self.condition != "leader":
            raise ValueError("run-until leader=NAME waits for the condition 'leader'")

    @classmethod
    def _from_args(cls, args: Args) -> Command:
        within = args.span("within")
        named = args.take("leader")
        condition = (args.finish(0 if named is not None else 1) or ["leader"])[0]
        if condition not in CONDITIONS:
            raise ArgError(
                f"run-until: unknown condition {condition!r}"
                " (leader, leader=NAME, new-leader, no-leader, stable)"
            )
        return cls(condition, named, within)

    def words(self) -> list[str]:
        what = self.condition if self.leader is None else f"leader={self.leader}"
        return [what, *option_words(within=self.within)]


@dataclass(frozen=True, slots=True)
class Await(Command):
    """`await [#N] [within=SPAN]`: the latest client request by default."""

    word: ClassVar[str] = "await"
    request: int | None = None
    within: Span | None = None  # 60s

    @classmethod
    def _from_args(cls, args: Args) -> Command:
        within = args.span("within")
        words = args.finish(None)
        if len(words) > 1:
            raise ArgError(f"await takes at most one request number, got {' '.join(words)}")
        number = parse_int(words[0].lstrip("#"), "await: the request number") if words else None
        return cls(number, within)

    def words(self) -> list[str]:
        number = [] if self.request is None else [f"#{self.request}"]
        return [*number, *option_words(within=self.within)]


# ------------------------------------------------------------------ faults


@dataclass(frozen=True, slots=True)
class Crash(_OnServer):
    word: ClassVar[str] = "crash"


@dataclass(frozen=True, slots=True)
class Restart(_OnServer):
    word: ClassVar[str] = "restart"


@dataclass(frozen=True, slots=True)
class Pause(_OnServer):
    word: ClassVar[str] = "pause"


@dataclass(frozen=True, slots=True)
class Resume(_OnServer):
    word: ClassVar[str] = "resume"


@dataclass(frozen=True, slots=True)
class PeersJson(Command):
    """`peers-json NAME [ENTRY ...]`: write NAME's raft/peers.json as an operator would
    before restarting it; the server reads the file when it next starts. Under Raft
    protocols 1 and 2 the entries are addresses, written as given (nothing checks them);
    under protocol 3 each is a server's name or `ID@ADDRESS`, `~` after it for a nonvoter,
    written as the object format's `{"id", "address", "non_voter"}` (anything else is
    written as a string, the old format, which protocol 3 refuses)."""

    word: ClassVar[str] = "peers-json"
    server: str
    addresses: tuple[str, ...] = ()

    @classmethod
    def _from_args(cls, args: Args) -> Command:
        server, *addresses = args.finish(None) or [""]
        if not server:
            raise ArgError("peers-json takes a server name and the addresses to list")
        return cls(server, tuple(addresses))

    def words(self) -> list[str]:
        return [self.server, *self.addresses]


@dataclass(frozen=True, slots=True)
class Isolate(_OnServer):
    word: ClassVar[str] = "isolate"


@dataclass(frozen=True, slots=True)
class Partition(Command):
    """`partition a b | c`: only servers in the same group can talk."""

    word: ClassVar[str] = "partition"
    groups: tuple[tuple[str, ...], ...]

    @classmethod
    def _from_args(cls, args: Args) -> Command:
        groups: list[list[str]] = [[]]
        for part in " ".join(args.finish(None)).replace("|", " | ").split():
            if part == "|":
                groups.append([])
            else:
                groups[-1].append(part)
        if len(groups) < 2 or not all(groups):
            raise ArgError("partition needs groups separated by '|': partition alice bob | carol")
        names = [n for g in groups for n in g]
        if len(names) != len(set(names)):
            raise ArgError("partition: a server appears in two groups")
        return cls(tuple(tuple(g) for g in groups))

    def words(self) -> list[str]:
        return " | ".join(" ".join(group) for group in self.groups).split(" ")


@dataclass(frozen=True, slots=True)
class Cut(Command):
    """`cut src->dst`: messages from src to dst vanish."""

    word: ClassVar[str] = "cut"
    src: str
    dst: str

    @classmethod
    def _from_args(cls, args: Args) -> Command:
        (link,) = args.finish(1)
        src, arrow, dst = link.partition("->")
        if not (arrow and src and dst):
            raise ArgError(f"cut takes one link written src->dst, got {link!r}")
        return cls(src, dst)

    def words(self) -> list[str]:
        return [f"{self.src}->{self.dst}"]


@dataclass(frozen=True, slots=True)
class Heal(_Bare):
    word: ClassVar[str] = "heal"


@dataclass(frozen=True, slots=True)
class SetNetwork(Command):
    """`network [latency=LOW[-HIGH]] [loss=P] [duplicate=P] [reorder=true|false]`: every
    link's conditions (options left out keep their values)."""

    word: ClassVar[str] = "network"
    latency: tuple[Span, Span | None] | None = None  # no HIGH: exactly LOW
    loss: Number | None = None
    duplicate: Number | None = None
    reorder: bool | None = None

    @classmethod
    def _from_args(cls, args: Args) -> Command:
        latency = None
        if (text := args.take("latency")) is not None:
            low, _, high = text.partition("-")
            latency = (
                parse_span(low, "network: latency="),
                parse_span(high, "network:") if high else None,
            )
        loss, duplicate = (args.take(key) for key in ("loss", "duplicate"))
        reorder = args.take("reorder")
        if reorder not in (None, "true", "false"):
            raise ArgError(f"network: reorder= must be true or false, got {reorder!r}")
        args.finish()
        return cls(
            latency,
            None if loss is None else parse_number(loss, "network: loss="),
            None if duplicate is None else parse_number(duplicate, "network: duplicate="),
            None if reorder is None else reorder == "true",
        )

    def words(self) -> list[str]:
        latency = None
        if self.latency is not None:
            low, high = self.latency
            latency = f"{low}-{high}" if high is not None else str(low)
        reorder = None if self.reorder is None else str(self.reorder).lower()
        return option_words(
            latency=latency, loss=self.loss, duplicate=self.duplicate, reorder=reorder
        )


# ------------------------------------------------------------------ clients


@dataclass(frozen=True, slots=True)
class Propose(Command):
    """`propose DATA [via=NAME]`: a client command, through the leader by default."""

    word: ClassVar[str] = "propose"
    data: str
    via: str | None = None

    @classmethod
    def _from_args(cls, args: Args) -> Command:
        via = args.take("via")
        (data,) = args.finish(1)
        return cls(data, via)

    def words(self) -> list[str]:
        return [self.data, *option_words(via=self.via)]


@dataclass(frozen=True, slots=True)
class AddServer(_Bare):
    """`add-server`: start a new, empty server (not yet a member)."""

    word: ClassVar[str] = "add-server"


@dataclass(frozen=True, slots=True)
class MembershipChange(Command):
    """A membership change of one server, asked of the leader (or `via`)."""

    server: str
    via: str | None = None

    @classmethod
    def _from_args(cls, args: Args) -> Command:
        via = args.take("via")
        (server,) = args.finish(1)
        return cls(server, via)

    def words(self) -> list[str]:
        return [self.server, *option_words(via=self.via)]


@dataclass(frozen=True, slots=True)
class AddVoter(MembershipChange):
    word: ClassVar[str] = "add-voter"


@dataclass(frozen=True, slots=True)
class AddNonvoter(MembershipChange):
    word: ClassVar[str] = "add-nonvoter"


@dataclass(frozen=True, slots=True)
class DemoteVoter(MembershipChange):
    word: ClassVar[str] = "demote-voter"


@dataclass(frozen=True, slots=True)
class RemoveServer(MembershipChange):
    word: ClassVar[str] = "remove-server"


@dataclass(frozen=True, slots=True)
class TransferLeadership(Command):
    """`transfer-leadership [NAME] [via=NAME]`: ask the leader (or `via`) to hand
    leadership to NAME, or to the voter it picks (raft-semantics §3.9; protocol 3)."""

    word: ClassVar[str] = "transfer-leadership"
    server: str | None = None
    via: str | None = None

    @classmethod
    def _from_args(cls, args: Args) -> Command:
        via = args.take("via")
        names = args.finish(None)
        if len(names) > 1:
            raise ArgError(f"transfer-leadership takes one server at most, got {' '.join(names)}")
        return cls(names[0] if names else None, via)

    def words(self) -> list[str]:
        return [*([self.server] if self.server else []), *option_words(via=self.via)]


# ------------------------------------------------------------------ views


@dataclass(frozen=True, slots=True)
class Status(_Bare):
    word: ClassVar[str] = "status"
    observes: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class Trace(Command):
    """`trace [kinds=K,...] [servers=NAME,...]`: every record of the last command that ran
    time or acted (all kinds and servers by default)."""

    word: ClassVar[str] = "trace"
    observes: ClassVar[bool] = True
    kinds: tuple[str, ...] | None = None
    servers: tuple[str, ...] | None = None

    @classmethod
    def _from_args(cls, args: Args) -> Command:
        kinds_text, servers_text = args.take("kinds"), args.take("servers")
        args.finish()
        kinds = tuple(kinds_text.split(",")) if kinds_text else None
        if unknown := sorted(set(kinds or ()) - set(EVENT_CLASSES)):
            known = ", ".join(sorted(EVENT_CLASSES))
            raise ArgError(f"trace: unknown kind {unknown[0]!r} (kinds: {known})")
        servers = tuple(filter(None, (servers_text or "").split(","))) or None
        return cls(kinds, servers)

    def words(self) -> list[str]:
        kinds = None if self.kinds is None else ",".join(self.kinds)
        servers = None if self.servers is None else ",".join(self.servers)
        return option_words(kinds=kinds, servers=servers)


@dataclass(frozen=True, slots=True)
class Log(_OnServer):
    """`log NAME`: a server's log, entry by entry."""

    word: ClassVar[str] = "log"
    observes: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class Check(_Bare):
    """`check`: every safety violation so far, or ok."""

    word: ClassVar[str] = "check"
    observes: ClassVar[bool] = True
