"""The admin of the shop and auth apps: who may see it, that it renders, that it stays fast."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from shop.models import Order, OrderLine, Product, ProductView, Review
from tests.factories import (
    CategoryFactory,
    FollowFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    ProductViewFactory,
    ReviewFactory,
    UserFactory,
)

ADMIN_APPS = {"shop", "auth"}
REGISTERED_MODELS = sorted(
    (model for model in admin.site._registry if model._meta.app_label in ADMIN_APPS),
    key=lambda model: model._meta.label,
)
MODEL_IDS = [model._meta.label for model in REGISTERED_MODELS]


def admin_url(model: type[Model], view: str, *args: object) -> str:
    """URL of an admin view ("changelist", "add", "change") of a model."""
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


_group_numbers = itertools.count()


def groups_create(n: int) -> None:
    """Create n groups with names not used before."""
    Group.objects.bulk_create(Group(name=f"group {next(_group_numbers)}") for _ in range(n))


# How to create n more rows of each registered model. A model registered without an
# entry here fails test_changelist_query_count_does_not_grow_with_rows.
ROW_FACTORIES: dict[str, Callable[[int], object]] = {
    "auth.Group": groups_create,
    "auth.User": UserFactory.create_batch,
    "shop.Category": CategoryFactory.create_batch,
    "shop.Follow": FollowFactory.create_batch,
    "shop.CustomerProfile": UserFactory.create_batch,
    "shop.Order": lambda n: [
        OrderLineFactory.create_batch(2, order=o) for o in OrderFactory.create_batch(n)
    ],
    "shop.OrderLine": OrderLineFactory.create_batch,
    "shop.Product": ProductFactory.create_batch,
    "shop.ProductView": ProductViewFactory.create_batch,
    "shop.Review": ReviewFactory.create_batch,
}


@pytest.fixture
def shop_data(db):
    """A little of everything: a review, an order line, a product view, a follow and a group."""
    ReviewFactory()
    OrderLineFactory()
    ProductViewFactory()
    FollowFactory()
    groups_create(1)


def test_every_shop_model_is_registered():
    labels = set(MODEL_IDS)
    for model_name in ["Category", "Product", "CustomerProfile", "Order", "OrderLine"]:
        assert f"shop.{model_name}" in labels
    assert {"shop.ProductView", "shop.Review", "shop.Follow", "auth.User"} <= labels


@pytest.mark.parametrize("model", REGISTERED_MODELS, ids=MODEL_IDS)
def test_changelist_renders_for_staff(staff_client, shop_data, model):
    response = staff_client.get(admin_url(model, "changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1


@pytest.mark.parametrize("model", REGISTERED_MODELS, ids=MODEL_IDS)
def test_add_form_renders_for_staff(staff_client, shop_data, model):
    response = staff_client.get(admin_url(model, "add"))
    assert response.status_code == 200
    assert response.context["adminform"] is not None


@pytest.mark.parametrize("model", REGISTERED_MODELS, ids=MODEL_IDS)
def test_change_form_renders_for_staff(staff_client, shop_data, model):
    obj = model._default_manager.order_by("pk").first()
    response = staff_client.get(admin_url(model, "change", obj.pk))
    assert response.status_code == 200
    assert response.context["original"] == obj


@pytest.mark.parametrize("who", ["anonymous", "customer"])
@pytest.mark.parametrize("model", REGISTERED_MODELS, ids=MODEL_IDS)
def test_admin_pages_are_refused_to_anonymous_and_non_staff(client, shop_data, model, who):
    if who == "customer":
        client.force_login(UserFactory(username="customer"))
    obj = model._default_manager.order_by("pk").first()
    for url in [
        admin_url(model, "changelist"),
        admin_url(model, "add"),
        admin_url(model, "change", obj.pk),
    ]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("admin:login")), response.url


@pytest.mark.parametrize("model", REGISTERED_MODELS, ids=MODEL_IDS)
def test_changelist_query_count_does_not_grow_with_rows(
    staff_client, model, django_assert_max_num_queries
):
    assert model._meta.label in ROW_FACTORIES, f"add a row factory for {model._meta.label}"
    create_rows = ROW_FACTORIES[model._meta.label]
    url = admin_url(model, "changelist")

    create_rows(3)
    with CaptureQueriesContext(connection) as few_rows:
        response = staff_client.get(url)
    assert response.status_code == 200
    rows_before = len(response.context["cl"].result_list)
    assert rows_before >= 3

    create_rows(27)
    with django_assert_max_num_queries(len(few_rows.captured_queries)):
        response = staff_client.get(url)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == rows_before + 27


def test_order_change_form_query_count_does_not_grow_with_lines(
    staff_client, django_assert_max_num_queries
):
    small, big = OrderFactory(), OrderFactory()
    OrderLineFactory.create_batch(3, order=small)
    OrderLineFactory.create_batch(30, order=big)

    with CaptureQueriesContext(connection) as small_order:
        response = staff_client.get(admin_url(Order, "change", small.pk))
    assert response.status_code == 200
    with django_assert_max_num_queries(len(small_order.captured_queries)):
        response = staff_client.get(admin_url(Order, "change", big.pk))
    assert response.status_code == 200
    for line in big.lines.all():
        assert admin_url(OrderLine, "change", line.pk).encode() in response.content


def test_order_changelist_shows_total_and_line_count(staff_client):
    order = OrderFactory(number="536365")
    OrderLineFactory(order=order, quantity=2, unit_price=Decimal("2.55"))
    OrderLineFactory(order=order, quantity=3, unit_price=Decimal("1.10"))
    OrderFactory(number="536366")  # no lines: total 0, not empty

    response = staff_client.get(admin_url(Order, "changelist"))

    rows = {row.number: row for row in response.context["cl"].result_list}
    assert rows["536365"].total_value == Decimal("8.40")
    assert rows["536365"].line_count_value == 2
    assert rows["536366"].total_value == Decimal("0.00")
    assert "8.40" in response.content.decode()


def test_product_changelist_searches_by_sku(staff_client):
    wanted = ProductFactory(sku="85123A", name="White hanging heart")
    ProductFactory(sku="71053", name="White metal lantern")

    response = staff_client.get(admin_url(Product, "changelist"), {"q": "85123A"})

    assert list(response.context["cl"].result_list) == [wanted]


def test_order_changelist_searches_by_number(staff_client):
    wanted = OrderFactory(number="536365")
    OrderFactory(number="536366")

    response = staff_client.get(admin_url(Order, "changelist"), {"q": "536365"})

    assert list(response.context["cl"].result_list) == [wanted]


@pytest.mark.parametrize(
    ("action", "before", "after"), [("approve", False, True), ("unapprove", True, False)]
)
def test_review_action_sets_approval_of_selected_reviews_only(staff_client, action, before, after):
    selected = ReviewFactory.create_batch(2, is_approved=before)
    untouched = ReviewFactory(is_approved=before)

    response = staff_client.post(
        admin_url(Review, "changelist"),
        {"action": action, "_selected_action": [review.pk for review in selected]},
        follow=True,
    )

    assert response.status_code == 200
    assert "2 review(s)" in response.content.decode()
    for review in selected:
        review.refresh_from_db()
        assert review.is_approved is after
    untouched.refresh_from_db()
    assert untouched.is_approved is before


def test_order_line_added_in_admin_snapshots_product_price(staff_client):
    order = OrderFactory()
    product = ProductFactory(price=Decimal("4.25"))

    response = staff_client.post(
        admin_url(OrderLine, "add"),
        {"order": order.pk, "product": product.pk, "quantity": 3},
    )

    assert response.status_code == 302
    line = OrderLine.objects.get(order=order)
    assert line.unit_price == Decimal("4.25")
    assert line.created_at == order.created_at


def test_order_change_form_lists_lines_and_adds_one_at_the_product_price(staff_client):
    order = OrderFactory(number="536365")
    existing = OrderLineFactory(
        order=order, product=ProductFactory(sku="85123A"), unit_price=Decimal("1.00")
    )
    product = ProductFactory(sku="71053", price=Decimal("2.50"))
    url = admin_url(Order, "change", order.pk)

    page = staff_client.get(url).content.decode()
    assert "85123A" in page
    assert admin_url(OrderLine, "change", existing.pk) in page

    response = staff_client.post(
        url,
        {
            "number": order.number,
            "user": order.user_id,
            "country": order.country,
            "status": Order.Status.PLACED,
            "lines-TOTAL_FORMS": 1,
            "lines-INITIAL_FORMS": 0,
            "lines-0-order": order.pk,
            "lines-0-product": product.pk,
            "lines-0-quantity": 2,
        },
    )

    assert response.status_code == 302
    existing.refresh_from_db()
    assert existing.unit_price == Decimal("1.00")
    added = order.lines.get(product=product)
    assert (added.quantity, added.unit_price) == (2, Decimal("2.50"))
    assert added.created_at == order.created_at
    assert order.lines.count() == 2


@pytest.mark.parametrize(
    ("model", "make_match", "term"),
    [
        (OrderLine, lambda: OrderLineFactory(order=OrderFactory(number="536365")), "536365"),
        (OrderLine, lambda: OrderLineFactory(product=ProductFactory(sku="85123A")), "85123a"),
        (ProductView, lambda: ProductViewFactory(product=ProductFactory(sku="85123A")), "85123A"),
        (ProductView, lambda: ProductViewFactory(user=UserFactory(username="alice")), "alice"),
        (ProductView, lambda: ProductViewFactory(user=None, session_key="abc123"), "abc123"),
    ],
)
def test_big_table_search_finds_exact_matches_only(staff_client, model, make_match, term):
    wanted = make_match()
    # Near misses: a substring search would find these as well.
    OrderLineFactory(order=OrderFactory(number="5363650"), product=ProductFactory(sku="85123AB"))
    ProductViewFactory(user=UserFactory(username="alice2"), session_key="abc1234")

    response = staff_client.get(admin_url(model, "changelist"), {"q": term})

    assert list(response.context["cl"].result_list) == [wanted]


def test_user_change_form_shows_and_saves_the_customer_profile(staff_client):
    customer = UserFactory(username="customer")
    profile = customer.profile

    response = staff_client.get(reverse("admin:auth_user_change", args=[customer.pk]))

    assert response.status_code == 200
    assert b'name="profile-0-country"' in response.content
    assert profile.country in response.content.decode()
