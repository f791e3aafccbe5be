"""`raftsim check --dask`: the seeds run as Dask tasks on a `distributed` cluster, with the
same summary and JSON as `--workers 1` for the same seeds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from raftsim.campaign import main
from raftsim.cli import build_parser

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parent.parent


def check(line: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(build_parser().parse_args(["check", *line.split()]))
    return status, capsys.readouterr().out


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A LocalCluster of two single-threaded workers in this process (threads): starts in
    about a second, and runs this checkout's code."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        yield cluster.scheduler_address


def test_dask_summary_equals_workers_1(scheduler: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The same seeds give the same JSON summary on the Dask cluster as in one process,
    found liveness and safety failures included (an injected fault, so there are some)."""
    line = "--seeds 12 --start 3 --duration 20s --inject vote-not-persisted,no-leader-noop --json"
    local_status, local = check(f"{line} --workers 1", capsys)
    dask_status, dask = check(f"{line} --dask {scheduler}", capsys)
    assert dask_status == local_status == 1
    assert json.loads(dask) == json.loads(local)
    assert json.loads(dask)["not_converged_unexplained"]


def test_dask_text_summary_and_exit_status_0(
    scheduler: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A clean campaign exits 0 on Dask too, with the same summary line."""
    status, out = check(f"--seeds 6 --duration 10s --dask {scheduler}", capsys)
    assert status == 0
    assert check("--seeds 6 --duration 10s", capsys) == (0, out)


def test_dask_local_starts_its_own_cluster(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--dask local` starts a LocalCluster of --workers processes for the run (which
    import this checkout) and closes it afterwards."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    status, out = check("--seeds 4 --duration 10s --dask local --workers 2", capsys)
    assert status == 0
    assert check("--seeds 4 --duration 10s", capsys) == (0, out)


def test_dask_without_an_address_is_a_bad_argument(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(build_parser().parse_args(["check", "--seeds", "1", "--dask="])) == 2
    assert "--dask takes" in capsys.readouterr().err
