"""raftsim's pytest plugin, registered through the `pytest11` entry point, so installing
raftsim is enough: a `cluster` fixture giving a fresh seeded `Cluster`; a `nomad_cluster`
fixture giving an HTTP client to a running simulated cluster (time jumps while a request
waits: a 5 s hold costs milliseconds); a `raftsim_seed` fixture, a `raftsim` marker and a
`--raftsim-seed` option to set the seed, which is printed (with how to replay it) with
every failure; and hypothesis profiles `raftsim-dev` and `raftsim-ci` (derandomized) for
`--hypothesis-profile`."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

from ..sim.cluster import Cluster

if TYPE_CHECKING:
    from ..web.serve import Served

SEED_KEY = pytest.StashKey[int]()

settings.register_profile(
    "raftsim-dev",
    max_examples=100,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "raftsim-ci",
    max_examples=60,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("raftsim")
    group.addoption(
        "--raftsim-seed",
        type=int,
        default=None,
        help="seed for every raftsim cluster fixture (default: derived from the test's id)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "raftsim(seed=None, servers=3, **cluster_options): options of the `cluster` fixture; "
        "`nomad_cluster` takes seed, servers, nomad (the emulated release, default 0.5.6) and acl "
        "(ACLs bootstrapped, 0.8.7 and 1.2.13)",
    )


@pytest.fixture
def raftsim_seed(request: pytest.FixtureRequest) -> int:
    """The seed of this test's cluster: the marker's, the option's, or one derived from
    the test id (stable across runs and machines, so a failure replays as it is)."""
    marker = request.node.get_closest_marker("raftsim")
    seed = marker.kwargs.get("seed") if marker else None
    if seed is None:
        seed = request.config.getoption("--raftsim-seed")
    if seed is None:
        digest = hashlib.sha256(request.node.nodeid.encode()).digest()
        seed = int.from_bytes(digest[:4], "big")
    request.node.stash[SEED_KEY] = int(seed)
    return int(seed)


@pytest.fixture
def cluster(request: pytest.FixtureRequest, raftsim_seed: int) -> Iterator[Cluster]:
    """A fresh simulated cluster (3 servers at Nomad timings unless the marker says more);
    its safety checkers' violations fail the test when it ends."""
    marker = request.node.get_closest_marker("raftsim")
    options = {k: v for k, v in (marker.kwargs if marker else {}).items() if k != "seed"}
    servers = options.pop("servers", 3)
    instance = Cluster(servers, seed=raftsim_seed, **options)
    yield instance
    instance.check()


class SimulatedNomad:
    """A running simulated cluster behind Nomad's HTTP API (one listener per server) and
    its /v1/sim/ control surface, with a small blocking client."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.urls = dict(served.sim.http)  # server name -> base URL
        self.control_url = served.sim.control_url
        # The bootstrap management token with `@pytest.mark.raftsim(acl=True)` ("" without).
        self.management_token = served.sim.management_token

    def url(self, server: str | None = None) -> str:
        return self.urls[server] if server else next(iter(self.urls.values()))

    def request(
        self,
        method: str,
        path: str,
        server: str | None = None,
        body: object = None,
        token: str | None = None,
    ) -> tuple[int, str]:
        """(status, body text); `server` picks whose listener answers (default: the first);
        paths under /v1/sim/ go to the control listener (the only one serving them unless
        the simulation says otherwise), with its token if it has one; `token` is sent as
        X-Nomad-Token."""
        headers: dict[str, str] = {}
        if token is not None:
            headers["X-Nomad-Token"] = token
        base = self.url(server)
        if path.startswith("/v1/sim/"):
            base = self.control_url
            token = self.served.sim.options.control_token
            if token:
                headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"  # urllib would say a form
        req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def get(self, path: str, server: str | None = None) -> tuple[int, str]:
        return self.request("GET", path, server)

    def json(self, path: str, server: str | None = None) -> object:
        status, text = self.get(path, server)
        if status != 200:
            raise AssertionError(f"GET {path}: {status} {text}")
        return json.loads(text)


@pytest.fixture
def nomad_cluster(request: pytest.FixtureRequest, raftsim_seed: int) -> Iterator[SimulatedNomad]:
    """`raftsim serve` on a background thread, on free loopback ports (the marker's
    `servers=` and `nomad=` apply), stopped when the test ends. Time jumps whenever a
    request waits on it ("demand" clock: autojump while someone waits, frozen otherwise), so
    a 5 s hold costs milliseconds and the same test sees the same virtual history on every
    run. The cluster has had 10 virtual seconds to elect its first leader before the test
    starts."""
    # Imported here: every pytest run of anyone who installed raftsim loads this plugin,
    # and only this fixture needs aiohttp.
    from ..web import DEMAND, Background, Options  # noqa: PLC0415

    marker = request.node.get_closest_marker("raftsim")
    kwargs = marker.kwargs if marker else {}
    servers = int(kwargs.get("servers", 3))
    # `nomad="1.2.13"`: the emulated release (raftsim.nomad.VERSIONS; default 0.5.6).
    version = str(kwargs.get("nomad", "0.5.6"))
    # `acl=True` (0.8.7, 1.2.13): ACLs bootstrapped; the token is `management_token`.
    acl = bool(kwargs.get("acl", False))
    options = Options(servers=servers, seed=raftsim_seed, mode=DEMAND, version=version, acl=acl)
    with Background(options) as served:
        nomad = SimulatedNomad(served)
        status, text = nomad.request("POST", "/v1/sim/clock/advance", body={"by": "10s"})
        if status != 200:
            raise RuntimeError(f"cannot advance the simulated clock: {status} {text}")
        yield nomad


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    seed = item.stash.get(SEED_KEY, None)
    if seed is not None and report.failed:
        report.sections.append(
            (
                "raftsim",
                f"raftsim seed: {seed} (replay: pytest '{item.nodeid}' --raftsim-seed {seed})",
            )
        )
    return report
