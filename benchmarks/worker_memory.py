"""Resident memory of a web-like process, and whether it imported scikit-learn.

Sets Django up with the project's settings, imports the URLconf (views, admin, API) as a
web worker does, loads the serving model, serves one customer's list, a product's
similar and bought-together lists, and prints ``VmRSS`` after the imports and after the
lists, with the scientific packages the process imported. Run it on the demo database
(``VAR_DIR``, ``SQLITE_PATH`` as for ``http_load.py``)::

    PYTHONPATH=. python benchmarks/worker_memory.py
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    """This process's resident memory in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("No VmRSS in /proc/self/status (Linux only).")


def main() -> int:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    from django.conf import settings

    importlib.import_module(settings.ROOT_URLCONF)
    from recommendations import selectors
    from recommendations.serving.loading import active_model
    from shop.models import Order

    imported = rss_mb()
    model = active_model()
    if model is None:
        print("No model is serving: train one first (./bin/demo).")
        return 1
    order = Order.objects.order_by("pk").first()
    lists = selectors.recommendations_for_user(user=order.user, n=20)
    item = order.lines.first().product
    lists += selectors.similar_products(item=item, n=8)
    lists += selectors.bought_together(item=item, n=8)
    served = rss_mb()
    packages = ("sklearn", "scipy.stats", "scipy.linalg", "scipy.sparse")
    print(f"model: {type(model.recommender).__name__}, {len(lists)} items in 3 lists")
    print(f"resident memory after the imports: {imported:.0f} MB")
    print(f"resident memory after the model and the lists: {served:.0f} MB")
    for package in packages:
        print(f"{package} imported: {package in sys.modules}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
