"""The engine stays free of Django, so it can be used and tested on its own."""

from __future__ import annotations

from tests.processes import python_report

SCRIPT = """
import importlib, json, pkgutil, sys
import recommendations.engine as engine
modules = [engine.__name__]
for info in pkgutil.iter_modules(engine.__path__):
    modules.append(importlib.import_module(f"{engine.__name__}.{info.name}").__name__)
loaded = sorted(name for name in sys.modules if name == "django" or name.startswith("django."))
print(json.dumps({"modules": modules, "django": loaded}))
"""


def test_importing_every_engine_module_does_not_import_django():
    report = python_report(SCRIPT)
    assert "recommendations.engine.base" in report["modules"]
    assert "recommendations.engine.itemknn" in report["modules"]
    assert report["django"] == []
