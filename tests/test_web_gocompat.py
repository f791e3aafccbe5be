"""Go's parsing as Nomad's handlers see it (ring 2, raftsim/web/gocompat.py) and Go's `%q`
(ring 1b, raftsim/nomad/errors.py): one table row per Go behaviour that matters here."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest

from raftsim.nomad import go_quote
from raftsim.web import Options, start
from raftsim.web.gocompat import (
    Redirect,
    ServeMux,
    clean_path,
    parse_duration,
    parse_query,
    parse_uint,
)
from raftsim.web.serve import Served


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("stale", {"stale": [""]}),
        ("stale=&stale=false", {"stale": ["", "false"]}),
        ("a=1;b=2", {"a": ["1"], "b": ["2"]}),  # Go 1.8 splits on ';' too
        ("address=1.2.3.4%3A4647", {"address": ["1.2.3.4:4647"]}),
        ("node=a+b", {"node": ["a b"]}),
        ("bad=%zz&ok=1", {"ok": ["1"]}),  # a pair that fails to unescape is dropped
        ("&&=x&", {"": ["x"]}),
        ("", {}),
    ],
)
def test_gocompat_parse_query_matches_url_parsequery(raw: str, expected: object) -> None:
    """url.ParseQuery as URL.Query() uses it: errors drop the pair, not the request."""
    assert parse_query(raw) == expected


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        ("0", 0),
        ("5s", 5_000_000_000),
        ("1.5h", 5_400_000_000_000),
        ("-1m30s", -90_000_000_000),
        ("+.5ms", 500_000),
        ("1us", 1_000),
        ("1µs", 1_000),
        ("5", None),  # missing unit
        ("5d", None),  # unknown unit
        (".s", None),
        ("", None),
        ("-", None),
        ("9999999999999999999s", None),  # overflow
    ],
)
def test_gocompat_parse_duration_matches_time_parseduration(
    text: str, nanoseconds: int | None
) -> None:
    """time.ParseDuration: `Invalid wait time` exactly where Go fails."""
    assert parse_duration(text) == nanoseconds


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("42", 42),
        ("18446744073709551615", 2**64 - 1),
        ("18446744073709551616", None),
        ("-1", None),
        ("+1", None),
        ("1_000", None),
        ("0x10", None),
        ("", None),
    ],
)
def test_gocompat_parse_uint_matches_strconv(text: str, value: int | None) -> None:
    """strconv.ParseUint(s, 10, 64): digits only, within 64 bits."""
    assert parse_uint(text) == value


@pytest.mark.parametrize(
    ("path", "cleaned"),
    [
        ("/v1/status/leader", "/v1/status/leader"),
        ("//v1/status/leader", "/v1/status/leader"),
        ("/v1/./status/../status/leader", "/v1/status/leader"),
        ("/v1/operator/", "/v1/operator/"),
        ("/..", "/"),
        ("", "/"),
    ],
)
def test_gocompat_clean_path_matches_servemux(path: str, cleaned: str) -> None:
    """net/http cleanPath: path.Clean, keeping a trailing slash."""
    assert clean_path(path) == cleaned


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("1.2.3.4:4647", '"1.2.3.4:4647"'),
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("tab\there\n", '"tab\\there\\n"'),
        ("\x01", '"\\x01"'),
        ("é", '"é"'),
        ("\udcff", '"\\xff"'),  # an undecodable byte
    ],
)
def test_gocompat_go_quote_matches_strconv_quote(text: str, quoted: str) -> None:
    """Go's %q, used in `address "..." was not found in the Raft configuration`."""
    assert go_quote(text) == quoted


def test_gocompat_servemux_matches_like_go() -> None:
    """ServeMux: exact patterns, the longest subtree, a subtree root redirected to its slash
    (unless registered itself), unclean paths redirected, anything else unmatched."""
    mux = ServeMux({"/a": "a", "/a/": "a/", "/a/b/": "a/b/", "/c/": "c/"})
    assert mux.match("/a") == "a"  # registered: no redirect to /a/
    assert mux.match("/a/x") == "a/"
    assert mux.match("/a/b/x") == "a/b/"
    assert mux.match("/a/b") == Redirect("/a/b/")
    assert mux.match("/c") == Redirect("/c/")
    assert mux.match("//c/x") == Redirect("/c/x")
    assert mux.match("/d") is None


# ------------------------------------------------------------ Go's HTTP server, on the wire
# Raw sockets against a served cluster (raftsim/web/goserver.py): what Go 1.8's net/http
# answers before Nomad's handlers run, byte for byte where Go writes the bytes itself.

GO_400 = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
GO_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\n"
    b"Connection: close\r\n\r\n431 Request Header Fields Too Large"
)
HEAD_LIMIT = (1 << 20) + 4096  # DefaultMaxHeaderBytes + bufio slop


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    running = await start(
        Options(servers=3, mode="demand", seed=3), http_port=0, ports=True, control=None
    )
    yield running
    await running.close()


async def exchange(address: tuple[str, int], data: bytes, half_close: bool = False) -> bytes:
    """Send `data` on a new connection and read until the server closes it (or 10 s)."""
    reader, writer = await asyncio.open_connection(*address)
    writer.write(data)
    if half_close:
        writer.write_eof()
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


def leader_request(method: bytes = b"GET", extra: bytes = b"") -> bytes:
    return (
        method
        + b" /v1/status/leader?stale HTTP/1.1\r\nHost: a\r\n"
        + extra
        + b"Connection: close\r\n\r\n"
    )


async def test_gocompat_head_up_to_go_limit_is_served(served: Served) -> None:
    """Go reads heads up to 1 MB (aiohttp stopped at 8,190 bytes with its own 400)."""
    address = served.listeners.bound["alice"]
    long_line = leader_request(extra=b"X-A: " + b"a" * 9_000 + b"\r\n")
    assert (await exchange(address, long_line)).startswith(b"HTTP/1.1 200 OK\r\n")
    query = b"GET /v1/status/leader?stale&pad=" + b"p" * 500_000 + b" HTTP/1.1\r\n"
    near = query + b"Host: a\r\nX-B: " + b"b" * 500_000 + b"\r\nConnection: close\r\n\r\n"
    assert len(near) < HEAD_LIMIT
    assert (await exchange(address, near)).startswith(b"HTTP/1.1 200 OK\r\n")


async def test_gocompat_head_over_go_limit_is_go_431(served: Served) -> None:
    """Over 1 MB (+4,096) Go answers 431 in its own words, then closes."""
    address = served.listeners.bound["alice"]
    over = leader_request(extra=b"X-A: " + b"a" * HEAD_LIMIT + b"\r\n")
    assert await exchange(address, over) == GO_431
    one_line = b"GET /v1/status/leader?" + b"q" * HEAD_LIMIT + b" HTTP/1.1\r\n"
    assert await exchange(address, one_line) == GO_431  # no need to wait for the headers


@pytest.mark.parametrize(
    ("method", "status"),
    [
        (b"get", b"405"),  # not GET: Nomad's handler refuses it as any other method
        (b"FOO", b"405"),
        (b"Get", b"405"),
        (b"GET", b"200"),
    ],
)
async def test_gocompat_any_token_method_reaches_nomad(
    served: Served, method: bytes, status: bytes
) -> None:
    """Go passes any token as the method, case kept; Nomad's handler answers it."""
    answer = await exchange(served.listeners.bound["alice"], leader_request(method))
    assert answer.startswith(b"HTTP/1.1 " + status)
    if status == b"405":
        assert answer.endswith(b"\r\n\r\nInvalid method")


@pytest.mark.parametrize(
    ("request_bytes", "reason"),
    [
        (b"GET /v1/status/leader\r\n", b""),  # HTTP/0.9: no version
        (b"GET /v1/status/leader\r\n\r\n", b""),
        (b"G(T /v1/status/leader HTTP/1.1\r\nHost: a\r\n\r\n", b""),  # not a token
        (b"GET /v1/status/leader HTTP/1.x\r\nHost: a\r\n\r\n", b""),
        (b"GET /v1/status/leader HTTP/2.0\r\nHost: a\r\n\r\n", b": unsupported protocol version"),
        (b"GET /v1/status/leader HTTP/1.1\r\n\r\n", b": missing required Host header"),
        (
            b"GET /v1/status/leader HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            b": too many Host headers",
        ),
        (b"GET /v1/status/leader HTTP/1.1\r\nHost: a b\r\n\r\n", b": malformed Host header"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", b""),  # TLS to a plain port
    ],
    ids=[
        "http09",
        "http09-blank",
        "method",
        "version",
        "http2",
        "no-host",
        "two-hosts",
        "bad-host",
        "tls",
    ],
)
async def test_gocompat_unreadable_request_gets_go_400(
    served: Served, request_bytes: bytes, reason: bytes
) -> None:
    """Go's conn.serve answers what it cannot read with its bare 400 (a badRequestError's
    text appended), never aiohttp's page, and never `HTTP/0.9 200 OK`."""
    answer = await exchange(served.listeners.bound["bob"], request_bytes)
    assert answer == GO_400 + b"400 Bad Request" + reason


async def test_gocompat_http09_line_is_answered_without_waiting_for_headers(
    served: Served,
) -> None:
    """An HTTP/0.9 client sends its line and waits: Go answers the line at once."""
    reader, writer = await asyncio.open_connection(*served.listeners.bound["bob"])
    writer.write(b"GET /v1/status/leader\r\n")
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer == GO_400 + b"400 Bad Request"


@pytest.mark.parametrize(
    ("method", "answer"),
    [
        (b"OPTIONS", rb"HTTP/1\.1 200 OK\r\nContent-Length: 0\r\nDate: [^\r]+ GMT\r\n\r\n"),
        (
            b"GET",
            rb"HTTP/1\.1 400 Bad Request\r\nConnection: close\r\nDate: [^\r]+ GMT\r\n"
            rb"Content-Length: 0\r\n\r\n",
        ),
    ],
)
async def test_gocompat_asterisk_target_is_answered_by_go(
    served: Served, method: bytes, answer: bytes
) -> None:
    """`OPTIONS *` gets net/http's globalOptionsHandler (an empty 200), any other method
    with "*" ServeMux's bare 400; neither reaches Nomad's routes (aiohttp said 404)."""
    request = method + b" * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    assert re.fullmatch(answer, await exchange(served.listeners.bound["alice"], request))
