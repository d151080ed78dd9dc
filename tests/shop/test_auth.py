"""Sign-up, sign-in and out, the account page and the demo sign-in."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models.signals import pre_save
from django.urls import reverse

from shop.models import CustomerProfile
from tests.factories import OrderFactory, OrderLineFactory, ProductFactory, UserFactory
from tests.shop.test_checkout import cart_of

pytestmark = pytest.mark.django_db

SIGNUP = {
    "username": "ada",
    "email": "ada@example.com",
    "password1": "analytical-engine-1843",
    "password2": "analytical-engine-1843",
    "country": "United Kingdom",
    "birth_year": "1985",
    "personalisation_consent": "on",
}


@pytest.fixture(autouse=True)
def _fresh_cache():
    # The demo sign-in page caches its sample of customers.
    cache.clear()
    yield
    cache.clear()


def imported_customer(number: str, orders: int = 0):
    user = get_user_model().objects.create_user(username=f"customer-{number}", password=None)
    CustomerProfile.objects.create(user=user, external_id=number, country="France")
    for _ in range(orders):
        OrderFactory(user=user)
    return user


def test_signup_creates_user_and_profile_and_signs_in(client):
    response = client.post(reverse("shop:signup"), SIGNUP)

    assert response.status_code == 302
    user = get_user_model().objects.get(username="ada")
    assert user.check_password("analytical-engine-1843")
    assert user.email == "ada@example.com"
    profile = user.profile
    assert (profile.country, profile.birth_year, profile.personalisation_consent) == (
        "United Kingdom",
        1985,
        True,
    )
    assert profile.external_id is None
    assert int(client.session["_auth_user_id"]) == user.pk


def test_signup_without_consent_or_birth_year(client):
    data = {k: v for k, v in SIGNUP.items() if k not in {"birth_year", "personalisation_consent"}}

    client.post(reverse("shop:signup"), data)

    profile = CustomerProfile.objects.get(user__username="ada")
    assert profile.birth_year is None
    assert profile.personalisation_consent is False


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"password2": "something-else-entirely"}, "password2"),
        ({"email": "not-an-email"}, "email"),
        ({"birth_year": "1850"}, "birth_year"),
        ({"birth_year": "soon"}, "birth_year"),
        ({"username": "customer-17850"}, "username"),
        ({"password1": "123", "password2": "123"}, "password2"),
        ({"country": ""}, "country"),
    ],
)
def test_bad_signup_is_a_form_error_and_creates_nothing(client, changes, field):
    response = client.post(reverse("shop:signup"), {**SIGNUP, **changes})

    assert response.status_code == 200
    assert response.context["form"].errors[field]
    assert not get_user_model().objects.exists()
    assert not CustomerProfile.objects.exists()


def test_signup_with_a_taken_username_is_a_form_error(client):
    UserFactory(username="Ada")

    response = client.post(reverse("shop:signup"), SIGNUP)

    assert response.context["form"].errors["username"]
    assert get_user_model().objects.count() == 1


def test_a_username_taken_between_the_form_and_the_insert_is_a_form_error(client):
    # A second click on "Sign up": another request creates the same name after this
    # form checked it. A receiver stands in for that request, on the real database.
    def other_request(sender, instance, **kwargs):
        pre_save.disconnect(other_request, sender=sender)
        UserFactory(username=instance.username)

    pre_save.connect(other_request, sender=get_user_model())
    try:
        response = client.post(reverse("shop:signup"), SIGNUP)
    finally:
        pre_save.disconnect(other_request, sender=get_user_model())

    assert response.status_code == 200
    assert response.context["form"].errors["username"] == [
        "A user with that username already exists."
    ]
    # Nothing of this request stays (the stand-in's row went with its transaction).
    assert not get_user_model().objects.exists()
    assert not CustomerProfile.objects.exists()


def test_sign_in_and_sign_out_with_post(client, user):
    login = client.post(
        reverse("shop:login"), {"username": user.username, "password": "correct-horse-battery"}
    )
    assert login.status_code == 302
    assert int(client.session["_auth_user_id"]) == user.pk

    assert client.get(reverse("shop:logout")).status_code == 405
    logout = client.post(reverse("shop:logout"))

    assert logout.status_code == 302
    assert "_auth_user_id" not in client.session


def test_wrong_password_is_a_form_error(client, user):
    response = client.post(reverse("shop:login"), {"username": user.username, "password": "no"})

    assert response.status_code == 200
    assert response.context["form"].non_field_errors()


def test_account_requires_sign_in(client):
    response = client.get(reverse("shop:account"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("shop:login"))


def test_account_lists_own_orders_with_totals_without_n_plus_one(
    client, user, django_assert_max_num_queries
):
    for index in range(12):
        order = OrderFactory(user=user, number=f"A{index:03d}")
        OrderLineFactory(order=order, quantity=2, unit_price=Decimal("1.25"))
        OrderLineFactory(order=order, quantity=1, unit_price=Decimal("10.00"))
    OrderLineFactory(order=OrderFactory(number="OTHER"))
    client.force_login(user)

    with django_assert_max_num_queries(8):
        response = client.get(reverse("shop:account"))

    page = response.context["page"]
    assert page.paginator.count == 12
    assert len(page.object_list) == 10
    assert all(order.total_amount == Decimal("12.50") for order in page.object_list)
    assert all(order.item_count == 3 for order in page.object_list)
    assert "OTHER" not in response.content.decode()
    assert "£12.50" in response.content.decode()
    assert client.get(reverse("shop:account"), {"page": "x9"}).status_code == 200


def test_account_consent_toggle(user_client, user):
    user_client.post(reverse("shop:account"), {})  # an unticked checkbox is not sent

    assert CustomerProfile.objects.get(user=user).personalisation_consent is False

    user_client.post(reverse("shop:account"), {"personalisation_consent": "on"})

    assert CustomerProfile.objects.get(user=user).personalisation_consent is True


def test_account_works_for_a_user_without_profile(client):
    user = get_user_model().objects.create_user(username="bare", password="x")
    client.force_login(user)

    assert client.get(reverse("shop:account")).status_code == 200
    client.post(reverse("shop:account"), {"personalisation_consent": "on"})

    assert CustomerProfile.objects.get(user=user).personalisation_consent is True


def test_demo_login_is_404_when_disabled(client, settings):
    settings.DEBUG = False
    imported_customer("17850")

    assert client.get(reverse("shop:demo_login")).status_code == 404
    assert client.post(reverse("shop:demo_login"), {"customer_number": "17850"}).status_code == 404
    assert "_auth_user_id" not in client.session


def test_demo_login_signs_in_an_imported_customer_when_enabled(client, settings):
    settings.DEBUG = False
    settings.DEMO_LOGIN_ENABLED = True
    customer = imported_customer("17850")
    product = ProductFactory()
    client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": 1})

    response = client.post(reverse("shop:demo_login"), {"customer_number": "017850"})

    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == customer.pk
    assert cart_of(client) == {product.pk: 1}


def test_demo_login_works_in_debug_and_enforces_csrf(settings):
    from django.test import Client

    settings.DEBUG = True
    imported_customer("12346")
    client = Client(enforce_csrf_checks=True)

    refused = client.post(reverse("shop:demo_login"), {"customer_number": "12346"})
    page = client.get(reverse("shop:demo_login"))
    token = page.context["csrf_token"]
    accepted = client.post(
        reverse("shop:demo_login"), {"customer_number": "12346", "csrfmiddlewaretoken": token}
    )

    assert refused.status_code == 403
    assert accepted.status_code == 302


@pytest.mark.parametrize("number", ["99999", "abc", "", "1" * 20])
def test_demo_login_with_unknown_or_bad_number_is_a_form_error(client, settings, number):
    settings.DEMO_LOGIN_ENABLED = True
    imported_customer("17850")

    response = client.post(reverse("shop:demo_login"), {"customer_number": number})

    assert response.status_code == 200
    assert response.context["form"].errors["customer_number"]
    assert "_auth_user_id" not in client.session


def test_demo_login_ignores_signed_up_users_named_like_customers(client, settings):
    settings.DEMO_LOGIN_ENABLED = True
    UserFactory(username="customer-55555")  # has a password and no external id

    response = client.post(reverse("shop:demo_login"), {"customer_number": "55555"})

    assert response.context["form"].errors["customer_number"]
    assert "_auth_user_id" not in client.session


def test_demo_login_page_suggests_the_customers_with_most_orders(client, settings):
    settings.DEMO_LOGIN_ENABLED = True
    for index, orders in enumerate([1, 7, 3, 0, 5, 2, 4]):
        imported_customer(str(10000 + index), orders=orders)

    response = client.get(reverse("shop:demo_login"))

    sample = response.context["sample"]
    assert [c["external_id"] for c in sample] == ["10001", "10004", "10006", "10002", "10005"]
    assert [c["order_count"] for c in sample] == [7, 5, 4, 3, 2]
    assert "10001" in response.content.decode()
