"""The virtual clock (ring 1): integer microseconds and one event heap ordered by
(due time, sequence number), so that simultaneous events run in the order they were
scheduled, on every run, on every machine."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any


class Scheduler:
    """A discrete-event scheduler; nothing moves unless `run_until` or `step` is called."""

    __slots__ = ("_heap", "_seq", "now")

    def __init__(self) -> None:
        self.now = 0
        self._seq = 0
        self._heap: list[tuple[int, int, Callable[[Any], None], Any]] = []

    def at(self, due: int, fn: Callable[[Any], None], arg: Any = None) -> None:
        """Run fn(arg) at virtual time `due` (never earlier than now)."""
        self._seq += 1
        heapq.heappush(self._heap, (max(due, self.now), self._seq, fn, arg))

    def next_due(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def __len__(self) -> int:
        return len(self._heap)

    def step(self) -> bool:
        """Run the next event; False when there is none."""
        if not self._heap:
            return False
        due, _, fn, arg = heapq.heappop(self._heap)
        self.now = due
        fn(arg)
        return True

    def run_until(self, until: int, stop: Callable[[], bool] | None = None) -> bool:
        """Run every event due at or before `until`, then set the clock to `until`.

        With `stop`, check it after every event and return True as soon as it holds
        (leaving the clock at that event's time)."""
        heap = self._heap
        pop = heapq.heappop
        while heap and heap[0][0] <= until:
            due, _, fn, arg = pop(heap)
            self.now = due
            fn(arg)
            if stop is not None and stop():
                return True
        self.now = max(self.now, until)
        return False
