"""The app is a drop-in: it works in a host project without the shop, on other models."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import recommendations

ROOT = Path(__file__).resolve().parents[2]
APP = Path(recommendations.__file__).resolve().parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_no_module_of_the_app_imports_shop():
    sources = sorted(APP.rglob("*.py"))
    assert len(sources) > 10
    offenders = {
        str(path.relative_to(APP)): module
        for path in sources
        for module in _imported_modules(path)
        if module == "shop" or module.startswith("shop.")
    }
    assert offenders == {}


def _run_pytest(runner: list[str], settings: str, module: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            *runner,
            "-p",
            "no:cacheprovider",
            "--noconftest",
            "-p",
            "tests.hostproject.fixtures",
            f"--ds={settings}",
            "-q",
            module,
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_library_project_trains_and_serves_through_the_same_tags_and_api():
    # A separate process: the library app and settings without the shop must be set up
    # before Django starts, and its migrations run on a fresh test database.
    result = _run_pytest(
        [sys.executable, "-m", "pytest"],
        "tests.hostproject.settings",
        "tests/hostproject/host_checks.py",
    )

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "8 passed" in result.stdout


def test_without_celery_and_drf_the_tags_admin_and_training_command_work():
    # Celery, DRF and drf-spectacular are blocked before Django starts, as on a base
    # install (pip install django-shop-recommendations, no extras).
    result = _run_pytest(
        [sys.executable, "tests/hostproject/without_extras.py"],
        "tests.hostproject.settings_base",
        "tests/hostproject/base_checks.py",
    )

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "7 passed" in result.stdout


def test_catalog_lookups_through_relations_read_one_value_per_item_and_are_checked():
    # Many-to-many shelves, a foreign key without __str__, several priced copies per book.
    result = _run_pytest(
        [sys.executable, "-m", "pytest"],
        "tests.hostproject.settings",
        "tests/hostproject/relations_checks.py",
    )

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "15 passed" in result.stdout
