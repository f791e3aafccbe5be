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
