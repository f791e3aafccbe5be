"""The virtual clock's scheduler (raftsim.sim.clock): ties broken by scheduling order, and
`call_next` for observers that look right after an event."""

from __future__ import annotations

from raftsim.core.events import TermChanged
from raftsim.sim.checkers import SafetyChecker, Violation
from raftsim.sim.clock import Scheduler


def test_scheduler_call_next_runs_right_after_the_running_event() -> None:
    """A call made during an event runs before every other event, also before those due
    at the same time that were scheduled earlier; calls run in the order made, and are not
    counted as events."""
    sched = Scheduler()
    ran: list[str] = []

    def first(_: object) -> None:
        ran.append("first")
        sched.call_next(lambda _: ran.append("after first"))
        sched.call_next(lambda _: ran.append("after first, again"))

    sched.at(10, first)
    sched.at(10, lambda _: ran.append("second"))
    sched.at(20, lambda _: ran.append("third"))

    sched.run_until(30)

    assert ran == ["first", "after first", "after first, again", "second", "third"]
    assert sched.executed == 3 and sched.now == 30


def test_scheduler_call_next_under_step_is_not_an_event() -> None:
    """Stepping runs a pending call like any event, at the same time, uncounted."""
    sched = Scheduler()
    ran: list[tuple[str, int]] = []
    sched.at(5, lambda _: sched.call_next(lambda _: ran.append(("call", sched.now))))

    while sched.step():
        pass

    assert ran == [("call", 5)] and sched.executed == 1


def test_checker_listeners_hear_each_violation_as_it_is_found() -> None:
    """The safety checker calls its listeners with every violation it records."""
    checker = SafetyChecker(7, {})
    heard: list[Violation] = []
    checker.listeners.append(heard.append)

    checker.on_event(TermChanged(1_000, "alice", 3))
    checker.on_event(TermChanged(2_000, "alice", 2))

    assert heard == checker.violations and heard[0].rule == "Terms never decrease"
