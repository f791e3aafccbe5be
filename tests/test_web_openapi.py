"""raftsim/web/openapi.json and the routes table (ring 2, raftsim/web/routes.py) describe the
same HTTP surface: an endpoint added without its documentation, or documented without
existing, fails here. Nomad's paths reach the table through aiohttp's one catch-all route
(Go's ServeMux is emulated behind it), so the app's routes are the table's endpoints."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from aiohttp import web

from raftsim.nomad import VERSIONS
from raftsim.web import Options, Simulation, make_app
from raftsim.web.app import HANDLER, ROUTER

# The operations an OpenAPI 3 path item may hold; its other keys (parameters, summary,
# servers, ...) are not operations.
VERBS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def documented() -> set[tuple[str, str]]:
    """(METHOD, path) of every operation in the shipped document."""
    text = resources.files("raftsim.web").joinpath("openapi.json").read_text()
    paths: dict[str, dict[str, object]] = json.loads(text)["paths"]
    return {(verb.upper(), path) for path, item in paths.items() for verb in item if verb in VERBS}


@pytest.fixture(scope="module")
def app() -> web.Application:
    return make_app(Simulation())


def routed(release: str) -> set[tuple[str, str]]:
    endpoints: set[tuple[str, str]] = make_app(Simulation(Options(version=release)))[
        ROUTER
    ].endpoints()
    return endpoints


@pytest.mark.parametrize("release", sorted(VERSIONS))
def test_openapi_documents_every_route(release: str) -> None:
    """Every (method, path) the app routes, for each release, has an operation in
    openapi.json (the autopilot paths are routed from 0.8.7; their text says so)."""
    assert routed(release) - documented() == set()


def test_openapi_documents_only_routes() -> None:
    """Every operation in openapi.json is a (method, path) some release routes."""
    assert documented() - set().union(*(routed(r) for r in VERSIONS)) == set()


def test_openapi_app_routes_only_through_the_table(app: web.Application) -> None:
    """Every route aiohttp knows (a catch-all, and the table's fixed paths to find them
    sooner) goes to the one handler, so no endpoint can bypass the routes table."""
    routes = list(app.router.routes())
    assert {r.handler for r in routes} == {app[HANDLER]}
    assert {r.method for r in routes} == {"*"}
    assert routes[-1].resource.canonical == "/{tail}"
