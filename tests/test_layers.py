"""The package's import graph is layered: no cycles, and lower rooms never import higher ones.

Edges are the `evocane.*` imports written in a module, at any depth (inside functions too, and under
TYPE_CHECKING): a lazy import is still a dependency. A module named by a string (importlib, the CLI plugin list,
the engine registry) is not an edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "evocane"

# room -> rooms it must not import. Rooms are the sub-packages of evocane; CLI modules are exempt (top layer).
FORBIDDEN: dict[str, frozenset[str]] = {
    "genome": frozenset({"dataset", "engines", "evaluate", "plots", "hpo", "report"}),
    "dataset": frozenset({"engines", "evaluate", "plots", "hpo", "report"}),
    "engines": frozenset({"evaluate", "plots", "hpo", "benchmark", "report"}),
    "evaluate": frozenset({"engines", "hpo", "benchmark", "report"}),
    "plots": frozenset({"evaluate", "engines", "hpo", "report"}),
    # the report reads the evaluation's outputs and checkpoint metas (JSON), never an engine
    "report": frozenset({"engines", "hpo", "cli"}),
    # the search sits above engines and evaluation (it trains and scores); only the CLI calls it
    "hpo": frozenset({"cli"}),
    # the release (bundles, scoring a submission, model cards) sits above engines and evaluation; only the CLI calls it
    "benchmark": frozenset({"cli", "hpo"}),
    # the shared contracts below every room that uses them
    "layout": frozenset({"genome", "dataset", "engines", "evaluate", "plots", "hpo", "cli"}),
    "config": frozenset({"genome", "dataset", "engines", "evaluate", "plots", "hpo", "cli"}),
    "predictions": frozenset({"engines", "evaluate", "plots", "hpo", "cli"}),
    "experiments": frozenset({"engines", "evaluate", "plots", "hpo", "cli"}),
    "numerics": frozenset({"engines", "evaluate", "plots", "hpo", "cli"}),
    "ordering": frozenset({"genome", "dataset", "engines", "evaluate", "plots", "hpo", "report", "benchmark", "cli"}),
    "exchange": frozenset({"engines", "evaluate", "plots", "hpo", "cli", "benchmark"}),
    # set-up (Snakemake profiles) needs no room
    "profiles": frozenset({"genome", "dataset", "engines", "evaluate", "plots", "hpo", "cli"}),
}


def module_name(path: Path, root: Path = SRC) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def find_modules(root: Path = SRC) -> dict[str, Path]:
    return {module_name(path, root): path for path in sorted((root / PACKAGE).rglob("*.py"))}


def _known_prefix(name: str, modules: dict[str, Path]) -> str | None:
    """The longest dotted prefix of `name` that is a module of the package (`a.b.func` -> `a.b`)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def module_imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules that `name` imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), filename=str(path))
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    found = _known_prefix(alias.name, modules)
                    if found is not None:
                        targets.add(found)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # relative import: `from . import x` in a.b.c (or in package a.b.c itself) starts at a.b (a.b.c)
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                # `from evocane.x import y` imports module evocane.x.y when it exists, else a name of evocane.x
                found = _known_prefix(f"{base}.{alias.name}", modules)
                if found is not None:
                    targets.add(found)
    targets.discard(name)
    return targets


def import_graph(root: Path = SRC) -> dict[str, set[str]]:
    modules = find_modules(root)
    return {name: module_imports(name, path, modules) for name, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a path ending where it starts) per strongly connected component with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0

    def connect(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_cycle_in(component, graph) for component in components]


def _cycle_in(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest cycle through the component's first module (breadth-first inside the component)."""
    members = set(component)
    start = component[0]
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for target in sorted(graph[node] & members):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if target not in parent:
                    parent[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle in component {component}")


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def is_cli(module: str) -> bool:
    return module == f"{PACKAGE}.cli" or module.startswith(f"{PACKAGE}.cli.")


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    violations = []
    for module, targets in sorted(graph.items()):
        if is_cli(module):
            continue
        forbidden = FORBIDDEN.get(room(module), frozenset())
        violations += [f"{module} -> {target}" for target in sorted(targets) if room(target) in forbidden]
    return violations


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_graph_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    package = tmp_path / PACKAGE
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "low.py").write_text("VALUE = 1\n")
    (package / "sub" / "__init__.py").write_text("from . import mid\n")
    (package / "sub" / "mid.py").write_text("def f():\n    from ..low import VALUE\n    import evocane.sub.high\n")
    (package / "sub" / "high.py").write_text("from evocane.sub import mid\nfrom evocane import low\n")
    found = import_graph(tmp_path)
    assert found == {
        "evocane": set(),
        "evocane.low": set(),
        "evocane.sub": {"evocane.sub.mid"},
        "evocane.sub.mid": {"evocane.low", "evocane.sub.high"},
        "evocane.sub.high": {"evocane.sub.mid", "evocane.low"},
    }
    assert find_cycles(found) == [["evocane.sub.high", "evocane.sub.mid", "evocane.sub.high"]]


def test_rules_catch_a_violation() -> None:
    graph = {
        "evocane.plots.x": {"evocane.evaluate.y"},
        "evocane.evaluate.y": {"evocane.plots.x"},
        "evocane.cli.tasks": {"evocane.engines.base"},
        "evocane.engines.base": set(),
    }
    assert layer_violations(graph) == ["evocane.plots.x -> evocane.evaluate.y"]


def test_package_graph_is_big_enough(graph: dict[str, set[str]]) -> None:
    # guards against a checker that silently finds nothing
    assert len(graph) > 50
    assert "evocane.dataset.arrays" in graph["evocane.dataset.windows"]


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_rooms_import_only_lower_rooms(graph: dict[str, set[str]]) -> None:
    violations = layer_violations(graph)
    assert not violations, "imports against the layer order:\n" + "\n".join(violations)
