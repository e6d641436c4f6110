"""No import circles among the package's modules, the UI's included.

Every import counts — module level, inside functions and under TYPE_CHECKING — because a circle is
a design problem whichever way Python happens to tolerate it: each layer should know nothing of
the layers above it. The graph is read from the source with `ast`, nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import REPO

PACKAGE = "neurolink_ui"


def _modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, packages named by their folder."""
    modules: dict[str, Path] = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _owning_module(name: str, modules: dict[str, Path]) -> str | None:
    """The module an imported name lives in (`a.b.Name` -> `a.b`), or None outside the package."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            owner = _owning_module(target, modules)
            if owner is None or owner == module:
                continue
            # A package importing its own submodules, or a module its parent package, is not a
            # dependency between layers (every submodule import runs the package's __init__).
            if path.name == "__init__.py" and owner.startswith(module + "."):
                continue
            if module.startswith(owner + "."):
                continue
            found.add(owner)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules(REPO / PACKAGE)
    return {module: _imports(module, path, modules) for module, path in modules.items()}


def import_circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[frozenset[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, pending = work[-1]
            if pending:
                child = pending.pop()
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, sorted(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    circles.append(frozenset(component))
    return circles


def test_finds_a_circle_when_there_is_one() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert import_circles(graph) == [frozenset({"a", "b", "c"})]


def test_no_import_circles() -> None:
    graph = import_graph()
    assert "neurolink_ui.replicate.client" in graph  # the package was found and read
    assert "neurolink_ui.ui.panels.compare" in graph
    circles = [" <-> ".join(sorted(circle)) for circle in import_circles(graph)]
    assert circles == []
