"""`raftsim serve` (ring 2): a simulated cluster with one HTTP listener per server and a
control listener, until Ctrl-C. Also `Background`, the same thing on a thread of its own,
for tests and benchmarks that talk to it with blocking clients. A control listener off
loopback gets a token (`secured`): whoever can reach it could otherwise run the simulation.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from aiohttp import web

from .app import Listeners, make_app, plan
from .goserver import quiet_accept_errors
from .guard import is_loopback
from .simulation import Options, Simulation

CONTROL = ("127.0.0.1", 4649)
T = TypeVar("T")
PORT_HINT = (
    "hint: the address is in use (another raftsim serve, or a Nomad agent?): stop it, or "
    "choose other ports with --http-port P (0: any free port) and --control HOST:PORT"
)


@dataclass
class Served:
    """A running simulation and its listeners."""

    sim: Simulation
    runner: web.AppRunner
    listeners: Listeners
    generated_token: str = ""  # made up by `secured`, so the banner shows it
    restore: Callable[[], None] = lambda: None  # the loop's previous exception handler

    async def close(self) -> None:
        await self.listeners.close()  # no listener may reopen behind the cleanup's back
        await self.runner.cleanup()
        if self.sim.data is not None:
            self.sim.data.cleanup()
        self.restore()


async def start(
    options: Options,
    http_port: int = 4646,
    ports: bool | None = None,
    control: tuple[str, int] | None = CONTROL,
) -> Served:
    """Build the simulation and open every listener (OSError if one cannot be bound)."""
    secure = secured(options, control)
    sim = Simulation(secure)
    listeners = Listeners(sim, plan(sim, http_port, ports, control))
    runner = web.AppRunner(make_app(sim, listeners=listeners), shutdown_timeout=0.5)
    await runner.setup()
    try:
        await listeners.start(runner)
    except BaseException:
        await runner.cleanup()
        if sim.data is not None:
            sim.data.cleanup()
        raise
    generated = secure.control_token if secure is not options else ""
    restore = quiet_accept_errors(asyncio.get_running_loop())
    return Served(sim, runner, listeners, generated, restore)


def secured(options: Options, control: tuple[str, int] | None) -> Options:
    """`options`, with a control token made up when the control listener is off loopback
    and none was given (the same object when nothing changes)."""
    if control is None or options.control_token or is_loopback(control[0]):
        return options
    return replace(options, control_token=secrets.token_urlsafe(24))


def banner(served: Served) -> str:
    sim = served.sim
    o = sim.options
    clock = f"clock {o.mode}" + (f" x{o.speed:g}" if o.mode == "paced" else "")
    lines = [
        f"raftsim serve: {o.servers} server(s) emulating Nomad {sim.nomad.version.version} "
        f"(Raft protocol {sim.nomad.version.raft_protocol}, {sim.nomad.version.raft_library}, "
        f"profile {sim.cluster.profile.name}), seed {o.seed}, timing {o.timing}, {clock}"
    ]
    width = max(len(n) for n in sim.cluster.servers)
    for name, server in sim.cluster.servers.items():
        lines.append(f"  {name:<{width}}  raft {server.address}  http {sim.http.get(name, '-')}")
    if sim.data is not None:
        lines.append(f"  data     {sim.data.root}  (raft directory of each: <name>/server/raft/)")
    if sim.control_url:
        page = f"{sim.control_url}/"
        if served.generated_token:  # (a fragment: the browser never sends it)
            page += f"#token={served.generated_token}"
        elif o.control_token:
            page += "#token=TOKEN"  # (the token given is not echoed)
        lines.append(f"  page     {page}  (the live page: open it in a browser)")
        lines.append(f"  control  {sim.control_url}/v1/sim/state")
        if served.generated_token:
            lines.append(
                f"  token    {served.generated_token}  (the control listener is not on "
                "loopback: send 'Authorization: Bearer TOKEN' on every /v1/sim/ call)"
            )
        elif o.control_token:
            lines.append("  token    as given by --control-token, on every /v1/sim/ call")
    if o.sim_on_servers:
        lines.append("  /v1/sim/ is served on every server's listener too (--sim-on-servers)")
    if sim.management_token:
        lines.append(
            f"  acl      management token {sim.management_token}  (send it as X-Nomad-Token, "
            "or export NOMAD_TOKEN; less privileged ones: POST /v1/sim/acl/tokens)"
        )
    first = next(iter(sim.http.values()), "")
    if first:
        header = ' -H "X-Nomad-Token: $NOMAD_TOKEN"' if sim.management_token else ""
        lines.append(f"example: curl -s{header} '{first}/v1/operator/raft/configuration?stale'")
    lines.append("Ctrl-C stops it.")
    return "\n".join(lines)


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (where the loop can install signal handlers)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop


def run(
    options: Options,
    http_port: int = 4646,
    ports: bool | None = None,
    control: tuple[str, int] | None = CONTROL,
) -> int:
    """The CLI's main: serve until SIGINT or SIGTERM."""

    async def main() -> int:
        try:
            served = await start(options, http_port, ports, control)
        except OSError as error:
            print(f"error: cannot listen: {error}", file=sys.stderr)
            if error.errno == errno.EADDRINUSE:
                print(PORT_HINT, file=sys.stderr)
            return 1
        # What the process holds once it serves (modules, the app, the cluster as built)
        # lives on: leave it out of the cyclic collector's full passes, which a serve
        # under load pays again and again. (A reset then leaves the first cluster's
        # reference cycles uncollected: one cluster at most, built at time 0.)
        gc.collect()
        gc.freeze()
        print(banner(served), flush=True)
        if control is not None and not is_loopback(control[0]):
            print(
                f"warning: the control listener ({control[0]}:{control[1]}) is not on "
                "loopback: anyone who can reach it and has the token can run the simulation",
                file=sys.stderr,
                flush=True,
            )
        stop = stop_on_signals()
        try:
            await stop.wait()
        finally:
            await served.close()
            print("raftsim serve: stopped", flush=True)
        return 0

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:  # where signal handlers cannot be installed
        return 0


class Background:
    """`serve` on its own thread and loop: `with Background(options) as served: ...`.
    Only talk to it over HTTP: the simulation belongs to that thread."""

    def __init__(
        self,
        options: Options,
        http_port: int = 0,
        ports: bool | None = None,
        control: tuple[str, int] | None = ("127.0.0.1", 0),
    ) -> None:
        self._args = (options, http_port, ports, control)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.served: Served | None = None

    def __enter__(self) -> Served:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(start(*self._args), self._loop)
        self.served = future.result(timeout=30)
        return self.served

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the simulation's own loop and wait for its result (tests that
        drive the simulation directly, not over HTTP)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=60)

    def __exit__(self, *exc: object) -> None:
        if self.served is not None:
            asyncio.run_coroutine_threadsafe(self.served.close(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
