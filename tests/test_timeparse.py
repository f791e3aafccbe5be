"""Durations as users write them (ring 0, raftsim/sim/timeparse.py): a number in ASCII
digits and a unit, into integer microseconds."""

from __future__ import annotations

import pytest

from raftsim.sim.timeparse import duration


@pytest.mark.parametrize(
    ("text", "micros"),
    [("150ms", 150_000), (" 1.5 s ", 1_500_000), ("2m", 120_000_000), ("7us", 7), ("3µs", 3)],
)
def test_timeparse_reads_numbers_with_units(text: str, micros: int) -> None:
    """A decimal number and one of us, µs, ms, s, m, h."""
    assert duration(text) == micros


@pytest.mark.parametrize(
    "text",
    [
        "\u0661\u0660s",  # Arabic-Indic digits: int() would read 10
        "\uff11\uff10s",  # fullwidth digits
        "1.\u0665s",  # a non-ASCII digit after the point
        "\u09e7ms",  # Bengali 1
        "10s\u2003",  # an em space: only ASCII spaces around
        "10",
        "s",
        "-1s",
    ],
)
def test_timeparse_accepts_only_ascii_digits(text: str) -> None:
    """Other scripts' digits, which `\\d` matches and int() reads, are not a duration."""
    with pytest.raises(ValueError, match="not a duration"):
        duration(text)
