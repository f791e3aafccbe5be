"""Nomad's sequential goroutines as generators in virtual time (ring 1b).

Nomad's leader loop, its graceful leave and its operator RPCs are straight-line Go code that
blocks on Raft futures and sleeps. Written as generators they read the same way: a process
yields what it waits for (`Sleep`, a Raft `Future`, or `WaitFor` a `Signal`) and is resumed
in virtual time by its host server's timers, which a crash cancels and a pause holds.

A process waiting on a Raft future is woken by the future's done-callback, through its host's
timer at the same virtual time: the callback itself runs inside the Raft node's step, which a
process must not re-enter (hashicorp's futures wake a goroutine; they do not run it inline).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Protocol

from ..core.future import Future


@dataclass(frozen=True, slots=True)
class Sleep:
    """Resume after `span` µs of virtual time."""

    span: int


class Signal:
    """A wake-up one process can wait on (Go: a receive on a channel with a buffer of one):
    a `set()` while nobody waits is kept for the next wait."""

    __slots__ = ("_pending", "_waiter")

    def __init__(self) -> None:
        self._waiter: tuple[Process, int] | None = None
        self._pending = False

    def set(self) -> None:
        if self._waiter is None:
            self._pending = True
            return
        process, token = self._waiter
        self._waiter = None
        process.host.after(0, lambda: process.wake(token, True))


@dataclass(frozen=True, slots=True)
class WaitFor:
    """Resume with True when `signal` is set, or with False after `timeout` µs."""

    signal: Signal
    timeout: int


Wait = Sleep | Future | WaitFor
Body = Generator[Wait, object, None]
Step = Generator[Wait, object, bool]  # a part of a body that reports success


class Host(Protocol):
    """What a process needs of the server it runs on."""

    def after(self, delay: int, fn: Callable[[], None]) -> object: ...


class Process:
    """One running generator; `stop()` abandons it (leadership lost, server crashed)."""

    __slots__ = ("_body", "_token", "alive", "host")

    def __init__(self, host: Host, body: Body) -> None:
        self.host = host
        self._body = body
        self._token = 0
        self.alive = True
        self._send(None)

    def stop(self) -> None:
        if self.alive:
            self.alive = False
            self._body.close()

    def wake(self, token: int, value: object) -> None:
        if self.alive and token == self._token:
            self._send(value)

    def _send(self, value: object) -> None:
        if not self.alive:
            return
        try:
            wait = self._body.send(value)
        except StopIteration:
            self.alive = False
            return
        self._token += 1
        token = self._token
        if isinstance(wait, Sleep):
            self.host.after(wait.span, lambda: self.wake(token, None))
        elif isinstance(wait, Future):

            def done(future: Future) -> None:
                self.host.after(0, lambda: self.wake(token, future))

            wait.add_done_callback(done)
        elif wait.signal._pending:
            wait.signal._pending = False
            self.host.after(0, lambda: self.wake(token, True))
        else:
            signal = wait.signal
            signal._waiter = (self, token)
            self.host.after(wait.timeout, lambda: self._timed_out(signal, token))

    def _timed_out(self, signal: Signal, token: int) -> None:
        if signal._waiter is not None and signal._waiter[1] == token:
            signal._waiter = None
        self.wake(token, False)
