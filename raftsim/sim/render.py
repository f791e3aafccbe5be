"""The one canonical text form (ring 1) of times, entries, messages, configurations and
events, used by the trace, scenario transcripts, error messages and the page; and the JSON
form of events, which the JSON trace and the live event feed carry.

Both dispatch on the event's class: `DETAILS` maps each class to the function that writes
its details (outer rings register theirs with `details_of`). The JSON form of an event is
`{"t": time, "server": name, "event": kind, <its fields>, "detail": text}`: fields keep
their names; server IDs stay IDs (the "detail" text names servers); configurations,
entries and messages become objects (`json_value`), and `event_from_json` reads it back.
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ..core.events import (
    EVENT_CLASSES,
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
    Message,
    PreVoteResponse,
    RequestPreVote,
    RequestVote,
    RpcFailure,
    TimeoutNow,
    TimeoutNowResponse,
    VoteResponse,
)
from ..core.types import Configuration, Entry, EntryKind, Role, Server, Suffrage
from .events import (
    ChangeRequested,
    ClusterReset,
    Healed,
    LinkCut,
    MessageDelivered,
    MessageDropped,
    MessageSent,
    NetworkChanged,
    NomadLogged,
    Partitioned,
    Proposed,
    Recovered,
    ServerCrashed,
    ServerPaused,
    ServerRestarted,
    ServerResumed,
    ServerStarted,
    StartFailed,
    TimedOut,
    TimerFired,
    TraceDropped,
)

MESSAGE_TYPES = (
    AppendEntries,
    AppendResponse,
    RequestVote,
    VoteResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    TimeoutNow,
    TimeoutNowResponse,
    RequestPreVote,
    PreVoteResponse,
    RpcFailure,
)
Name = Callable[[str], str]  # a server ID to the name it is shown by


def fmt_time(us: int) -> str:
    """Virtual time as milliseconds with microsecond precision: 1523.417ms."""
    return f"{us // 1000}.{us % 1000:03d}ms"


def fmt_entry(entry: Entry, name: Callable[[str], str] = str) -> str:
    if entry.kind is EntryKind.COMMAND:
        return f"{entry.index}/{entry.term} {entry.data}"
    if entry.kind is EntryKind.NOOP:
        return f"{entry.index}/{entry.term} noop"
    assert entry.configuration is not None
    return f"{entry.index}/{entry.term} config{fmt_configuration(entry.configuration, name)}"


def fmt_configuration(configuration: Configuration, name: Callable[[str], str] = str) -> str:
    """[alice bob carol~] with ~ marking nonvoters."""
    parts = []
    for server in configuration.servers:
        mark = "" if server.suffrage == 0 else "~"
        parts.append(name(server.id) + mark)
    return "[" + " ".join(parts) + "]"


def fmt_message(msg: Message, name: Callable[[str], str] = str) -> str:
    if isinstance(msg, AppendEntries):
        if msg.heartbeat:
            return f"Heartbeat term={msg.term}"
        entries = ""
        if msg.entries:
            first, last = msg.entries[0], msg.entries[-1]
            entries = (
                f" entries={first.index}..{last.index}"
                if first is not last
                else (f" entry={fmt_entry(first, name)}")
            )
        return (
            f"AppendEntries term={msg.term} prev={msg.prev_index}/{msg.prev_term}"
            f"{entries} commit={msg.commit}"
        )
    if isinstance(msg, AppendResponse):
        outcome = "ok" if msg.success else "rejected"
        return f"AppendResponse term={msg.term} {outcome} last={msg.last_log}"
    if isinstance(msg, RequestVote):
        transfer = " transfer" if msg.transfer else ""
        return f"RequestVote term={msg.term} last={msg.last_index}/{msg.last_term}{transfer}"
    if isinstance(msg, VoteResponse):
        return f"VoteResponse term={msg.term} {'granted' if msg.granted else 'refused'}"
    if isinstance(msg, InstallSnapshot):
        return (
            f"InstallSnapshot term={msg.term} last={msg.last_index}/{msg.last_term}"
            f" config{fmt_configuration(msg.configuration, name)}@{msg.configuration_index}"
        )
    if isinstance(msg, InstallSnapshotResponse):
        return f"InstallSnapshotResponse term={msg.term} {'ok' if msg.success else 'refused'}"
    if isinstance(msg, RequestPreVote):
        return f"RequestPreVote term={msg.term} last={msg.last_index}/{msg.last_term}"
    if isinstance(msg, PreVoteResponse):
        return f"PreVoteResponse term={msg.term} {'granted' if msg.granted else 'refused'}"
    if isinstance(msg, TimeoutNow):
        return f"TimeoutNow term={msg.term}"
    if isinstance(msg, TimeoutNowResponse):
        return f"TimeoutNowResponse term={msg.term}"
    assert isinstance(msg, RpcFailure)
    return f"RpcFailure {msg.reason}"


# ------------------------------------------------------------------ events as text

E = TypeVar("E", bound=Event)
DETAILS: dict[type[Event], Callable[[Any, Name], str]] = {}


def details_of(cls: type[E]) -> Callable[[Callable[[E, Name], str]], Callable[[E, Name], str]]:
    """Register the function that writes the details of events of class `cls`."""

    def register(fn: Callable[[E, Name], str]) -> Callable[[E, Name], str]:
        DETAILS[cls] = fn
        return fn

    return register


def _own_fields(event: Event) -> tuple[str, ...]:
    return _field_names(type(event))[2:]  # after time and server


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """A dataclass's field names, once per class (dataclasses.fields is slow, and the event
    feed renders every message of a watched cluster)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def fmt_detail(event: Event, name: Name = str) -> str:
    """The details of one event, after its time, server and kind."""
    return DETAILS[type(event)](event, name)


def _nothing(event: Event, name: Name) -> str:
    return ""


def _only_field(event: Event, name: Name) -> str:
    return str(getattr(event, _own_fields(event)[0]))


_QUIET: tuple[type[Event], ...] = (
    ServerCrashed,
    ServerRestarted,
    ServerPaused,
    ServerResumed,
    ServerStarted,
    Healed,
    TimedOut,
)
DETAILS.update(dict.fromkeys(_QUIET, _nothing))
_ONE_FIELD: tuple[type[Event], ...] = (
    TermChanged,
    LogTruncated,
    LeaseLost,
    Proposed,
    NomadLogged,
    StartFailed,
)
DETAILS.update(dict.fromkeys(_ONE_FIELD, _only_field))


def fmt_event(event: Event, names: Mapping[str, str]) -> str:
    """One event as a trace line: time, server, kind, details."""
    detail = fmt_detail(event, lambda i: names.get(i, i))
    return f"{fmt_time(event.time):>13} {event.server:<6} {event.kind:<9} {detail}".rstrip()


def _message_detail(event: MessageSent | MessageDelivered | MessageDropped, name: Name) -> str:
    msg = event.message
    delivered = isinstance(event, MessageDelivered)
    peer = name(msg.src) if delivered else name(msg.dst)
    arrow = "<-" if delivered else "->"
    extra = f" ({event.reason})" if isinstance(event, MessageDropped) else ""
    return f"{arrow} {peer} {fmt_message(msg, name)}{extra}"


DETAILS.update(dict.fromkeys((MessageSent, MessageDelivered, MessageDropped), _message_detail))


@details_of(EntriesAppended)
def _entries(event: EntriesAppended | LogOverwritten, name: Name) -> str:
    return ", ".join(fmt_entry(e, name) for e in event.entries)


DETAILS[LogOverwritten] = _entries


@details_of(EntryApplied)
def _applied(event: EntryApplied, name: Name) -> str:
    return fmt_entry(event.entry, name)


@details_of(ConfigurationChanged)
def _configuration(event: ConfigurationChanged, name: Name) -> str:
    latest = fmt_configuration(event.latest, name)
    return f"latest={latest}@{event.latest_index} committed@{event.committed_index}"


@details_of(LeaderChanged)
def _leader(event: LeaderChanged, name: Name) -> str:
    return name(event.leader) if event.leader else "(none)"


@details_of(VoteGranted)
def _vote(event: VoteGranted, name: Name) -> str:
    return f"term={event.term} for {name(event.candidate)}"


@details_of(RoleChanged)
def _role(event: RoleChanged, name: Name) -> str:
    return f"{event.role} term={event.term}"


@details_of(PreVoteStarted)
def _pre_vote(event: PreVoteStarted, name: Name) -> str:
    return f"term={event.term} (own term unchanged)"


@details_of(TimeoutNowReceived)
def _timeout_now(event: TimeoutNowReceived, name: Name) -> str:
    return f"from {name(event.sender)} term={event.term}"


@details_of(TransferStarted)
def _transfer(event: TransferStarted, name: Name) -> str:
    return f"to {name(event.target)} term={event.term}"


@details_of(TransferEnded)
def _transfer_end(event: TransferEnded, name: Name) -> str:
    return f"to {name(event.target)}: {event.outcome}"


@details_of(CommitAdvanced)
def _commit(event: CommitAdvanced, name: Name) -> str:
    return f"{event.index}" + (f" (leader, term {event.term})" if event.leader else "")


@details_of(SnapshotTaken)
def _snapshot(event: SnapshotTaken, name: Name) -> str:
    return f"{event.index}/{event.term}, log compacted through {event.through}"


@details_of(SnapshotInstalled)
def _install(event: SnapshotInstalled, name: Name) -> str:
    return f"{event.index}/{event.term} from {name(event.source)}, {event.kept} later entries kept"


@details_of(TimerFired)
def _timer(event: TimerFired, name: Name) -> str:
    return f"{event.timer} {name(event.peer)}" if event.peer else event.timer


@details_of(Partitioned)
def _partition(event: Partitioned, name: Name) -> str:
    return " | ".join(" ".join(group) for group in event.groups)


@details_of(LinkCut)
def _cut(event: LinkCut, name: Name) -> str:
    return f"{event.src}->{event.dst}"


@details_of(NetworkChanged)
def _network(event: NetworkChanged, name: Name) -> str:
    changes = " ".join(f"{key}={value}" for key, value in event.changes)
    return f"{event.link} {changes}" if event.link else changes


@details_of(TraceDropped)
def _dropped(event: TraceDropped, name: Name) -> str:
    return f"{event.count} earlier events dropped (trace_limit)"


@details_of(ClusterReset)
def _reset(event: ClusterReset, name: Name) -> str:
    return f"{event.how} seed={event.seed}"


@details_of(ChangeRequested)
def _change(event: ChangeRequested, name: Name) -> str:
    return f"{event.command} {event.target}"


@details_of(Recovered)
def _recovered(event: Recovered, name: Name) -> str:
    configuration = fmt_configuration(event.configuration, name)
    return f"configuration={configuration} committed up to {event.index}"


# ------------------------------------------------------------------ events as JSON


# Values that are their own JSON form, by exact type: a shortcut past `json_value` for the
# plain fields most events and messages have (the live page streams every message as JSON).
_PLAIN = frozenset({bool, int, float, str, type(None)})


def event_json(event: Event, names: Mapping[str, str]) -> dict[str, object]:
    """One event as a JSON-ready dict (module docstring)."""
    out: dict[str, object] = {"t": event.time, "server": event.server, "event": event.kind}
    for field in _own_fields(event):
        value = getattr(event, field)
        out[field] = value if type(value) in _PLAIN else json_value(value)
    out["detail"] = fmt_detail(event, lambda i: names.get(i, i))
    return out


def json_value(value: object) -> object:
    """A field's value in JSON terms: configurations, entries and messages as objects."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return str(value)
    if isinstance(value, Configuration):
        return [
            {"suffrage": str(s.suffrage), "id": s.id, "address": s.address} for s in value.servers
        ]
    if isinstance(value, Entry):
        out: dict[str, object] = {
            "index": value.index,
            "term": value.term,
            "kind": value.kind.value,
            "data": value.data,
        }
        if value.configuration is not None:
            out["configuration"] = json_value(value.configuration)
        return out
    if isinstance(value, MESSAGE_TYPES):
        out = {"type": type(value).__name__}
        for name in _field_names(type(value)):
            field = getattr(value, name)
            out[name] = field if type(field) in _PLAIN else json_value(field)
        return out
    if isinstance(value, tuple | list):
        return [json_value(v) for v in value]
    raise TypeError(f"no JSON form for {type(value).__name__}")


_MESSAGES = {cls.__name__: cls for cls in MESSAGE_TYPES}
_SUFFRAGES = {str(s): s for s in Suffrage}


def event_from_json(data: Mapping[str, Any]) -> Event:
    """Read back an event from its JSON form (the inverse of `event_json`)."""
    cls = EVENT_CLASSES[data["event"]]
    hints = typing.get_type_hints(cls)
    values = [_from_json(hints[f.name], data[f.name]) for f in dataclasses.fields(cls)[2:]]
    return cls(data["t"], data["server"], *values)


def _from_json(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if hint is Configuration:
        return Configuration(
            tuple(Server(_SUFFRAGES[s["suffrage"]], s["id"], s["address"]) for s in value)
        )
    if hint is Entry:
        configuration = value.get("configuration")
        return Entry(
            value["index"],
            value["term"],
            EntryKind(value["kind"]),
            value["data"],
            None if configuration is None else _from_json(Configuration, configuration),
        )
    if hint is Role:
        return Role(value)
    if isinstance(value, dict) and "type" in value:  # a message
        cls = _MESSAGES[value["type"]]
        hints = typing.get_type_hints(cls)
        return cls(*(_from_json(hints[f.name], value[f.name]) for f in dataclasses.fields(cls)))
    if isinstance(value, list):
        args = typing.get_args(hint)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return tuple(_from_json(h, v) for h, v in zip(args, value, strict=True))
        item = args[0] if args else Any  # tuple[X, ...] or Sequence[X]
        return tuple(_from_json(item, v) for v in value)
    return value
