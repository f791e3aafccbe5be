"""The rings of DESIGN.md, enforced for every package: `core` imports only the standard
library, `sim` only `core`, `nomad` (ring 1b) only those; none of them reads a clock, uses
the global random source, does I/O or seeds anything with `hash()`. Above them (ring 2) the
synchronous packages (scenario, testing, the campaign) never import asyncio or aiohttp: only
the web edge and the command line do. Each package's docstring names its ring."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "raftsim"
FORBIDDEN_MODULES = {
    "time",
    "datetime",
    "asyncio",
    "threading",
    "socket",
    "os",
    "aiohttp",
    "secrets",
}
ASYNC = {"asyncio", "aiohttp"}
EVERYTHING = ("core", "sim", "nomad", "scenario", "testing", "campaign", "web", "cli")
# unit -> (its ring, the raftsim units it may import)
RINGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "core": ("0", ()),
    "sim": ("1", ("core",)),
    "nomad": ("1b", ("core", "sim")),
    "scenario": ("2", ("core", "sim", "nomad")),
    "testing": ("2", ("core", "sim", "nomad", "scenario")),
    "campaign": ("2", ("core", "sim", "nomad", "scenario", "testing", "dask_runner")),
    "dask_runner": ("2", ("campaign", "testing")),
    "web": ("2", ("core", "sim", "nomad", "scenario")),
    "cli": ("2", EVERYTHING),
}
# The nomad_cluster fixture serves a cluster: the pytest plugin alone may reach the edge.
EXCEPTIONS = {("testing", "pytest_plugin.py"): ("web",)}
PURE = ("core", "sim", "nomad")  # rings 0, 1 and 1b: the deterministic simulation


def modules(unit: str) -> list[Path]:
    if (PACKAGE / unit).is_dir():
        return sorted((PACKAGE / unit).glob("*.py"))
    return [PACKAGE / f"{unit}.py"]


def imports(path: Path) -> list[tuple[str, int]]:
    """(module, relative level) for every import in the file, top-level or nested."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
    return found


def target(unit: str, module: str, level: int) -> str | None:
    """The raftsim unit an import reaches (None for anything outside raftsim)."""
    parts = module.split(".")
    if parts[0] == "raftsim":
        return parts[1] if len(parts) > 1 else "raftsim"
    if level == 0:
        return None
    if level == 1 and (PACKAGE / unit).is_dir():
        return unit
    return module.split(".", maxsplit=1)[0] if module else "raftsim"


def allowed(path: Path, unit: str, module: str, level: int) -> bool:
    inner = RINGS[unit][1]
    reached = target(unit, module, level)
    if reached is not None:
        extra = EXCEPTIONS.get((unit, path.name), ())
        return reached == unit or reached in inner or reached in extra
    top = module.split(".", maxsplit=1)[0]
    if top == "__future__":
        return True
    if unit in PURE:
        return top in sys.stdlib_module_names and top not in FORBIDDEN_MODULES
    return unit in ("web", "cli") or top not in ASYNC


def test_layering_covers_every_package() -> None:
    """Every package and top-level module of raftsim has a ring in this test."""
    units = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    units |= {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert units == set(RINGS)


@pytest.mark.parametrize("unit", sorted(RINGS))
def test_layering_imports_point_inward_only(unit: str) -> None:
    """core: stdlib; sim: core; nomad: core and sim; no clocks, threads, sockets or asyncio
    below ring 2; the synchronous ring-2 units import neither asyncio nor aiohttp."""
    bad = [
        f"{path.name}: {'.' * level}{module}"
        for path in modules(unit)
        for module, level in imports(path)
        if not allowed(path, unit, module, level)
    ]
    assert bad == []


@pytest.mark.parametrize("unit", sorted(RINGS))
def test_layering_docstring_names_the_ring(unit: str) -> None:
    """A package's docstring (a module's, for campaign and cli) says which ring it is."""
    main = PACKAGE / unit / "__init__.py" if (PACKAGE / unit).is_dir() else PACKAGE / f"{unit}.py"
    docstring = ast.get_docstring(ast.parse(main.read_text())) or ""
    assert f"ring {RINGS[unit][0]}" in docstring.lower()


def test_layering_core_has_no_random_module() -> None:
    """Ring 0 draws jitter only from the random source its caller injects."""
    assert [p.name for p in modules("core") if ("random", 0) in imports(p)] == []


@pytest.mark.parametrize("ring", PURE)
def test_layering_no_global_random_or_hash(ring: str) -> None:
    """Only named `random.Random` streams, and no `hash()`, whose value changes per process."""
    bad = []
    for path in modules(ring):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "hash"
            ):
                bad.append(f"{path.name}:{node.lineno} hash()")
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "random"
                and node.attr != "Random"
            ):
                bad.append(f"{path.name}:{node.lineno} random.{node.attr}")
    assert bad == []
