"""The inclusion tags: the blocks render with reasons in a constant number of queries."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.templatetags.static import StaticNode, static
from django.test.utils import CaptureQueriesContext

from recommendations.serving import pipeline
from recommendations.session import session_view_record
from recommendations.templatetags.recommendations_tags import STYLESHEET, TRACKING_SCRIPT
from tests.factories import (
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    ProductViewFactory,
    UserFactory,
)
from tests.recommendations.store import cache_calls, caches_clear, page_request, tag_render

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


# Cold caches, signed in: the rules, the history (every event source, the items bought
# and the consent in one query), who follows anyone (SOCIAL is set; held per process:
# the shopper follows nobody, so whom they follow is not read), the process's catalog
# (the available items), the instances shown, and the impression's INSERT (a shopper
# with a history consents: no query for it).
SIGNED_IN_QUERIES = 6
# Anonymous: the rules, the catalog, the instances shown, the impression.
ANONYMOUS_QUERIES = 4
# Warm (the rules, the shopper's history and the list cached, its items' availability
# checked less than RELOAD_INTERVAL ago): the impression's INSERT alone.
WARM_QUERIES = {"signed_in": 1, "anonymous": 1}

BLOCKS = [
    ("{% recommended_for_you n=N %}", SIGNED_IN_QUERIES + 1, ANONYMOUS_QUERIES),  # features
    ("{% similar_products product n=N %}", SIGNED_IN_QUERIES, ANONYMOUS_QUERIES),
    ("{% bought_together product=product n=N %}", SIGNED_IN_QUERIES, ANONYMOUS_QUERIES),
    ("{% trending_products n=N %}", SIGNED_IN_QUERIES, ANONYMOUS_QUERIES),
    ("{% recently_viewed n=N %}", SIGNED_IN_QUERIES, ANONYMOUS_QUERIES),
]


# Similar and bought together list only the product's own neighbours (six or seven
# here), recently viewed only the shopper's views.
HONEST_MOST = 6


@pytest.mark.parametrize("n", [4, 12])
@pytest.mark.parametrize(("source", "signed_in", "anonymous"), BLOCKS)
def test_a_block_takes_a_constant_number_of_queries(
    alice, store, django_assert_num_queries, n, source, signed_in, anonymous
):
    source = source.replace("N", str(n))
    product = store.product(4, 0)
    viewed = [p for p in store.all_products() if p not in (product, store.product(0, 0))][:12]
    if "recently_viewed" in source:
        for item in viewed:
            ProductViewFactory(user=alice, product=item)

    def request_of(user):
        request = page_request(user)
        if user is None and "recently_viewed" in source:
            for item in viewed:
                session_view_record(request, item.pk)
        return request

    tag_render(source, request_of(alice), product=product)  # load the model once

    for user, cold, warm in (
        (alice, signed_in, WARM_QUERIES["signed_in"]),
        (None, anonymous, WARM_QUERIES["anonymous"]),
    ):
        caches_clear()
        with django_assert_num_queries(cold):
            html = tag_render(source, request_of(user), product=product)
        shown = html.count('class="rec-item"')
        assert min(n, HONEST_MOST) <= shown <= n
        with django_assert_num_queries(warm):
            html = tag_render(source, request_of(user), product=product)
        assert html.count('class="rec-item"') == shown


def _blocks(html):
    """Item keys of each rendered block, by block name."""
    return {
        name: re.findall(r'data-rec-item="(\d+)"', body)
        for name, body in re.findall(r'data-rec-block="(\w+)"(.*?)</section>', html, re.S)
    }


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
    blocks = _blocks(html)
    shown = [pk for pks in blocks.values() for pk in pks]
    assert len(shown) == len(set(shown))
    assert str(product.pk) not in shown
    # E0 has six neighbours alice did not buy: similar takes four, bought together the
    # other two (never trending under its title), the general blocks fill up to n.
    assert [len(blocks[name]) for name in ("similar", "bought_together")] == [4, 2]
    assert len(blocks["for_you"]) == len(blocks["trending"]) == 4


# Every call that is a round trip to a shared cache.
CACHE_CALLS = ("get", "get_many", "set", "set_many", "add", "delete", "delete_many", "incr")


def test_the_three_blocks_of_a_product_page_make_one_cache_round_trip(
    alice, store, settings, monkeypatch
):
    # A shared cache without a near cache (any backend but Redis's).
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "NEAR_CACHE": False}
    page = (
        "{% similar_products product n=4 %}{% bought_together product=product n=4 %}"
        "{% recommended_for_you n=4 %}"
    )
    product = store.product(4, 0)
    first = tag_render(page, page_request(alice), product=product)  # lists computed, cached
    calls = cache_calls(monkeypatch, CACHE_CALLS)

    again = tag_render(page, page_request(alice), product=product)

    assert _blocks(again) == _blocks(first) and len(_blocks(again)) == 3
    # The shopper's generation and history head, the rules and the catalog's change
    # times: read once for the three blocks, in one call.
    assert [method for method, _ in calls] == ["get_many"]
    assert "recommendations:item-rules-version" in calls[0][1]
    assert f"recommendations:user:{alice.pk}:gen" in calls[0][1]


def test_the_blocks_of_a_page_find_their_model_and_static_urls_once(alice, store, monkeypatch):
    page = (
        "{% similar_products product n=4 %}{% bought_together product=product n=4 %}"
        "{% recommended_for_you n=4 %}"
    )
    product = store.product(4, 0)
    tag_render(page, page_request(alice), product=product)  # lists computed, cached
    models_found, static_found = [], []
    find_model = pipeline.model_for_user
    monkeypatch.setattr(
        pipeline, "model_for_user", lambda user: models_found.append(user) or find_model(user)
    )
    find_static = StaticNode.handle_simple
    monkeypatch.setattr(
        StaticNode,
        "handle_simple",
        classmethod(lambda cls, path: static_found.append(path) or find_static(path)),
    )

    html = tag_render(page, page_request(alice), product=product)

    assert len(_blocks(html)) == 3
    assert models_found == [alice]
    # The stylesheet, linked by every block, and the click script: looked up once each.
    assert sorted(static_found) == [STYLESHEET, TRACKING_SCRIPT]
    assert html.count(f'<link rel="stylesheet" href="{static(STYLESHEET)}">') == 3
    assert html.count(f'<script src="{static(TRACKING_SCRIPT)}" defer>') == 3


def test_the_keys_and_positions_a_click_sends_back_are_never_localized(store, settings):
    settings.USE_THOUSAND_SEPARATOR = True  # 12,345 in English
    viewed = ProductFactory(pk=12_345, name="Viewed")
    request = page_request()
    session_view_record(request, viewed.pk)

    html = tag_render("{% recently_viewed n=2 %}", request)

    assert 'data-rec-item="12345"' in html
    assert re.search(r'data-rec-item="12345"[^>]* data-rec-position="0"', html)
    assert "12,345" not in html


PAGES = {
    "home": "{% recently_viewed n=4 %}{% recommended_for_you n=8 %}{% trending_products n=8 %}",
    "product": (
        "{% similar_products product n=4 %}{% bought_together product=product n=4 %}"
        "{% recommended_for_you n=4 %}{% recently_viewed n=4 %}{% trending_products n=4 %}"
    ),
}


@pytest.mark.parametrize("order", ["as written", "reversed"])
@pytest.mark.parametrize("page", list(PAGES))
def test_no_item_appears_twice_on_a_page_whatever_the_order_of_its_blocks(
    alice, store, page, order
):
    tags = re.findall(r"{%.*?%}", PAGES[page])
    source = "".join(tags if order == "as written" else reversed(tags))
    # Alice viewed what the personal list and trending show first, and bought A0.
    for rank in range(3):
        for category in (1, 2, 7):
            ProductViewFactory(user=alice, product=store.product(category, rank))
    product = store.product(1, 0)

    blocks = _blocks(tag_render(source, page_request(alice), product=product))

    shown = [pk for pks in blocks.values() for pk in pks]
    assert {"for_you", "recently_viewed", "trending"} <= set(blocks)
    assert len(shown) == len(set(shown))
    assert str(product.pk) not in shown
    assert len(blocks["trending"]) == (8 if page == "home" else 4)
    # A block that meets items shown before it asks for others in their place.
    assert len(blocks["recently_viewed"]) == 4


def test_recommended_for_you_is_titled_for_what_it_shows(alice, store):
    personal = tag_render("{% recommended_for_you n=4 %}", page_request(alice))
    stranger = tag_render("{% recommended_for_you n=4 %}", page_request())
    viewer = page_request()
    session_view_record(viewer, store.product(2, 0).pk)
    session = tag_render("{% recommended_for_you n=4 %}", viewer)

    assert "Recommended for you" in personal and "Popular right now" not in personal
    assert "Recommended for you" in session and "Because you viewed C0" in session
    # Nothing known of the shopper: trending items, titled as such.
    assert "Recommended for you" not in stranger
    assert '<h2 class="rec-block__title">Popular right now</h2>' in stranger
    assert stranger.count('class="rec-item"') == 4


def test_blocks_with_nothing_they_mean_to_show_render_nothing(store):
    newcomer = ProductFactory(name="Newcomer", category=store.categories[0])
    page = (
        "{% similar_products product n=4 %}{% bought_together product=product n=4 %}"
        "{% bought_together items=cart n=4 %}{% recently_viewed n=4 %}"
    )

    html = tag_render(page, page_request(), product=newcomer, cart=[])

    assert html.strip() == ""


def test_recently_viewed_leaves_out_the_product_on_screen(alice, store):
    product = store.product(3, 1)
    for viewed in (store.product(5, 1), product):
        ProductViewFactory(user=alice, product=viewed)

    html = tag_render("{% recently_viewed n=4 %}", page_request(alice), product=product)

    assert _blocks(html) == {"recently_viewed": [str(store.product(5, 1).pk)]}


def test_a_block_leaves_out_the_product_on_screen(alice, store):
    product = store.product(1, 0)  # what alice's purchase of A0 recommends first
    html = tag_render("{% recommended_for_you n=8 %}", page_request(alice), product=product)

    assert html.count('class="rec-item"') == 8
    assert f'data-rec-item="{product.pk}"' not in html
