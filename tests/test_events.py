"""Typed events (core/events.py, sim/events.py, nomad/events.py): every class has a text form
and a JSON form, the JSON form reads back to the same event, and docs/events.md documents
every kind, since the JSON form is what the event feed streams."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

import pytest

import raftsim.nomad.events
import raftsim.sim.events
from raftsim import Cluster
from raftsim.cli import build_parser, main
from raftsim.core.events import EVENT_CLASSES, Event
from raftsim.core.messages import (
    AppendEntries,
    AppendResponse,
    Message,
    RequestVote,
    RpcFailure,
    VoteResponse,
)
from raftsim.core.types import Configuration, Entry, EntryKind, Role, Server, Suffrage
from raftsim.nomad.cluster import NomadCluster
from raftsim.nomad.endpoints import Request
from raftsim.sim.events import TraceDropped
from raftsim.sim.render import DETAILS, event_from_json, event_json, fmt_event
from raftsim.web import Options, Simulation

DOCS = Path(__file__).resolve().parent.parent / "docs" / "events.md"
NAMES = {"127.0.0.1:4647": "alice", "127.0.0.2:4647": "bob"}
CONFIGURATION = Configuration(
    (
        Server(Suffrage.VOTER, "127.0.0.1:4647", "127.0.0.1:4647"),
        Server(Suffrage.NONVOTER, "127.0.0.2:4647", "127.0.0.2:4647"),
    )
)
ENTRIES = (
    Entry(1, 1, EntryKind.CONFIGURATION, configuration=CONFIGURATION),
    Entry(2, 2, EntryKind.NOOP),
    Entry(3, 2, EntryKind.COMMAND, "x1"),
)
MESSAGES: list[Message] = [
    AppendEntries(
        "127.0.0.1:4647", "127.0.0.2:4647", 9, 2, "127.0.0.1:4647", 1, 1, ENTRIES[1:], 2, False
    ),
    AppendEntries("127.0.0.1:4647", "127.0.0.2:4647", 10, 2, "127.0.0.1:4647", 0, 0, (), 0, True),
    AppendResponse("127.0.0.2:4647", "127.0.0.1:4647", 9, 2, 3, True, False, False),
    RequestVote("127.0.0.1:4647", "127.0.0.2:4647", 11, 3, 3, 2),
    VoteResponse("127.0.0.2:4647", "127.0.0.1:4647", 11, 3, True),
    RpcFailure("127.0.0.2:4647", "127.0.0.1:4647", 12, "i/o timeout"),
]


def sample(hint: Any, message: Message) -> Any:
    """A value of the field type `hint`, as an event would carry it."""
    samples: dict[Any, Any] = {
        int: 7,
        str: "127.0.0.2:4647",
        bool: True,
        Role: Role.CANDIDATE,
        Configuration: CONFIGURATION,
        Entry: ENTRIES[0],
        tuple[Entry, ...]: ENTRIES,
        tuple[tuple[str, ...], ...]: (("alice", "bob"), ("carol",)),
        tuple[tuple[str, int | float | bool], ...]: (
            ("latency_min", 1000),
            ("loss", 0.01),
            ("reorder", True),
        ),
    }
    if hint in samples:
        return samples[hint]
    if typing.get_origin(hint) is not None and set(typing.get_args(hint)) >= {RpcFailure}:
        return message  # the Message union
    raise AssertionError(f"no sample for {hint}")


def build(cls: type[Event], message: Message) -> Event:
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)[2:]
    return cls(1_500_250, "alice", *(sample(hints[f.name], message) for f in fields))


def roundtrip(event: Event) -> None:
    data = json.loads(json.dumps(event_json(event, NAMES)))
    again = event_from_json(data)
    assert type(again) is type(event)
    assert event_json(again, NAMES) == event_json(event, NAMES)


CASES = [
    (kind, message)
    for kind, cls in sorted(EVENT_CLASSES.items())
    for message in (MESSAGES if "message" in typing.get_type_hints(cls) else MESSAGES[:1])
]


@pytest.mark.parametrize(
    ("kind", "message"), CASES, ids=lambda v: getattr(v, "kind", "") or type(v).__name__
)
def test_events_json_form_of_every_class_round_trips(kind: str, message: Message) -> None:
    """Every event class (every message type, for message events) reads back from JSON."""
    roundtrip(build(EVENT_CLASSES[kind], message))


@pytest.mark.parametrize("kind", sorted(EVENT_CLASSES))
def test_events_every_class_has_a_text_form(kind: str) -> None:
    """The text renderer knows every class, and a line names time, server and kind."""
    cls = EVENT_CLASSES[kind]
    assert cls in DETAILS, f"no details function for {cls.__name__}"
    line = fmt_event(build(cls, MESSAGES[0]), NAMES)
    assert line.split()[:3] == ["1500.250ms", "alice", kind]


def test_events_json_form_carries_fields_and_names_ids() -> None:
    """The JSON form keeps IDs in fields and names servers in the detail text."""
    event = build(EVENT_CLASSES["vote"], MESSAGES[0])
    assert event_json(event, NAMES) == {
        "t": 1_500_250,
        "server": "alice",
        "event": "vote",
        "term": 7,
        "candidate": "127.0.0.2:4647",
        "detail": "term=7 for bob",
    }


def test_events_from_a_faulty_run_round_trip() -> None:
    """A traced run with crashes, partitions, proposals and membership changes: every
    event it recorded reads back from its JSON line."""
    cluster = Cluster(3, seed=5, trace="all")
    cluster.run_until(lambda c: c.leader() is not None, "10s")
    cluster.propose("x")
    cluster.remove_server("carol")
    cluster.run_for("1s")
    cluster.partition(["alice"], ["bob"])
    cluster.crash("bob")
    cluster.run_for("3s")
    cluster.heal()
    cluster.restart("bob")
    cluster.set_network(latency=("1ms", "2ms"), loss=0.1)
    cluster.run_for("5s")
    kinds = {event.kind for event in cluster.records}
    assert {"send", "deliver", "timer", "crash", "partition", "change", "network"} <= kinds
    for line in cluster.trace_jsonl().splitlines():
        event = event_from_json(json.loads(line))
        assert json.dumps(event_json(event, cluster.names), sort_keys=True) == line


def test_events_docs_list_every_kind() -> None:
    """docs/events.md documents every kind the classes register."""
    text = DOCS.read_text(encoding="utf-8")
    missing = [kind for kind in EVENT_CLASSES if f"`{kind}`" not in text]
    assert missing == [], f"undocumented event kinds: {missing}"
    assert raftsim.nomad.events.MemberChanged.kind in EVENT_CLASSES


@pytest.mark.parametrize(("trace", "kept"), [("state", False), ("all", True)])
def test_events_api_requests_are_traced_like_messages(trace: str, kept: bool) -> None:
    """A request through a server's API and its answer are message-level: a served cluster's
    default trace does not grow with every request, trace="all" shows them."""
    cluster = Cluster(3, seed=1, trace=trace)
    nomad = NomadCluster(cluster)
    cluster.run_until(lambda c: c.leader() is not None, "10s")
    answers: list[object] = []
    nomad.call("bob", Request("Status.Leader", "global"), lambda r, e: answers.append(r))
    cluster.run_for("1s")
    kinds = [event.kind for event in cluster.records]
    assert len(answers) == 1 and answers[0]  # the leader's address
    assert ("request" in kinds, "answer" in kinds) == (kept, kept)


def test_events_bounded_trace_keeps_the_newest_behind_a_marker() -> None:
    """With trace_limit, the trace keeps the newest events, exactly as an unbounded trace
    has them, behind one `dropped` record counting what went; the run itself is unchanged."""
    bounded = Cluster(3, seed=2, trace="all", trace_limit=500)
    full = Cluster(3, seed=2, trace="all")
    for cluster in (bounded, full):
        cluster.run_for("60s")
        cluster.crash(cluster.leader() or "alice")
        cluster.run_for("10s")
    assert len(bounded.records) <= 500
    marker, *kept = bounded.records
    assert isinstance(marker, TraceDropped)
    assert marker.count + len(kept) == len(full.records)
    assert bounded.trace_lines()[1:] == full.trace_lines()[-len(kept) :]
    assert f"{marker.count} earlier events dropped" in bounded.trace_lines()[0]
    roundtrip(marker)
    assert bounded.views() == full.views()


def test_events_trace_limit_refuses_nonsense() -> None:
    """A trace limit below 2 cannot hold a marker and an event."""
    with pytest.raises(ValueError, match="trace_limit"):
        Cluster(3, trace_limit=1)


def test_events_serve_trace_limit_reaches_the_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    """`raftsim serve --trace-limit N` bounds the served cluster's trace; below 2 it is an
    error before anything is served."""
    assert build_parser().parse_args(["serve"]).trace_limit == 100_000
    sim = Simulation(Options(trace="all", trace_limit=64))
    sim.cluster.run_for("60s")
    assert len(sim.cluster.records) <= 64
    assert main(["serve", "--trace-limit", "1", "--http-port", "0", "--no-control"]) == 2
    assert "trace_limit must be at least 2" in capsys.readouterr().err
