"""Helpers shared by the tests that serve a simulation through aiohttp's test client."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from time import perf_counter


async def until(predicate: Callable[[], bool], wall: float = 10.0) -> None:
    """Let the served simulation run (its clock autojumps) until `predicate` holds; `wall`
    seconds of wall-clock time only guard against a hang, they assert no timing."""
    deadline = perf_counter() + wall
    while not predicate():
        assert perf_counter() < deadline, "condition not reached"
        await asyncio.sleep(0.001)
