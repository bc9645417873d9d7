"""Settings are read once, by an entry point, and handed down: no core function reads the
environment on its own (a quiet default would make a caller's other data folder or limits
silently not apply)."""

from __future__ import annotations

import ast
from pathlib import Path

import dashcore

PACKAGE = Path(dashcore.__file__).parent

# The only functions in dashcore that may read the settings: each is a process's entry point
# (a worker, a spare, a child process, a command line), not something a page calls.
ENTRY_POINTS = {
    ("jobs/worker.py", "main"),
    ("jobs/spare.py", "main"),
    ("jobs/ray_entry.py", "main"),
    ("evaluation/isolated.py", "main"),
    ("models/export_formats.py", "main"),
    ("models/default_model.py", "main"),
}


def _sources() -> list[tuple[str, ast.Module]]:
    return [(path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text("utf-8")))
            for path in sorted(PACKAGE.rglob("*.py")) if path.name != "settings.py"]


def _readers(tree: ast.Module) -> set[str]:
    """Names ``get_settings`` is bound to in a module (``as`` aliases included)."""
    return {alias.asname or alias.name for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) for alias in node.names
            if alias.name == "get_settings"}


def _calls_outside_entry_points(module: str, tree: ast.Module) -> list[str]:
    found = []
    readers = _readers(tree) | {"get_settings"}
    for top in tree.body:
        for node in ast.walk(top):
            func = node.func if isinstance(node, ast.Call) else None
            name = (func.id if isinstance(func, ast.Name) else
                    func.attr if isinstance(func, ast.Attribute) else None)
            if name in readers and (module, getattr(top, "name", "")) not in ENTRY_POINTS:
                found.append(f"{module}:{node.lineno}")
    return found


def test_only_entry_points_read_the_settings() -> None:
    found = [where for module, tree in _sources()
             for where in _calls_outside_entry_points(module, tree)]
    assert found == [], f"get_settings() called below the entry points: {found}"


def test_no_function_defaults_its_settings_to_none() -> None:
    found = []
    for module, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args
                positional = args.posonlyargs + args.args
                defaults = [*[None] * (len(positional) - len(args.defaults)), *args.defaults]
                pairs = [*zip(positional, defaults, strict=True),
                         *zip(args.kwonlyargs, args.kw_defaults, strict=True)]
                found += [f"{module}:{node.lineno} {node.name}" for arg, default in pairs
                          if arg.arg == "settings" and isinstance(default, ast.Constant)
                          and default.value is None]
    assert found == [], f"settings=None defaults (make the argument required): {found}"
