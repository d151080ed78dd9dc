"""Reviews: only buyers may write one per product, within the rating bounds."""

from __future__ import annotations

import pytest
from django.urls import reverse

from shop.forms import REVIEW_TEXT_MAX
from shop.models import Order, Review
from tests.factories import OrderFactory, OrderLineFactory, ProductFactory, ReviewFactory

pytestmark = pytest.mark.django_db

VALID = {"rating": 5, "title": "Great", "text": "Exactly as described."}


@pytest.fixture
def product():
    return ProductFactory()


@pytest.fixture
def buyer(user, product):
    OrderLineFactory(order=OrderFactory(user=user), product=product)
    return user


def post_review(client, product, data=None):
    return client.post(reverse("shop:review_create", args=[product.pk]), data or VALID)


def test_buyer_sees_the_review_form_and_can_post(client, buyer, product):
    client.force_login(buyer)

    page = client.get(product.get_absolute_url())
    response = post_review(client, product)

    assert page.context["review_form"] is not None
    assert response.status_code == 302
    review = Review.objects.get()
    assert (review.user, review.product, review.rating, review.title) == (
        buyer,
        product,
        5,
        "Great",
    )
    after = client.get(product.get_absolute_url())
    assert after.context["review_form"] is None
    assert "Exactly as described." in after.content.decode()


def test_signed_in_non_buyer_sees_no_form_and_cannot_post(user_client, product):
    OrderLineFactory(product=ProductFactory())  # someone else's order of another product

    page = user_client.get(product.get_absolute_url())
    response = post_review(user_client, product)

    assert page.context["review_form"] is None
    assert response.status_code == 400
    assert response.context["review_form"].non_field_errors() == [
        "Only customers who bought this product can review it."
    ]
    assert not Review.objects.exists()


def test_buyer_of_a_cancelled_order_cannot_review(client, user, product):
    OrderLineFactory(order=OrderFactory(user=user, status=Order.Status.CANCELLED), product=product)
    client.force_login(user)

    assert client.get(product.get_absolute_url()).context["review_form"] is None
    assert post_review(client, product).status_code == 400
    assert not Review.objects.exists()


def test_anonymous_visitor_sees_no_form_and_is_sent_to_sign_in(client, product):
    page = client.get(product.get_absolute_url())
    response = post_review(client, product)

    assert page.context["review_form"] is None
    assert response.status_code == 302
    assert response.url.startswith(reverse("shop:login"))
    assert not Review.objects.exists()


def test_second_review_of_the_same_product_is_a_form_error(client, buyer, product):
    client.force_login(buyer)
    post_review(client, product)

    response = post_review(client, product, {**VALID, "title": "Again"})

    assert response.status_code == 400
    assert response.context["review_form"].non_field_errors() == [
        "You have already reviewed this product."
    ]
    assert Review.objects.get().title == "Great"


@pytest.mark.parametrize("rating", ["0", "6", "-1", "five", ""])
def test_rating_out_of_bounds_is_a_form_error(client, buyer, product, rating):
    client.force_login(buyer)

    response = post_review(client, product, {**VALID, "rating": rating})

    assert response.status_code == 400
    assert response.context["review_form"].errors["rating"]
    assert not Review.objects.exists()


def test_a_review_text_longer_than_the_limit_is_a_form_error(client, buyer, product):
    client.force_login(buyer)

    response = post_review(client, product, {**VALID, "text": "x" * (REVIEW_TEXT_MAX + 1)})

    assert response.status_code == 400
    assert response.context["review_form"].errors["text"]
    assert not Review.objects.exists()
    post_review(client, product, {**VALID, "text": "x" * REVIEW_TEXT_MAX})
    assert len(Review.objects.get().text) == REVIEW_TEXT_MAX


def test_missing_title_is_a_form_error(client, buyer, product):
    client.force_login(buyer)

    response = post_review(client, product, {"rating": 3, "title": ""})

    assert response.context["review_form"].errors["title"]
    assert not Review.objects.exists()


def test_only_approved_reviews_are_shown_and_averaged(client, product):
    ReviewFactory(product=product, rating=5, title="Shown five")
    ReviewFactory(product=product, rating=2, title="Shown two")
    ReviewFactory(product=product, rating=1, title="Hidden one", is_approved=False)

    response = client.get(product.get_absolute_url())

    content = response.content.decode()
    assert {review.title for review in response.context["reviews"]} == {
        "Shown five",
        "Shown two",
    }
    assert "Hidden one" not in content
    assert response.context["rating"] == {"average": 3.5, "count": 2}
    assert "3.5 / 5" in content
