"""Two gunicorn workers on the embedded defaults agree on sessions, carts, rates and lists.

Each test makes its point over requests that both workers answered (the access log
names the worker of each), so nothing holds only because one process remembers it.
"""

from __future__ import annotations

import itertools
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from shop.models import Order, Product
from tests.factories import UserFactory
from tests.multiworker.conftest import (
    ANON_RATE,
    LOGIN_ATTEMPTS_PER_ACCOUNT,
    WINDOW,
    WORKERS,
    Shopper,
)

pytestmark = pytest.mark.usefixtures("committed")

CART_LINE = re.compile(r'id="qty-(\d+)" type="number" name="quantity" value="(\d+)"')
TRENDING = "/api/recommendations/trending/?n=1"
PASSWORD = "correct-horse-battery"


def _user(prefix: str) -> object:
    return UserFactory(username=f"{prefix}-{uuid.uuid4().hex[:8]}")


def _user_with_password(prefix: str) -> object:
    """A user whose password the server checks quickly (few PBKDF2 iterations)."""
    user = _user(prefix)
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode(PASSWORD, hasher.salt(), iterations=1000)
    user.save(update_fields=["password"])
    return user


def _cart(shopper: Shopper) -> dict[int, int]:
    response = shopper.get("/cart/")
    assert response.status_code == 200
    return {int(pk): int(quantity) for pk, quantity in CART_LINE.findall(response.text)}


def _recommended(shopper: Shopper) -> list[str]:
    response = shopper.get("/api/recommendations/me/?n=12")
    assert response.status_code == 200, response.text[:500]
    return [row["item_id"] for row in response.json()["results"]]


def _sign_in(shopper: Shopper, user: object, password: str) -> int:
    data = {"username": user.username, "password": password}
    return shopper.post("/login/", data=data).status_code


def test_signing_out_ends_the_session_in_every_worker(shopper):
    shopper.sign_in_as(_user("leaver"))
    shopper.phase("signed-in")
    assert set(shopper.until_both_workers(lambda: shopper.get("/account/").status_code)) == {200}
    cookie = shopper.session.cookies["sessionid"]

    assert shopper.post("/logout/").status_code == 302
    # Whoever kept the old cookie (a copy, a stolen one) must be signed out too.
    shopper.session.cookies.set("sessionid", cookie)
    shopper.phase("signed-out")
    responses = shopper.until_both_workers(lambda: shopper.get("/account/"))

    assert {response.status_code for response in responses} == {302}
    assert all(response.headers["Location"].startswith("/login/") for response in responses)


def test_the_cart_is_the_same_in_every_worker_and_checkout_orders_all_of_it(shopper):
    user = _user("basket")
    shopper.sign_in_as(user)
    products = list(Product.objects.filter(sku__startswith="MW").order_by("pk")[:4])
    expected: dict[int, int] = {}
    seen = []
    for quantity, product in enumerate(products, start=1):
        added = shopper.post(f"/cart/add/{product.pk}/", data={"quantity": quantity})
        assert added.status_code == 302
        expected[product.pk] = quantity
        seen += [(dict(expected), _cart(shopper)) for _ in range(5)]
    shopper.phase("full-cart")
    carts = shopper.until_both_workers(lambda: _cart(shopper))

    assert all(cart == wanted for wanted, cart in seen)
    assert all(cart == expected for cart in carts)
    assert shopper.post("/checkout/").status_code == 302
    order = Order.objects.get(user=user)
    assert {line.product_id: line.quantity for line in order.lines.all()} == expected


def test_adds_from_several_tabs_at_once_all_count(shopper):
    # Tabs of one browser, each request to another worker: a cart written whole by
    # each request kept the last one's only.
    shopper.sign_in_as(_user("tabs"))
    products = list(Product.objects.filter(sku__startswith="MW").order_by("pk")[:4])
    assert shopper.post(f"/cart/add/{products[0].pk}/", data={"quantity": 1}).status_code == 302
    probe, urls = shopper.phase("tabs"), shopper.server.urls
    adds = [(i, product) for i, product in enumerate(products * 2)]
    barrier = threading.Barrier(len(adds))

    def add(i: int, product: Product) -> int:
        tab = requests.Session()
        tab.cookies.update(shopper.session.cookies)
        headers = {"X-Probe": probe, "X-CSRFToken": shopper.session.cookies["csrftoken"]}
        barrier.wait(timeout=30)
        response = tab.post(
            f"{urls[i % len(urls)]}/cart/add/{product.pk}/",
            data={"quantity": 1},
            headers=headers,
            allow_redirects=False,
            timeout=60,
        )
        return response.status_code

    with ThreadPoolExecutor(len(adds)) as pool:
        codes = list(pool.map(add, *zip(*adds, strict=True)))
    shopper.sent[probe] = len(adds)

    assert codes == [302] * len(adds)
    assert len(shopper.workers()) >= WORKERS
    assert _cart(shopper) == {product.pk: 2 for product in products} | {products[0].pk: 3}


@pytest.mark.usefixtures("one_window")
def test_the_anonymous_rate_holds_across_workers(shopper):
    shopper.phase("anonymous")
    codes = shopper.until_both_workers(lambda: shopper.get(TRENDING).status_code)

    assert set(codes) == {200, 429}
    assert codes.count(200) == ANON_RATE


@pytest.mark.usefixtures("one_window")
def test_rotating_x_forwarded_for_does_not_raise_the_anonymous_rate(shopper):
    # NUM_PROXIES is 0 by default: the header is the client's word, not an address.
    addresses = (f"10.0.{i // 250}.{i % 250 + 1}" for i in itertools.count())
    shopper.phase("forwarded")
    codes = shopper.until_both_workers(
        lambda: shopper.get(TRENDING, headers={"X-Forwarded-For": next(addresses)}).status_code
    )

    assert codes.count(200) == ANON_RATE


@pytest.mark.usefixtures("one_window")
def test_sign_in_attempts_on_an_account_are_limited_across_workers(shopper):
    user = _user_with_password("guessed")
    shopper.csrf()
    allowed = [_sign_in(shopper, user, "wrong") for _ in range(LOGIN_ATTEMPTS_PER_ACCOUNT)]
    shopper.phase("refused")
    refused = shopper.until_both_workers(
        lambda: shopper.post("/login/", data={"username": user.username, "password": "wrong"})
    )
    right_password = shopper.post(
        "/login/", data={"username": user.username, "password": PASSWORD}
    )

    assert allowed == [200] * LOGIN_ATTEMPTS_PER_ACCOUNT
    assert {response.status_code for response in refused} == {429}
    for response in [*refused, right_password]:
        assert response.status_code == 429
        assert "Too many sign-in attempts. Try again in" in response.text
        assert 0 < int(response.headers["Retry-After"]) <= WINDOW
    assert "sessionid" not in shopper.session.cookies


@pytest.mark.usefixtures("one_window")
def test_a_successful_sign_in_clears_the_attempts_on_the_account(shopper):
    user = _user_with_password("forgetful")
    shopper.csrf()
    before = [_sign_in(shopper, user, "wrong") for _ in range(LOGIN_ATTEMPTS_PER_ACCOUNT - 1)]
    signed_in = _sign_in(shopper, user, PASSWORD)
    assert shopper.post("/logout/").status_code == 302
    after = [_sign_in(shopper, user, "wrong") for _ in range(LOGIN_ATTEMPTS_PER_ACCOUNT + 1)]

    assert before == [200] * (LOGIN_ATTEMPTS_PER_ACCOUNT - 1)
    assert signed_in == 302
    assert after == [200] * LOGIN_ATTEMPTS_PER_ACCOUNT + [429]


def test_a_purchase_through_one_worker_leaves_the_lists_of_the_other(shopper):
    shopper.sign_in_as(_user("buyer"))
    shopper.phase("before")
    before = shopper.until_both_workers(lambda: _recommended(shopper))
    bought = before[0][0]
    assert all(bought in listed for listed in before)

    assert shopper.post(f"/cart/add/{bought}/", data={"quantity": 1}).status_code == 302
    assert shopper.post("/checkout/").status_code == 302
    shopper.phase("after")
    after = shopper.until_both_workers(lambda: _recommended(shopper))

    assert [listed for listed in after if bought in listed] == []
    assert all(listed for listed in after)
