"""The inclusion tags: the blocks render with reasons in a constant number of queries."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recommendations.session import session_view_record
from tests.factories import OrderFactory, OrderLineFactory, UserFactory
from tests.recommendations.store import caches_clear, page_request, tag_render

pytestmark = pytest.mark.usefixtures("isolated_serving")


@pytest.fixture(autouse=True)
def _no_reload_check(settings):
    # No reload check in the middle of a counted render.
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "RELOAD_INTERVAL": 3600}


@pytest.fixture
def alice(store):
    alice = UserFactory(username="alice")
    OrderLineFactory(order=OrderFactory(user=alice), product=store.product(0, 0))
    return alice


def test_recommended_for_you_shows_each_item_with_its_reason(alice, store):
    html = tag_render("{% recommended_for_you n=3 %}", page_request(alice))

    assert "Recommended for you" in html
    assert html.count('class="rec-item"') == 3
    assert "Because you bought A0" in html
    assert f'href="{store.product(1, 0).get_absolute_url()}"' in html
    assert "recommendations/recommendations.css" in html


def test_similar_products_defaults_to_the_product_in_context(store):
    html = tag_render(
        '{% similar_products n=2 title="You may also like" %}',
        page_request(),
        product=store.product(4, 0),
    )

    assert "You may also like" in html
    assert "Similar to E0" in html
    assert ">E0<" not in html


def test_bought_together_for_cart_lines_unwraps_the_items(store):
    class Line:
        def __init__(self, product):
            self.product = product
            self.quantity = 1

    lines = [Line(store.product(0, 0))]
    html = tag_render("{% bought_together items=lines n=2 %}", page_request(), lines=lines)

    assert "Often bought with A0" in html
    assert ">A0<" not in html


def test_recently_viewed_reads_the_session_for_anonymous_shoppers(store):
    request = page_request()
    session_view_record(request, store.product(5, 3).pk)

    html = tag_render("{% recently_viewed n=2 %}", request)

    assert ">F3<" in html
    assert "You viewed this recently" in html


def test_a_bad_n_in_a_template_is_clamped_not_an_error(store):
    html = tag_render('{% trending_products n="lots" %}', page_request())

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

    html = tag_render("{% trending_products n=2 %}", page_request())

    assert html.startswith("[") and html.count("|Trending in Cat ") == 2


# Cold caches, signed in: the rules, consent, one query per event source, whom the shopper
# follows (SOCIAL is set; cached with the lists), the available candidates, their
# instances, and the impression (the user's consent, the INSERT).
SIGNED_IN_QUERIES = 10
# Anonymous: the rules, the available candidates, their instances, the impression.
ANONYMOUS_QUERIES = 4
# Warm (the rules, the shopper's history and the list cached, its items' availability
# checked less than RELOAD_INTERVAL ago): the impression (signed in: the consent too).
WARM_QUERIES = {"signed_in": 2, "anonymous": 1}

BLOCKS = [
    ("{% recommended_for_you n=N %}", SIGNED_IN_QUERIES + 1, ANONYMOUS_QUERIES),  # features
    ("{% similar_products product n=N %}", SIGNED_IN_QUERIES, ANONYMOUS_QUERIES),
    ("{% bought_together product=product n=N %}", SIGNED_IN_QUERIES, ANONYMOUS_QUERIES),
    ("{% trending_products n=N %}", SIGNED_IN_QUERIES, ANONYMOUS_QUERIES),
    ("{% recently_viewed n=N %}", SIGNED_IN_QUERIES, ANONYMOUS_QUERIES),
]


@pytest.mark.parametrize("n", [4, 12])
@pytest.mark.parametrize(("source", "signed_in", "anonymous"), BLOCKS)
def test_a_block_takes_a_constant_number_of_queries(
    alice, store, django_assert_num_queries, n, source, signed_in, anonymous
):
    source = source.replace("N", str(n))
    product = store.product(4, 0)
    tag_render(source, page_request(alice), product=product)  # load the model once

    for user, cold, warm in (
        (alice, signed_in, WARM_QUERIES["signed_in"]),
        (None, anonymous, WARM_QUERIES["anonymous"]),
    ):
        caches_clear()
        with django_assert_num_queries(cold):
            html = tag_render(source, page_request(user), product=product)
        assert html.count('class="rec-item"') == n
        with django_assert_num_queries(warm):
            html = tag_render(source, page_request(user), product=product)
        assert html.count('class="rec-item"') == n


def test_the_blocks_of_a_page_read_the_history_once_and_never_repeat_an_item(alice, store):
    page = (
        "{% similar_products product n=4 %}{% bought_together product=product n=4 %}"
        "{% recommended_for_you n=4 %}{% trending_products n=4 %}"
    )
    product = store.product(4, 0)
    tag_render(page, page_request(alice), product=product)  # load the model once
    caches_clear()

    with CaptureQueriesContext(connection) as queries:
        html = tag_render(page, page_request(alice), product=product)

    order_lines = [q for q in queries if 'FROM "shop_orderline"' in q["sql"]]
    assert len(order_lines) == 1
    shown = re.findall(r'data-rec-item="(\d+)"', html)
    assert len(shown) == 16
    assert len(set(shown)) == 16
    assert str(product.pk) not in shown


def test_a_block_leaves_out_the_product_on_screen(alice, store):
    product = store.product(1, 0)  # what alice's purchase of A0 recommends first
    html = tag_render("{% recommended_for_you n=8 %}", page_request(alice), product=product)

    assert html.count('class="rec-item"') == 8
    assert f'data-rec-item="{product.pk}"' not in html
