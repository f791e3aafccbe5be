"""Scenario files: datadriven transcripts (after etcd-io/raft's testdata) replayed against one
`Cluster` in virtual time, so that their output is byte-stable (DESIGN.md, "Scenario files").

A file is paragraphs separated by blank lines: `#` comment lines saying why, one command
line, a `----` line and the exact expected output (possibly empty); a paragraph of comments
alone is kept as it is. A command's words are positionals or `key=value` options. Commands:

    cluster servers=3 seed=1 [timing=nomad|paper] [profile=P1|P2|P3|P4] [faults=a,b]
            [trace=all|state|off] [snapshot-threshold=N] [trailing-logs=N]
            [nomad=0.5.6|0.8.7|1.2.13|1.10.0|1.10.1]   (the release's profile, and Nomad's
                                                        layer: Serf, reconcile, autopilot)
    run-for 2s | run-until leader|leader=NAME|new-leader|no-leader|stable [within=60s]
    await [#N] [within=60s]            (the latest client request by default)
    crash|restart|pause|resume|isolate NAME | partition a b | c | cut a->b | heal
    network [latency=1ms-5ms] [loss=P] [duplicate=P] [reorder=true|false]
    propose DATA [via=NAME] | add-server | add-voter|add-nonvoter|demote-voter|remove-server NAME
    peers-json NAME [ADDR ... | NAME|ID@ADDR[~] ...]   (protocol 1-2 | protocol 3)
    transfer-leadership [NAME] [via=NAME]               (protocol 3)
    status | log NAME | check | trace [kinds=send,deliver,...] [servers=NAME,...]

Commands print the state-level trace records they caused (not messages or timers), client
requests' outcomes when they resolve, and safety violations where they happen; `trace`
prints every record of the last command that ran time or acted. Ring 2, synchronous: it sits
on the simulation (sim and core, never asyncio), so pytest, the CLI and the page replay the
same way. With `nomad=` the Nomad layer (ring 1b) runs around the cluster, synchronously too.

Each command is a value (commands.py: `Command.parse(line)`, `str(command)`, on the syntax
of syntax.py), which the runner executes (runner.py); the file format is transcript.py;
conditions, spans and fault names shared with the schedules and the campaign are
vocabulary.py.
"""

from __future__ import annotations

from .commands import Command
from .runner import Output, Runner
from .transcript import SEPARATOR, ArgError, Block, Replay, ScenarioError, parse, render

__all__ = [
    "SEPARATOR",
    "ArgError",
    "Block",
    "Command",
    "Output",
    "Replay",
    "Runner",
    "ScenarioError",
    "parse",
    "render",
    "replay",
    "replay_file",
]


def replay(text: str, path: str = "<scenario>", bare: bool = False) -> Replay:
    """Run every command of a scenario text; raise ScenarioError on a misused command.
    `bare` also accepts commands without `----` and outputs yet (see `parse`)."""
    blocks = parse(text, path, bare)
    runner = Runner()
    outputs: list[list[str] | None] = []
    mismatches = []
    for block in blocks:
        if not block.command:
            outputs.append(None)
            continue
        try:
            output = runner.execute(block.command)
        except ArgError as error:
            raise ScenarioError(path, block.line, str(error)) from None
        outputs.append(output)
        if output != block.expected:
            mismatches.append(block.line)
    violations = [str(v) for v in runner.violations]
    return Replay(path, text, render(blocks, outputs), mismatches, violations)


def replay_file(path: str, bare: bool = False) -> Replay:
    with open(path, encoding="utf-8") as f:
        return replay(f.read(), path, bare)
