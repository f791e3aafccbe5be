"""Scenario commands as values (raftsim.scenario.commands): every command parses and prints
back exactly, refuses what a line alone gets wrong with the runner's texts, and the runner
hands back what a command made."""

from __future__ import annotations

import pytest

from raftsim.core.faults import Fault
from raftsim.scenario import ArgError, Command, Runner
from raftsim.scenario.commands import (
    AddVoter,
    Crash,
    NewCluster,
    Number,
    Partition,
    Propose,
    RunFor,
    RunUntil,
    SetNetwork,
    Span,
)

CANONICAL = [
    "cluster",
    "cluster servers=5 seed=3",
    "cluster servers=3 seed=1 timing=paper profile=P3 faults=early-config,double-vote trace=off",
    "cluster servers=3 seed=1 nomad=1.10.1",
    "run-for 2s",
    "run-for 2439931us",
    "run-for 1.5s",
    "run-until leader",
    "run-until new-leader within=345467us",
    "run-until no-leader within=10s",
    "run-until stable within=60000000us",
    "run-until leader=alice within=20s",
    "await",
    "await #3",
    "await within=1s",
    "await #1 within=2s",
    "crash alice",
    "restart bob",
    "pause carol",
    "resume carol",
    "isolate dave",
    "partition alice | bob carol",
    "partition alice dave erin | bob carol",
    "partition a | b | c",
    "cut alice->bob",
    "heal",
    "network latency=200us-43ms",
    "network latency=1ms",
    "network loss=0.216",
    "network loss=0.0",
    "network latency=200us-600us loss=0 duplicate=0 reorder=false",
    "network duplicate=0.1 reorder=true",
    "propose x1",
    "propose job-1 via=bob",
    "add-server",
    "transfer-leadership",
    "transfer-leadership carol",
    "transfer-leadership carol via=bob",
    "peers-json alice",
    "peers-json alice 127.0.0.1:4647 127.0.0.2:4647",
    "add-voter frank",
    "add-nonvoter frank via=alice",
    "demote-voter bob",
    "remove-server alice",
    "status",
    "trace",
    "trace kinds=send,deliver",
    "trace servers=alice,bob",
    "trace kinds=role servers=alice",
    "log alice",
    "check",
]


@pytest.mark.parametrize("line", CANONICAL)
def test_command_parse_and_str_round_trip(line: str) -> None:
    """A canonical line prints back as written, and the command it parses to parses back
    from its own text to an equal command."""
    command = Command.parse(line)

    assert str(command) == line
    assert Command.parse(str(command)) == command


def test_command_examples_cover_every_command() -> None:
    """Every command word of the language has a round-trip example above."""
    assert {line.split()[0] for line in CANONICAL} == set(Command.by_word)


@pytest.mark.parametrize(
    ("line", "canonical"),
    [
        ("cluster seed=1 servers=3", "cluster servers=3 seed=1"),
        ("run-until within=1s stable", "run-until stable within=1s"),
        ("await 2", "await #2"),
        ("partition alice|bob  carol", "partition alice | bob carol"),
        ("network reorder=false loss=0.1", "network loss=0.1 reorder=false"),
        ("cluster faults=", "cluster"),
    ],
)
def test_command_str_writes_other_spellings_canonically(line: str, canonical: str) -> None:
    """Options in another order, or spelled another way, print in the canonical form."""
    assert str(Command.parse(line)) == canonical


def test_command_built_in_code_prints_like_a_schedule_writes_it() -> None:
    """Schedules build commands, not text: durations in µs and numbers keep their spelling."""
    commands = [
        NewCluster(5, 3, faults=(Fault.EARLY_CONFIG,)),
        RunFor(Span.micros(5_000)),
        RunUntil("new-leader", within=Span.micros(1_000_000)),
        Partition((("alice", "dave"), ("bob", "carol", "erin"))),
        SetNetwork(loss=Number(str(round(0.001 * 0.3, 3)))),
        Propose("x1"),
        AddVoter("frank"),
    ]

    assert [str(c) for c in commands] == [
        "cluster servers=5 seed=3 faults=early-config",
        "run-for 5000us",
        "run-until new-leader within=1000000us",
        "partition alice dave | bob carol erin",
        "network loss=0.0",
        "propose x1",
        "add-voter frank",
    ]
    assert RunFor(Span.micros(5_000)) != Command.parse("run-for 5ms")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("frobnicate", "unknown command 'frobnicate'"),
        ("status extra", "status takes no arguments, got extra"),
        ("run-for soon", "run-for: not a duration: 'soon'"),
        ("run-until quorum", "run-until: unknown condition 'quorum'"),
        ("crash alice color=red", "crash: unknown argument color="),
        ("crash alice via=bob via=carol", "crash: via= given twice"),
        ("partition alice | alice", "partition: a server appears in two groups"),
        ("cut alice", "cut takes one link written src->dst"),
        ("network loss=lots", "network: loss= must be a number, got 'lots'"),
        ("network latency=1ms-x", "network: not a duration: 'x'"),
        ("trace kinds=gossip", "trace: unknown kind 'gossip'"),
        ("await x", "await: the request number must be a number, got 'x'"),
        ("cluster faults=gremlins", "cluster: unknown fault 'gremlins' (faults: "),
    ],
)
def test_command_parse_refuses_with_the_runners_texts(line: str, message: str) -> None:
    """What a line alone gets wrong is refused when it is parsed, in the runner's words."""
    with pytest.raises(ArgError) as caught:
        Command.parse(line)

    assert str(caught.value).startswith(message)


def test_command_subclass_parses_only_its_own_word() -> None:
    """`Crash.parse` reads a crash, and refuses another command's line."""
    assert Crash.parse("crash alice") == Crash("alice")
    with pytest.raises(ArgError, match="is not a Crash command"):
        Crash.parse("restart alice")


def test_command_run_until_leader_name_goes_with_the_leader_condition() -> None:
    """`leader=NAME` only makes sense waiting for a leader: another condition is refused."""
    with pytest.raises(ValueError, match="leader=NAME"):
        RunUntil("stable", leader="alice")


# ------------------------------------------------------------------ the runner


def test_runner_run_returns_the_request_a_command_made() -> None:
    """A propose hands back its request (with the future); a refused one hands back none."""
    runner = Runner()
    runner.run(NewCluster(3, 1))
    runner.run(RunUntil("stable", within=Span("10s")))

    made = runner.run(Propose("x"))
    refused = runner.run(Propose("y", via="bob"))

    assert made.request is not None and made.lines[-1] == "#1 propose x: pending"
    assert refused.request is None and refused.lines == ["error: node is not the leader"]
    runner.run(RunFor(Span("1s")))
    assert made.request.future.done and made.request.future.index == 3


def test_runner_run_for_with_pending_requests_runs_freely() -> None:
    """A run-for with a request pending no longer checks after every event: once the
    request commits, the idle cluster is fast-forwarded, and the result line still lands
    right after the commit that resolved it."""
    runner = Runner()
    runner.run(NewCluster(3, 1, trace="state"))
    runner.run(RunUntil("stable", within=Span("10s")))
    runner.run(Propose("x"))
    cluster = runner.cluster
    assert cluster.fast_forward is not None
    jumps = cluster.fast_forward.jumps

    lines = runner.run(RunFor(Span("600s"))).lines

    assert cluster.fast_forward.jumps > jumps
    commit = next(i for i, line in enumerate(lines) if " commit " in line)
    assert "result    #1 propose x: index 3" in lines[commit + 1]
