"""The command line (ring 2): `raftsim run SCENARIO... [--rewrite]` replays scenario files in
virtual time. Subcommands are argparse subparsers so that `serve` and `check` (DESIGN.md,
"Command line") slot in beside `run` without changing how it is called.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .scenario import ScenarioError, replay_file


def _cmd_run(options: argparse.Namespace) -> int:
    failed = 0
    for path in options.files:
        try:
            result = replay_file(path)
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
        if not result.ok:
            failed += 1
            lines = ", ".join(str(n) for n in result.mismatches)
            print(f"FAIL {path}: the output differs for the command(s) on line(s) {lines}")
            print(result.diff(), end="")
    total = len(options.files)
    if failed:
        print(f"{failed} of {total} scenario file(s) failed", file=sys.stderr)
        return 1
    if not options.rewrite:
        print(f"{total} scenario file(s) passed", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="raftsim",
        description="A deterministic simulator of HashiCorp Nomad servers running Raft.",
    )
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
    run.set_defaults(handler=_cmd_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    status: int = options.handler(options)
    return status


if __name__ == "__main__":
    sys.exit(main())
