"""The inclusion tags: the blocks render with reasons in a constant number of queries."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from django.template import Context, Template
from django.test import RequestFactory

from recommendations import serving
from recommendations.session import session_view_record
from tests.factories import OrderFactory, OrderLineFactory, UserFactory
from tests.recommendations.store import store_build, store_train


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # No reload check in the middle of a counted render.
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "RELOAD_INTERVAL": 3600}
    cache.clear()
    serving.reset()
    yield
    serving.reset()


@pytest.fixture
def store(db):
    store = store_build()
    store_train()
    return store


@pytest.fixture
def alice(store):
    alice = UserFactory(username="alice")
    OrderLineFactory(order=OrderFactory(user=alice), product=store.product(0, 0))
    return alice


def _request(user=None):
    request = RequestFactory().get("/")
    request.user = user or AnonymousUser()
    request.session = SessionStore()
    return request


def _render(source, request, **context):
    template = Template("{% load recommendations_tags %}" + source)
    return template.render(Context({"request": request, **context}))


def test_recommended_for_you_shows_each_item_with_its_reason(alice, store):
    html = _render("{% recommended_for_you n=3 %}", _request(alice))

    assert "Recommended for you" in html
    assert html.count('class="rec-item"') == 3
    assert "Because you bought A0" in html
    assert f'href="{store.product(1, 0).get_absolute_url()}"' in html
    assert "recommendations/recommendations.css" in html


def test_similar_products_defaults_to_the_product_in_context(store):
    html = _render(
        '{% similar_products n=2 title="You may also like" %}',
        _request(),
        product=store.product(4, 0),
    )

    assert "You may also like" in html
    assert "Customers who bought E0 also bought" in html
    assert ">E0<" not in html


def test_bought_together_for_cart_lines_unwraps_the_items(store):
    class Line:
        def __init__(self, product):
            self.product = product
            self.quantity = 1

    lines = [Line(store.product(0, 0))]
    html = _render("{% bought_together items=lines n=2 %}", _request(), lines=lines)

    assert "Customers who bought A0 also bought" in html
    assert ">A0<" not in html


def test_recently_viewed_reads_the_session_for_anonymous_shoppers(store):
    request = _request()
    session_view_record(request, store.product(5, 3).pk)

    html = _render("{% recently_viewed n=2 %}", request)

    assert ">F3<" in html
    assert "You viewed this recently" in html


def test_a_bad_n_in_a_template_is_clamped_not_an_error(store):
    html = _render('{% trending_products n="lots" %}', _request())

    assert html.count('class="rec-item"') == 8


def test_the_host_project_can_override_a_block_template(store, settings, tmp_path):
    folder = tmp_path / "templates" / "recommendations"
    folder.mkdir(parents=True)
    (folder / "trending_products.html").write_text(
        "{% for rec in recommendations %}[{{ rec.item.name }}|{{ rec.reason }}]{% endfor %}"
    )
    settings.TEMPLATES = [
        {**settings.TEMPLATES[0], "DIRS": [tmp_path / "templates", *settings.TEMPLATES[0]["DIRS"]]}
    ]

    html = _render("{% trending_products n=2 %}", _request())

    assert html.startswith("[") and html.count("|Trending in Cat ") == 2


# Signed in: the rules, consent, one query per event source, user features, the items.
SIGNED_IN_QUERIES = 7
# Anonymous: the rules and the items.
ANONYMOUS_QUERIES = 2

BLOCKS = [
    ("{% recommended_for_you n=N %}", SIGNED_IN_QUERIES - 0, ANONYMOUS_QUERIES),
    ("{% similar_products product n=N %}", SIGNED_IN_QUERIES - 1, ANONYMOUS_QUERIES),
    ("{% bought_together product=product n=N %}", SIGNED_IN_QUERIES - 1, ANONYMOUS_QUERIES),
    ("{% trending_products n=N %}", SIGNED_IN_QUERIES - 1, ANONYMOUS_QUERIES),
    ("{% recently_viewed n=N %}", SIGNED_IN_QUERIES - 1, ANONYMOUS_QUERIES),
]


@pytest.mark.parametrize("n", [4, 12])
@pytest.mark.parametrize(("source", "signed_in", "anonymous"), BLOCKS)
def test_a_block_takes_a_constant_number_of_queries(
    alice, store, django_assert_num_queries, n, source, signed_in, anonymous
):
    source = source.replace("N", str(n))
    product = store.product(4, 0)
    _render(source, _request(alice), product=product)  # load the model once

    for user, expected in ((alice, signed_in), (None, anonymous)):
        request = _request(user)
        with django_assert_num_queries(expected):
            html = _render(source, request, product=product)
        assert html.count('class="rec-item"') == n
