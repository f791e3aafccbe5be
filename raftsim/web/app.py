"""The aiohttp application (ring 2): one app for every listener of a simulation; each request
is answered as the server whose listener it reached (`Listeners`), or, on the control
listener, only under /v1/sim/. A server's listener serves /v1/sim/ only when the simulation
says so (`Options.sim_on_servers`); otherwise a path there is one Nomad does not know.
Control requests pass `guard` (token, origin, content type) before their handler.

Built as aiohttp's guidance says: an app factory taking its dependencies, typed `AppKey`s,
the time driver started and stopped by `cleanup_ctx`, one handler for every route (a
catch-all, and the endpoints' fixed paths aiohttp finds sooner) served by the routes table
compiled once per app (`routes.Router`: Nomad's routing is Go's ServeMux). That handler
(`handler(app)`, made once per app) decides which surface answers, has `errors` turn
exceptions into that surface's answers, and keeps a control request's connection alive
exactly as long as its reply needs: the work of middlewares without aiohttp's chain of
them, which every Nomad request would pay for.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from ..core.events import Event
from ..nomad.errors import ServerGoneError
from ..sim.cluster import DOWN
from ..sim.events import ServerCrashed, ServerRestarted, ServerStarted
from . import page
from .control import Control
from .errors import NOMAD_ERRORS, answer_errors, nomad_answer
from .goserver import GoSite, Limits
from .guard import HOST_NAMES, TOKEN, check
from .routes import Router, is_control, table_for
from .simulation import Simulation

SIMULATION = web.AppKey("simulation", Simulation)
DEFAULT_SERVER = web.AppKey("default_server", str)
CONTROL = web.AppKey("control", Control)
ROUTER = web.AppKey("router", Router)
SIM_ON_SERVERS = web.AppKey("sim_on_servers", bool)
HANDLER: web.AppKey[Handler] = web.AppKey("handler")
log = logging.getLogger("raftsim.web")


@dataclass(frozen=True)
class Plan:
    """Where to listen: each server's (host, port), and the control listener's."""

    servers: dict[str, tuple[str, int]]
    control: tuple[str, int] | None
    ports: bool = False  # one host, distinct ports (servers added later follow the layout)
    http_port: int = 4646

    def place(self, sim: Simulation, name: str) -> None:
        """Give a server added later its address in this layout (see `plan`)."""
        if name in self.servers:
            return
        i = list(sim.cluster.servers).index(name)
        if self.ports:
            port = self.http_port + 1000 * i if self.http_port else 0
            self.servers[name] = ("127.0.0.1", port if port <= 65535 else 0)
        else:
            ip = sim.cluster.servers[name].address.rsplit(":", 1)[0]
            self.servers[name] = (ip, self.http_port)


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
    return Plan(servers, control, ports, http_port)


class Listeners:
    """One TCP site per server, listening while the server is up or paused and closed while
    it is down (connections refused, open ones dropped).

    Lifecycle events do not replay as open/close actions: each one marks its server stale
    and wakes that server's one worker, which compares the listener with the server's
    current status and converges, under a per-server lock. Opens and closes of one server
    thus never interleave (a reopen could otherwise bind a port a close has not released,
    or finish after a later crash and leave a dead server listening), and a burst of
    events costs one convergence, not one action each."""

    def __init__(self, sim: Simulation, where: Plan) -> None:
        self.sim = sim
        self.runner: web.AppRunner | None = None  # set once the app's runner is set up
        self.plan = where
        self.bound: dict[str, tuple[str, int]] = {}
        self.sites: dict[str, GoSite] = {}
        self.control: GoSite | None = None
        o = sim.options
        self.limits = Limits(o.header_timeout, o.idle_timeout, o.max_connections)
        self.spared: weakref.WeakSet[asyncio.BaseTransport] = weakref.WeakSet()
        self._locks: dict[str, asyncio.Lock] = {}
        self._stale: set[str] = set()
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._closing = False
        sim.listen(self._on_lifecycle)
        sim.rebuilds.append(self._follow_all)
        sim.place = lambda name: where.place(sim, name)

    async def start(self, runner: web.AppRunner) -> None:
        """Open the listener of every running server (OSError if one cannot be bound),
        then the control listener."""
        self.runner = runner
        for name in self.sim.cluster.servers:
            await self._converge(name)
        if self.plan.control is not None:
            host, port = self.plan.control
            self.control = GoSite(runner, host, port, self.limits)
            await self.control.start()
            self.sim.control_url = f"http://{host}:{self.control.port}"

    async def close(self) -> None:
        """Stop following the servers, once the work under way is done: the runner's
        cleanup then stops every site, and no worker opens one behind its back."""
        self._closing = True
        await self.settle()

    def _listens(self, name: str) -> bool:
        """Should server `name` have a listener now? Only servers given an address do."""
        server = self.sim.cluster.servers.get(name)
        placed = name in self.plan.servers or name in self.bound
        return placed and server is not None and server.status != DOWN

    async def _converge(self, name: str) -> None:
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            if self.runner is None or self._closing:
                return
            # Read the status here, after any earlier open or close has finished.
            if self._listens(name):
                await self._open(name, self.runner)
            else:
                await self._close(name)

    async def _open(self, name: str, runner: web.AppRunner) -> None:
        if name in self.sites:
            return
        host, port = self.bound.get(name) or self.plan.servers[name]
        site = GoSite(runner, host, port, self.limits, server=name)
        try:
            await site.start()
        except BaseException:
            await site.stop()  # start registered it with the runner before binding
            raise
        self.sites[name] = site
        self.bound[name] = (host, site.port)
        self.sim.http[name] = f"http://{host}:{site.port}"

    async def _close(self, name: str) -> None:
        site = self.sites.pop(name, None)
        if site is not None:
            # Awaited before the lock is released: the listening socket is closed (port
            # free for the next open, new connections refused) before anything else
            # happens to this server's listener.
            await site.stop()
        self._drop_connections(name)

    def _drop_connections(self, name: str) -> None:
        """Abort every connection to server `name`'s listener, idle ones included (a dead
        process's sockets close at once), except a control request's that is answering."""
        server = self.runner.server if self.runner is not None else None
        address = self.bound.get(name)
        if server is None or address is None:
            return
        for handler in server.connections:
            transport = handler.transport
            if transport is None or transport in self.spared:
                continue
            sockname = transport.get_extra_info("sockname")
            if sockname and tuple(sockname[:2]) == address:
                transport.abort()

    def _on_lifecycle(self, event: Event) -> None:
        name = event.server
        if isinstance(event, ServerCrashed):
            self._drop_connections(name)  # now: in-flight requests close without answer
            self._wake(name)
        elif isinstance(event, ServerRestarted | ServerStarted):
            self._wake(name)

    def _follow_all(self) -> None:
        """A reset or replay built the servers anew: every listener follows its own."""
        for name in self.sim.cluster.servers:
            self._wake(name)

    def _wake(self, name: str) -> None:
        self._stale.add(name)
        worker = self._workers.get(name)
        if worker is None or worker.done():
            loop = asyncio.get_running_loop()
            self._workers[name] = loop.create_task(self._follow(name))

    async def _follow(self, name: str) -> None:
        """Server `name`'s worker: converge until no event came in meanwhile."""
        while name in self._stale:
            self._stale.discard(name)
            try:
                await self._converge(name)
            except OSError as error:  # someone took the port meanwhile: the server runs unheard
                log.warning("cannot reopen the HTTP listener of %s: %s", name, error)
            except Exception:  # a dead worker would leave this listener stale for good
                log.exception("the HTTP listener of %s failed to follow its server", name)

    async def settle(self) -> None:
        """Wait until every listener follows its server's status as of this call (a later
        event may already be moving it on)."""
        working = [worker for worker in self._workers.values() if not worker.done()]
        if working:
            # asyncio.wait, not gather: a cancelled caller must not cancel a worker
            # halfway, between a server's status and its listener.
            await asyncio.wait(working)

    @staticmethod
    def identity(request: web.Request) -> str | None:
        """The server whose listener this request reached; None for any other socket."""
        site = getattr(request.protocol, "site", None)
        return site.server if isinstance(site, GoSite) else None


LISTENERS = web.AppKey("listeners", Listeners)


def handler(app: web.Application) -> Handler:
    """The app's one handler (every route's: no middleware chain), made once per app with
    what it reads of the app, as every Nomad request runs it. It decides which surface
    answers: /v1/sim/ on a server's listener is Nomad's unknown path unless the simulation
    serves control there; any other path is the Nomad API of the server whose listener the
    request reached (or the default server's: test clients), and on the control listener
    the page."""
    sim = app[SIMULATION]
    router = app[ROUTER]
    default = app[DEFAULT_SERVER] or None
    sim_on_servers = app[SIM_ON_SERVERS]
    listeners = app.get(LISTENERS)

    async def handle(request: web.Request) -> web.StreamResponse:
        name = (listeners.identity(request) if listeners is not None else None) or default
        if is_control(request.path) and (name is None or sim_on_servers):
            return await _control(request, name)
        if name is None:
            return await answer_errors(request, page.serve, control=False)
        try:
            # (through `sim` every time: a reset or replay builds a new cluster)
            if sim.cluster.servers[name].status == DOWN:
                raise ServerGoneError(name)
            return await router.serve_nomad(request, sim, name)
        except NOMAD_ERRORS as error:
            return nomad_answer(request, error)

    return handle


async def _control(request: web.Request, name: str | None) -> web.StreamResponse:
    """A control request, which may crash the very server whose listener it came through
    (`name`): its connection is spared while the action runs (the reply still goes out),
    and closes after the reply, error or not, if that server is down by then."""
    app = request.app
    listeners = app.get(LISTENERS)
    transport = request.transport
    if listeners is not None and transport is not None:
        listeners.spared.add(transport)
    try:
        response = await answer_errors(request, _serve_control, control=True)
    finally:
        if listeners is not None and transport is not None:
            listeners.spared.discard(transport)
    if name is not None and app[SIMULATION].cluster.servers[name].status == DOWN:
        if not response.prepared:  # (an event stream has sent its headers long ago)
            response.headers["Connection"] = "close"
        response.force_close()
    return response


async def _serve_control(request: web.Request) -> web.StreamResponse:
    check(request)
    app = request.app
    return await app[ROUTER].serve_control(request, app[CONTROL])


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
    app = web.Application()
    app[SIMULATION] = sim
    app[DEFAULT_SERVER] = default_server or ""
    app[SIM_ON_SERVERS] = sim.options.sim_on_servers
    app[TOKEN] = sim.options.control_token
    bind = listeners.plan.control if listeners is not None else None
    app[HOST_NAMES] = frozenset({bind[0].lower().strip("[]").rstrip(".")} if bind else ())
    settle = listeners.settle if listeners is not None else _nothing
    app[CONTROL] = Control(sim, settle)
    app[ROUTER] = Router(table_for(sim.nomad.version))
    if listeners is not None:
        app[LISTENERS] = listeners
    app.cleanup_ctx.append(_drive)
    app.on_response_prepare.append(_strip_server_header)
    # Every route is the one handler, which answers through the routes table: the endpoints' own
    # paths only spare aiohttp the walk of a path's prefixes down to the catch-all's "/"
    # and its pattern (about 4 % of the instructions a Nomad request cost).
    handle = app[HANDLER] = handler(app)
    for path in sorted({path for _, path in app[ROUTER].endpoints() if "{" not in path}):
        app.router.add_route("*", path, handle)
    # [\s\S], not `.`: a path may hold a percent-encoded newline, which `.` would not match,
    # leaving aiohttp's own 404 (an exception) to answer instead of the routes table.
    app.router.add_route("*", "/{tail:[\\s\\S]*}", handle)
    return app


async def _nothing() -> None:
    return None


async def _drive(app: web.Application) -> AsyncIterator[None]:
    driver = app[SIMULATION].driver
    driver.start()
    yield
    await driver.stop()
