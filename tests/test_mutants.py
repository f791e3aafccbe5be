"""The mutation suite (`make mutants`, raftsim/testing/mutants.py): every deliberate core fault
is documented with the first seed at which a `raftsim check` campaign catches it and the
rule that does (raftsim/testing/mutants.json), or as behaviourally equivalent. Each
documented seed is replayed here, one schedule per fault: the fault fails it by that rule,
and the correct core does not fail it."""

from __future__ import annotations

import pytest

from raftsim.campaign import CampaignOptions, failure, main, run_one
from raftsim.cli import build_parser
from raftsim.core.faults import Fault
from raftsim.testing import mutants

DATA = mutants.load()
CAUGHT = {name: entry for name, entry in DATA.items() if not entry.get("equivalent")}


def test_every_fault_is_documented() -> None:
    """Each fault has its first catching seed and rule, or is said equivalent; at least 20
    of them are the mutation suite's own (beyond the nine the checkers were built with)."""
    assert sorted(DATA) == sorted(f.value for f in Fault)
    for name, entry in CAUGHT.items():
        assert isinstance(entry["seed"], int) and entry["rule"], name
    assert len(DATA) - 9 >= 20
    # An equivalent fault must say why where it is defined.
    source = (mutants.Path(mutants.__file__).parent.parent / "core" / "faults.py").read_text()
    for name in set(DATA) - set(CAUGHT):
        assert "EQUIVALENT" in source.split(f'= "{name}"')[0].rsplit("\n\n", 1)[-1], name


@pytest.mark.parametrize("name", sorted(CAUGHT))
def test_documented_seed_is_caught_by_its_rule(name: str) -> None:
    """The fault fails its documented seed by the documented rule; without the fault the
    same seed does not fail."""
    entry = CAUGHT[name]
    seed = entry["seed"]
    assert isinstance(seed, int)
    found = failure(run_one(seed, CampaignOptions(inject=(name,))))
    assert found is not None and found.startswith(str(entry["rule"])), (name, seed, found)
    assert failure(run_one(seed, CampaignOptions())) is None


def test_replay_of_a_documented_seed_exits_1(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """Through the command line: `raftsim check --replay SEED --inject FAULT` fails."""
    name = "commit-upper-median"
    seed = CAUGHT[name]["seed"]
    path = tmp_path / "mutant.txt"
    args = ["check", "--replay", str(seed), "--inject", name, "--write", str(path)]
    assert main(build_parser().parse_args(args)) == 1
    assert f"{CAUGHT[name]['rule']} violated" in capsys.readouterr().out
    assert path.read_text().startswith("# Schedule of `raftsim check` seed")


def test_survey_reports_a_caught_fault_and_its_first_seed() -> None:
    """`make mutants`'s own logic on one fast fault: the CLI campaign over the first seed
    range exits 1 and the table names the documented rule and seed."""
    name = "config-on-commit"
    result = mutants.survey(name, max_seeds=20, workers=1)
    assert (result.status, result.seed, result.rule) == (
        1,
        CAUGHT[name]["seed"],
        CAUGHT[name]["rule"],
    )
    assert mutants.verdict(result, CAUGHT[name]) == "as documented"
    assert "| config-on-commit | yes" in mutants.table([(result, "as documented")])
