"""The README's user example, run as the README says it runs: extracted from README.md, so
the text and the behaviour cannot drift apart."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, settings

README = Path(__file__).resolve().parent.parent / "README.md"


def example_source(marker: str = "<!-- user-example -->") -> str:
    text = README.read_text()
    start = text.index(marker)
    return text[start:].split("```python\n", 1)[1].split("```", 1)[0]


def test_readme_example_is_ten_lines_of_code() -> None:
    """The example stays short: about ten lines besides comments and blank lines."""
    code = [
        line for line in example_source().splitlines() if line.strip() and not line.startswith("#")
    ]
    assert len(code) <= 10


def test_readme_example_runs_under_pytest() -> None:
    """The subclass adds an invariant and its TestCase runs (and passes) as written."""
    namespace: dict[str, object] = {}
    exec(compile(example_source(), "README example", "exec"), namespace)
    case = namespace["TestTermsCoverLogs"]
    case.settings = settings(  # type: ignore[attr-defined]
        max_examples=10,
        stateful_step_count=15,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    case().runTest()  # type: ignore[operator]


def test_readme_schedules_example_runs_as_written() -> None:
    """The schedules example draws schedules, runs them through ScheduleRunner, and passes
    on the correct core, exactly as written (25 short schedules: under a second)."""
    namespace: dict[str, object] = {}
    source = example_source("<!-- user-example: schedules -->")
    exec(compile(source, "README schedules example", "exec"), namespace)
    test = namespace["test_no_schedule_breaks_safety"]
    test()  # type: ignore[operator]


def test_readme_rehearsal_answers_as_the_readme_shows(tmp_path: Path) -> None:
    """README "A rehearsal", over HTTP with the demand clock, seed 0 as `raftsim serve`'s
    default: bob leads; carol's removal answers 200 with an empty body; the leader's
    reconcile adds her back within 60 s (Serf still sees her); with bob crashed and alice
    and carol cut apart, a ?stale read answers from alice's own configuration and a
    consistent one is `No cluster leader` after the 5 s hold."""
    import requests  # noqa: PLC0415

    from raftsim.web import Background, Options  # noqa: PLC0415
    from raftsim.web.runbooks import advance, post  # noqa: PLC0415

    text = " ".join(README.read_text().split())
    assert "(with seed 0 it is bob)" in text and ' "127.0.0.2:4647" ' in text
    with Background(Options(mode="demand", seed=0, data_dir=str(tmp_path))) as served:
        alice = served.sim.http["alice"]
        advance(served, "5s")  # (a paced `raftsim serve`: the first seconds after the banner)
        assert requests.get(f"{alice}/v1/status/leader", timeout=10).json() == "127.0.0.2:4647"
        peer = f"{alice}/v1/operator/raft/peer?address=127.0.0.3:4647"
        removed = requests.delete(peer, timeout=10)
        assert (removed.status_code, removed.text) == (200, "")
        peers = requests.get(f"{alice}/v1/status/peers", timeout=10)
        assert peers.text == '["127.0.0.1:4647","127.0.0.2:4647"]'
        advance(served, "60s")
        peers = requests.get(f"{alice}/v1/status/peers", timeout=10)
        assert peers.text == '["127.0.0.1:4647","127.0.0.2:4647","127.0.0.3:4647"]'

        assert post(served, "servers/bob/crash").status == 200
        assert post(served, "partition", {"groups": [["alice"], ["carol"]]}).status == 200
        # (Typing the next command takes seconds of a paced clock: by then alice no longer
        # follows bob. Asked at once, she would still forward to him: connection refused.)
        advance(served, "5s")
        stale = requests.get(f"{alice}/v1/operator/raft/configuration?stale", timeout=10)
        first = stale.json()["Servers"][0]
        assert first == {
            "ID": "127.0.0.1:4647",
            "Node": "alice.global",
            "Address": "127.0.0.1:4647",
            "Leader": False,
            "Voter": True,
        }
        consistent = requests.get(f"{alice}/v1/operator/raft/configuration", timeout=30)
        assert (consistent.status_code, consistent.text) == (500, "No cluster leader")
