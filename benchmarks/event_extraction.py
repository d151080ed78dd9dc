"""How fast the adapter reads training events: 1,000,000 order lines on SQLite.

Builds a throwaway SQLite database (deleted afterwards), bulk-creates the order lines
and times ``get_adapter().training_events()`` against a plain ``SELECT count(*)`` of the
same table, so the ratio holds on a busy machine.

    python benchmarks/event_extraction.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    """Run the benchmark and print the timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--products", type=int, default=4_000)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="event-extraction-")
    os.environ["SQLITE_PATH"] = str(Path(workdir) / "bench.sqlite3")
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    try:
        run(options)
    finally:
        from django.db import connection

        connection.close()
        for path in Path(workdir).iterdir():
            path.unlink()
        Path(workdir).rmdir()


def run(options: argparse.Namespace) -> None:
    """Fill the database, then time the extraction."""
    import datetime as dt
    import random
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction

    from recommendations.adapters import get_adapter
    from recommendations.conf import app_settings
    from shop.models import Category, CustomerProfile, Order, OrderLine, Product

    call_command("migrate", verbosity=0)
    rng = random.Random(0)
    start = time.perf_counter()
    user_model = get_user_model()
    with transaction.atomic():
        category = Category.objects.create(name="All", slug="all")
        Product.objects.bulk_create(
            Product(sku=f"P{i}", name=f"Product {i}", price=Decimal("1.00"), category=category)
            for i in range(options.products)
        )
        user_model.objects.bulk_create(
            user_model(username=f"u{i}", password="!") for i in range(options.users)
        )
        users = list(user_model.objects.values_list("pk", flat=True))
        # One in ten customers refuses personalisation: extraction must drop them.
        CustomerProfile.objects.bulk_create(
            CustomerProfile(user_id=pk, personalisation_consent=i % 10 != 0)
            for i, pk in enumerate(users)
        )
        products = list(Product.objects.values_list("pk", flat=True))
        base = dt.datetime(2011, 1, 1, tzinfo=dt.UTC)
        n_orders = options.events // 10
        Order.objects.bulk_create(
            (
                Order(
                    number=f"O{i}",
                    user_id=rng.choice(users),
                    created_at=base + dt.timedelta(minutes=i),
                )
                for i in range(n_orders)
            ),
            batch_size=10_000,
        )
        orders = list(Order.objects.values_list("pk", "created_at"))
        batch = []
        for i in range(options.events):
            order_id, created = orders[i % len(orders)]
            batch.append(
                OrderLine(
                    order_id=order_id,
                    product_id=rng.choice(products),
                    quantity=1,
                    unit_price=Decimal("1.00"),
                    created_at=created,
                )
            )
            if len(batch) == 50_000:
                OrderLine.objects.bulk_create(batch)
                batch = []
        OrderLine.objects.bulk_create(batch)
    print(f"built {options.events:,} order lines in {time.perf_counter() - start:.1f} s")

    adapter = get_adapter()
    # The rows extraction reads, fetched raw with the same joins: the floor of any reader.
    source = adapter._source_queryset(app_settings.EVENT_SOURCES[0])
    sql, params = source.values_list(
        "order__user", "product", "created_at"
    ).query.sql_with_params()
    baseline, raw, extraction = [], [], []
    for _ in range(options.repeat):
        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {OrderLine._meta.db_table}")
            (count,) = cursor.fetchone()
        baseline.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            fetched = len(cursor.fetchall())
        raw.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        events = adapter.training_events()
        extraction.append(time.perf_counter() - t0)
    assert count == options.events
    print(f"SELECT count(*): {min(baseline):.3f} s (best of {options.repeat})")
    print(
        f"training_events(): {min(extraction):.2f} s (best of {options.repeat}), "
        f"{len(events):,} events kept of {count:,} "
        f"({len(events) / min(extraction):,.0f} events/s)"
    )
    print(f"raw cursor fetch of the same {fetched:,} rows: {min(raw):.2f} s")
    print(f"ratio extraction / count(*): {min(extraction) / min(baseline):.1f}x")
    print(f"ratio extraction / raw fetch: {min(extraction) / min(raw):.2f}x")


if __name__ == "__main__":
    main()
