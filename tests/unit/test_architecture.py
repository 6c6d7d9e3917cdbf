"""The import rule of docs/ARCHITECTURE.md, checked on the code as it is.

Floors, from the bottom: the core (the modules at the top of `deployer/`, and `csp/`),
then the stages in pipeline order (provenance, image, check, serve, ship), then
`commands/`, then `cli/`. A module imports its own floor or the floors below it, never one
above; and no group of modules imports itself round in a circle. Every import counts:
at module level, inside a function, or only for type checking.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import deployer

PACKAGE = Path(deployer.__file__).parent
FLOORS = ("core", "provenance", "image", "check", "serve", "ship", "commands", "cli")
# Who may import docker-py (ARCHITECTURE.md "Who may import docker-py").
DOCKER_IMPORTERS = {
    "deployer.engine",
    "deployer.image.context",
    "deployer.image.extract",
    "deployer.commands.watch",
    "deployer.serve.front",
    "deployer.serve.front_wait",
    "deployer.serve.hot",
    "deployer.serve.preview",
    "deployer.serve.switch",
    "deployer.ship.registry",
    "deployer.ship.swarm",
    "deployer.ship.swarm_renewer",
    "deployer.ship.swarm_services",
    "deployer.ship.tls",
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def floor(module: str) -> str:
    parts = module.split(".")
    if module == "deployer.__main__":
        return "cli"
    return parts[1] if len(parts) > 1 and parts[1] in FLOORS else "core"


def _imports(module: str) -> Iterator[tuple[str, int]]:
    """Every `deployer` module (or external top-level name) `module` imports, with its line."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                inner = f"{target}.{alias.name}"
                yield (inner if inner in MODULES else target), node.lineno


def _graph() -> dict[str, set[str]]:
    return {
        module: {name for name, _ in _imports(module) if name in MODULES and name != module}
        for module in MODULES
    }


def test_every_module_has_a_floor() -> None:
    assert {floor(m) for m in MODULES} <= set(FLOORS)
    assert floor("deployer.config") == "core"
    assert floor("deployer.csp.derive") == "core"
    assert floor("deployer.image.images") == "image"
    assert floor("deployer.commands.up") == "commands"
    assert floor("deployer.cli") == "cli"


def test_no_module_imports_a_floor_above_its_own() -> None:
    upward = [
        f"{MODULES[module].relative_to(PACKAGE.parent)}:{line}: {module} ({floor(module)}) "
        f"imports {name} ({floor(name)})"
        for module in sorted(MODULES)
        for name, line in _imports(module)
        if name in MODULES and FLOORS.index(floor(name)) > FLOORS.index(floor(module))
    ]
    assert upward == []


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles() -> None:
    assert _circles(_graph()) == []


def test_the_circle_finder_finds_one() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [["a", "b", "c"]]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_the_named_modules_import_docker_py(module: str) -> None:
    imports_docker = any(name.split(".")[0] == "docker" for name, _ in _imports(module))
    assert not imports_docker or module in DOCKER_IMPORTERS, (
        f"{module} imports docker-py; engine.py wraps it (see ARCHITECTURE.md)"
    )


def test_no_assert_in_product_code() -> None:
    """`python -O` drops asserts: a check that matters raises a real error instead."""
    found = [
        f"{MODULES[module].relative_to(PACKAGE.parent)}:{node.lineno}"
        for module in sorted(MODULES)
        for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8")))
        if isinstance(node, ast.Assert)
    ]
    assert found == []


def test_no_module_over_400_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE.parent)): lines
        for path in MODULES.values()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert long == {}
