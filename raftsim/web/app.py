"""The aiohttp application (ring 2): one app for every listener of a simulation; each request
is answered as the server whose listener it reached (`Listeners`), or, on the control
listener, only under /v1/sim/. A server's listener serves /v1/sim/ only when the simulation
says so (`Options.sim_on_servers`); otherwise a path there is one Nomad does not know.
Control requests pass `guard` (token, origin, content type) before their handler.

Built as aiohttp's guidance says: an app factory taking its dependencies, typed `AppKey`s,
the time driver started and stopped by `cleanup_ctx`, one catch-all route served by the
routes table compiled once per app (`routes.Router`: Nomad's routing is Go's ServeMux), one
error middleware that turns exceptions into answers (`errors`), and, outside it, one that
keeps a control request's connection alive exactly as long as its reply needs.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import weakref
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from ..core.events import Event
from ..nomad.errors import ServerGoneError
from ..sim.cluster import DOWN
from ..sim.events import ServerCrashed, ServerRestarted, ServerStarted
from .control import Control
from .errors import error_middleware
from .guard import HOST_NAMES, TOKEN, check
from .nomad_api import not_found
from .routes import CONTROL_REQUEST, Router, answered_by_control, is_control
from .simulation import Simulation

SIMULATION = web.AppKey("simulation", Simulation)
DEFAULT_SERVER = web.AppKey("default_server", str)
CONTROL = web.AppKey("control", Control)
ROUTER = web.AppKey("router", Router)
SIM_ON_SERVERS = web.AppKey("sim_on_servers", bool)
log = logging.getLogger("raftsim.web")


@dataclass(frozen=True)
class Plan:
    """Where to listen: each server's (host, port), and the control listener's."""

    servers: dict[str, tuple[str, int]]
    control: tuple[str, int] | None


def loopback_usable(host: str = "127.0.0.2") -> bool:
    """Can this machine bind extra loopback addresses (Linux yes, macOS not by default)?"""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
    except OSError:
        return False
    return True


def plan(
    sim: Simulation,
    http_port: int = 4646,
    ports: bool | None = None,
    control: tuple[str, int] | None = ("127.0.0.1", 4649),
) -> Plan:
    """127.0.0.N:http_port per server (its Raft IP), or with `ports` one host and ports
    http_port, +1000, +2000, ...; `ports=None` picks ports only where 127.0.0.2 cannot be
    bound. Port 0 lets the kernel choose (tests)."""
    names = list(sim.cluster.servers)
    if ports is None:
        ports = not loopback_usable()
    servers: dict[str, tuple[str, int]] = {}
    for i, name in enumerate(names):
        if ports:
            port = http_port + 1000 * i if http_port else 0
            if port > 65535:
                raise ValueError(
                    f"--ports puts server {i + 1} on port {port}: use a lower --http-port or 0"
                )
            servers[name] = ("127.0.0.1", port)
        else:
            servers[name] = (sim.cluster.servers[name].address.rsplit(":", 1)[0], http_port)
    return Plan(servers, control)


class Listeners:
    """One TCP site per running server, closed when it crashes, reopened on restart."""

    def __init__(self, sim: Simulation, where: Plan) -> None:
        self.sim = sim
        self.runner: web.AppRunner | None = None  # set once the app's runner is set up
        self.plan = where
        self.bound: dict[str, tuple[str, int]] = {}
        self.sites: dict[str, web.TCPSite] = {}
        self.by_socket: dict[tuple[str, int], str] = {}
        self.control: web.TCPSite | None = None
        self.connections: dict[str, weakref.WeakSet[asyncio.BaseTransport]] = {}
        self.spared: weakref.WeakSet[asyncio.BaseTransport] = weakref.WeakSet()
        self._pending: set[asyncio.Task[None]] = set()
        sim.cluster.listeners.append(self._on_lifecycle)

    async def start(self, runner: web.AppRunner) -> None:
        self.runner = runner
        for name, server in self.sim.cluster.servers.items():
            if server.status != DOWN:
                await self._open(name)
        if self.plan.control is not None:
            host, port = self.plan.control
            self.control = web.TCPSite(runner, host, port, reuse_address=True)
            await self.control.start()
            self.sim.control_url = f"http://{host}:{self.control.port}"

    async def _open(self, name: str) -> None:
        if name in self.sites:
            return
        if self.runner is None:
            return
        host, port = self.bound.get(name) or self.plan.servers[name]
        site = web.TCPSite(self.runner, host, port, reuse_address=True)
        await site.start()
        self.sites[name] = site
        self.bound[name] = (host, site.port)
        self.by_socket[(host, site.port)] = name
        self.sim.http[name] = f"http://{host}:{site.port}"

    async def _close(self, name: str) -> None:
        site = self.sites.pop(name, None)
        if site is not None:
            await site.stop()
        self._drop_connections(name)

    def _drop_connections(self, name: str) -> None:
        for transport in list(self.connections.get(name, ())):
            if transport not in self.spared and isinstance(transport, asyncio.Transport):
                transport.abort()

    async def _reopen(self, name: str) -> None:
        try:
            await self._open(name)
        except OSError as error:  # someone took the port meanwhile: the server runs unheard
            log.warning("cannot reopen the HTTP listener of %s: %s", name, error)

    def _on_lifecycle(self, event: Event) -> None:
        name = event.server
        if isinstance(event, ServerCrashed):
            self._drop_connections(name)  # a dead process's sockets close at once
            self._schedule(self._close(name))
        elif isinstance(event, ServerRestarted | ServerStarted) and (
            name in self.plan.servers or name in self.bound
        ):
            self._schedule(self._reopen(name))

    def _schedule(self, work: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def settle(self) -> None:
        """Wait until the listeners follow the servers' latest lifecycle changes."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def identity(self, request: web.Request) -> str | None:
        """The server whose listener this request reached; None for any other socket."""
        transport = request.transport
        if transport is None:
            return None
        sockname = transport.get_extra_info("sockname")
        name = self.by_socket.get(tuple(sockname[:2])) if sockname else None
        if name is not None:
            self.connections.setdefault(name, weakref.WeakSet()).add(transport)
        return name


LISTENERS = web.AppKey("listeners", Listeners)


def _server(request: web.Request) -> str | None:
    """The server this request is answered as: its listener's, or the default (test
    clients); None on the control listener."""
    app = request.app
    listeners = app.get(LISTENERS)
    name = listeners.identity(request) if listeners is not None else None
    return name or app[DEFAULT_SERVER] or None


async def _dispatch(request: web.Request) -> web.StreamResponse:
    app = request.app
    if answered_by_control(request):
        check(request)
        return await app[ROUTER].serve_control(request, app[CONTROL])
    name = _server(request)
    if name is None:
        return not_found()  # the control listener serves /v1/sim/ only
    sim = app[SIMULATION]
    if sim.cluster.servers[name].status == DOWN:
        raise ServerGoneError(name)
    return await app[ROUTER].serve_nomad(request, sim, name)


@web.middleware
async def _spare(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Decides first which surface answers (`CONTROL_REQUEST`): /v1/sim/ on a server's
    listener is Nomad's unknown path unless the simulation serves control there.

    A control request may crash the very server whose listener it came through: its
    connection is spared while the action runs (the reply still goes out), and closes after
    the reply, error or not, if that server is down by then."""
    if not is_control(request.path):
        return await handler(request)
    name = _server(request)
    control = name is None or request.app[SIM_ON_SERVERS]
    request[CONTROL_REQUEST] = control
    if not control:
        return await handler(request)
    listeners = request.app.get(LISTENERS)
    transport = request.transport
    if listeners is not None and transport is not None:
        listeners.spared.add(transport)
    try:
        response = await handler(request)
    finally:
        if listeners is not None and transport is not None:
            listeners.spared.discard(transport)
    if name is not None and request.app[SIMULATION].cluster.servers[name].status == DOWN:
        response.headers["Connection"] = "close"
        response.force_close()
    return response


async def _strip_server_header(request: web.Request, response: web.StreamResponse) -> None:
    """Go's net/http sends no Server header; neither does a Nomad agent."""
    response.headers.popall("Server", None)


def make_app(
    sim: Simulation, default_server: str | None = None, listeners: Listeners | None = None
) -> web.Application:
    """The application; `default_server` answers requests on sockets that are not a
    server's listener (the aiohttp test client's), else they get the control surface."""
    if default_server is not None and default_server not in sim.cluster.servers:
        raise ValueError(f"unknown server {default_server!r}")
    # _spare is outermost so that it also closes after the answers error_middleware makes.
    app = web.Application(middlewares=[_spare, error_middleware])
    app[SIMULATION] = sim
    app[DEFAULT_SERVER] = default_server or ""
    app[SIM_ON_SERVERS] = sim.options.sim_on_servers
    app[TOKEN] = sim.options.control_token
    bind = listeners.plan.control if listeners is not None else None
    app[HOST_NAMES] = frozenset({bind[0].lower().strip("[]").rstrip(".")} if bind else ())
    settle = listeners.settle if listeners is not None else _nothing
    app[CONTROL] = Control(sim, settle)
    app[ROUTER] = Router()
    if listeners is not None:
        app[LISTENERS] = listeners
    app.cleanup_ctx.append(_drive)
    app.on_response_prepare.append(_strip_server_header)
    app.router.add_route("*", "/{tail:.*}", _dispatch)
    return app


async def _nothing() -> None:
    return None


async def _drive(app: web.Application) -> AsyncIterator[None]:
    driver = app[SIMULATION].driver
    driver.start()
    yield
    await driver.stop()
