"""The README's user example, run as the README says it runs: extracted from README.md, so
the text and the behaviour cannot drift apart."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, settings

README = Path(__file__).resolve().parent.parent / "README.md"


def example_source() -> str:
    text = README.read_text()
    start = text.index("<!-- user-example -->")
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
