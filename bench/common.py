"""Shared helpers: wall-clock guards, medians, number formatting and the report table."""

from __future__ import annotations

import contextlib
import gc
import signal
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

perf_counter = time.perf_counter


class BenchTimeoutError(Exception):
    """A figure ran past its wall-clock budget."""


@contextlib.contextmanager
def wall_limit(seconds: float, what: str) -> Iterator[None]:
    """Interrupt the block (even a pure-Python loop) after `seconds` of wall time.

    Uses SIGALRM where it exists (the main thread on POSIX); elsewhere it does nothing."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def expired(signum: int, frame: Any) -> None:
        raise BenchTimeoutError(f"{what} took longer than {seconds:g} s of wall time")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def fresh_heap() -> None:
    """Collect garbage left by earlier runs so one run's objects do not slow the next."""
    gc.collect()


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def timed(fn: Callable[[], object]) -> float:
    """Wall seconds taken by fn()."""
    start = perf_counter()
    fn()
    return perf_counter() - start


def fmt_num(value: float, digits: int = 0) -> str:
    """1234567.8 -> '1,234,568'; small values keep `digits` decimals."""
    return f"{value:,.{digits}f}"


def fmt_ratio(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}x"
    if value >= 10:
        return f"{value:.1f}x"
    return f"{value:.2f}x"


def fmt_seconds(value: float) -> str:
    """Wall or virtual seconds with a readable unit."""
    if value >= 1:
        return f"{value:.3f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.3f} ms"
    return f"{value * 1e6:.1f} µs"


@dataclass
class Row:
    """One line of the report table."""

    figure: str
    value: str
    goal: str = "-"
    met: bool | None = None  # None: no goal, or the figure could not be measured

    @property
    def met_text(self) -> str:
        if self.met is None:
            return "n/a" if self.goal == "-" else "?"
        return "yes" if self.met else "NO"


@dataclass
class Section:
    """The rows and the parameter lines one figure contributes."""

    name: str
    rows: list[Row] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def render_table(rows: Sequence[Row]) -> str:
    header = ("figure", "value", "goal", "met?")
    cells = [header] + [(r.figure, r.value, r.goal, r.met_text) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    rule = "-+-".join("-" * w for w in widths)

    def line(c: tuple[str, str, str, str]) -> str:
        return " | ".join(
            (c[0].ljust(widths[0]), c[1].rjust(widths[1]), c[2].ljust(widths[2]), c[3])
        ).rstrip()

    out = [line(header), rule]
    out += [line(c) for c in cells[1:]]
    return "\n".join(out)
