"""The error middleware (ring 2): the one place where an exception becomes an HTTP answer,
after aiohttp's "web_advanced" guidance. Handlers parse, call, serialise and raise; this
decides statuses and bodies, differently for the two surfaces a listener serves:

- Nomad's endpoints answer as Nomad's `wrap` does (spec nomad-api.md §1 "Error bodies"): the
  status its `Kind` stands for, then the bare text. A server that stopped mid-request
  (`ServerGoneError`) answers nothing: its connection just closes. Anything else is
  unexpected and left to aiohttp, as it would crash a Go handler.
- The /v1/sim/ control surface answers `{"error": "..."}` JSON, 400/404/405 for its own
  errors, 401/403/413/415 for the requests `guard` refuses (and for a body too large),
  and 500 (logged) for anything unexpected. Which surface a /v1/sim/ path is on depends on
  the listener (the app's handler decides, `app.handler`).
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from ..nomad.errors import Kind, NomadError, ServerGoneError
from .control import BadInput, NoSuchEndpoint, Refused, WrongMethod, problem
from .nomad_api import text
from .routes import is_control
from .simulation import HeldTooLong

# Nomad's statuses: `wrap` gives an error the code of its CodedError, else 500.
NOMAD_STATUS = {
    Kind.BAD_REQUEST: 400,
    Kind.NOT_FOUND: 404,
    Kind.WRONG_METHOD: 405,
    Kind.FORBIDDEN: 403,
    Kind.UNAVAILABLE: 503,
    Kind.INTERNAL: 500,
}
log = logging.getLogger("raftsim.web")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer the exceptions of the project's handlers, the surface told by the path (an
    app of this middleware alone; the simulation's app calls `answer_errors` itself)."""
    return await answer_errors(request, handler, is_control(request.path))


async def answer_errors(
    request: web.Request, handler: Handler, control: bool
) -> web.StreamResponse:
    """`handler`'s answer, its exceptions answered as the control surface (`control`) or
    Nomad answers them; see the module docstring."""
    if control:
        return await _control(request, handler)
    try:
        return await handler(request)
    except NOMAD_ERRORS as error:
        return nomad_answer(request, error)


# What a Nomad request may raise that has an answer (anything else is a bug: aiohttp's 500).
NOMAD_ERRORS = (NomadError, ServerGoneError, HeldTooLong)


def nomad_answer(request: web.Request, error: Exception) -> web.StreamResponse:
    """The answer to one of NOMAD_ERRORS raised by a Nomad request."""
    if isinstance(error, NomadError):
        return text(NOMAD_STATUS[error.kind], error.text)
    if isinstance(error, HeldTooLong):
        # The simulator's answer, not Nomad's (which would wait forever): JSON, as the
        # control surface answers.
        return problem(504, str(error))
    # ServerGoneError: the server stopped mid-request, so its connection just closes.
    if request.transport is not None:
        request.transport.abort()
    raise web.HTTPServiceUnavailable() from None  # never sent: the socket is gone


async def _control(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadInput as error:
        return problem(400, str(error))
    except Refused as error:
        response = problem(error.status, str(error))
        if error.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="raftsim control"'
        return response
    except NoSuchEndpoint as error:
        return problem(404, str(error))
    except HeldTooLong as error:
        return problem(504, str(error))
    except WrongMethod as error:
        response = problem(405, str(error))
        response.headers["Allow"] = ", ".join(error.allowed)
        return response
    except Exception:
        # The control surface is ours: a bug in it gets our JSON, not aiohttp's page.
        log.exception("control request failed: %s %s", request.method, request.path)
        return problem(500, "internal error in the simulation control surface")
