"""The answer to a client request (ring 0): hashicorp/raft's `Future`, as the node's
`propose`, `change_configuration` and `transfer_leadership` return it. The leader resolves
it when the entry commits (`leader.py`), or fails it when leadership is lost, the server
shuts down, or the request fails later (a membership change invalid by the time its turn
comes, a leadership transfer that timed out).
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import RaftsimError


class Future:
    """The answer to a client request: the entry's index on commit, or an error.

    Done-callbacks run synchronously, inside the node's handling of the input that decided
    the outcome (a commit, a lost leadership, a crash): a callback must not drive the node
    again from there, only note the outcome or schedule work for later."""

    __slots__ = ("_callbacks", "done", "error", "index")

    def __init__(self) -> None:
        self.done = False
        self.index = 0
        self.error: RaftsimError | None = None
        self._callbacks: list[Callable[[Future], None]] = []

    def add_done_callback(self, fn: Callable[[Future], None]) -> None:
        """Call fn(self) once the future is done (at once if it already is)."""
        if self.done:
            fn(self)
        else:
            self._callbacks.append(fn)

    def resolve(self, index: int) -> None:
        self.done, self.index = True, index
        self._finish()

    def fail(self, error: RaftsimError) -> None:
        if self.done:
            return  # (a crash fails what leadership loss already failed: first answer wins)
        self.done, self.error = True, error
        self._finish()

    def _finish(self) -> None:
        callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            fn(self)

    def __repr__(self) -> str:
        state = "pending" if not self.done else (self.error or f"index {self.index}")
        return f"Future({state})"
