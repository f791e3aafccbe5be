"""Who may drive the simulation (ring 2): the checks a /v1/sim/ request passes before a
control handler sees it. A refusal raises `control.Refused`, which the error handling
(`errors`) answers with its status and `{"error": "..."}`; nothing is changed.

- A token, when one is configured (`Options.control_token`; `raftsim serve` makes one up for
  a control listener off loopback): every control call, GET included, carries
  `Authorization: Bearer TOKEN`, else 401.
- Every state-changing call (any method but GET and HEAD) refuses what a web page in the
  operator's browser can send. Browsers send a "simple" cross-origin POST (text/plain, a
  form) without asking first, and a page whose domain is rebound to 127.0.0.1 is
  same-origin to the browser, so: an `Origin` that is not the listener's own, or a `Host`
  that names something other than the listener (DNS rebinding), is a 403; a body that is
  not `application/json` is a 415 (a JSON body is what makes a browser ask first, with a
  preflight this surface never approves); a declared body over `MAX_BODY` is a 413 before
  it is read (`control.body` caps bodies sent chunked as they are read).
"""

from __future__ import annotations

import hmac
import ipaddress

from aiohttp import hdrs, web

from .control import MAX_BODY, Refused

TOKEN = web.AppKey("control_token", str)
# Names the listener answers to besides its socket's address and localhost: the host it was
# told to bind (`--control NAME:PORT`).
HOST_NAMES = web.AppKey("control_host_names", frozenset)
SAFE_METHODS = frozenset({"GET", "HEAD"})
JSON = "application/json"


def is_loopback(host: str) -> bool:
    """Is `host` (as given to --control) only reachable from this machine? A name other
    than localhost may resolve anywhere, so it is not."""
    if _name(host) == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check(request: web.Request) -> None:
    """Refuse this control request unless it may act; see the module docstring."""
    token = request.app.get(TOKEN, "")
    if token:
        _check_token(request, token)
    if request.method in SAFE_METHODS:
        return
    _check_site(request)
    _check_body(request)


def _check_token(request: web.Request, token: str) -> None:
    scheme, _, given = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    # compare_digest: how long a wrong guess took to refuse says nothing about the token.
    expected = token.encode("utf-8", "surrogateescape")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode("utf-8", "surrogateescape"), expected
    ):
        raise Refused(
            401,
            "this control listener needs 'Authorization: Bearer TOKEN' "
            "(the token given to --control-token, or printed by raftsim serve)",
        )


def _check_site(request: web.Request) -> None:
    hosts = request.headers.getall(hdrs.HOST, [])
    origins = request.headers.getall(hdrs.ORIGIN, [])
    if len(hosts) > 1 or len(origins) > 1:
        raise Refused(403, "more than one Host or Origin header")
    host = hosts[0] if hosts else None
    if host is not None and _name(_hostname(host)) not in _own_names(request):
        raise Refused(
            403,
            f"Host {host!r} is not this listener's address or localhost "
            "(a page whose name was pointed at this machine, DNS rebinding?)",
        )
    # The listener's own origin is the one its Host names (checked just above); a page
    # served by the control listener itself sends exactly that.
    if origins and (host is None or origins[0].lower() != f"http://{host}".lower()):
        raise Refused(
            403,
            f"a request from the web page at {origins[0]!r} may not change the simulation "
            "(only pages served by this listener may)",
        )


def _check_body(request: web.Request) -> None:
    length = request.content_length
    if length is not None and length > MAX_BODY:
        raise Refused(413, f"the body is larger than {MAX_BODY} bytes")
    if not request.body_exists:
        return  # a POST without a body (curl -X POST) sends no type, or any
    declared = request.headers.get(hdrs.CONTENT_TYPE)
    if declared is None or request.content_type != JSON:
        shown = "none" if declared is None else repr(declared)
        raise Refused(415, f"a body must be sent as Content-Type: {JSON}, got {shown}")


def _hostname(host: str) -> str:
    """The name in a Host header: '127.0.0.1:4649' -> '127.0.0.1', '[::1]:80' -> '::1'."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if ":" in host else host


def _name(host: str) -> str:
    return host.strip().lower().rstrip(".")


def _own_names(request: web.Request) -> frozenset[str]:
    names: set[str] = {"localhost", *request.app.get(HOST_NAMES, frozenset())}
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if sockname:
        names.add(_name(str(sockname[0])))
    return frozenset(names)
