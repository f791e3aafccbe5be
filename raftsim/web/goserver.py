"""What Go's net/http server does to a connection before Nomad's handlers see a request
(ring 2), in place of aiohttp's own: `GoSite` is the TCP site of every listener, and each of
its connections is a `GoConnection`, aiohttp's request handler with Go's parsing and limits.

Nomad 0.5.6 serves its API with `http.Serve` and a zero `http.Server` (Go 1.8): a request
head (line and headers) of up to `DefaultMaxHeaderBytes` (1 MB, plus 4,096 bytes of bufio
slop) is read, a longer one gets a 431; any method that is a token reaches the handlers as
sent (`get` is not `GET`, so Nomad's handlers refuse it as any wrong method); a malformed
request (a line without an HTTP version, a bad version, an HTTP/1.1 request without Host)
gets Go's bare `400 Bad Request`, then the connection closes. Go's texts are written byte for
byte: no Date, no Content-Length, no Server header, as Go 1.8's `conn.serve` writes them.

What Nomad 0.5.6 does not have, and a simulator left running should: a header-read timeout
and an idle keep-alive timeout (Nomad sets neither: no `ReadHeaderTimeout`, no `IdleTimeout`,
so Go waits forever; only TCP keep-alives, every 30 s, find dead peers), a cap on the
connections of a listener (Nomad 0.5.6 has none; from 0.10.3 `limits.http_max_conns_per_client`
defaults to 100 per client address, answered with a bare 429, as here), one short log line,
rate-limited, per malformed request instead of aiohttp's traceback, and accept errors (the
process out of file descriptors) logged once per interval instead of once per listener and
second.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

from aiohttp import http_parser, web
from aiohttp.http_exceptions import BadHttpMessage, HttpProcessingError, LineTooLong
from aiohttp.http_parser import HttpRequestParserPy, RawRequestMessage
from aiohttp.web_protocol import MAX_MSG_QUEUE_SIZE, RequestHandler, RequestPayloadError
from aiohttp.web_request import BaseRequest

log = logging.getLogger("raftsim.web")

# net/http: DefaultMaxHeaderBytes (1 << 20) plus the 4,096 bytes initialReadLimitSize adds for
# bufio's read-ahead: the most a request head may take, its final blank line included.
HEAD_LIMIT = (1 << 20) + 4096

# What Go 1.8's conn.serve writes for a request it cannot read, then it closes.
_HEADERS = b"\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large" + _HEADERS
TOO_LARGE += b"431 Request Header Fields Too Large"
BAD_REQUEST = b"HTTP/1.1 400 Bad Request" + _HEADERS + b"400 Bad Request"
# Nomad >= 0.10.3's connection limiter (connlimit's default 429 handler) for a connection
# over the cap.
TOO_MANY = b"HTTP/1.1 429 Too Many Requests\r\n\r\n"

# RFC 7230 tchar, which Go's validMethod accepts (any case).
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# httplex.ValidHostHeader's bytes.
_HOST = re.compile(rb"[0-9A-Za-z!$%&'()*+,\-.:;=\[\]_~]*")
_BIG = 1_000_000  # ParseHTTPVersion's limit on each number

# aiohttp's C parser (llhttp), absent where aiohttp runs without its extensions.
_FastParser: Any = getattr(http_parser, "HttpRequestParserC", None)
# A request head llhttp reads exactly as Go does (`GoParser.fast_path`): a request line with
# a method llhttp knows, written in upper case as Go keeps it, an origin-form target of
# plain URI characters, HTTP/1.0 or 1.1; no control character but CR and LF, no byte
# beyond ASCII, and no header that announces a body or an upgrade.
_PLAIN_LINE = re.compile(
    rb"(?:GET|PUT|POST|DELETE|HEAD) /[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]* HTTP/1\.[01]\r\n"
)
_PLAIN_BYTES = bytes(range(0x20, 0x7F)) + b"\t\r\n"


# Heads that took the fast path and passed Go's Host rules: both depend on the bytes alone,
# and a client sends the same head again and again, so these skip the checks (the pending
# state is still checked: a head passes only between requests). Bounded, short heads only.
_PASSED: dict[bytes, None] = {}
PASSED_KEPT = 256
PASSED_HEAD_MAX = 4096


def _announces_nothing(head: bytes) -> bool:
    """No header (in a lower-cased head) that announces a body or an upgrade."""
    return (
        b"content-length" not in head
        and b"transfer-encoding" not in head
        and (b"upgrade" not in head)
    )


class GoBadRequest(HttpProcessingError):
    """A request Go refuses with 400; `reason` is a badRequestError's text, which Go appends
    to the body ("400 Bad Request: missing required Host header"), or "" for its other
    errors (malformed request line, invalid method, malformed version), which it does not."""

    code = 400

    def __init__(self, log_text: str, reason: str = "") -> None:
        super().__init__(message=log_text)
        self.reason = reason


class AsteriskTarget(HttpProcessingError):
    """A request for "*", which Go answers before Nomad's mux sees it: `OPTIONS *` with
    globalOptionsHandler's empty 200, any other method with ServeMux's bare 400."""

    code = 400

    def __init__(self, options: bool) -> None:
        super().__init__(message="request for *")
        self.options = options


class HeadTooLarge(HttpProcessingError):
    """A request head over `HEAD_LIMIT`: Go's errTooLarge, answered with a 431."""

    code = 431


def _go_version(proto: bytes) -> tuple[int, int] | None:
    """net/http ParseHTTPVersion: "HTTP/major.minor", each an Atoi within 0..1,000,000."""
    if proto == b"HTTP/1.1":
        return 1, 1
    if proto == b"HTTP/1.0":
        return 1, 0
    if not proto.startswith(b"HTTP/"):
        return None
    major, dot, minor = proto[5:].partition(b".")
    if not dot:
        return None
    numbers = []
    for part in (major, minor):
        digits = part[1:] if part[:1] in (b"+", b"-") else part
        if not digits or not digits.isdigit():
            return None
        value = int(part)
        if value < 0 or value > _BIG:
            return None
        numbers.append(value)
    return numbers[0], numbers[1]


def check_request_line(line: bytes) -> tuple[bytes, bytes, tuple[int, int]]:
    """net/http readRequest on the request line: "METHOD URI PROTO" split at the first two
    spaces, the method a token, the version HTTP/1.x (`http1ServerSupportsRequest`)."""
    first = line.find(b" ")
    second = line.find(b" ", first + 1) if first >= 0 else -1
    if first < 0 or second < 0:
        raise GoBadRequest("malformed HTTP request")
    method, uri, proto = line[:first], line[first + 1 : second], line[second + 1 :]
    if not _TOKEN.fullmatch(method):
        raise GoBadRequest("invalid method")
    version = _go_version(proto)
    if version is None:
        raise GoBadRequest("malformed HTTP version")
    if not uri:
        raise GoBadRequest("invalid URI for request")
    if version[0] != 1:
        # PRI * HTTP/2.0 passes Go's check too, then ServeMux answers "*" with a 400.
        raise GoBadRequest("unsupported protocol version", "unsupported protocol version")
    return method, uri, version


def check_hosts(message: RawRequestMessage, version: tuple[int, int]) -> None:
    """Go's rules for Host: required from HTTP/1.1, at most one, of httplex's bytes."""
    hosts = message.headers.getall("Host", [])
    if version >= (1, 1) and not hosts:
        raise GoBadRequest("missing Host", "missing required Host header")
    if len(hosts) > 1:
        raise GoBadRequest("several Host headers", "too many Host headers")
    if hosts and not _HOST.fullmatch(hosts[0].encode("utf-8", "surrogateescape")):
        raise GoBadRequest("malformed Host", "malformed Host header")


class GoParser(HttpRequestParserPy):
    """aiohttp's Python request parser held to Go's rules: see the module docstring. The C
    parser (llhttp) cannot be in general: it knows a fixed list of upper-case methods, and
    its refusals are not Go's. It reads the plainest requests, which are nearly all of them,
    four times faster, and reads them as Go does: those take it (`fast_path`); a refusal of
    it, or anything less plain, goes through the Python parser and Go's rules."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fast_args = (args, kwargs)
        self._fast = _FastParser(*args, **kwargs) if _FastParser is not None else None

    def fast_path(self, data: bytes) -> bool:
        """Is `data` exactly one plain head without a body (see `_PLAIN_LINE`), arriving
        between requests? Then llhttp's reading of it is Go's, and nothing is pending."""
        end = len(data) - 4
        return (
            self._fast is not None
            and end > 0
            and data.find(b"\r\n\r\n") == end
            and self._between_requests()
            and data.count(b"\n") == data.count(b"\r\n")
            and _PLAIN_LINE.match(data) is not None
            and not data.translate(None, _PLAIN_BYTES)
            and _announces_nothing(data.lower())
        )

    def _between_requests(self) -> bool:
        return not (self._lines or self._tail or self._payload_parser is not None)

    def feed_data(self, data: bytes, *args: Any, **kwargs: Any) -> Any:
        fast = self._fast
        if fast is not None and (
            (data in _PASSED and self._between_requests()) or self.fast_path(data)
        ):
            try:
                messages, upgraded, tail = fast.feed_data(data)
            except HttpProcessingError:
                # Its state is spent; the Python parser reads the same bytes as Go would.
                args_, kwargs_ = self._fast_args
                self._fast = _FastParser(*args_, **kwargs_)
            else:
                if data not in _PASSED:
                    message = messages[0][0]
                    check_hosts(message, (message.version.major, message.version.minor))
                    if len(data) <= PASSED_HEAD_MAX:
                        if len(_PASSED) >= PASSED_KEPT:
                            _PASSED.clear()
                        _PASSED[data] = None
                return messages, upgraded, tail
        messages, upgraded, tail = super().feed_data(data, *args, **kwargs)
        # Go answers a bad request line as soon as it has read it, headers or not (a client
        # speaking HTTP/0.9 sends nothing after it); with requests parsed just before it, the
        # line is judged with the rest of its head instead.
        if not messages and self._lines:
            check_request_line(self._lines[0])
        if self.head_size() > HEAD_LIMIT:
            raise HeadTooLarge(message="request head over 1 MB")
        return messages, upgraded, tail

    def head_size(self) -> int:
        """Bytes of the head being read so far (0 between requests)."""
        return sum(len(line) + 2 for line in self._lines) + len(self._tail)

    def head_pending(self) -> bool:
        return bool(self._lines or self._tail) and self._payload_parser is None

    def parse_message(self, lines: list[bytes]) -> RawRequestMessage:
        if sum(len(line) + 2 for line in lines) > HEAD_LIMIT:
            raise HeadTooLarge(message="request head over 1 MB")
        method, uri, version = check_request_line(lines[0])
        if uri == b"*":
            raise AsteriskTarget(method == b"OPTIONS")
        try:
            message = super().parse_message(lines)
        except BadHttpMessage as error:
            # aiohttp checks Host there, and refuses a second one as a duplicate.
            if error.message.startswith("Missing 'Host'"):
                raise GoBadRequest("missing Host", "missing required Host header") from None
            if error.message.startswith("Duplicate 'Host'"):
                raise GoBadRequest("several Host headers", "too many Host headers") from None
            raise
        check_hosts(message, version)
        # aiohttp upper-cases the method; Go keeps it as sent.
        return message._replace(method=method.decode("ascii"))


class RateLimitedLog:
    """One log line per `interval` seconds at most; the lines left out are counted and the
    next line says how many (a flood of bad requests or accept errors costs one line)."""

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.interval = interval
        self.clock = clock
        self.next_at = float("-inf")
        self.skipped = 0

    def __call__(self, level: int, text: str, *args: object) -> bool:
        now = self.clock()
        if now < self.next_at:
            self.skipped += 1
            return False
        if self.skipped:
            text += f" ({self.skipped} more like it in the last {self.interval:g} s not logged)"
        self.skipped = 0
        self.next_at = now + self.interval
        log.log(level, text, *args)
        return True


BAD_REQUESTS = RateLimitedLog()
ACCEPT_ERRORS = RateLimitedLog()


class _Raw(web.StreamResponse):
    """Bytes written as they are, as Go writes its answers to unreadable requests."""

    def __init__(self, data: bytes) -> None:
        super().__init__(status=400)
        self._data = data
        self.force_close()

    async def prepare(self, request: BaseRequest) -> None:
        transport = request.transport
        if transport is not None and not transport.is_closing():
            transport.write(self._data)

    async def write_eof(self, data: bytes = b"") -> None:
        return None


class GoConnection(RequestHandler):
    """One connection to a `GoSite`: aiohttp's handler with `GoParser`, Go's answers to
    requests it cannot read, a header-read timeout, and the site's connection cap."""

    def __init__(self, site: GoSite, manager: web.Server, loop: asyncio.AbstractEventLoop) -> None:
        limits = site.limits
        super().__init__(
            manager,
            loop=loop,
            keepalive_timeout=limits.idle_timeout,
            max_line_size=HEAD_LIMIT,
            max_field_size=HEAD_LIMIT,
            max_headers=HEAD_LIMIT // 3,  # no count limit in Go: each line takes 3 bytes or more
        )
        self._parser = GoParser(
            self,
            loop,
            2**16,
            max_line_size=HEAD_LIMIT,
            max_field_size=HEAD_LIMIT,
            max_headers=HEAD_LIMIT // 3,
            payload_exception=RequestPayloadError,
            max_msg_queue_size=MAX_MSG_QUEUE_SIZE,
        )
        self.site = site
        self.refused = False
        self.header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        site = self.site
        if len(site.live) >= site.limits.max_connections:
            # Over the cap: a bare 429 and close, before anything is read or registered.
            self.refused = True
            self._force_close = True
            t: Any = transport
            t.write(TOO_MANY)
            t.close()
            BAD_REQUESTS(
                logging.WARNING,
                "%s: connection refused, %d open (the cap)",
                site.name,
                site.limits.max_connections,
            )
            return
        site.live.add(self)
        super().connection_made(transport)
        self._arm_header_timer()  # Go reads the first head at once, under ReadHeaderTimeout

    def connection_lost(self, exc: BaseException | None) -> None:
        self.site.live.discard(self)
        self._disarm_header_timer()
        if self.refused:
            return
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        parser = self._parser
        if isinstance(parser, GoParser) and parser.head_pending():
            if self.header_timer is None:
                self._arm_header_timer()
        elif self._messages or self._request_in_progress:
            self._disarm_header_timer()

    def _arm_header_timer(self) -> None:
        timeout = self.site.limits.header_timeout
        if timeout > 0 and self.header_timer is None:
            self.header_timer = self._loop.call_later(timeout, self._header_timed_out)

    def _disarm_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _header_timed_out(self) -> None:
        self.header_timer = None
        parser = self._parser
        pending = isinstance(parser, GoParser) and parser.head_pending()
        idle_start = self._request_count == 0 and not self._messages
        if self._request_in_progress:  # Go reads no head while a handler runs
            self._arm_header_timer()
        elif pending or idle_start:
            # Go: a read deadline passed, isCommonNetReadError: close without an answer.
            self.force_close()

    def log_access(
        self, request: BaseRequest, response: web.StreamResponse, time: float | None
    ) -> None:
        if not isinstance(response, _Raw):  # logged once, rate-limited, by handle_error
            super().log_access(request, response, time)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        if isinstance(exc, AsteriskTarget):
            # Written by Go's response writer, not conn.serve: sorted handler headers, then
            # Date, then Content-Length. (Go keeps the connection after OPTIONS *; this one
            # closes it, as every answer here does.)
            date = formatdate(usegmt=True).encode()
            if exc.options:
                return _Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nDate: " + date + b"\r\n\r\n")
            return _Raw(
                b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nDate: "
                + date
                + b"\r\nContent-Length: 0\r\n\r\n"
            )
        if isinstance(exc, HeadTooLarge | LineTooLong):
            data = TOO_LARGE
            what = "request head over 1 MB"
        elif isinstance(exc, GoBadRequest):
            data = BAD_REQUEST + (b": " + exc.reason.encode() if exc.reason else b"")
            what = exc.message
        else:
            data = BAD_REQUEST
            what = exc.message.splitlines()[0][:100] if exc.message else type(exc).__name__
        BAD_REQUESTS(
            logging.INFO, "%s: unreadable request from %s: %s", self.site.name, request.remote, what
        )
        return _Raw(data)


class Limits:
    """A listener's connection limits (see the module docstring for why and Nomad's)."""

    def __init__(
        self, header_timeout: float = 30.0, idle_timeout: float = 120.0, max_connections: int = 512
    ) -> None:
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections


class GoSite(web.TCPSite):
    """A TCP site whose connections are `GoConnection`s, at most `limits.max_connections`
    of them open at once; the listener of `server` (a request's connection tells which
    server it reached)."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        limits: Limits | None = None,
        server: str | None = None,
    ) -> None:
        super().__init__(runner, host, port, reuse_address=True)
        self.limits = limits or Limits()
        self.server = server  # the simulated server it is the listener of (None: control)
        self.live: set[GoConnection] = set()

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registered with the runner, as TCPSite does
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None

        def connection() -> GoConnection:
            return GoConnection(self, server, loop)

        self._server = await loop.create_server(
            connection, self._host, self._port, backlog=self._backlog, reuse_address=True
        )
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port


def quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """Log asyncio's accept failures (out of file descriptors or buffers: every listener
    retries each second) as one line per interval; everything else goes to the handler there
    was. Returns what puts that handler back."""
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == "socket.accept() out of system resource":
            ACCEPT_ERRORS(
                logging.ERROR,
                "cannot accept connections: %s (retrying every second)",
                context.get("exception"),
            )
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)

    def restore() -> None:
        if loop.get_exception_handler() is handler:
            loop.set_exception_handler(previous)

    return restore
