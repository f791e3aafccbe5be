"""Connection and log hygiene of every listener (raftsim/web/goserver.py): a head that never
comes and a kept-alive connection that idles are closed, a listener holds at most so many
connections, a flood of malformed requests or of accept errors costs one log line.

Timeouts are configured small; the only thing asserted of time is that a connection is
closed eventually, within a bound far above them."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import AsyncIterator, Callable

import pytest

from raftsim.web import Options, goserver, start
from raftsim.web.serve import Served

EVENTUALLY = 20  # seconds: far above every timeout configured here
KEEP_ALIVE = b"GET /v1/status/leader?stale HTTP/1.1\r\nHost: a\r\n\r\n"


async def serve(**limits: float) -> Served:
    return await start(
        Options(servers=3, mode="demand", seed=5, **limits),  # type: ignore[arg-type]
        http_port=0,
        ports=True,
        control=("127.0.0.1", 0),
    )


@pytest.fixture
async def quick() -> AsyncIterator[Served]:
    """Timeouts of a fifth of a second, at most three connections per listener."""
    running = await serve(header_timeout=0.2, idle_timeout=0.2, max_connections=3)
    yield running
    await running.close()


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes (a TimeoutError if it never does)."""
    return await asyncio.wait_for(reader.read(), EVENTUALLY)


async def read_answer(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), EVENTUALLY)
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return head + await reader.readexactly(length)


@pytest.mark.parametrize("sent", [b"", b"GET /v1/status/leader HTTP/1.1\r\nHost: a\r\n"])
async def test_connections_head_not_sent_in_time_is_closed_unanswered(
    quick: Served, sent: bytes
) -> None:
    """A connection that sends no head, or half of one, is closed without an answer, as
    Go closes it when ReadHeaderTimeout passes (aiohttp kept it for an hour)."""
    reader, writer = await asyncio.open_connection(*quick.listeners.bound["alice"])
    writer.write(sent)
    assert await closed_by_server(reader) == b""
    writer.close()


async def test_connections_idle_keep_alive_is_closed(quick: Served) -> None:
    """A kept-alive connection is served, then closed once it idles past the timeout."""
    reader, writer = await asyncio.open_connection(*quick.listeners.bound["alice"])
    writer.write(KEEP_ALIVE)
    assert (await read_answer(reader)).startswith(b"HTTP/1.1 200 OK")
    writer.write(KEEP_ALIVE)  # still open at once: the idle timer restarts per answer
    assert (await read_answer(reader)).startswith(b"HTTP/1.1 200 OK")
    assert await closed_by_server(reader) == b""
    writer.close()


async def test_connections_slow_handler_is_not_cut_by_the_timeouts() -> None:
    """The timeouts bound reading and idling, not an answer that takes long: a request the
    leaderless cluster holds (5 s of virtual time, paced at 20x) outlives both."""
    running = await serve(header_timeout=0.05, idle_timeout=0.05)
    try:
        running.sim.driver.set_mode("paced", 20.0)
        for name in ("alice", "bob"):
            running.sim.cluster.crash(name)
        reader, writer = await asyncio.open_connection(*running.listeners.bound["carol"])
        writer.write(b"GET /v1/status/leader HTTP/1.1\r\nHost: a\r\n\r\n")
        answer = await read_answer(reader)
        assert answer.endswith(b"No cluster leader")
        writer.close()
    finally:
        await running.close()


async def test_connections_over_the_cap_get_429_and_close(quick: Served) -> None:
    """A listener holds at most `max_connections`; the next one gets Nomad's bare 429 (its
    later connection limiter's) and is closed; once one closes, a new one is served."""
    address = quick.listeners.bound["bob"]
    held = [await asyncio.open_connection(*address) for _ in range(3)]
    for reader, writer in held:  # each one accepted and served
        writer.write(KEEP_ALIVE)
        assert (await read_answer(reader)).startswith(b"HTTP/1.1 200 OK")
    reader, writer = await asyncio.open_connection(*address)
    assert await closed_by_server(reader) == goserver.TOO_MANY
    writer.close()
    other = quick.listeners.bound["alice"]  # the cap is per listener
    reader, writer = await asyncio.open_connection(*other)
    writer.write(KEEP_ALIVE)
    assert (await read_answer(reader)).startswith(b"HTTP/1.1 200 OK")
    writer.close()
    held[0][1].close()
    await asyncio.wait_for(held[0][1].wait_closed(), EVENTUALLY)
    for _ in range(100):  # the server sees the close a moment later
        reader, writer = await asyncio.open_connection(*address)
        writer.write(KEEP_ALIVE)
        answer = await asyncio.wait_for(reader.read(1000), EVENTUALLY)
        writer.close()
        if answer != goserver.TOO_MANY:
            break
        await asyncio.sleep(0.05)
    assert answer.startswith(b"HTTP/1.1 200 OK")
    for _, w in held[1:]:
        w.close()


@pytest.fixture
def fresh_limiters(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rate limiters with no history (they are per process)."""
    monkeypatch.setattr(goserver, "BAD_REQUESTS", goserver.RateLimitedLog())
    monkeypatch.setattr(goserver, "ACCEPT_ERRORS", goserver.RateLimitedLog())


@pytest.mark.usefixtures("fresh_limiters")
async def test_connections_malformed_requests_log_one_line(
    quick: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """Fifty malformed requests of three kinds log one line, no traceback (aiohttp logged a
    full traceback for each)."""
    caplog.set_level(logging.DEBUG)
    address = quick.listeners.bound["carol"]
    kinds = [
        b"GET /x HTTP/1.1\r\nHost: a\r\nX: " + b"a" * (goserver.HEAD_LIMIT + 1) + b"\r\n\r\n",
        b"GET /v1/status/leader\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\r\n\r\n",
    ]
    for i in range(50):
        reader, writer = await asyncio.open_connection(*address)
        writer.write(kinds[i % 3])
        await closed_by_server(reader)
        writer.close()
    logged = [r for r in caplog.records if r.name.startswith(("raftsim", "aiohttp"))]
    assert len(logged) == 1, [r.getMessage() for r in logged]
    assert logged[0].exc_info is None
    assert "\n" not in logged[0].getMessage()


def accept_failure(sock: socket.socket) -> dict[str, object]:
    """What asyncio's selector loop reports when accept() fails for want of descriptors
    (selector_events._accept_connection), once per listener and retry second."""
    return {
        "message": "socket.accept() out of system resource",
        "exception": OSError(errno.EMFILE, "Too many open files"),
        "socket": sock,
    }


@pytest.mark.usefixtures("fresh_limiters")
async def test_connections_accept_errors_log_once_per_interval(
    quick: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """Six listeners failing to accept every second for a minute log one line; any other
    loop error still reaches the handler that was there before."""
    caplog.set_level(logging.DEBUG)
    loop = asyncio.get_running_loop()
    handler: Callable[..., None] | None = loop.get_exception_handler()
    assert handler is not None  # installed by start()
    with socket.socket() as sock:
        for _ in range(360):
            handler(loop, accept_failure(sock))
    lines = [r for r in caplog.records if "accept" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].exc_info is None
    handler(loop, {"message": "something else"})
    assert any(r.getMessage() == "something else" for r in caplog.records)


async def test_connections_accept_error_handler_is_removed_on_close() -> None:
    """Closing the served cluster puts the loop's previous exception handler back."""
    loop = asyncio.get_running_loop()
    before = loop.get_exception_handler()
    running = await serve()
    assert loop.get_exception_handler() is not before
    await running.close()
    assert loop.get_exception_handler() is before
