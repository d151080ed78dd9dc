"""Run pytest as on a base install: Celery, DRF and drf-spectacular cannot be imported.

``python tests/hostproject/without_extras.py <pytest arguments>``; the modules are
blocked before anything (pytest-django's ``django.setup()`` included) can import them.
"""

from __future__ import annotations

import sys

BLOCKED = ("celery", "rest_framework", "drf_spectacular")

if __name__ == "__main__":
    for name in BLOCKED:
        sys.modules[name] = None  # import raises ModuleNotFoundError
    import pytest

    sys.exit(pytest.main(sys.argv[1:]))
