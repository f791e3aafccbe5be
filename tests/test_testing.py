"""The test toolkit (raftsim.testing, raftsim check): schedules replay as scenarios, the
stateful machine finds deliberate bugs, the pytest plugin seeds and reports, campaigns
shard and merge deterministically."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.stateful import invariant

from raftsim import Cluster, Fault
from raftsim.campaign import (
    CampaignOptions,
    Summary,
    campaign,
    main,
    parse_shard,
    progress_printer,
    run_one,
    shrink,
)
from raftsim.cli import build_parser
from raftsim.scenario import replay
from raftsim.scenario.commands import Check
from raftsim.sim.checkers import Violation
from raftsim.testing import ScheduleRunner, generate, run_seed
from raftsim.testing.machine import RaftMachine
from raftsim.testing.strategies import cluster_specs

pytest_plugins = ["pytester"]


def test_schedule_is_recorded_as_a_scenario_that_replays_identically() -> None:
    """A schedule's commands, replayed as a scenario file, reach the same state."""
    outcome = run_seed(3, servers=3, duration=20_000_000, trace="state")
    text = outcome.scenario("seed 3")
    assert replay(text).ok
    again = ScheduleRunner(3, 3)
    again.run(generate(3, 20_000_000))
    assert again.outcome.commands == outcome.commands
    assert isinstance(again.outcome.commands[-1], Check)


@pytest.mark.parametrize(
    ("seed", "faults"),
    [(3, ()), (7, ()), (42, ()), (0, (Fault.DOUBLE_VOTE,)), (0, (Fault.NO_TRUNCATE,))],
    ids=["3", "7", "42", "0-double-vote", "0-no-truncate"],
)
def test_schedule_transcript_equals_what_replaying_it_prints(
    seed: int, faults: tuple[Fault, ...]
) -> None:
    """The transcript written from the outputs recorded as the schedule ran (trace "state",
    fast-forward on) is byte for byte what `raftsim run` prints replaying it (trace "all",
    event by event), violation lines included; and trace "off" changes nothing it did."""
    outcome = run_seed(seed, faults=faults, trace="state")
    text = outcome.scenario(f"seed {seed}")

    assert replay(text).actual == text
    quick = run_seed(seed, faults=faults)
    assert quick.commands == outcome.commands and quick.simulated == outcome.simulated
    assert quick.violations == outcome.violations
    assert all(isinstance(v, Violation) for v in outcome.violations)
    assert bool(faults) == ("VIOLATION" in text)


def test_schedule_run_without_records_cannot_be_written_out() -> None:
    """A schedule run with trace "off" (as campaigns run them) refuses to make a transcript
    it has no records for, rather than replaying itself to fill them in."""
    outcome = run_seed(0, servers=3, duration=1_000_000)

    with pytest.raises(ValueError, match="trace='state'"):
        outcome.scenario()


def test_schedule_with_injected_fault_reports_the_violation_in_its_transcript() -> None:
    """A deliberately broken core's violation shows in the shrunk schedule's transcript
    (run again with records, as `--replay --shrink --write` does), which replays exactly."""
    options = CampaignOptions(inject=("early-config",))
    ops, outcome = shrink(2, options)
    assert outcome.violations
    written = run_one(2, options, ops, trace="state")
    assert written.violations == outcome.violations
    transcript = written.scenario()
    assert "Change only after a commit in the leader's term violated" in transcript
    assert len(ops) <= 10
    assert replay(transcript).actual == transcript


def test_campaign_shards_cover_every_seed_once_and_merge(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """`--shard I/N` slices are disjoint, cover the range, and `--merge` adds them up."""
    paths = []
    for i in range(3):
        assert main_args(f"--seeds 9 --duration 10s --shard {i}/3 --json") == 0
        path = tmp_path / f"shard{i}.json"
        path.write_text(capsys.readouterr().out)
        paths.append(str(path))
    whole = campaign(list(range(9)), CampaignOptions(duration=10_000_000))
    assert main_args("--merge " + " ".join(paths) + " --json") == 0
    merged = json.loads(capsys.readouterr().out)
    assert merged["schedules"] == 9 == whole.schedules
    assert merged["simulated"] == whole.simulated
    assert merged["elections"] == whole.elections


def main_args(line: str) -> int:
    return main(build_parser().parse_args(["check", *line.split()]))


def test_campaign_reports_violation_with_replay_command(capsys) -> None:  # type: ignore[no-untyped-def]
    """Each violation prints its seed and the exact command that replays it."""
    assert main_args("--seeds 8 --inject early-config") == 1
    out = capsys.readouterr().out
    assert "violated" in out
    assert "replay: raftsim check --replay" in out and "--inject early-config" in out


@pytest.mark.parametrize("text", ["3/3", "x/2", "1", "-1/2"])
def test_campaign_shard_rejects_bad_input(text: str) -> None:
    """A malformed --shard is refused with a clear message."""
    with pytest.raises(ValueError, match="--shard takes I/N"):
        parse_shard(text)


def test_summary_merge_refuses_different_options() -> None:
    """Shards run with different options cannot be added up."""
    a, b = Summary({"servers": 5}), Summary({"servers": 3})
    with pytest.raises(ValueError, match="different options"):
        a.merge(b)


class SmallMachine(RaftMachine):
    servers = (3,)


TestSmallMachine = SmallMachine.TestCase
TestSmallMachine.settings = settings(
    max_examples=15,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


class EarlyConfigMachine(RaftMachine):
    faults = (Fault.EARLY_CONFIG,)
    kinds = ("change-at-election", "crash", "remove", "add")


def test_machine_finds_a_deliberate_bug_and_writes_a_scenario(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The stateful machine finds the early-config bug and hands back a replayable file."""
    monkeypatch.chdir(tmp_path)
    case = EarlyConfigMachine.TestCase
    # Shrinking is left out here to keep the suite fast; tests/regressions/ holds the
    # shrunk scenarios, and the README shows how they were made.
    case.settings = settings(
        max_examples=200,
        stateful_step_count=25,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    with pytest.raises(AssertionError, match="Change only after a commit"):
        case().runTest()
    written = tmp_path / ".raftsim" / "failures" / "EarlyConfigMachine.txt"
    result = replay(written.read_text())
    assert result.ok
    assert "Change only after a commit in the leader's term violated" in result.actual


class StrictMachine(RaftMachine):
    """A user's own invariant, with a plain assert: no server ever passes term 3."""

    servers = (3,)
    kinds = ("crash", "partition")

    @invariant()
    def small_terms(self) -> None:
        for view in self.cluster.views():
            assert view.term < 3, f"{view.name} reached term {view.term}"


def test_machine_writes_a_transcript_for_a_plain_assert(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A failing `assert` in a subclass's invariant writes the schedule that led there,
    with the failure in its comment (not a final `check` that says ok), and it replays."""
    monkeypatch.chdir(tmp_path)
    case = StrictMachine.TestCase
    case.settings = settings(
        max_examples=50,
        stateful_step_count=20,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    with pytest.raises(AssertionError, match="reached term"):
        case().runTest()
    text = (tmp_path / ".raftsim" / "failures" / "StrictMachine.txt").read_text()
    assert text.startswith("# Found by raftsim.testing.RaftMachine: AssertionError:")
    assert "reached term" in text.splitlines()[0]
    assert "\ncheck\n" not in text
    result = replay(text)
    assert result.ok
    terms = [
        int(words[3])
        for words in map(str.split, result.actual.splitlines())
        if len(words) == 4 and words[2] == "term"
    ]
    assert max(terms) >= 3  # the replay reaches the state the assert refused


@pytest.fixture
def pytester(pytester):  # type: ignore[no-untyped-def]
    """A user's project as pytest-asyncio asks it to be configured (its loop scope set), so
    that a deprecation warning left in its run is one of raftsim's plugin."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    return pytester


def test_plugin_seeds_cluster_from_marker_and_prints_seed_on_failure(pytester) -> None:  # type: ignore[no-untyped-def]
    """The `cluster` fixture takes the marker's seed; a failure report names it."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.raftsim(seed=1234, servers=5)
        def test_fails(cluster, raftsim_seed):
            assert raftsim_seed == 1234 and len(cluster.servers) == 5
            assert cluster.run_until(lambda c: c.leader() is not None, "10s")
            assert False, "on purpose"
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*raftsim seed: 1234*--raftsim-seed 1234*"])


def test_plugin_seed_option_and_derived_seed_are_stable(pytester) -> None:  # type: ignore[no-untyped-def]
    """--raftsim-seed overrides; without it the seed is derived from the test id."""
    pytester.makepyfile(
        """
        def test_seed(raftsim_seed):
            assert raftsim_seed < 0
        """
    )

    def reported(*args: str) -> list[str]:
        lines = pytester.runpytest(*args).stdout.lines
        return [line for line in lines if line.startswith("raftsim seed:")]

    first, second = reported(), reported()
    assert len(first) == 1 and first == second
    assert reported("--raftsim-seed", "7")[0].startswith("raftsim seed: 7 ")


def test_plugin_nomad_cluster_fixture_serves_nomad_http(pytester) -> None:  # type: ignore[no-untyped-def]
    """`nomad_cluster` serves Nomad's API per server, with a leader from the start; the 5 s
    no-leader hold costs little, and the virtual history is the same on every run."""
    pytester.makepyfile(
        """
        import json

        def test_http(nomad_cluster):
            status, leader = nomad_cluster.get("/v1/status/leader")
            assert status == 200 and json.loads(leader).endswith(":4647")
            configuration = nomad_cluster.json("/v1/operator/raft/configuration", "bob")
            assert len(configuration["Servers"]) == 3
            name = {"127.0.0.1:4647": "alice", "127.0.0.2:4647": "bob", "127.0.0.3:4647": "carol"}
            alive = [n for n in ("alice", "bob", "carol") if n != name[json.loads(leader)]]
            nomad_cluster.request("POST", "/v1/sim/servers/" + name[json.loads(leader)] + "/crash")
            groups = {"groups": [[alive[0]], [alive[1]]]}
            nomad_cluster.request("POST", "/v1/sim/partition", body=groups)
            # Right after the crash the followers still know the old leader (spec §3.3):
            status, text = nomad_cluster.get("/v1/operator/raft/configuration", alive[0])
            assert status == 500 and text.startswith("rpc error: ")
            # Once their timers have found no contact, there is none: the read is held 5 s.
            nomad_cluster.request("POST", "/v1/sim/clock/advance", body={"by": "5s"})
            status, text = nomad_cluster.get("/v1/operator/raft/configuration", alive[0])
            assert (status, text) == (500, "No cluster leader")
        """
    )
    # Deprecation warnings as errors: the plugin and the fixtures it serves warn of nothing.
    result = pytester.runpytest("-W", "error::DeprecationWarning")
    result.assert_outcomes(passed=1)


def test_plugin_nomad_cluster_fixture_takes_the_release(pytester) -> None:  # type: ignore[no-untyped-def]
    """`@pytest.mark.raftsim(nomad="1.2.13")` serves that release (spec nomad-api.md §2.1:
    `RaftProtocol` from 0.8, `Index` 0 on 1.2)."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.raftsim(nomad="1.2.13")
        def test_release(nomad_cluster):
            configuration = nomad_cluster.json("/v1/operator/raft/configuration")
            assert [s["RaftProtocol"] for s in configuration["Servers"]] == ["2", "2", "2"]
            assert configuration["Index"] == 0
            assert nomad_cluster.json("/v1/sim/state")["nomad_version"] == "1.2.13"
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_cluster_fixture_fails_the_test_on_a_violation(pytester) -> None:  # type: ignore[no-untyped-def]
    """The fixture checks the safety checkers when the test ends."""
    pytester.makepyfile(
        """
        from raftsim.core.events import TermChanged

        def test_breaks(cluster):
            cluster.checker.on_event(TermChanged(1, "alice", 5))
            cluster.checker.on_event(TermChanged(2, "alice", 4))
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*Terms never decrease*"])


def test_cluster_spec_strategy_builds_clusters() -> None:
    """cluster_specs() gives specs whose scenario command builds the cluster."""

    @given(cluster_specs())
    @settings(max_examples=10, deadline=None)
    def check(spec) -> None:  # type: ignore[no-untyped-def]
        result = replay(spec.command() + "\n----\n")
        assert f"servers={spec.servers}" in result.actual

    check()
    assert Cluster  # the public import path stays


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "pipe"])
def test_campaign_progress_bar_on_terminal_plain_lines_otherwise(terminal: bool) -> None:
    """A terminal gets a progress bar with rate and ETA; a pipe gets plain lines."""
    stream = _Terminal() if terminal else io.StringIO()
    tick = progress_printer(4, stream)
    for _ in range(4):
        tick(run_seed(0, servers=3, duration=1_000_000))
    text = stream.getvalue()
    if terminal:
        assert "4/4" in text and "schedule/s" in text and "\r" in text
    else:
        assert text.splitlines()[-1].startswith("4/4 schedules, ")
        assert "eta" in text


@pytest.mark.parametrize(
    "line",
    [
        "--rate nan",
        "--rate 0",
        "--rate 1e9",
        "--seeds -1",
        "--replay -3",
        "--shrink",
        "--write out.txt",
        "--faults ,",
        "--faults nope",
        "--duration 0s",
        "--shard 2/2",
        "--servers 0",
    ],
)
def test_campaign_bad_arguments_exit_2_and_run_nothing(
    line: str, tmp_path, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    """Bad input gets a clear `error:` line and exit status 2, before any schedule runs."""
    monkeypatch.chdir(tmp_path)
    assert main_args(line) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.out == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content", ["[1]", '{"x": 1}', "not json"], ids=["list", "dict", "text"])
def test_campaign_merge_refuses_files_that_are_not_summaries(
    content: str, tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """--merge names the file that is not raftsim check's --json output (exit 2)."""
    path = tmp_path / "shard.json"
    path.write_text(content)
    assert main_args(f"--merge {path}") == 2
    assert "error: " in capsys.readouterr().err


def test_plugin_nomad_cluster_fixture_takes_acl(pytester) -> None:  # type: ignore[no-untyped-def]
    """`@pytest.mark.raftsim(nomad="1.2.13", acl=True)`: ACLs bootstrapped; the fixture
    holds the management token and sends a token as X-Nomad-Token (spec nomad-api.md §1
    "ACL capabilities")."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.raftsim(nomad="1.2.13", acl=True)
        def test_acl(nomad_cluster):
            path = "/v1/operator/raft/configuration"
            assert nomad_cluster.get(path) == (403, "Permission denied")
            token = nomad_cluster.management_token
            status, _ = nomad_cluster.request("GET", path, token=token)
            assert status == 200
            assert nomad_cluster.json("/v1/sim/state")["acl"]["enabled"] is True
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
