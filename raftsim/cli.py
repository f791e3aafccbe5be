"""The command line (ring 2): `raftsim serve` starts a simulated cluster with Nomad's HTTP
API per server; `raftsim run SCENARIO... [--rewrite]` replays scenario files in virtual
time. Subcommands are argparse subparsers so that `check` (DESIGN.md, "Command line") slots
in beside them without changing how they are called.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from collections.abc import Sequence

from .campaign import add_parser as add_check_parser
from .core.errors import RaftsimError
from .nomad.version import VERSIONS
from .scenario import ScenarioError, replay_file
from .sim.timeparse import duration


def _version() -> str:
    """The installed distribution's version (pyproject.toml's)."""
    try:
        return importlib.metadata.version("raftsim")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return "unknown"


def _cmd_run(options: argparse.Namespace) -> int:
    failed = 0
    for path in options.files:
        try:
            result = replay_file(path, bare=options.rewrite)
        except (OSError, ScenarioError) as error:
            print(f"error: {error}", file=sys.stderr)
            failed += 1
            continue
        if options.rewrite:
            if result.actual != result.text:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(result.actual)
                print(f"rewrote {path}", file=sys.stderr)
            continue
        if not options.quiet:
            print(f"=== {path}")
            print(result.actual, end="")
        if result.violations:
            # A transcript may record a violation on purpose (tests/regressions/): say so,
            # and fail on it only when asked to expect a clean run.
            print(f"{path}: records {len(result.violations)} violation(s): {result.violations[0]}")
        if not result.ok:
            failed += 1
            lines = ", ".join(str(n) for n in result.mismatches)
            print(f"FAIL {path}: the output differs for the command(s) on line(s) {lines}")
            print(result.diff(), end="")
        elif result.violations and options.expect_clean:
            failed += 1
            print(f"FAIL {path}: violations recorded, and --expect-clean was given")
    total = len(options.files)
    if failed:
        print(f"{failed} of {total} scenario file(s) failed", file=sys.stderr)
        return 1
    if not options.rewrite:
        print(f"{total} scenario file(s) passed", file=sys.stderr)
    return 0


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def _seconds(text: str) -> float:
    # A bare 0 (no limit) needs no unit.
    if text.strip() == "0":
        return 0.0
    try:
        return duration(text) / 1_000_000
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _token(text: str) -> str:
    # An HTTP header carries it: visible ASCII, no spaces.
    if not text or not all("!" <= c <= "~" for c in text):
        raise argparse.ArgumentTypeError("a token is visible ASCII characters without spaces")
    return text


def _cmd_serve(options: argparse.Namespace) -> int:
    # Imported here: only `serve` needs aiohttp, and `run` should not pay for importing it.
    from .web.serve import run  # noqa: PLC0415
    from .web.simulation import Options  # noqa: PLC0415

    try:
        sim_options = Options(
            servers=options.servers,
            seed=options.seed,
            speed=options.speed,
            timing=options.timing,
            mode=options.clock,
            version=options.nomad_version,
            trace=options.trace,
            trace_limit=options.trace_limit,
            sim_on_servers=options.sim_on_servers,
            lessons=options.lessons or "",
            control_token=options.control_token or "",
            hold_limit=options.hold_limit,
            data_dir=options.data_dir or "",
            quiet=options.quiet,
            acl=options.acl,
        )
        control = None if options.no_control else options.control
        return run(sim_options, options.http_port, True if options.ports else None, control)
    except (ValueError, RaftsimError) as error:  # (RaftsimError: a server could not start)
        print(f"error: {error}", file=sys.stderr)
        return 2


def _cmd_drill(options: argparse.Namespace) -> int:
    from .web.drill import DrillError, library, run  # noqa: PLC0415 (aiohttp: serve only)

    try:
        if options.name == "list":
            for name, drill in library(options.drills).items():
                print(f"{name:<24} {drill.title}")
            return 0
        return run(options.name, options.seed, options.drills, options.http_port)
    except (DrillError, OSError, RaftsimError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="raftsim",
        description="A deterministic simulator of HashiCorp Nomad servers running Raft.",
    )
    parser.add_argument("--version", action="version", version=f"raftsim {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="replay scenario files in virtual time and compare their output",
        description="Replay scenario files; exit non-zero if any output differs.",
    )
    run.add_argument("files", nargs="+", metavar="FILE", help="scenario files (scenarios/*.txt)")
    run.add_argument(
        "--rewrite", action="store_true", help="write the actual outputs back into the files"
    )
    run.add_argument(
        "-q", "--quiet", action="store_true", help="print only mismatches, not transcripts"
    )
    run.add_argument(
        "--expect-clean",
        action="store_true",
        help="fail a file whose replay records a safety violation, even if it matches",
    )
    run.set_defaults(handler=_cmd_run)

    serve = commands.add_parser(
        "serve",
        help="start a simulated cluster and serve Nomad's HTTP API for each server",
        description=(
            "Start a simulated cluster of Nomad servers (0.5.6 unless --nomad-version says "
            "otherwise) and serve each one's HTTP API (127.0.0.N:4646 by default) plus the "
            "/v1/sim/ control surface; Ctrl-C stops it."
        ),
    )
    serve.add_argument("--servers", type=int, default=3, help="number of servers (default 3)")
    serve.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    serve.add_argument(
        "--speed", type=float, default=1.0, help="virtual seconds per wall second (default 1.0)"
    )
    serve.add_argument(
        "--timing", choices=("nomad", "paper"), default="nomad", help="Raft timers (default nomad)"
    )
    serve.add_argument(
        "--clock",
        choices=("paced", "paused", "autojump", "demand"),
        default="paced",
        help="how virtual time moves (default paced; see README)",
    )
    serve.add_argument(
        "--nomad-version",
        choices=tuple(VERSIONS),
        default="0.5.6",
        help="emulated Nomad release: 0.5.6 (Raft protocol 1), 0.8.7 or 1.2.13 (protocol 2), "
        "1.10.0 or 1.10.1 (protocol 3); default 0.5.6",
    )
    serve.add_argument(
        "--http-port", type=int, default=4646, help="HTTP port of each server (0: any free port)"
    )
    serve.add_argument(
        "--ports",
        action="store_true",
        help="one host, distinct ports (127.0.0.1:4646, :5646, ...) instead of 127.0.0.N",
    )
    serve.add_argument(
        "--control",
        type=_address,
        default=("127.0.0.1", 4649),
        metavar="HOST:PORT",
        help="the control listener (default 127.0.0.1:4649)",
    )
    serve.add_argument("--no-control", action="store_true", help="no control listener")
    serve.add_argument(
        "--lessons",
        metavar="DIR",
        help="scenario files the page offers as lessons (default: the scenario library)",
    )
    serve.add_argument(
        "--control-token",
        type=_token,
        default=None,
        metavar="TOKEN",
        help="require 'Authorization: Bearer TOKEN' on every /v1/sim/ call (off loopback a "
        "--control listener always needs one: without this option one is made up and printed)",
    )
    serve.add_argument(
        "--sim-on-servers",
        action="store_true",
        help="serve /v1/sim/ on every server's listener too (default: the control listener only)",
    )
    serve.add_argument(
        "--trace", choices=("all", "state", "off"), default="state", help="trace kept in memory"
    )
    serve.add_argument(
        "--trace-limit",
        type=int,
        default=100_000,
        metavar="N",
        help="keep at most the newest N trace events (default 100000; at least 2)",
    )
    serve.add_argument(
        "--hold-limit",
        type=_seconds,
        default=30.0,
        metavar="DURATION",
        help="answer a request still waiting on the simulated clock after this much wall-clock "
        "time with a 504 and withdraw it (default 30s; 0 waits without limit)",
    )
    serve.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="where each server's Raft directory is, DIR/<name>/server/raft/ (peers.info, "
        "peers.json); default: a fresh temporary directory, printed in the banner",
    )
    serve.add_argument("--quiet", action="store_true", help="no timeline of events on the console")
    serve.add_argument(
        "--acl",
        action="store_true",
        help="enable and bootstrap the ACL system (0.8.7 and later) and print its management "
        "token: the operator endpoints, members and force-leave then need X-Nomad-Token",
    )
    serve.set_defaults(handler=_cmd_serve)
    add_check_parser(commands)
    drill = commands.add_parser(
        "drill",
        help="incident drills: a served cluster in a broken state, scored once it recovers",
        description="`raftsim drill list` lists the drills; `raftsim drill NAME` serves one.",
    )
    drill.add_argument("name", metavar="NAME|list", help="a drill's name, or list")
    drill.add_argument("--seed", type=int, default=None, help="another seed than the drill's")
    drill.add_argument("--drills", default="", metavar="DIR", help="a directory of drill files")
    drill.add_argument(
        "--http-port", type=int, default=4646, help="HTTP port of each server (0: any free port)"
    )
    drill.set_defaults(handler=_cmd_drill)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    status: int = options.handler(options)
    return status


if __name__ == "__main__":
    sys.exit(main())
