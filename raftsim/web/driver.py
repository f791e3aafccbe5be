"""The time driver (ring 2): one asyncio task that advances the cluster's virtual clock
against the event loop, in one of four modes (DESIGN.md, "Time"):

- `paced`: virtual time follows the loop's clock times `speed` (1.0 = real Nomad timing).
  Between events the task sleeps until the wall time of the next one (at least `MIN_TICK`
  unless a request waits, so that an idle cluster batches its events instead of waking per
  event); a request that schedules something earlier wakes it (`kick`). It never spins.
- `paused`: nothing moves until `advance` is called.
- `autojump`: as fast as possible: run a batch of events (about 2 ms of work), yield to the
  loop so that requests are served, repeat. Tests that wait 5 s for a leader take ms.
- `demand`: autojump only while some request waits on virtual time (the hold, a forward,
  a commit), frozen otherwise; a sequential client then sees the same virtual times on
  every run, which makes end-to-end tests deterministic.

In every mode the cluster's exact fast-forward stays on: a batch or a catch-up is bounded by
a wall-clock budget (`interrupt`), not by a condition on the simulation, so idle Raft loops
are jumped, and a paced driver sleeps until the next event a jump cannot skip.

Requests that wait on the simulation take a `Ticket` (`expect()`) and close it from the
simulation callback that answers them, so `demand` stops at exactly that event.
"""

from __future__ import annotations

import asyncio
import contextlib
from time import perf_counter

from ..sim.clock import Scheduler

PACED, PAUSED, AUTOJUMP, DEMAND = "paced", "paused", "autojump", "demand"
MODES = (PACED, PAUSED, AUTOJUMP, DEMAND)
# s: the shortest paced sleep while no request waits: events due sooner run in the same
# wake-up, so an idle cluster wakes at most 50 times a second (each wake-up costs the loop
# about 0.3 ms of CPU here); a waiting request gets exact timing.
MIN_TICK = 0.020
BATCH = 0.002  # s: work done between two yields to the loop when jumping or catching up
MAX_LAG = 1.0  # s: a paced cluster further behind than this drops the backlog
MAX_SPEED = 1_000_000.0
# The slowest paced clock: a thousandth of real time already stretches a 1 s election
# timeout to 17 wall minutes, so anything slower is `paused` in all but name, while a speed
# near zero turns the wall time of the next event into an overflowing division (1e-300
# schedules it 1e294 s ahead). `paused` is how to stop time.
MIN_SPEED = 0.001
HORIZON = 3_600_000_000  # µs: how far one autojump batch may reach (a budget ends it first)


class Ticket:
    """One request waiting on virtual time."""

    __slots__ = ("_driver", "open")

    def __init__(self, driver: Driver) -> None:
        self._driver = driver
        self.open = True
        driver.waiting += 1

    def close(self) -> None:
        if self.open:
            self.open = False
            self._driver.waiting -= 1


def check_mode(mode: object, speed: object) -> tuple[str, float]:
    """Validate a mode and a speed (ValueError with a message fit for a user)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if isinstance(speed, bool) or not isinstance(speed, int | float):
        raise ValueError(f"speed must be a number, got {speed!r}")
    if not MIN_SPEED <= speed <= MAX_SPEED:  # (NaN fails this comparison too)
        raise ValueError(
            f"speed must be from {MIN_SPEED:g} to {MAX_SPEED:g} (use mode paused to stop "
            f"time), got {speed!r}"
        )
    return str(mode), float(speed)


class Driver:
    """Advances `sched` in one of the modes above; `start()` inside a running loop."""

    def __init__(self, sched: Scheduler, mode: str = PACED, speed: float = 1.0) -> None:
        self.mode, self.speed = check_mode(mode, speed)
        self.sched = sched
        self.waiting = 0
        self.wakeups = 0  # iterations of the driver task (the idle-spin test counts them)
        self.backlog_drops = 0
        self._anchor_wall = 0.0
        self._anchor_virtual = 0
        self._task: asyncio.Task[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._advancing = False
        self._users = 0

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the driver task (counted: several apps may share one driver)."""
        self._users += 1
        if self._task is None:
            self._reanchor()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="raftsim-clock")

    async def stop(self) -> None:
        self._users -= 1
        if self._users > 0 or self._task is None:
            return
        task, self._task = self._task, None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # ------------------------------------------------------------ control

    def set_mode(self, mode: object, speed: object = None) -> None:
        new_mode, new_speed = check_mode(mode, self.speed if speed is None else speed)
        self.sync()
        self.mode, self.speed = new_mode, new_speed
        self._reanchor()
        self.kick()

    @property
    def advancing(self) -> bool:
        """Is an `advance` running (yielding to the loop between its slices)?"""
        return self._advancing

    def retarget(self, sched: Scheduler, mode: str) -> None:
        """Drive another scheduler from now on (a reset or replayed simulation's)."""
        if self._advancing:
            raise RuntimeError("cannot change schedulers while advancing")
        self.sched = sched
        self.mode = check_mode(mode, self.speed)[0]
        self._reanchor()
        self.kick()

    def expect(self) -> Ticket:
        """A request starts waiting on virtual time (`demand` runs while any waits); the
        caller kicks the driver if the answer did not come at once."""
        return Ticket(self)

    def kick(self) -> None:
        """Something may now be due earlier than the driver's sleep: wake it."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def sync(self) -> None:
        """Paced: bring virtual time up to the wall clock before a request acts on it."""
        if self.mode == PACED and not self._advancing and self._task is not None:
            self._catch_up()

    async def advance(self, span: int = 0, events: int = 0) -> None:
        """Run `span` µs of virtual time (or `events` events) now, in any mode, yielding to
        the loop between slices; a paced clock then continues from the new time."""
        self.sync()
        self._advancing = True
        try:
            sched = self.sched
            target = sched.now + span
            while events > 0 and sched.step():
                events -= 1
                if events % 256 == 0:
                    await asyncio.sleep(0)
            while span and sched.now < target:
                deadline = perf_counter() + BATCH * 10
                count = 0

                def over(deadline: float = deadline) -> bool:
                    nonlocal count
                    count += 1
                    return count % 64 == 0 and perf_counter() > deadline

                sched.run_until(target, interrupt=over)
                await asyncio.sleep(0)
        finally:
            self._advancing = False
            self._reanchor()
            self.kick()

    def state(self) -> dict[str, object]:
        """The clock as GET /v1/sim/clock shows it. Paced, also its anchor: virtual time T
        is due at `monotonic_s + (T - virtual_us) / (speed * 1e6)` on this host's monotonic
        clock (the event loop's, Python's `time.monotonic()`), so a client on the same host
        can tell how late an event reaches it. The anchor moves when the mode or speed
        changes, after `advance`, and when the cluster falls more than MAX_LAG behind."""
        out: dict[str, object] = {"mode": self.mode, "speed": self.speed, "now_us": self.sched.now}
        if self.mode == PACED:
            out["anchor"] = {"monotonic_s": self._anchor_wall, "virtual_us": self._anchor_virtual}
        return out

    # ------------------------------------------------------------ the task

    def _loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    def _reanchor(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._anchor_wall = self._loop_time()
            self._anchor_virtual = self.sched.now

    def _target(self) -> int:
        elapsed = self._loop_time() - self._anchor_wall
        return self._anchor_virtual + int(elapsed * self.speed * 1_000_000)

    def _catch_up(self) -> bool:
        """Run what is due by now; True if the time budget ran out first."""
        sched = self.sched
        target = self._target()
        if target <= sched.now:
            return False
        due = sched.next_due()
        if due is None or due > target:
            # Nothing due yet (what most requests find): only the clock moves.
            sched.run_until(target)
            return False
        deadline = perf_counter() + BATCH * 10
        count = 0

        def over() -> bool:
            nonlocal count
            count += 1
            return count % 64 == 0 and perf_counter() > deadline

        if not sched.run_until(target, interrupt=over):
            return False
        if (target - sched.now) > MAX_LAG * self.speed * 1e6:
            # Too slow for this speed: forget the backlog rather than race to catch up.
            self.backlog_drops += 1
            self._reanchor()
        return True

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.wakeups += 1
            mode = self.mode
            if self._advancing:
                await self._sleep(loop, None)
            elif mode == PACED:
                if self._catch_up():
                    await asyncio.sleep(0)
                    continue
                due = self.sched.next_busy()  # idle Raft loops are jumped at catch-up
                if due is None:
                    await self._sleep(loop, None)
                else:
                    wall = self._anchor_wall + (due - self._anchor_virtual) / (self.speed * 1e6)
                    least = 0.0 if self.waiting else MIN_TICK
                    await self._sleep(loop, max(wall - loop.time(), least))
            elif mode == AUTOJUMP or (mode == DEMAND and self.waiting > 0):
                if not self._jump():
                    await self._sleep(loop, None)
                else:
                    await asyncio.sleep(0)
            else:
                await self._sleep(loop, None)

    def _jump(self) -> bool:
        """Run events for about BATCH seconds; False when there is nothing to run. The
        cluster's fast-forward skips its idle stretches (`demand` stops at the event that
        answers the last waiting request, which only the Nomad layer's own events do)."""
        sched = self.sched
        due = sched.next_due()
        if due is None:
            return False
        demand = self.mode == DEMAND
        deadline = perf_counter() + BATCH
        count = 0

        def over() -> bool:
            nonlocal count
            if demand and self.waiting == 0:
                return True
            count += 1
            return count % 32 == 0 and perf_counter() > deadline

        sched.run_until(max(due, sched.now + HORIZON), interrupt=over)
        return True

    async def _sleep(self, loop: asyncio.AbstractEventLoop, delay: float | None) -> None:
        waiter = self._waiter = loop.create_future()
        handle = None
        if delay is not None:
            handle = loop.call_later(delay, _wake, waiter)
        try:
            await waiter
        finally:
            if handle is not None:
                handle.cancel()
            self._waiter = None


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
