"""The scenario library replays byte for byte, and the scenario format rejects bad input with
the file and line (raftsim.scenario, raftsim.cli)."""

from __future__ import annotations

from pathlib import Path

import pytest

from raftsim.cli import main
from raftsim.scenario import ScenarioError, parse, render, replay

SCENARIOS = sorted((Path(__file__).parent.parent / "scenarios").glob("*.txt"))

START = "cluster servers=3 seed=1\n----\n"


def transcript(*blocks: str) -> str:
    """A scenario text made of blocks given as 'command' or 'command\\n----\\noutput'."""
    return "\n".join(b if "\n----" in b else f"{b}\n----\n" for b in blocks)


# ------------------------------------------------------------------ the library


def test_scenarios_library_is_not_empty() -> None:
    """The scenario library exists, so the parametrized replay below is not vacuous."""
    assert len(SCENARIOS) >= 13


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_scenario_replays_its_expected_output(path: Path) -> None:
    """Every scenario file's recorded output is exactly what replaying it prints now."""
    result = replay(path.read_text(encoding="utf-8"), str(path))

    assert result.ok, f"output differs at lines {result.mismatches}:\n{result.diff()}"


# ------------------------------------------------------------------ the format


def test_parse_keeps_comments_commands_and_outputs() -> None:
    """Comment-only paragraphs, comments, commands and multi-line outputs parse apart."""
    text = "# about the file\n\n# why\nstatus\n----\nline 1\nline 2\n\ncheck\n----\n"

    blocks = parse(text)

    assert [(b.line, b.comments, b.command, b.expected) for b in blocks] == [
        (1, ["# about the file"], "", []),
        (4, ["# why"], "status", ["line 1", "line 2"]),
        (9, [], "check", []),
    ]


def test_render_round_trips_a_well_formed_file() -> None:
    """Rendering the parsed blocks with their own outputs gives the same text back."""
    text = "# about\n\n# why\nstatus\n----\nline 1\n\ncheck\n----\nok\n"
    blocks = parse(text)

    assert render(blocks, [None] * len(blocks)) == text


def test_parse_rejects_a_command_without_separator() -> None:
    """A command not followed by '----' is an error naming the file and line."""
    with pytest.raises(ScenarioError, match=r"^s\.txt:3: expected '----' after the command"):
        parse("# why\nstatus\nok\n", "s.txt")


def test_parse_rejects_a_separator_without_command() -> None:
    """A '----' with no command above it is an error naming its line."""
    with pytest.raises(ScenarioError, match=r"^s\.txt:2: '----' without a command"):
        parse("# why\n----\n", "s.txt")


BAD_COMMANDS = [
    ("frobnicate", "unknown command 'frobnicate'"),
    ("status extra", "status takes no arguments, got extra"),
    ("run-for 2 seconds", "run-for takes 1 argument"),
    ("run-for soon", "run-for: not a duration: 'soon'"),
    ("run-until leader within=ages", "run-until: within= not a duration"),
    ("run-until quorum", "run-until: unknown condition 'quorum'"),
    ("crash zed", "crash: unknown server 'zed'"),
    ("crash alice color=red", "crash: unknown argument color="),
    ("propose x via=zed", "propose: unknown server 'zed'"),
    ("partition alice bob", "partition needs groups separated by '|'"),
    ("partition alice | alice", "partition: a server appears in two groups"),
    ("cut alice", "cut takes one link written src->dst"),
    ("network loss=lots", "network: loss= must be a number"),
    ("network loss=2", "network: loss must be a probability"),
    ("network reorder=maybe", "network: reorder= must be true or false"),
    ("trace kinds=gossip", "trace: unknown kind 'gossip'"),
    ("await", "await: no request has been made yet"),
    ("add-voter zed", "add-voter: unknown server 'zed'"),
    ("log alice bob", "log takes 1 argument"),
]


@pytest.mark.parametrize(
    ("command", "message"), BAD_COMMANDS, ids=[command for command, _ in BAD_COMMANDS]
)
def test_replay_rejects_bad_commands_with_file_and_line(command: str, message: str) -> None:
    """A misused command stops the replay with an error naming the file, line and problem."""
    text = transcript(START, command)

    with pytest.raises(ScenarioError) as caught:
        replay(text, "bad.txt")

    assert str(caught.value).startswith("bad.txt:4: ")
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("cluster servers=zero", "cluster: servers= must be a number"),
        ("cluster servers=0", "cluster: servers= must be at least 1"),
        ("cluster profile=P9", "cluster: profile= must be one of P1, P2, P3"),
        ("cluster timing=fast", "cluster: timing= must be nomad or paper"),
        ("cluster nomad=1.11.0", "cluster: nomad= must be one of 0.5.6, 0.8.7, 1.2.13, 1.10.0"),
        ("cluster nomad=1.2.13 profile=P2", "cluster: nomad=1.2.13 runs Raft profile P2: give"),
        ("cluster faults=early-config,gremlins", "cluster: unknown fault 'gremlins'"),
        ("status", "no cluster yet"),
    ],
    ids=[
        *("servers-not-a-number", "no-servers", "profile", "timing"),
        *("nomad", "nomad-and-profile", "fault", "no-cluster"),
    ],
)
def test_replay_rejects_bad_cluster_setup(command: str, message: str) -> None:
    """Bad `cluster` arguments, or any command before `cluster`, name the file and line."""
    with pytest.raises(ScenarioError, match=rf"^setup\.txt:1: .*{message}"):
        replay(transcript(command), "setup.txt")


def test_replay_reports_the_lines_whose_output_differs() -> None:
    """A wrong expected output is a mismatch at its command's line, shown in a diff."""
    good = replay(transcript(START, "check")).actual
    text = good.replace("check\n----\nok\n", "check\n----\nnot ok\n")

    result = replay(text, "m.txt")

    assert result.mismatches == [text.splitlines().index("check") + 1]
    assert "-not ok" in result.diff() and "+ok" in result.diff()


# ------------------------------------------------------------------ commands


def test_client_errors_are_output_not_failures() -> None:
    """Raft's own answers, such as ErrNotLeader from a follower, are part of the transcript."""
    text = transcript(START, "run-until stable within=10s", "propose x via=bob")

    result = replay(text)

    assert result.actual.endswith("propose x via=bob\n----\nerror: node is not the leader\n")


def test_isolate_cuts_only_the_named_server() -> None:
    """With one follower isolated, the leader and the other follower still commit."""
    text = transcript(START, "run-until stable within=10s", "isolate carol", "propose x")
    text += "\nawait within=1s\n----\n"

    result = replay(text)

    assert "#1 propose x: index 3" in result.actual


def test_await_times_out_when_no_quorum_can_commit() -> None:
    """A request that cannot commit leaves `await` reporting a timeout, not an error."""
    text = transcript(
        START, "run-until stable within=10s", "partition alice | bob carol", "propose x"
    )
    text += "\nawait within=100ms\n----\n"

    result = replay(text)

    assert "timeout: #1 still pending after 100ms" in result.actual


def test_trace_shows_the_previous_commands_messages() -> None:
    """`trace kinds=` filters the full records of the command before it."""
    text = transcript(START, "run-until leader within=10s", "trace kinds=send")

    lines = replay(text).actual.split("trace kinds=send\n----\n")[1].splitlines()

    assert lines and all(" send " in line for line in lines)


def test_replay_is_deterministic() -> None:
    """Replaying the same text twice gives byte-identical transcripts."""
    text = transcript(START, "run-until stable within=10s", "crash alice", "run-for 5s")

    assert replay(text).actual == replay(text).actual


# ------------------------------------------------------------------ the command line


def test_cli_run_passes_and_rewrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`run` fails on a stale file and shows a diff; `--rewrite` fixes it; then it passes."""
    path = tmp_path / "s.txt"
    path.write_text(transcript(START, "check\n----\nstale\n"), encoding="utf-8")

    assert main(["run", str(path)]) == 1
    assert "+ok" in capsys.readouterr().out
    assert main(["run", "--rewrite", str(path)]) == 0
    assert path.read_text(encoding="utf-8").endswith("check\n----\nok\n")
    assert main(["run", str(path)]) == 0


def test_cli_run_reports_scenario_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A malformed file makes `run` exit non-zero with the file and line on stderr."""
    path = tmp_path / "bad.txt"
    path.write_text(transcript(START, "frobnicate"), encoding="utf-8")

    assert main(["run", str(path)]) == 1
    assert f"{path}:4: unknown command 'frobnicate'" in capsys.readouterr().err


def test_scenarios_rewrite_starts_a_file_from_bare_commands(tmp_path: Path) -> None:
    """`raftsim run --rewrite` fills in a file written as bare commands (no `----`), which
    then replays; without --rewrite such a file is refused, pointing at --rewrite."""
    path = tmp_path / "new.txt"
    path.write_text("# a new rehearsal\ncluster servers=3 seed=1\nrun-until leader\n\ncheck\n")
    assert main(["run", "-q", str(path)]) == 1
    assert main(["run", "--rewrite", str(path)]) == 0
    text = path.read_text()
    assert text.startswith("# a new rehearsal\ncluster servers=3 seed=1\n----\n")
    assert "run-until leader\n----\n" in text and "check\n----\nok\n" in text
    assert main(["run", "-q", str(path)]) == 0


def test_scenarios_run_reports_violations_and_expect_clean_fails_on_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A transcript that records a violation still matches, but `raftsim run` says so, and
    `--expect-clean` makes it fail; a clean one passes either way."""
    root = Path(__file__).parent.parent
    regression = str(root / "tests" / "regressions" / "early-config.txt")
    clean = str(root / "scenarios" / "01-first-election.txt")
    assert main(["run", "-q", regression]) == 0
    assert "records 1 violation(s): Change only after a commit" in capsys.readouterr().out
    assert main(["run", "-q", "--expect-clean", regression]) == 1
    assert main(["run", "-q", "--expect-clean", clean]) == 0


def test_scenarios_cli_prints_its_version(capsys: pytest.CaptureFixture[str]) -> None:
    """`raftsim --version` names the installed version."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("raftsim 0.")


def test_cluster_nomad_runs_the_release_and_its_layer() -> None:
    """`cluster nomad=VERSION`: the release's Raft profile (protocol 3, UUID IDs for 1.10.1)
    and Nomad's layer around it: its leader loop's barrier and log line are in the trace."""
    result = replay(transcript("cluster servers=3 seed=1 nomad=1.10.1", "run-until stable"))
    assert "propose   barrier" in result.actual
    assert "log       nomad: cluster leadership acquired" in result.actual
    bare = replay(transcript("cluster servers=3 seed=1 profile=P3", "run-until stable"))
    assert "nomad: cluster leadership acquired" not in bare.actual
