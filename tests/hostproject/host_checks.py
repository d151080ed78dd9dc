"""Checks run with tests.hostproject.settings (a library, no shop) in a subprocess.

Fixtures: tests/hostproject/fixtures.py.

Not collected by the main run (the file name has no ``test_`` prefix): see
tests/recommendations/test_drop_in_host.py, which runs this module.
"""

from __future__ import annotations

import sys

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.template import Context, Template
from django.test import RequestFactory

from recommendations import selectors, serving
from recommendations.services import training_run_start
from tests.hostproject.library.models import Loan


@pytest.fixture
def library(books):
    run = training_run_start(promote=True)
    assert run.is_active, run.error
    serving.reset()
    return books


def test_shop_is_not_installed_and_never_imported(library):
    from django.apps import apps

    selectors.trending_products(n=3)
    assert not apps.is_installed("shop")
    assert not [name for name in sys.modules if name == "shop" or name.startswith("shop.")]


def test_selectors_recommend_books_with_reasons(library):
    reader = get_user_model().objects.create_user("reader")
    Loan.objects.create(reader=reader, book=library["crime0"])

    personal = selectors.recommendations_for_user(user=reader, n=4)
    similar = selectors.similar_products(item=library["crime0"], n=3)

    assert personal[0].item == library["poetry0"]
    assert personal[0].reason == "Because you borrowed Crime 0"
    assert library["crime0"] not in [r.item for r in personal]
    assert similar[0].item == library["poetry0"]
    assert similar[0].reason == "Customers who bought Crime 0 also bought"


def test_unavailable_books_are_never_recommended(library):
    library["poetry0"].is_available = False
    library["poetry0"].save()

    items = [r.item for r in selectors.similar_products(item=library["crime0"], n=8)]

    assert library["poetry0"] not in items
    assert len(items) == 8


def test_the_template_tags_render_books(library):
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    request.session = {}
    template = Template(
        "{% load recommendations_tags %}{% similar_products book n=2 %}{% trending_products n=3 %}"
    )

    html = template.render(Context({"request": request, "book": library["crime0"]}))

    assert "Customers who bought Crime 0 also bought" in html
    assert "Trending in " in html
    assert html.count('class="rec-item"') == 5


def test_the_api_serves_books(library, client):
    reader = get_user_model().objects.create_user("reader")
    Loan.objects.create(reader=reader, book=library["crime0"])
    client.force_login(reader)

    me = client.get("/api/recommendations/me/", {"n": 3})
    similar = client.get(f"/api/recommendations/products/{library['crime0'].pk}/similar/")
    trending = client.get("/api/recommendations/trending/", {"n": 2, "category": "travel"})
    schema = client.get("/api/schema/", {"format": "json"})

    assert me.status_code == 200
    assert me.json()["results"][0]["label"] == "Poetry 0"
    assert similar.json()["results"][0]["item_id"] == str(library["poetry0"].pk)
    assert [r["reason"] for r in trending.json()["results"]] == ["Trending in travel"] * 2
    assert "/api/recommendations/me/" in schema.json()["paths"]
