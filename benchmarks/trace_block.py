"""Calls into app code for one "Recommended for you" block, cold and warm.

Counts, with ``sys.setprofile``, the Python calls whose code lives under
``recommendations/`` (engine included) and the distinct app modules they run in, for
one ``recommendations_for_user`` list of a signed-in customer with the model loaded:
cold (empty cache, nothing cached or served for anyone, the process otherwise warmed
up by one list of another shopper) and warm (the same list again).
Builds its own small store in a temporary SQLite database and trains item_knn, so it
needs nothing but the virtualenv. ``--since-training``: the shopper viewed a few items
after the training (their list is scored now, not read from the artifact);
``--without-social``: no ``SOCIAL`` relation configured. Usage::

    python benchmarks/trace_block.py [--since-training] [--without-social]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "recommendations") + os.sep


def traced(call: Callable[[], Any]) -> tuple[int, Counter[str]]:
    """Run ``call``: the calls into app code and the count per app module."""
    modules: Counter[str] = Counter()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code.co_filename.startswith(APP):
            modules[frame.f_code.co_filename[len(APP) :]] += 1

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return sum(modules.values()), modules


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--since-training", action="store_true")
    parser.add_argument("--without-social", action="store_true")
    options = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    folder = Path(tempfile.mkdtemp(prefix="trace-block-"))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        SQLITE_PATH=str(folder / "db.sqlite3"),
        VAR_DIR=str(folder),
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.conf import settings
    from django.core.cache import cache
    from django.core.management import call_command

    from recommendations import selectors, serving
    from recommendations.services import training_run_start
    from tests.factories import CategoryFactory, ProductViewFactory, UserFactory
    from tests.recommendations.test_training import make_small_shop

    call_command("migrate", verbosity=0)
    settings.MEDIA_ROOT = folder / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "ARTIFACT_ROOT": folder / "artifacts",
        "ALGORITHMS": {"item_knn": {}},
    }
    if options.without_social:
        settings.RECOMMENDATIONS.pop("SOCIAL", None)
    shop = make_small_shop()
    CategoryFactory()
    customer = shop.users[0] if shop.users else UserFactory()
    ProductViewFactory(user=customer, product=shop.products[5])
    training_run_start(algorithms=["item_knn"])
    assert serving.active_model() is not None  # loaded before the trace
    if options.since_training:
        for product in shop.products[6:12]:
            ProductViewFactory(user=customer, product=product)
    # As a web worker starts (gunicorn.conf.py), in the trees that have it.
    prepare = getattr(selectors, "warm_up", None)
    if prepare is not None:
        prepare()
    # Once for another shopper: the URLconf, templates and lazy imports are loaded, as
    # in a process that served before; only this shopper's list is cold.
    selectors.recommendations_for_user(user=shop.users[1], n=8)

    cache.clear()
    state = getattr(serving, "process_state", None)
    if state is not None:
        # The catalog is loaded once per process and catalog change, like the model:
        # a new shopper finds it loaded.
        catalog = getattr(state, "catalog", None)
        state.reset(lists_only=True)
        state.catalog = catalog
    else:  # the code before the serving package
        selectors.served_forget()

    def block() -> None:
        selectors.recommendations_for_user(user=customer, n=8)

    for label in ("cold", "warm"):
        calls, modules = traced(block)
        print(f"{label}: {calls} calls into app code, {len(modules)} app modules")
        for module, count in modules.most_common():
            print(f"    {count:5d}  {module}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
