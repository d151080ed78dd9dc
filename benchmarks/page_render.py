"""Product page with recommendation blocks against the same page without them.

Renders the demo store's product page in process (Django's test client, signed in as
a real customer) for a set of popular products, once as shipped (similar products,
bought together and recommended-for-you blocks) and once with the page's
``recommendations`` block emptied by a template override, alternating the two so
machine noise hits both alike. Prints the median time per page, the ratio, and the
number of SQL queries of each (target: ratio <= 1.3, issue 12; a bounded number of
queries). It prints the process's CPU time per page too: on a machine others load, a
page waiting for a core counts in its wall time but not in its CPU time (which leaves
out the time spent waiting for Redis and SQLite, though).
Runs with production settings (DEBUG off, collected static files): in DEBUG mode
Django records every query and keeps template debug data, which costs the page with
blocks far more than the page without (ratio about 2.7 here in DEBUG, against 1.5).
Nor does it set up Django's test environment: that instruments every template render
(a signal per template, which the test client answers with a copy of the context),
a cost no served page pays and one that grows with every included card.

Needs the demo database with a trained model (``./bin/demo`` once). Usage::

    python benchmarks/page_render.py [--rounds 5] [--products 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from served_env import production_env

ROOT = Path(__file__).resolve().parents[1]
NO_BLOCKS = '{% extends "shop/product_detail.html" %}{% block recommendations %}{% endblock %}'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--products", type=int, default=40)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Production settings (DEBUG off: no query log, manifest static files), as served.
    static_root = tempfile.mkdtemp(prefix="page-render-static-")
    os.environ.update(production_env("testserver"), STATIC_ROOT=static_root)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)
    from django.conf import settings
    from django.db import connection
    from django.db.models import Count
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext

    from shop.models import Product

    user_model = django.contrib.auth.get_user_model()
    customer = user_model.objects.annotate(n=Count("orders")).order_by("-n").first()
    if customer is None:
        raise SystemExit("No customer in the database: run ./bin/demo (setup_demo) first.")
    products = list(
        Product.objects.available()
        .annotate(n=Count("order_lines"))
        .order_by("-n")
        .values_list("pk", flat=True)[: args.products]
    )
    client = Client()
    client.force_login(customer)

    override_dir = Path(tempfile.mkdtemp())
    (override_dir / "shop").mkdir()
    (override_dir / "shop" / "product_detail.html").write_text(NO_BLOCKS)
    templates = [dict(settings.TEMPLATES[0], DIRS=[override_dir, *settings.TEMPLATES[0]["DIRS"]])]

    def render_all() -> tuple[float, float, int]:
        """Seconds per page (median), CPU seconds per page (median), most queries a page made."""
        times, cpu_times, queries = [], [], 0
        for pk in products:
            with CaptureQueriesContext(connection) as captured:
                start, cpu_start = time.perf_counter(), time.process_time()
                response = client.get(f"/product/{pk}/")
                cpu_times.append(time.process_time() - cpu_start)
                times.append(time.perf_counter() - start)
            assert response.status_code == 200, response.status_code
            queries = max(queries, len(captured))
        return statistics.median(times), statistics.median(cpu_times), queries

    render_all()  # warm up: load the model, fill caches
    with_blocks, without_blocks = [], []
    for _ in range(args.rounds):
        with_blocks.append(render_all())
        with override_settings(TEMPLATES=templates):
            without_blocks.append(render_all())
    blocks_s, blocks_cpu = (statistics.median(run[i] for run in with_blocks) for i in (0, 1))
    plain_s, plain_cpu = (statistics.median(run[i] for run in without_blocks) for i in (0, 1))
    blocks_q = max(run[2] for run in with_blocks)
    plain_q = max(run[2] for run in without_blocks)
    ratio = blocks_s / plain_s

    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"\nProduct page, {len(products)} products x {args.rounds} rounds, as {customer}")
    print(f"load average (1, 5, 15 min) after the run: {load}\n")
    print("| page | median ms | median CPU ms | max queries |")
    print("|---|---|---|---|")
    print(
        f"| without recommendation blocks (baseline) | {plain_s * 1000:.1f} "
        f"| {plain_cpu * 1000:.1f} | {plain_q} |"
    )
    print(
        f"| with three recommendation blocks | {blocks_s * 1000:.1f} "
        f"| {blocks_cpu * 1000:.1f} | {blocks_q} |"
    )
    print(f"\ntime ratio with / without blocks: {ratio:.2f} (target <= 1.3)")
    print(f"CPU time ratio with / without blocks: {blocks_cpu / plain_cpu:.2f}")
    ok = ratio <= 1.3
    print("target met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
