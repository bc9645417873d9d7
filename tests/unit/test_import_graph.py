"""dashcore's modules import one another without a loop.

A loop (``a`` imports ``b``, ``b`` imports ``a``, directly or through others) means two
modules that cannot be understood, tested or replaced apart, and one of them only loads
because the other has not finished yet. Imports inside functions count as much as those at
the top: moving an import into a function hides a loop, it does not cut it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import dashcore

ROOT = Path(dashcore.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The dashcore module ``name`` loads (itself, or the package it names a member of)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every dashcore module that ``module`` imports, at the top or inside a function.

    ``from dashcore.a import b`` loads ``dashcore.a.b`` when that is a module; importing a
    module also runs its packages' ``__init__``, except those ``module`` is itself inside
    (they ran before it did).
    """
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    parts = module.split(".")
    own_packages = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            resolved = _resolve(target, modules)
            while resolved and resolved not in own_packages:
                found.add(resolved)
                resolved = resolved.rpartition(".")[0]
    return found


def import_graph() -> dict[str, set[str]]:
    """dashcore's modules and the dashcore modules each one imports."""
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each loop once, as the modules along it (strongly connected parts of the graph)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    parts: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            part = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                part.append(member)
                if member == node:
                    break
            if len(part) > 1:
                parts.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_loop_through(part, graph) for part in parts]


def _loop_through(part: list[str], graph: dict[str, set[str]]) -> list[str]:
    """One concrete loop inside a strongly connected part: a → b → … → a."""
    members = set(part)
    start = part[0]
    path = [start]
    seen = {start}
    node = start
    while True:
        nexts = sorted(graph[node] & members)
        if start in nexts and len(path) > 1:
            return [*path, start]
        step = next((n for n in nexts if n not in seen), None)
        if step is None:  # fall back to the part itself
            return [*part, part[0]]
        path.append(step)
        seen.add(step)
        node = step


def test_the_graph_reads_imports_at_the_top_inside_functions_and_of_packages(
        tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    a = tmp_path / "pkg" / "a.py"
    a.write_text("from dashcore.pkg import sibling\n\n\ndef f():\n"
                 "    from dashcore.other.deep import thing\n    return thing\n", "utf-8")
    modules = {"dashcore.pkg": tmp_path / "pkg" / "__init__.py", "dashcore.pkg.a": a,
               "dashcore.pkg.sibling": tmp_path / "pkg" / "sibling.py",
               "dashcore.other": tmp_path / "other" / "__init__.py",
               "dashcore.other.deep": tmp_path / "other" / "deep.py"}
    assert _imports("dashcore.pkg.a", a, modules) == {
        "dashcore.pkg.sibling", "dashcore.other.deep", "dashcore.other"}
    assert "dashcore.settings" in import_graph()["dashcore.access.quota"]


def test_a_loop_is_named_module_by_module() -> None:
    graph = {"dashcore.a": {"dashcore.b"}, "dashcore.b": {"dashcore.c"},
             "dashcore.c": {"dashcore.a", "dashcore.d"}, "dashcore.d": set()}
    assert find_cycles(graph) == [["dashcore.a", "dashcore.b", "dashcore.c", "dashcore.a"]]
    assert find_cycles({"dashcore.a": {"dashcore.b"}, "dashcore.b": set()}) == []


def test_dashcore_has_no_import_loop() -> None:
    loops = find_cycles(import_graph())
    assert not loops, "Import loops in dashcore (cut each at its seam):\n" + "\n".join(
        " → ".join(loop) for loop in loops)
