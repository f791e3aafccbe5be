"""The Go parser's fast path (raftsim/web/goserver.py `GoParser.fast_path`): the plainest
request heads are read by aiohttp's C parser (llhttp) instead of its Python parser, and
must be read exactly as the Python parser held to Go's rules reads them. A differential
test: every head the raw fuzz generates (tests/test_http_raw_fuzz.py), and plain ones
around the fast path's edges, fed to a parser with the fast path and to one without it,
give the same request or the same refusal."""

from __future__ import annotations

import asyncio
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftsim.web.goserver import HEAD_LIMIT, GoBadRequest, GoParser

from .test_http_raw_fuzz import HEADERS, METHODS, TARGETS, VERSIONS

pytestmark = pytest.mark.skipif(
    GoParser(mock.Mock(), asyncio.new_event_loop(), 2**16)._fast is None,
    reason="aiohttp runs without its C extensions here: there is no fast path",
)


def parser(fast: bool) -> GoParser:
    made = GoParser(
        mock.Mock(),
        asyncio.new_event_loop(),
        2**16,
        max_line_size=HEAD_LIMIT,
        max_field_size=HEAD_LIMIT,
        max_headers=HEAD_LIMIT // 3,
    )
    if not fast:
        made._fast = None
    return made


def outcome(fast: bool, data: bytes) -> tuple[object, ...]:
    """What a fresh parser makes of `data`: the requests read, or the refusal."""
    try:
        messages, upgraded, tail = parser(fast).feed_data(data)
    except GoBadRequest as error:
        return ("refused", type(error).__name__, error.reason)
    except Exception as error:  # any refusal, compared by its kind
        return ("refused", type(error).__name__)
    read = [
        (
            m.method,
            m.path,
            str(m.url),
            tuple(m.version),
            tuple(m.raw_headers),
            m.should_close,
            m.upgrade,
            m.chunked,
        )
        for m, _payload in messages
    ]
    return (*read, upgraded, bytes(tail))


@st.composite
def heads(draw: st.DrawFn) -> bytes:
    headers = ([] if draw(st.integers(0, 4)) == 4 else ["Host: a"]) + draw(HEADERS)
    line = f"{draw(METHODS)} {draw(TARGETS)} {draw(VERSIONS)}"
    return ("\r\n".join([line, *headers]) + "\r\n\r\n").encode("latin-1")


@settings(max_examples=400, deadline=None, derandomize=True)
@given(heads())
def test_fast_path_reads_what_the_go_parser_reads(data: bytes) -> None:
    """Generated heads: the same requests or the same refusal, with the fast path or not."""
    assert outcome(True, data) == outcome(False, data), data


PLAIN = [
    b"GET /v1/status/leader HTTP/1.1\r\nHost: 127.0.0.1:4646\r\n\r\n",
    b"GET /v1/operator/raft/configuration?stale=&pretty HTTP/1.0\r\n\r\n",
    b"DELETE /v1/operator/raft/peer?address=127.0.0.2%3A4647 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /v1/status/leader HTTP/1.1\r\n\r\n",  # no Host: Go's 400
    b"GET /v1/status/leader HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",  # two: Go's 400
    b"GET /v1/status/leader HTTP/1.1\r\nHost: a b\r\n\r\n",  # malformed Host
    b"GET /v1/status/leader HTTP/1.1\r\nHost : a\r\n\r\n",  # space before the colon
    b"GET /v1/status/leader HTTP/1.1\r\nHost: a\r\nX: y\x7f\r\n\r\n",  # DEL: not plain
    b"GET /v1/status/leader HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",  # obs-fold
    b"GET /a/../b//c/./d HTTP/1.1\r\nHost: a\r\n\r\n",  # cleaned by ServeMux, not here
    b"PUT /v1/agent/force-leave?node=x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
    b"GET /v1/status/leader HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET /v1/status/leader HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"get /v1/status/leader HTTP/1.1\r\nHost: a\r\n\r\n",  # Go keeps the case
]


@pytest.mark.parametrize("data", PLAIN)
def test_fast_path_edges(data: bytes) -> None:
    """Plain requests and the cases at the fast path's edges read alike both ways."""
    assert outcome(True, data) == outcome(False, data)


def test_fast_path_takes_the_plain_requests() -> None:
    """The fast path is taken for a client's ordinary request (else it gains nothing)."""
    assert parser(True).fast_path(PLAIN[0])
    assert parser(True).fast_path(PLAIN[2])
    assert not parser(True).fast_path(PLAIN[10])  # a body announced: the Python parser
    assert not parser(True).fast_path(PLAIN[12])  # two heads at once


def read_in_turn(fast: bool, chunks: list[bytes]) -> list[tuple[object, ...]]:
    """What one parser (one keep-alive connection) makes of each chunk in turn."""
    made = parser(fast)
    seen: list[tuple[object, ...]] = []
    for chunk in chunks:
        try:
            messages, _, _ = made.feed_data(chunk)
        except GoBadRequest as error:
            seen.append(("refused", error.reason))
            made = parser(fast)  # Go closes the connection after its 400
            continue
        seen.append(tuple((m.method, m.path, tuple(m.raw_headers)) for m, _ in messages))
    return seen


@pytest.mark.parametrize(
    "chunks",
    [
        [PLAIN[0]] * 3,  # the same head again: judged once, read alike every time
        [PLAIN[5]] * 3,  # a malformed Host is refused every time, never taken as passed
        [PLAIN[0], b"GET /x HTTP/1.1\r\nX-Y: ", PLAIN[0]],  # it ends a pending head
    ],
    ids=["again", "bad-host-again", "pending-head"],
)
def test_fast_path_judges_a_head_again_as_the_first_time(chunks: list[bytes]) -> None:
    """Heads that passed are remembered (`_PASSED`): a repeated head reads as the Python
    parser reads it, a refused one is refused again, and a remembered head that arrives
    while another head is pending is not taken for one between requests."""
    assert read_in_turn(True, chunks) == read_in_turn(False, chunks)
