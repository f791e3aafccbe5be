"""raftsim's pytest plugin, registered through the `pytest11` entry point, so installing
raftsim is enough: a `cluster` fixture giving a fresh seeded `Cluster`, a `raftsim_seed`
fixture, a `raftsim` marker and a `--raftsim-seed` option to set the seed, the seed (and how
to replay it) printed with every failure, and hypothesis profiles `raftsim-dev` and
`raftsim-ci` (derandomized) for `--hypothesis-profile`."""

from __future__ import annotations

import hashlib
from collections.abc import Generator, Iterator

import pytest
from hypothesis import HealthCheck, settings

from ..sim.cluster import Cluster

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
        "raftsim(seed=None, servers=3, **cluster_options): options of the `cluster` fixture",
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
