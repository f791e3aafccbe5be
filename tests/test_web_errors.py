"""The error middleware (ring 2, raftsim/web/errors.py), alone in front of handlers that
raise: Nomad's errors become Nomad's plain-text answers, control errors JSON, and whatever
nobody expected is a logged JSON 500 on /v1/sim/ and aiohttp's own 500 elsewhere."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from raftsim.nomad import Kind, NomadError
from raftsim.web.control import BadInput, Refused
from raftsim.web.errors import NOMAD_STATUS, error_middleware

Client = TestClient  # type: ignore[type-arg]


def raising(error: Exception) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise error

    return handler


async def client_for(aiohttp_client: Callable[..., Awaitable[Client]], error: Exception) -> Client:
    app = web.Application(middlewares=[error_middleware])
    app.router.add_route("*", "/{tail:.*}", raising(error))
    return await aiohttp_client(app)


def test_errors_every_kind_has_a_status() -> None:
    """A new `Kind` cannot reach a client without a status to answer it with."""
    assert set(NOMAD_STATUS) == set(Kind)


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (Kind.BAD_REQUEST, 400),
        (Kind.NOT_FOUND, 404),
        (Kind.WRONG_METHOD, 405),
        (Kind.INTERNAL, 500),
    ],
)
async def test_errors_nomad_error_is_its_status_and_bare_text(
    aiohttp_client: Callable[..., Awaitable[Client]], kind: Kind, status: int
) -> None:
    """spec §1 "Error bodies": the kind's status, the text without a newline, plain text."""
    client = await client_for(aiohttp_client, NomadError("No cluster leader", kind))
    async with client.get("/v1/status/leader") as response:
        assert (response.status, await response.text()) == (status, "No cluster leader")
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


async def test_errors_control_bad_input_is_a_json_400(
    aiohttp_client: Callable[..., Awaitable[Client]],
) -> None:
    """On /v1/sim/, bad input is `{"error": ...}` with 400."""
    client = await client_for(aiohttp_client, BadInput("no"))
    async with client.post("/v1/sim/heal") as response:
        assert (response.status, await response.json()) == (400, {"error": "no"})


@pytest.mark.parametrize("status", [401, 403, 413, 415])
async def test_errors_control_refusal_is_its_status_in_json(
    aiohttp_client: Callable[..., Awaitable[Client]], status: int
) -> None:
    """On /v1/sim/, a refused request is its status with `{"error": ...}`; a 401 says how
    to authenticate."""
    client = await client_for(aiohttp_client, Refused(status, "no"))
    async with client.post("/v1/sim/heal") as response:
        assert (response.status, await response.json()) == (status, {"error": "no"})
        assert ("WWW-Authenticate" in response.headers) == (status == 401)


async def test_errors_control_bug_is_a_logged_json_500(
    aiohttp_client: Callable[..., Awaitable[Client]], caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected exception on /v1/sim/ is logged and answered with our JSON 500."""
    client = await client_for(aiohttp_client, RuntimeError("bug"))
    with caplog.at_level(logging.ERROR, logger="raftsim.web"):
        async with client.post("/v1/sim/heal") as response:
            assert response.status == 500
            assert await response.json() == {
                "error": "internal error in the simulation control surface"
            }
    assert "control request failed: POST /v1/sim/heal" in caplog.text


async def test_errors_nomad_bug_is_left_to_aiohttp(
    aiohttp_client: Callable[..., Awaitable[Client]],
) -> None:
    """An unexpected exception on a Nomad path is not dressed up as a Nomad answer."""
    client = await client_for(aiohttp_client, RuntimeError("bug"))
    async with client.get("/v1/status/leader") as response:
        assert response.status == 500
        assert "bug" not in await response.text()
