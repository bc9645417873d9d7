"""The docs say what is true: README's settings tables match the parser in settings.py, its
fast test command runs no slow test, and the code and model the docs name exist as named."""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

from dashcore.settings import ENVIRONMENT
from tests.helpers import REPO_ROOT

DOCS = ("README.md", "BENCHMARKS.md", "benchmarks/README.md")
PACKAGES = sorted(p.name for p in (REPO_ROOT / "dashcore").iterdir()
                  if (p / "__init__.py").is_file())


def _text(name: str) -> str:
    return (REPO_ROOT / name).read_text("utf-8")


def _settings_rows() -> list[tuple[list[str], str]]:
    """(the DASHCORE_* names in the first cell, the default cell) of each table row."""
    rows = []
    for line in _text("README.md").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 3 and "DASHCORE_" in cells[0]:
            rows.append((re.findall(r"`(DASHCORE_[A-Z_]+)`", cells[0]), cells[1]))
    return rows


def test_every_setting_is_in_the_readme_tables_with_its_default() -> None:
    by_name = {s.name: s for s in ENVIRONMENT}
    rows = _settings_rows()
    listed = {name for names, _ in rows for name in names}
    assert sorted(set(by_name) - listed) == [], "settings missing from README's tables"
    assert sorted(listed - set(by_name)) == [], "README lists settings settings.py does not read"
    wrong = []
    for names, default in rows:
        for name in names:
            setting = by_name[name]
            expected = "empty" if setting.default == "" else f"`{setting.default_text()}`"
            if not default.startswith(expected):
                wrong.append(f"{name}: README says {default!r}, settings.py {expected}")
    assert not wrong, "\n".join(wrong)


def test_the_readme_fast_unit_test_command_runs_no_slow_test() -> None:
    line = next(ln for ln in _text("README.md").splitlines() if "runs the fast unit tests" in ln)
    command = shlex.split(re.search(r"`(python -m pytest [^`]*)`", line).group(1))
    count_slow = (
        "import sys, pytest\n"
        "class Count:\n"
        "    def pytest_collection_finish(self, session):\n"
        "        slow = [i for i in session.items if i.get_closest_marker('slow')]\n"
        "        print('SLOW', len(slow), 'OF', len(session.items))\n"
        "pytest.main(sys.argv[1:] + ['--collect-only', '-q', '-p', 'no:cacheprovider'],"
        " plugins=[Count()])\n")
    done = subprocess.run([sys.executable, "-c", count_slow, *command[3:]], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)
    slow, total = map(int, re.search(r"SLOW (\d+) OF (\d+)", done.stdout).groups())
    assert total > 100 and slow == 0, f"{slow} slow tests among the {total} it runs"


def _defines(module: Path, name: str) -> bool:
    """True when ``module`` (a .py file or a package folder) defines ``name`` at top level."""
    if module.is_dir():
        if (module / f"{name}.py").is_file() or (module / name / "__init__.py").is_file():
            return True
        module = module / "__init__.py"
    tree = ast.parse(module.read_text("utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found = [node.name]
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found = [t.id for t in targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.ImportFrom | ast.Import):
            found = [(a.asname or a.name).split(".")[0] for a in node.names]
        else:
            continue
        if name in found:
            return True
    return False


def _resolves(dotted: str) -> bool:
    parts = dotted.removeprefix("dashcore.").split(".")
    where = REPO_ROOT / "dashcore"
    for i, part in enumerate(parts):
        if (where / part).is_dir():
            where = where / part
        elif (where / f"{part}.py").is_file():
            where = where / f"{part}.py"
        else:
            return len(parts) - i == 1 and _defines(where, part)
    return True


def test_the_code_the_docs_name_exists_where_they_say() -> None:
    """Backticked names like ``jobs.queue.submit`` or ``dashcore.errors``: each part is a
    package, a module or a top-level name in the module before it."""
    pattern = re.compile(r"`((?:dashcore\.)?(?:" + "|".join(PACKAGES) + r")(?:\.\w+)+)`")
    missing = [f"{doc}: {name}" for doc in DOCS
               for name in sorted(set(pattern.findall(_text(doc))))
               if not re.search(r"\.(py|md|json|keras|npz)$", name) and not _resolves(name)]
    assert not missing, "\n".join(missing)


def test_what_the_docs_call_the_shipped_model_is_the_shipped_model() -> None:
    card = json.loads((REPO_ROOT / "dashcore/assets/default_model.json").read_text("utf-8"))
    said = [(doc, m.group(1)) for doc in DOCS
            for m in re.finditer(r"the shipped (?:default )?model \(([^)]*)\)",
                                 " ".join(_text(doc).split()))]
    assert said, "no sentence in the docs names the shipped model any more"
    for doc, words in said:
        name = words.split(",")[0].strip()
        params = re.search(r"([\d,]+) param", words)
        assert name == card["spec"]["name"], f"{doc} calls the shipped model {name}"
        if params:
            assert int(params.group(1).replace(",", "")) == card["params"], (doc, words)


def test_the_worker_threads_the_readme_describes_are_the_ones_a_worker_uses(monkeypatch) -> None:
    """README: 0 = the cores left after one for the web server, divided by the concurrent
    jobs, at least 1."""
    from dashcore.jobs.worker import worker_threads
    from dashcore.settings import Settings

    row = next(ln for ln in _text("README.md").splitlines()
               if ln.startswith("| `DASHCORE_WORKER_THREADS`"))
    assert "the cores left after one for the web server, divided by " \
           "`DASHCORE_CONCURRENT_JOBS` (at least 1)" in row
    monkeypatch.setattr("os.cpu_count", lambda: 9)
    assert [worker_threads(Settings(concurrent_jobs=jobs)) for jobs in (1, 2, 3, 16)] == [
        8, 4, 2, 1]
    assert worker_threads(Settings(concurrent_jobs=2, worker_threads=3)) == 3
