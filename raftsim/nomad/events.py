"""What the Nomad layer reports (ring 1b), in the form of core/events.py: a server's Serf view
of a member changed, and a request entered a server's API and was answered. They reach the
cluster's trace and listeners through `Cluster.record`, like the simulation's own events;
requests are traffic, like messages: message-level, kept only with trace="all", so that a
long-running serve under load does not grow with every request it answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..core.events import Event
from ..sim.render import Name, details_of


@dataclass(frozen=True, slots=True)
class MemberChanged(Event):
    """`server`'s Serf saw `member` (a Serf name) join, leave, fail or be reaped; `status`
    is the member's status in that view afterwards (alive, left, failed; reaped: gone)."""

    member: str
    change: str
    status: str
    kind: ClassVar[str] = "member"


@dataclass(frozen=True, slots=True)
class RequestReceived(Event):
    """An API request entered through `server`: the RPC it became (Nomad's method name)."""

    method: str
    kind: ClassVar[str] = "request"
    message_level: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class RequestAnswered(Event):
    """`server` answered a request that entered through it; `error` is "" on success."""

    method: str
    error: str
    kind: ClassVar[str] = "answer"
    message_level: ClassVar[bool] = True


@details_of(MemberChanged)
def _member(event: MemberChanged, name: Name) -> str:
    return f"{event.member} {event.change} ({event.status})"


@details_of(RequestReceived)
def _request(event: RequestReceived, name: Name) -> str:
    return event.method


@details_of(RequestAnswered)
def _answer(event: RequestAnswered, name: Name) -> str:
    return f"{event.method}: " + (f"error: {event.error}" if event.error else "ok")
