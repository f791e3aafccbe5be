"""The one routes table of the HTTP surface (ring 2): every endpoint, Nomad's and the /v1/sim/
control surface's, with its methods and handler; compiled once per app by `Router`, which
then serves every request through aiohttp's single catch-all route.

Why not aiohttp's router: Nomad routes as Go's ServeMux does (path cleaning with 301s, the
`/v1/operator/` subtree whose handler matches sub-paths by prefix, `404 page not found`),
and each Nomad handler answers a wrong method its own way (spec nomad-api.md §1). The
control surface answers unknown paths and methods with JSON. Paths here are written as
openapi.json writes them, so tests/test_web_openapi.py can hold the two to each other.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from aiohttp import web

from ..nomad.version import NomadVersion
from . import teaching
from .autopilot_api import autopilot_configuration, autopilot_health, autopilot_wrong_method
from .control import Control, NoSuchEndpoint, WrongMethod
from .gocompat import Redirect, ServeMux, parse_query
from .nomad_api import (
    Context,
    agent_force_leave,
    agent_join,
    agent_members,
    bare_405,
    invalid_method,
    not_found,
    peer_wrong_method,
    raft_configuration,
    raft_peer,
    redirect,
    status_leader,
    status_peers,
    transfer_leadership,
    unknown_operator,
)
from .simulation import Simulation

CONTROL_PREFIX = "/v1/sim/"
CONTROL_ROOT = CONTROL_PREFIX.rstrip("/")

NomadHandler = Callable[[Context], Awaitable[web.Response]]
Refusal = Callable[[Context], web.Response]
ControlHandler = Callable[[Control, web.Request, dict[str, str]], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class NomadRoute:
    """A Nomad endpoint: its path, the methods its handler takes, what it does with others."""

    path: str
    methods: tuple[str, ...]
    handler: NomadHandler
    refuse: Refusal


@dataclass(frozen=True)
class Subtree:
    """A ServeMux subtree pattern whose Nomad handler picks among `routes` by path prefix
    (`configurationX` is the configuration), answering any other path with `otherwise`."""

    prefix: str
    routes: tuple[NomadRoute, ...]
    otherwise: NomadHandler


@dataclass(frozen=True)
class ControlRoute:
    """A /v1/sim/ endpoint; `{name}` in the path is one path segment."""

    method: str
    path: str
    handler: ControlHandler


Route = NomadRoute | Subtree | ControlRoute
# A path's resolution (`Router.resolve`), in a tuple so that "not found" (None) is cached too.
Resolved = tuple[NomadRoute | Subtree | Redirect | None]
RESOLVED_KEPT = 1024
RESOLVED_PATH_MAX = 2048  # longer paths (a head may be 1 MB) are resolved every time

TABLE: tuple[Route, ...] = (
    Subtree(
        "/v1/operator/",
        (
            NomadRoute("/v1/operator/raft/configuration", ("GET",), raft_configuration, bare_405),
            NomadRoute("/v1/operator/raft/peer", ("DELETE",), raft_peer, peer_wrong_method),
        ),
        unknown_operator,
    ),
    NomadRoute("/v1/status/leader", ("GET",), status_leader, invalid_method),
    NomadRoute("/v1/status/peers", ("GET",), status_peers, invalid_method),
    NomadRoute("/v1/agent/members", ("GET",), agent_members, invalid_method),
    NomadRoute("/v1/agent/force-leave", ("PUT", "POST"), agent_force_leave, invalid_method),
    NomadRoute("/v1/agent/join", ("PUT", "POST"), agent_join, invalid_method),
    ControlRoute("GET", "/v1/sim/state", Control.state),
    ControlRoute("GET", "/v1/sim/openapi.json", Control.openapi),
    ControlRoute("POST", "/v1/sim/servers", Control.add_server),
    ControlRoute("POST", "/v1/sim/servers/{name}/crash", Control.crash),
    ControlRoute("POST", "/v1/sim/servers/{name}/restart", Control.restart),
    ControlRoute("POST", "/v1/sim/servers/{name}/leave", Control.leave),
    ControlRoute("POST", "/v1/sim/servers/{name}/pause", Control.pause),
    ControlRoute("POST", "/v1/sim/servers/{name}/resume", Control.resume),
    ControlRoute("POST", "/v1/sim/cut", Control.cut),
    ControlRoute("POST", "/v1/sim/network", Control.network),
    ControlRoute("GET", "/v1/sim/trace", Control.trace),
    ControlRoute("GET", "/v1/sim/events", Control.events),
    ControlRoute("POST", "/v1/sim/partition", Control.partition),
    ControlRoute("POST", "/v1/sim/heal", Control.heal),
    ControlRoute("GET", "/v1/sim/clock", Control.clock),
    ControlRoute("POST", "/v1/sim/clock", Control.clock),
    ControlRoute("POST", "/v1/sim/clock/advance", Control.advance),
    ControlRoute("POST", "/v1/sim/acl/tokens", Control.acl_token),
    ControlRoute("POST", "/v1/sim/servers/{name}/timeout", teaching.timeout),
    ControlRoute("POST", "/v1/sim/servers/{name}/http", teaching.ask),
    ControlRoute("POST", "/v1/sim/propose", teaching.propose),
    ControlRoute("POST", "/v1/sim/step", teaching.step),
    ControlRoute("POST", "/v1/sim/replay", teaching.replay),
    ControlRoute("POST", "/v1/sim/reset", teaching.reset),
    ControlRoute("GET", "/v1/sim/lessons", teaching.lessons),
    ControlRoute("POST", "/v1/sim/lessons/{name}", teaching.lesson_start),
    ControlRoute("POST", "/v1/sim/lesson/step", teaching.lesson_step),
)


# spec §2.4, §2.5 (0.8+): exact ServeMux paths of their own.
AUTOPILOT: tuple[Route, ...] = (
    NomadRoute(
        "/v1/operator/autopilot/configuration",
        ("GET", "PUT"),
        autopilot_configuration,
        autopilot_wrong_method,
    ),
    NomadRoute("/v1/operator/autopilot/health", ("GET",), autopilot_health, autopilot_wrong_method),
)


# spec §2.3 (1.7+): a third sub-path of OperatorRequest's.
TRANSFER = NomadRoute(
    "/v1/operator/raft/transfer-leadership", ("PUT", "POST"), transfer_leadership, invalid_method
)


def table_for(version: NomadVersion) -> tuple[Route, ...]:
    """`TABLE` as `version` routes it: OperatorRequest's ServeMux pattern is `/v1/operator/`
    in 0.5.x and `/v1/operator/raft/` from 0.8 (spec §1 "Wrong method": another path under
    `/v1/operator/` is then ServeMux's `404 page not found`), and it serves
    transfer-leadership from 1.7; the other endpoints are the same."""
    extra = (TRANSFER,) if version.transfer_leadership else ()
    table = tuple(
        replace(route, prefix=version.operator_prefix, routes=route.routes + extra)
        if isinstance(route, Subtree) and route.prefix == "/v1/operator/"
        else route
        for route in TABLE
    )
    return table + AUTOPILOT if version.autopilot else table


def is_control(path: str) -> bool:
    """Is this request for the control surface (which Nomad's path cleaning never sees)?"""
    return path.startswith(CONTROL_PREFIX) or path == CONTROL_ROOT


def _pattern(path: str) -> re.Pattern[str]:
    """An OpenAPI path as a regular expression; `{x}` is one segment, captured as `x`."""
    parts = re.split(r"\{(\w+)\}", path)
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts)
    )
    return re.compile(regex)


class Router:
    """`TABLE` compiled: a ServeMux for Nomad's paths, regular expressions for /v1/sim/."""

    def __init__(self, table: tuple[Route, ...] = TABLE) -> None:
        self.table = table
        patterns: dict[str, NomadRoute | Subtree] = {}
        control: list[tuple[str, re.Pattern[str], ControlHandler]] = []
        for route in table:
            if isinstance(route, NomadRoute):
                patterns[route.path] = route
            elif isinstance(route, Subtree):
                patterns[route.prefix] = route
            else:
                control.append((route.method, _pattern(route.path), route.handler))
        self.mux = ServeMux(patterns)
        self.control = tuple(control)
        # Paths resolved so far: clients ask for the same few paths again and again.
        self._resolved: dict[str, Resolved] = {}

    def endpoints(self) -> set[tuple[str, str]]:
        """Every (METHOD, path) the table serves, as an OpenAPI document lists operations."""
        found: set[tuple[str, str]] = set()
        for route in self.table:
            if isinstance(route, ControlRoute):
                found.add((route.method, route.path))
                continue
            nomad = route.routes if isinstance(route, Subtree) else (route,)
            found |= {(method, r.path) for r in nomad for method in r.methods}
        return found

    def resolve(self, path: str) -> Resolved:
        """What answers `path`: ServeMux's match, then within a subtree the route its
        handler picks by prefix (or the subtree itself, whose `otherwise` answers)."""
        resolved = self._resolved.get(path)
        if resolved is not None:
            return resolved
        found = self.mux.match(path)
        if isinstance(found, Subtree):
            found = next((r for r in found.routes if path.startswith(r.path)), found)
        resolved = (found,)
        if len(path) <= RESOLVED_PATH_MAX:
            if len(self._resolved) >= RESOLVED_KEPT:
                self._resolved.clear()  # (a client walking many paths only thrashes it)
            self._resolved[path] = resolved
        return resolved

    async def serve_nomad(self, request: web.Request, sim: Simulation, server: str) -> web.Response:
        """Serve one Nomad request as server `server`: ServeMux, then the handler."""
        (found,) = self.resolve(request.path)
        if isinstance(found, Redirect):
            return redirect(request, found.path)
        if found is None:
            return not_found()
        ctx = Context(request, sim, server, parse_query(request.rel_url.raw_query_string))
        if isinstance(found, Subtree):
            return await found.otherwise(ctx)
        if ctx.method not in found.methods:
            return found.refuse(ctx)
        return await found.handler(ctx)

    async def serve_control(self, request: web.Request, control: Control) -> web.StreamResponse:
        """Serve one /v1/sim/ request; an unknown path or method is raised, like bad input."""
        allowed = []
        for method, pattern, handler in self.control:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            if method != request.method:
                allowed.append(method)
                continue
            return await handler(control, request, match.groupdict())
        if allowed:
            raise WrongMethod(f"{request.method} is not allowed here", allowed)
        raise NoSuchEndpoint(f"no such simulation endpoint: {request.path}")
