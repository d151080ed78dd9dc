"""The app's modules import downwards only: no circles, no imports inside functions."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "recommendations"
# Modules that need an optional dependency (the extras) or a host's package.
OPTIONAL = ("rest_framework", "drf_spectacular", "celery", "oscar")
# Imports in a function that are the framework's own pattern, not a dodged circle:
# an AppConfig.ready() imports what needs the models loaded.
ALLOWED_IN_FUNCTIONS = {
    ("recommendations/apps.py", "recommendations"),
    ("recommendations/contrib/oscar/apps.py", "recommendations.contrib.oscar"),
}


def _modules() -> list[str]:
    names = []
    for path in sorted(APP.rglob("*.py")):
        relative = path.relative_to(ROOT).with_suffix("")
        if "migrations" in relative.parts:
            continue
        parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
        names.append(".".join(parts))
    return names


def _source_files() -> list[Path]:
    return [path for path in sorted(APP.rglob("*.py")) if "migrations" not in path.parts]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(node: ast.Import | ast.ImportFrom, package: str) -> list[str]:
    """The modules an import statement names (relative imports resolved)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base])
        base = base.rstrip(".")
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def _function_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of the app inside a function of ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.Import | ast.ImportFrom):
                for module in _imported(inner, ""):
                    if module.split(".")[0] == "recommendations":
                        found.append((inner.lineno, module))
    return found


def test_no_module_of_the_app_imports_the_app_inside_a_function():
    found = []
    for path in _source_files():
        relative = path.relative_to(ROOT).as_posix()
        for line, module in _function_imports(path):
            if not any(
                relative == allowed and module.startswith(prefix)
                for allowed, prefix in ALLOWED_IN_FUNCTIONS
            ):
                found.append(f"{relative}:{line} imports {module}")
    assert found == []


def _graph() -> dict[str, set[str]]:
    """Module -> the app modules it imports when it is imported (not under TYPE_CHECKING)."""
    modules = set(_modules())
    graph: dict[str, set[str]] = {}
    for path in _source_files():
        relative = path.relative_to(ROOT).with_suffix("")
        is_package = relative.name == "__init__"
        parts = relative.parts[:-1] if is_package else relative.parts
        name = ".".join(parts)
        package = name if is_package else ".".join(parts[:-1])
        edges: set[str] = set()
        stack: list[ast.AST] = list(ast.parse(path.read_text()).body)
        while stack:
            node = stack.pop()
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue  # class bodies of this app import nothing; functions are checked above
            if isinstance(node, ast.If) and _is_type_checking(node):
                stack.extend(node.orelse)
                continue
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges |= {m for m in _imported(node, package) if m in modules and m != name}
                continue
            stack.extend(ast.iter_child_nodes(node))
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_app_modules_import_each_other_without_circles():
    graph = _graph()
    assert "recommendations.serving.pipeline" in graph["recommendations.selectors"]
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_circle():
    # The check above could pass by finding nothing: it must see a circle when one exists.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# Run in a fresh interpreter: imports each module with no other module of the app loaded
# (but the models), then unloads the app's modules again before the next one.
_IMPORT_EACH = """
import importlib, json, sys, traceback
import django
django.setup()
loaded = set(sys.modules)
failures = {}
for module in sys.argv[1:]:
    try:
        importlib.import_module(module)
    except Exception:
        failures[module] = traceback.format_exc()[-2000:]
    for name in [n for n in sys.modules if n not in loaded and n.startswith("recommendations")]:
        del sys.modules[name]
print(json.dumps(failures))
"""


def _optional_missing(error: str) -> bool:
    return "ModuleNotFoundError" in error and any(f"'{name}" in error for name in OPTIONAL)


def _import_each(modules: list[str], *paths: Path) -> dict[str, str]:
    """Module -> traceback of those that failed to import first, in a fresh interpreter."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.architecture.isolation_settings",
        "PYTHONPATH": os.pathsep.join(str(path) for path in (ROOT, *paths)),
    }
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_EACH, *modules],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_module_of_the_app_imports_first_in_a_fresh_interpreter():
    # Each module is the first of the app imported after the models: a circle held
    # together by import order would fail here for the module that starts it.
    modules = [m for m in _modules() if not m.startswith("recommendations.contrib.oscar")]
    failures = _import_each(modules)
    assert len(modules) > 40
    assert {m: e for m, e in failures.items() if not _optional_missing(e)} == {}


def test_the_isolated_import_sees_a_module_that_fails_alone(tmp_path):
    # The check above must be able to fail: a module whose import raises is reported.
    (tmp_path / "broken_module.py").write_text("import recommendations.no_such_module\n")
    failures = _import_each(["broken_module", "recommendations.conf"], tmp_path)
    assert list(failures) == ["broken_module"]
