"""`RaftMachine` tests run unchanged under HypoFuzz (`hypothesis fuzz`), a coverage-guided
fuzzer that drives the same hypothesis tests: its engine often ends an example by running
out of data (hypothesis' StopTest), which is not a failure and must not write one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis.errors import StopTest

from raftsim.testing.machine import RaftMachine

ROOT = Path(__file__).resolve().parent.parent
MACHINE = """
from hypothesis.stateful import invariant

from raftsim.testing.machine import RaftMachine


class TermsCoverLogs(RaftMachine):
    @invariant()
    def term_at_least_last_log_term(self) -> None:
        for view in self.cluster.views():
            assert view.term >= view.last_term, view


TestTermsCoverLogs = TermsCoverLogs.TestCase
"""


class Machine(RaftMachine):
    pass


def test_teardown_writes_no_transcript_for_hypothesis_control_flow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An example that ends with StopTest on its way up is not a failure: no transcript,
    and teardown lets it go on; a real error still writes one."""
    monkeypatch.chdir(tmp_path)
    notes: list[str] = []
    monkeypatch.setattr("raftsim.testing.machine.note", notes.append)  # (outside a test)
    machine = Machine()
    machine.start(3, 0)
    try:
        raise StopTest(0)
    except StopTest:
        machine.teardown()
    assert not (tmp_path / ".raftsim").exists()
    try:
        raise ValueError("a rule of the user's own")
    except ValueError:
        machine.teardown()
    text = (tmp_path / ".raftsim" / "failures" / "Machine.txt").read_text()
    assert text.startswith("# Found by raftsim.testing.RaftMachine: ValueError: a rule")
    assert notes == [text]


def test_raft_machine_runs_under_hypothesis_fuzz(tmp_path: Path) -> None:
    """`hypothesis fuzz` (HypoFuzz, the optional `fuzz` extra; skipped without it) collects
    a RaftMachine subclass as it is and fuzzes it for a few seconds without a failure."""
    pytest.importorskip("hypofuzz")
    (tmp_path / "test_machine.py").write_text(MACHINE)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    fuzz = "from hypothesis.extra.cli import main; main()"
    command = [sys.executable, "-c", fuzz, "fuzz", "-n", "1", "--no-dashboard"]
    command += ["--", "test_machine.py", "-p", "no:cacheprovider"]
    # Its own process group: the fuzzing worker it starts is stopped with it.
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    time.sleep(8)
    alive = process.poll() is None
    os.killpg(process.pid, signal.SIGINT)
    try:
        out = process.communicate(timeout=10)[0].decode()
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out = process.communicate()[0].decode()
    assert alive, out
    assert "fuzz 1 test" in out, out
    assert not (tmp_path / ".raftsim").exists(), out
