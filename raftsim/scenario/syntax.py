"""The syntax of a scenario command line (ring 2): its words (`Args`), values that keep
their spelling (`Span`, `Number`), and the `Command` base class, whose `parse(line)` reads a
line as the command its first word names and whose `str()` writes it back. The commands
themselves are commands.py's; each registers its word as it is defined.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from ..sim.timeparse import duration
from .transcript import ArgError

# ------------------------------------------------------------------ words and values


class Args:
    """A command's words: positionals, and key=value options taken one by one."""

    def __init__(self, command: str, words: Sequence[str]) -> None:
        self.command = command
        self.positional: list[str] = []
        self.options: dict[str, str] = {}
        for word in words:
            key, eq, value = word.partition("=")
            if not (eq and key):
                self.positional.append(word)
            elif key in self.options:
                raise ArgError(f"{command}: {key}= given twice")
            else:
                self.options[key] = value

    def take(self, key: str) -> str | None:
        return self.options.pop(key, None)

    def span(self, key: str) -> Span | None:
        """An optional duration option (empty counts as absent: the default applies)."""
        text = self.take(key)
        return parse_span(text, f"{self.command}: {key}=") if text else None

    def finish(self, count: int | None = 0) -> list[str]:
        """Reject unknown options; return the positionals (exactly `count` unless None)."""
        if self.options:
            raise ArgError(f"{self.command}: unknown argument {sorted(self.options)[0]}=")
        if count is not None and len(self.positional) != count:
            want = "no arguments" if count == 0 else f"{count} argument(s)"
            got = " ".join(self.positional) or "none"
            raise ArgError(f"{self.command} takes {want}, got {got}")
        return self.positional


@dataclass(frozen=True, slots=True)
class Span:
    """A duration as written (`2s`, `1500us`): the text is what prints back."""

    text: str

    def __post_init__(self) -> None:
        duration(self.text)  # ValueError on a malformed one

    @classmethod
    def micros(cls, us: int) -> Span:
        """A duration written in microseconds, as schedules write theirs."""
        return cls(f"{us}us")

    @property
    def us(self) -> int:
        return duration(self.text)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Number:
    """A number as written (`0`, `0.216`): the text is what prints back."""

    text: str

    def __post_init__(self) -> None:
        float(self.text)  # ValueError on a malformed one

    @property
    def value(self) -> float:
        return float(self.text)

    def __str__(self) -> str:
        return self.text


def parse_span(text: str, what: str) -> Span:
    try:
        return Span(text)
    except ValueError as error:
        raise ArgError(f"{what} {error}") from None


def parse_int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ArgError(f"{what} must be a number, got {text!r}") from None


def parse_number(text: str, what: str) -> Number:
    try:
        return Number(text)
    except ValueError:
        raise ArgError(f"{what} must be a number, got {text!r}") from None


def option_words(**options: object) -> list[str]:
    """key=value words for the options that are given (None is absent)."""
    return [f"{key}={value}" for key, value in options.items() if value is not None]


# ------------------------------------------------------------------ the base


class Command:
    """One scenario command. Subclasses set `word` and implement `_from_args` and `words`."""

    __slots__ = ()
    word: ClassVar[str]
    observes: ClassVar[bool] = False  # neither runs time nor acts (`trace` skips it)
    by_word: ClassVar[dict[str, type[Command]]] = {}

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        if "word" in cls.__dict__:
            Command.by_word[cls.word] = cls

    @classmethod
    def parse(cls, line: str) -> Command:
        """The command a line says; ArgError if it is not one (of this class, if a
        subclass is asked)."""
        word, *words = line.split() or [""]
        kind = Command.by_word.get(word)
        if kind is None:
            known = ", ".join(sorted(Command.by_word))
            raise ArgError(f"unknown command {word!r} (commands: {known})")
        if not issubclass(kind, cls):
            raise ArgError(f"{word!r} is not a {cls.__name__} command")
        return kind._from_args(Args(word, words))

    @classmethod
    def _from_args(cls, args: Args) -> Command:
        raise NotImplementedError

    def words(self) -> list[str]:
        """Everything after the command word."""
        raise NotImplementedError

    def __str__(self) -> str:
        return " ".join([self.word, *self.words()])
