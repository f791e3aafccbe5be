"""The rings of DESIGN.md, enforced: `core` imports only the standard library, `sim` only
`core` and the standard library, `nomad` (ring 1b) only those; none reads a clock, uses the
global random source, does I/O, imports asyncio or aiohttp (ring 2 only), or seeds anything
with `hash()`."""

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


def modules(ring: str) -> list[Path]:
    return sorted((PACKAGE / ring).glob("*.py"))


def imports(path: Path) -> list[tuple[str, int]]:
    """(module, relative level) for every import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
    return found


def allowed(module: str, level: int, ring: str) -> bool:
    if level == 1:
        return True  # inside the same ring
    if level == 2:
        inner = {"core": (), "sim": ("core",), "nomad": ("core", "sim")}[ring]
        return module.split(".", maxsplit=1)[0] in inner
    top = module.split(".", maxsplit=1)[0]
    if top == "__future__":
        return True
    return top in sys.stdlib_module_names and top not in FORBIDDEN_MODULES


@pytest.mark.parametrize("ring", ["core", "sim", "nomad"])
def test_layering_ring_imports_point_inward_only(ring: str) -> None:
    """core: stdlib; sim: core; nomad: core and sim; no clocks, threads, sockets, asyncio."""
    bad = [
        f"{path.name}: {'.' * level}{module}"
        for path in modules(ring)
        for module, level in imports(path)
        if not allowed(module, level, ring)
    ]
    assert bad == []


def test_layering_core_has_no_random_module() -> None:
    """Ring 0 draws jitter only from the random source its caller injects."""
    assert [p.name for p in modules("core") if ("random", 0) in imports(p)] == []


@pytest.mark.parametrize("ring", ["core", "sim", "nomad"])
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
