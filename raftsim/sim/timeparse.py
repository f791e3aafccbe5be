"""Durations as users write them ('150ms', '1.5s', '2m') turned into integer microseconds."""

from __future__ import annotations

import re
from fractions import Fraction

_UNITS = {"us": 1, "µs": 1, "ms": 1_000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000}
# ASCII digits and spaces only: `\d` alone would also take other scripts' digits ('١٠s',
# '１０s'), which int() and Fraction() then read as numbers.
_PATTERN = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(us|µs|ms|s|m|h)\s*$", re.ASCII)


def duration(value: int | str) -> int:
    """Microseconds from an int (already µs) or a string with a unit: us, ms, s, m, h."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a duration cannot be negative: {value}")
        return value
    match = _PATTERN.match(value)
    if match is None:
        raise ValueError(f"not a duration: {value!r} (use a number and a unit: 150ms, 1.5s, 2m)")
    number, unit = match.groups()
    if number.isdigit():  # (schedules write thousands of `1500us`: no Fraction for them)
        return int(number) * _UNITS[unit]
    return int(Fraction(number) * _UNITS[unit])
