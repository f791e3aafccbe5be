"""The one canonical text form (ring 1) of times, entries, messages, configurations and trace
records, used by the trace, scenario transcripts, error messages and, later, the page."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ..core.messages import (
    AppendEntries,
    AppendResponse,
    Message,
    RequestVote,
    RpcFailure,
    VoteResponse,
)
from ..core.types import Configuration, Entry, EntryKind

MESSAGE_TYPES = (AppendEntries, AppendResponse, RequestVote, VoteResponse, RpcFailure)


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
        return f"RequestVote term={msg.term} last={msg.last_index}/{msg.last_term}"
    if isinstance(msg, VoteResponse):
        return f"VoteResponse term={msg.term} {'granted' if msg.granted else 'refused'}"
    assert isinstance(msg, RpcFailure)
    return f"RpcFailure {msg.reason}"


def fmt_detail(kind: str, fields: Sequence[object], name: Callable[[str], str] = str) -> str:
    """The details of one trace record, after its time, server and event kind."""
    if kind in ("send", "deliver", "drop"):
        msg = fields[0]
        assert isinstance(msg, MESSAGE_TYPES)
        peer = name(msg.src) if kind == "deliver" else name(msg.dst)
        arrow = "<-" if kind == "deliver" else "->"
        extra = f" ({fields[1]})" if len(fields) > 1 else ""
        return f"{arrow} {peer} {fmt_message(msg, name)}{extra}"
    if kind in ("append", "overwrite"):
        entries = fields[0]
        assert isinstance(entries, list)
        return ", ".join(fmt_entry(e, name) for e in entries)
    if kind == "apply":
        entry = fields[0]
        assert isinstance(entry, Entry)
        return fmt_entry(entry, name)
    if kind == "config":
        latest_index, committed_index, latest = fields
        assert isinstance(latest, Configuration)
        return (
            f"latest={fmt_configuration(latest, name)}@{latest_index} committed@{committed_index}"
        )
    if kind == "leader":
        return name(str(fields[0])) if fields[0] else "(none)"
    if kind == "vote":
        return f"term={fields[0]} for {name(str(fields[1]))}"
    if kind == "role":
        return f"{fields[0]} term={fields[1]}"
    if kind == "commit":
        return f"{fields[0]}" + (f" (leader, term {fields[2]})" if fields[1] else "")
    if kind == "timer":
        return f"{fields[0]} {name(str(fields[1]))}" if fields[1] else str(fields[0])
    return " ".join(str(f) for f in fields)


def fmt_record(record: Sequence[object], names: Mapping[str, str]) -> str:
    """One trace record as a line: time, server, event, details."""
    time, server, kind, *fields = record
    assert isinstance(time, int) and isinstance(kind, str)
    detail = fmt_detail(kind, fields, lambda i: names.get(i, i))
    return f"{fmt_time(time):>13} {server!s:<6} {kind:<9} {detail}".rstrip()


def record_json(record: Sequence[object], names: Mapping[str, str]) -> dict[str, object]:
    """One trace record as a JSON-ready dict with stable keys."""
    time, server, kind, *fields = record
    assert isinstance(kind, str)
    detail = fmt_detail(kind, fields, lambda i: names.get(i, i))
    return {"t": time, "server": server, "event": kind, "detail": detail}
