"""What the outside-in host checks from inside: run in the host's virtualenv and folder.

``python outside_in_probe.py seed``: the store's products, customers and orders.
``python outside_in_probe.py check full|base``: the installed app as a shopper, the
staff and a worker meet it: every template tag on a page, the German catalog, every API
route and the OpenAPI schema (full), the Celery task and beat entry (full), the business
rules and pins, account deletion, private artifacts. Exits non-zero on the first failure.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import random
import re
import sys
from decimal import Decimal
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.utils import timezone, translation  # noqa: E402
from store.models import Order, OrderLine, Product  # noqa: E402

import recommendations  # noqa: E402
from recommendations import selectors  # noqa: E402
from recommendations.artifacts import artifact_read, artifact_storage  # noqa: E402
from recommendations.models import TrainingRun  # noqa: E402
from recommendations.session import SESSION_KEY  # noqa: E402

CATEGORIES = ("tea", "coffee", "cake", "gifts", "mugs")
PER_CATEGORY = 8
BLOCKS = ("for_you", "trending", "recently_viewed", "similar", "bought_together")


def seed() -> None:
    """40 products in 5 categories; 40 customers, each buying in one category and mugs."""
    rng = random.Random(7)
    products = {
        category: [
            Product.objects.create(
                sku=f"{category.upper()}-{i:02d}",
                name=f"{category.title()} {i}",
                category=category,
                price=Decimal(f"{2 + i}.50"),
            )
            for i in range(1, PER_CATEGORY + 1)
        ]
        for category in CATEGORIES
    }
    now = timezone.now()
    User = get_user_model()
    for c in range(40):
        # No password: hashing one takes most of a second, and the checks force_login.
        customer = User.objects.create_user(f"customer{c}")
        favourite = CATEGORIES[c % len(CATEGORIES)]
        for _ in range(3):
            order = Order.objects.create(
                customer=customer, placed_at=now - dt.timedelta(days=rng.uniform(0, 90))
            )
            picks = [*rng.sample(products[favourite], 2), rng.choice(products["mugs"])]
            for product in dict.fromkeys(picks):
                OrderLine.objects.create(order=order, product=product)
    # A new shopper with one order: the page has items left for all five blocks.
    shopper = User.objects.create_user("shopper")
    order = Order.objects.create(customer=shopper, placed_at=now - dt.timedelta(days=40))
    for sku in ("COFFEE-02", "MUGS-01"):
        OrderLine.objects.create(order=order, product=Product.objects.get(sku=sku))
    User.objects.create_superuser("staff", "staff@example.com", None)
    print(f"seeded {Product.objects.count()} products, {OrderLine.objects.count()} lines")


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"FAILED: {message}")
    print(f"ok: {message}")


def _json(response, status: int = 200) -> dict:
    expect(
        response.status_code == status,
        f"{response.request['REQUEST_METHOD']} {response.request['PATH_INFO']} "
        f"answers {status} (got {response.status_code}: {response.content[:200]!r})",
    )
    return response.json() if response.content else {}


def check_installation(mode: str) -> None:
    installed = Path(recommendations.__file__).resolve()
    expect("site-packages" in installed.parts, f"the app comes from the wheel ({installed})")
    expect(recommendations.__version__ == "0.2.0", "version 0.2.0")
    for demo_module in ("shop", "config"):
        expect(importlib.util.find_spec(demo_module) is None, f"no {demo_module!r} importable")
    for extra in ("celery", "rest_framework", "drf_spectacular"):
        present = importlib.util.find_spec(extra) is not None
        expect(present == (mode == "full"), f"{extra} {'installed' if present else 'absent'}")


def check_page(customer, product: Product) -> None:
    client = Client()
    client.force_login(customer)
    # A view kept in the session (as the events API keeps it): recently viewed lists
    # only what the shopper viewed, and this host records no views of its own.
    session = client.session
    viewed = Product.objects.filter(sku__in=["TEA-03", "CAKE-05", "GIFTS-07", "TEA-06"])
    session[SESSION_KEY] = [str(pk) for pk in viewed.values_list("pk", flat=True)]
    session.save()
    response = client.get(f"/products/{product.pk}/")
    expect(response.status_code == 200, "the product page renders")
    html = response.content.decode()
    for block in BLOCKS:
        expect(f'data-rec-block="{block}"' in html, f"the {block} tag renders a block")
    expect('class="rec-item__price">' in html, "the cards show PRICE_FIELD")
    sections = re.findall(r'data-rec-block="(\w+)"(.*?)</section>', html, re.S)
    expect(len(sections) == len(BLOCKS), "one section per tag")
    shown = [pk for _, body in sections for pk in re.findall(r'data-rec-item="(\d+)"', body)]
    expect(len(shown) == len(set(shown)), "no product twice on the page")
    for block, section in sections:
        if block == "similar":
            continue  # alternatives to the product: of its category, no cap
        pks = re.findall(r'data-rec-item="(\d+)"', section)
        categories = [Product.objects.get(pk=pk).category for pk in pks]
        counts = {c: categories.count(c) for c in set(categories)}
        expect(max(counts.values()) <= 3, f"at most MAX_PER_CATEGORY=3 per category: {counts}")


def check_german() -> None:
    """The wheel's compiled German catalog: block titles and reasons in German."""
    with translation.override("de"):
        title = translation.gettext("Recommended for you")
        reasons = [str(r.reason) for r in selectors.trending_products(n=5)]
    expect(title == "Empfehlungen für Sie", f"the German catalog is installed: {title!r}")
    expect(
        # The README's pin puts a tea first: "Picked by our team".
        bool(reasons)
        and all(r.startswith(("Gerade gefragt", "Von unserem Team")) for r in reasons),
        f"reasons in German: {reasons}",
    )


def check_pin() -> None:
    tea = Product.objects.get(sku="TEA-01")
    trending = selectors.trending_products(n=5)
    expect(trending[0].item == tea, "the README's pin puts TEA-01 first in trending")


def check_api(customer, product: Product) -> None:
    staff = get_user_model().objects.get(username="staff")
    client, admin = Client(), Client()
    client.force_login(customer)
    admin.force_login(staff)
    base = "/api/recommendations"
    me = _json(client.get(f"{base}/me/", {"n": 5}))["results"]
    expect(len(me) == 5 and all(r["reason"] for r in me), "me/ lists 5 with reasons")
    _json(client.get(f"{base}/me/", {"n": 0}), 400)
    _json(admin.get(f"{base}/users/{customer.pk}/"))
    _json(client.get(f"{base}/users/{customer.pk}/"), 403)
    similar = _json(client.get(f"{base}/products/{product.pk}/similar/"))["results"]
    expect(bool(similar), "similar/ lists items")
    _json(client.get(f"{base}/products/{product.pk}/bought-together/"))
    _json(client.get(f"{base}/products/999999/similar/"), 404)
    trending = _json(client.get(f"{base}/trending/", {"n": 3, "category": "coffee"}))
    expect(
        [r["label"].split()[0] for r in trending["results"]] == ["Coffee"] * 3,
        "trending/?category=coffee lists coffee",
    )
    _json(client.post(f"{base}/events/", {"product": str(product.pk), "kind": "view"}), 202)
    runs = _json(admin.get(f"{base}/training-runs/"))
    results = runs["results"] if isinstance(runs, dict) else runs
    _json(admin.get(f"{base}/training-runs/{results[0]['id']}/"))
    schema = _json(client.get("/api/schema/", {"format": "json"}))
    from drf_spectacular.validation import validate_schema

    validate_schema(schema)
    expect(schema["openapi"].startswith("3."), f"an OpenAPI {schema['openapi']} schema")
    routes = {
        "/api/recommendations/me/",
        "/api/recommendations/users/{id}/",
        "/api/recommendations/products/{id}/similar/",
        "/api/recommendations/products/{id}/bought-together/",
        "/api/recommendations/trending/",
        "/api/recommendations/events/",
        "/api/recommendations/training-runs/",
        "/api/recommendations/training-runs/{id}/",
    }
    expect(routes <= set(schema["paths"]), f"the schema has every route: {sorted(routes)}")


def check_celery() -> None:
    from celery.schedules import crontab
    from mysite.celery import app

    app.loader.import_default_modules()
    name = "recommendations.tasks.training_run_task"
    expect(name in app.tasks, "the worker finds the training task")
    entry = settings.CELERY_BEAT_SCHEDULE["train-recommendations-nightly"]
    expect(entry["task"] == name and isinstance(entry["schedule"], crontab), "the beat entry")
    app.conf.task_always_eager = True
    run_id = app.tasks[name].delay().get()
    expect(TrainingRun.objects.get(pk=run_id).status == "succeeded", "the task trains")


def check_admin() -> None:
    client = Client()
    client.force_login(get_user_model().objects.get(username="staff"))
    for page in ("trainingrun", "itemrule"):
        response = client.get(f"/admin/recommendations/{page}/")
        expect(response.status_code == 200, f"the admin's {page} page renders")


def check_artifacts() -> None:
    run = TrainingRun.objects.get(is_active=True)
    location = Path(artifact_storage().location)
    expect(location == Path(settings.BASE_DIR) / "var", f"artifacts under {location}")
    expect((location / run.artifact).is_file(), "the serving artifact is a private file")
    media = Path(settings.MEDIA_ROOT or settings.BASE_DIR / "media")
    expect(not media.exists() or not list(media.rglob("*.npz")), "no artifact in MEDIA_ROOT")


def check_account_deletion(customer) -> None:
    from recommendations.models import ForgottenUser
    from recommendations.privacy import CACHED_KINDS
    from recommendations.serving.keys import UserCache

    run = TrainingRun.objects.get(is_active=True)
    before = run.artifact
    expect(str(customer.pk) in artifact_read(before).user_pks.astype(str), "user served")
    selectors.recommendations_for_user(user=customer, n=4)
    expect(UserCache.current(customer.pk).get_many(CACHED_KINDS) != {}, "the list is cached")
    # As the README says: no call to the app, any deletion forgets the user.
    get_user_model().objects.filter(pk=customer.pk).delete()
    run.refresh_from_db()
    expect(run.artifact != before, "deletion rewrote the serving artifact")
    users = artifact_read(run.artifact).user_pks.astype(str)
    expect(str(customer.pk) not in users, "the deleted user is gone from the serving model")
    expect(not artifact_storage().exists(before), "the old artifact file is deleted")
    expect(ForgottenUser.objects.filter(user_pk=str(customer.pk)).exists(), "a tombstone")
    cached = UserCache.current(customer.pk)
    expect(cached is None or not cached.get_many(CACHED_KINDS), "the cached lists are gone")


def check(mode: str) -> None:
    call_command("check", fail_level="WARNING")  # the README's settings raise no warning
    setup_test_environment()  # the test client's host, in-memory mail
    check_installation(mode)
    expect(TrainingRun.objects.filter(is_active=True).exists(), "a trained version serves")
    customer = get_user_model().objects.get(username="shopper")
    product = Product.objects.get(sku="COFFEE-01")
    check_page(customer, product)
    check_german()
    check_pin()
    check_admin()
    check_artifacts()
    if mode == "full":
        check_api(customer, product)
        check_celery()
    check_account_deletion(customer)
    print(f"outside-in {mode} on {settings.DATABASES['default']['ENGINE']}: all checks passed")


if __name__ == "__main__":
    if sys.argv[1:] == ["seed"]:
        seed()
    elif len(sys.argv) == 3 and sys.argv[1] == "check" and sys.argv[2] in {"full", "base"}:
        check(sys.argv[2])
    else:
        raise SystemExit(__doc__)
