"""The rings of DESIGN.md for what issue 3 added: ring 1b (`raftsim/nomad`) imports only the
standard library, `core` and `sim`, never a clock, asyncio or the global random source;
asyncio and aiohttp appear only in ring 2 (`raftsim/web`)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "raftsim"
FORBIDDEN = {"time", "datetime", "asyncio", "threading", "socket", "os", "aiohttp", "secrets"}


def imports(path: Path) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
    return found


def nomad_modules() -> list[Path]:
    return sorted((PACKAGE / "nomad").glob("*.py"))


def test_layering_nomad_imports_only_stdlib_core_and_sim() -> None:
    """Ring 1b: relative imports within nomad, `..core` and `..sim`; stdlib minus I/O and time."""
    bad = []
    for path in nomad_modules():
        for module, level in imports(path):
            top = module.split(".", maxsplit=1)[0]
            if level == 1:
                continue
            if level == 2 and top in ("core", "sim"):
                continue
            if level == 0 and (
                top == "__future__" or (top in sys.stdlib_module_names and top not in FORBIDDEN)
            ):
                continue
            bad.append(f"{path.name}: {'.' * level}{module}")
    assert bad == []


def test_layering_nomad_draws_only_from_named_streams() -> None:
    """No `hash()`, no module-level `random.x()`: only `cluster.streams.get("nomad/...")`."""
    bad = []
    for path in nomad_modules():
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
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


@pytest.mark.parametrize("ring", ["core", "sim", "nomad"])
def test_layering_asyncio_and_aiohttp_only_in_ring_2(ring: str) -> None:
    """The asyncio edge is raftsim/web (and the CLI, lazily): no inner ring imports it."""
    bad = [
        f"{path.name}: {module}"
        for path in sorted((PACKAGE / ring).glob("*.py"))
        for module, _ in imports(path)
        if module.split(".", maxsplit=1)[0] in ("asyncio", "aiohttp")
    ]
    assert bad == []


def test_layering_nomad_stream_names_are_namespaced() -> None:
    """Every random stream ring 1b asks for is named `nomad/...`, so adding Nomad to a
    cluster does not shift the draws of the Raft core or the network."""
    names = []
    for path in nomad_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and isinstance(node.func.value, ast.Attribute)
                and node.func.value.attr == "streams"
            ):
                names.append(ast.unparse(node.args[0]))
    assert names
    assert all(n.startswith(("f'nomad/", '"nomad/', "'nomad/")) for n in names), names
