"""Tests and benchmarks share code through ``tests/helpers`` only: no test file imports from
another test file or a conftest, and nothing edits ``sys.path`` to reach shared code (the
benchmarks run as ``python -m benchmarks.NAME`` from the repository root)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO_ROOT

SOURCES = sorted([*(REPO_ROOT / "tests").rglob("*.py"), *(REPO_ROOT / "benchmarks").glob("*.py")])


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports (absolute names), with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(REPO_ROOT)}:{line}"


def test_no_module_imports_from_a_test_module_or_a_conftest() -> None:
    bad = [f"{_where(path, line)} imports {name}"
           for path in SOURCES for line, name in _imports(path)
           if name.startswith("tests.") and any(
               part.startswith("test_") or part == "conftest" for part in name.split("."))]
    assert not bad, "import shared code from tests.helpers instead:\n" + "\n".join(bad)


def test_nothing_edits_sys_path_to_reach_shared_code() -> None:
    bad = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Attribute) and node.attr == "path"
                    and isinstance(node.value, ast.Name) and node.value.id == "sys"):
                bad.append(_where(path, node.lineno))
    assert not bad, "run benchmarks as python -m benchmarks.NAME instead:\n" + "\n".join(bad)


def test_every_shared_module_a_benchmark_or_test_names_exists() -> None:
    """``tests.helpers.x`` and ``benchmarks.x`` imports resolve to files in the checkout."""
    missing = []
    for path in SOURCES:
        for line, name in _imports(path):
            parts = name.split(".")
            if parts[0] not in ("tests", "benchmarks"):
                continue
            # ``from pkg.mod import name``: either pkg/mod.py, pkg/mod/ or a name inside it.
            candidates = [REPO_ROOT.joinpath(*parts[:n]) for n in range(len(parts), 0, -1)]
            if not any(c.with_suffix(".py").is_file() or (c / "__init__.py").is_file()
                       for c in candidates[:2]):
                missing.append(f"{_where(path, line)} imports {name}")
    assert not missing, "\n".join(missing)
