"""The scenario file format (ring 2): paragraphs of `#` comments, one command, `----` and
the exact expected output; parsing, rendering with actual outputs, and the outcome of a
replay with its diff. Running the commands is runner.py's job."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..core.errors import RaftsimError

SEPARATOR = "----"


class ScenarioError(RaftsimError):
    """A scenario file is malformed or one of its commands is misused."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line, self.message = path, line, message


class ArgError(Exception):
    """A command's arguments are wrong; `replay` adds the file and line."""


# ------------------------------------------------------------------ the file format


@dataclass(slots=True)
class Block:
    """One paragraph: comments and, unless it is a comment-only paragraph, a command."""

    line: int  # 1-based line of the command (of the first comment if there is no command)
    comments: list[str]
    command: str
    expected: list[str] = field(default_factory=list)


def parse(text: str, path: str = "<scenario>", bare: bool = False) -> list[Block]:
    """Split a scenario text into blocks; raise ScenarioError on a malformed paragraph.

    With `bare`, a paragraph without `----` is a list of commands, one per line, with no
    expected output yet (a new file written by hand, before `raftsim run --rewrite`)."""
    blocks: list[Block] = []
    paragraph: list[tuple[int, str]] = []
    for number, line in enumerate([*text.splitlines(), ""], start=1):
        if line.strip():
            paragraph.append((number, line))
        elif paragraph:
            blocks += _parse_paragraph(paragraph, path, bare)
            paragraph = []
    return blocks


def _parse_paragraph(paragraph: list[tuple[int, str]], path: str, bare: bool) -> list[Block]:
    comments = []
    while paragraph and paragraph[0][1].startswith("#"):
        comments.append(paragraph.pop(0))
    if not paragraph:
        return [Block(comments[0][0], [line for _, line in comments], "")]
    number, command = paragraph[0]
    if command.strip() == SEPARATOR:
        raise ScenarioError(path, number, "'----' without a command before it")
    if bare and all(line.rstrip() != SEPARATOR for _, line in paragraph):
        notes = [line for _, line in comments]
        return [
            Block(line_number, notes if i == 0 else [], line.strip())
            for i, (line_number, line) in enumerate(paragraph)
        ]
    if len(paragraph) < 2 or paragraph[1][1].rstrip() != SEPARATOR:
        where = paragraph[1][0] if len(paragraph) > 1 else number
        raise ScenarioError(
            path,
            where,
            f"expected '----' after the command {command.strip()!r}"
            " (`raftsim run --rewrite` writes the outputs of commands given bare)",
        )
    lines = [line for _, line in paragraph[2:]]
    return [Block(number, [line for _, line in comments], command.strip(), lines)]


def render(blocks: Sequence[Block], outputs: Sequence[list[str] | None]) -> str:
    """The scenario text with `outputs` in place (None keeps a block's expected output)."""
    paragraphs = []
    for block, output in zip(blocks, outputs, strict=True):
        lines = list(block.comments)
        if block.command:
            lines += [block.command, SEPARATOR, *(block.expected if output is None else output)]
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs) + "\n"


@dataclass(slots=True)
class Replay:
    """The outcome of replaying one scenario text."""

    path: str
    text: str  # the file as it is
    actual: str  # the file with the actual outputs
    mismatches: list[int]  # lines of the commands whose output differs
    violations: list[str] = field(default_factory=list)  # what the checkers found, if anything

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def diff(self) -> str:
        """A unified diff from the expected transcript to the actual one."""
        return "".join(
            difflib.unified_diff(
                self.text.splitlines(keepends=True),
                self.actual.splitlines(keepends=True),
                f"{self.path} (expected)",
                f"{self.path} (actual)",
            )
        )
