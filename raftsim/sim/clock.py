"""The virtual clock (ring 1): integer microseconds and one event heap ordered by
(due time, sequence number), so that simultaneous events run in the order they were
scheduled, on every run, on every machine.

A `jumper` may be installed: `run_until` without a stop predicate then lets it carry the
simulation forward by other means than running events one by one (the cluster's exact
fast-forward over idle stretches, fastforward.py). Its contract: it either leaves the
simulation untouched or leaves it exactly as running the events would have, and it returns
the time before which it should not be asked again (events due earlier run one by one)."""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any, Protocol


class Jumper(Protocol):
    """What carries the simulation over stretches without running their events."""

    def __call__(self, until: int) -> int:
        """Jump to at most `until` (or not at all); the time before which not to ask again."""
        ...

    def quiet_until(self) -> int | None:
        """If a jump could be taken now: the last time it could reach (None otherwise)."""
        ...


class Timer:
    """A scheduled call that can be cancelled (`Scheduler.timer`). A cancelled timer stays in
    the heap and runs as a no-op when due; the fast-forward knows it is no work to wait for."""

    __slots__ = ("cancelled", "fn")

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def run_timer(timer: Timer) -> None:
    """The heap's callback for every `Timer`."""
    if not timer.cancelled:
        timer.fn()


def is_noop(event: tuple[int, int, Callable[[Any], None], Any]) -> bool:
    """Whether a heap entry is a cancelled timer (running it would change nothing)."""
    return event[2] is run_timer and event[3].cancelled


class Scheduler:
    """A discrete-event scheduler; nothing moves unless `run_until` or `step` is called."""

    __slots__ = ("_heap", "_next_seq", "_seq", "executed", "jumper", "now")

    def __init__(self) -> None:
        self.now = 0
        self.executed = 0  # events run one by one so far (a jump runs none)
        self._seq = 0
        # call_next's sequence numbers: below every event's (which start at 1), increasing,
        # so its calls run before anything else due at the same time, in the order made.
        self._next_seq = -(1 << 62)
        self._heap: list[tuple[int, int, Callable[[Any], None], Any]] = []
        self.jumper: Jumper | None = None

    @property
    def heap(self) -> list[tuple[int, int, Callable[[Any], None], Any]]:
        """The pending events, a heap of (due, seq, fn, arg): for the jumper to rewrite."""
        return self._heap

    def next_seq(self) -> int:
        """A fresh sequence number, as `at` would give the next event it schedules."""
        self._seq += 1
        return self._seq

    def at(self, due: int, fn: Callable[[Any], None], arg: Any = None) -> None:
        """Run fn(arg) at virtual time `due` (never earlier than now)."""
        self._seq += 1
        if due < self.now:  # noqa: PLR1730 (the hottest call: max() costs more)
            due = self.now
        heappush(self._heap, (due, self._seq, fn, arg))

    def timer(self, due: int, fn: Callable[[], None]) -> Timer:
        """Run fn() at virtual time `due` unless the returned timer is cancelled first."""
        timer = Timer(fn)
        self.at(due, run_timer, timer)
        return timer

    def call_next(self, fn: Callable[[Any], None], arg: Any = None) -> None:
        """Run fn(arg) right after the event that is running now, before any other event
        (also before those due now that were scheduled earlier): for an observer that wants
        the state an event left behind without being called after every event. fn only
        looks; it is bookkeeping, not counted in `executed`."""
        self._next_seq += 1
        heappush(self._heap, (self.now, self._next_seq, fn, arg))

    def next_due(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def next_busy(self) -> int | None:
        """When the next event that must run one by one is due: the next event, or the end
        of the stretch the jumper could skip now (a paced driver sleeps until then)."""
        due = self.next_due()
        if due is None or self.jumper is None:
            return due
        quiet = self.jumper.quiet_until()
        return due if quiet is None or quiet < due else quiet + 1

    def __len__(self) -> int:
        return len(self._heap)

    def step(self) -> bool:
        """Run the next event; False when there is none."""
        if not self._heap:
            return False
        due, seq, fn, arg = heappop(self._heap)
        self.now = due
        if seq > 0:  # (call_next's calls are not events of the model)
            self.executed += 1
        fn(arg)
        return True

    def run_until(
        self,
        until: int,
        stop: Callable[[], bool] | None = None,
        interrupt: Callable[[], bool] | None = None,
    ) -> bool:
        """Run every event due at or before `until`, then set the clock to `until`.

        With `stop` (a condition on the simulation), check it after every event and return
        True as soon as it holds (leaving the clock at that event's time). Without, the
        jumper (if any) is asked first, and again whenever the next event is due at or after
        the time it named. `interrupt` (a condition of the caller's, such as a wall-clock
        budget) is checked after every event and every jump, and returns True when it holds;
        it leaves jumps on: a jump never skips an event that could make it hold, so it must
        only depend on what non-Raft work (the Nomad layer, the caller) does."""
        heap = self._heap
        pop = heappop
        jumper = self.jumper if stop is None else None
        start = len(heap)  # executed = pops = pushes - (len(heap) - start), kept outside
        pushed = self._seq  # the loop, which is the hottest code of the simulation (pushes
        # counts `at` alone: a call_next call, pushed and popped within the run, cancels out)
        try:
            if jumper is not None:
                retry = self.now
                while heap and heap[0][0] <= until:
                    if heap[0][0] >= retry:
                        # (a jump rewrites the heap: count up to it, then from what it left)
                        self.executed += start + (self._seq - pushed) - len(heap)
                        retry = jumper(until)
                        start, pushed = len(heap), self._seq
                        if heap and retry <= heap[0][0]:
                            retry = heap[0][0] + 1  # always run at least one event between
                        if interrupt is not None and interrupt():
                            return True
                        continue
                    if interrupt is None:
                        # The plain loop up to the next ask (the jumper is not asked before
                        # `retry`): one comparison per event instead of three.
                        limit = min(until, retry - 1)
                        while heap and heap[0][0] <= limit:
                            due, _, fn, arg = pop(heap)
                            self.now = due
                            fn(arg)
                        continue
                    due, _, fn, arg = pop(heap)
                    self.now = due
                    fn(arg)
                    if interrupt():
                        return True
                self.now = max(self.now, until)
                return False
            if stop is None and interrupt is None:
                while heap and heap[0][0] <= until:  # the plain loop: nothing to look at
                    due, _, fn, arg = pop(heap)
                    self.now = due
                    fn(arg)
            else:
                while heap and heap[0][0] <= until:
                    due, _, fn, arg = pop(heap)
                    self.now = due
                    fn(arg)
                    if (stop is not None and stop()) or (interrupt is not None and interrupt()):
                        return True
            self.now = max(self.now, until)
            return False
        finally:
            self.executed += start + (self._seq - pushed) - len(heap)
