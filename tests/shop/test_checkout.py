"""The cart and checkout: validation, stock, ownership and concurrency."""

from __future__ import annotations

import copy
import io
import re
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from recommendations import serving
from recommendations.services import training_run_start
from shop.cart import Cart, carts_clear
from shop.models import Cart as CartRow
from shop.models import CartItem, Order, OrderLine, Product
from tests.factories import OrderFactory, OrderLineFactory, ProductFactory, UserFactory
from tests.recommendations.test_training import FAST_ALGORITHMS, make_small_shop

PASSWORD = "correct-horse-battery"


def add_to_cart(client: Client, product: Product, quantity: int | str = 1):
    return client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": quantity})


def cart_of(client: Client) -> dict[int, int]:
    """The client's cart as ``{product_pk: quantity}``."""
    return Cart(client.session).items()


def message_texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# The cart


@pytest.mark.django_db
def test_anonymous_visitor_can_fill_a_cart(client):
    product = ProductFactory(price=Decimal("2.50"))

    add_to_cart(client, product, 2)
    add_to_cart(client, product, 1)
    response = client.get(reverse("shop:cart"))

    assert cart_of(client) == {product.pk: 3}
    assert response.context["total"] == Decimal("7.50")
    assert response.context["cart_count"] == 3


@pytest.mark.django_db
def test_signed_in_user_has_a_cart_too(user_client):
    product = ProductFactory()

    add_to_cart(user_client, product, 4)

    assert cart_of(user_client) == {product.pk: 4}


@pytest.mark.django_db
def test_anonymous_cart_is_kept_when_signing_in(client, user):
    product = ProductFactory()
    add_to_cart(client, product, 2)
    key_before = client.session.session_key

    response = client.post(
        reverse("shop:login"), {"username": user.username, "password": PASSWORD}
    )

    assert response.status_code == 302
    assert client.session.session_key != key_before
    assert int(client.session["_auth_user_id"]) == user.pk
    assert cart_of(client) == {product.pk: 2}


@pytest.mark.django_db
@pytest.mark.parametrize("quantity", ["0", "-3", "abc", "", "1.5"])
def test_bad_cart_quantities_are_refused_with_a_message(client, quantity):
    product = ProductFactory()

    response = add_to_cart(client, product, quantity)

    assert response.status_code == 302
    assert cart_of(client) == {}
    assert message_texts(response)


@pytest.mark.django_db
def test_cart_refuses_more_than_the_stock(client):
    product = ProductFactory(name="Tea Set", stock_quantity=3)
    add_to_cart(client, product, 2)

    response = add_to_cart(client, product, 2)

    assert cart_of(client) == {product.pk: 2}
    assert "Only 3 of Tea Set in stock." in message_texts(response)


@pytest.mark.django_db
@pytest.mark.parametrize("changes", [{"is_active": False}, {"stock_quantity": 0}])
def test_cart_refuses_unavailable_products(client, changes):
    product = ProductFactory(name="Gone", **changes)

    response = add_to_cart(client, product)

    assert cart_of(client) == {}
    assert "Gone is not available at the moment." in message_texts(response)


@pytest.mark.django_db
def test_cart_add_of_unknown_product_is_404(client):
    assert client.post(reverse("shop:cart_add", args=[999999]), {"quantity": 1}).status_code == 404


@pytest.mark.django_db
def test_cart_update_changes_and_removes_lines(client):
    kept, removed = ProductFactory(stock_quantity=10), ProductFactory()
    add_to_cart(client, kept)
    add_to_cart(client, removed)

    client.post(reverse("shop:cart_update", args=[kept.pk]), {"quantity": 5})
    client.post(reverse("shop:cart_update", args=[removed.pk]), {"quantity": 0})
    response = client.post(reverse("shop:cart_update", args=[kept.pk]), {"quantity": 11})

    assert cart_of(client) == {kept.pk: 5}
    assert any("Only 10" in text for text in message_texts(response))


@pytest.mark.django_db
def test_cart_add_and_update_only_accept_post(client):
    product = ProductFactory()

    assert client.get(reverse("shop:cart_add", args=[product.pk])).status_code == 405
    assert client.get(reverse("shop:cart_update", args=[product.pk])).status_code == 405


# Checkout


@pytest.mark.django_db
def test_checkout_requires_sign_in(client):
    product = ProductFactory(stock_quantity=5)
    add_to_cart(client, product)

    get = client.get(reverse("shop:checkout"))
    post = client.post(reverse("shop:checkout"))

    assert get.status_code == post.status_code == 302
    assert get.url.startswith(reverse("shop:login"))
    assert not Order.objects.exists()
    assert Product.objects.get(pk=product.pk).stock_quantity == 5


@pytest.mark.django_db
def test_checkout_page_summarises_the_cart(user_client):
    product = ProductFactory(price=Decimal("1.25"))
    add_to_cart(user_client, product, 4)

    response = user_client.get(reverse("shop:checkout"))

    assert response.status_code == 200
    assert response.context["total"] == Decimal("5.00")
    assert "Place order" in response.content.decode()


@pytest.mark.django_db
def test_checkout_creates_order_with_prices_decrements_stock_and_empties_cart(user_client, user):
    mug = ProductFactory(price=Decimal("2.55"), stock_quantity=10)
    lamp = ProductFactory(price=Decimal("12.00"), stock_quantity=3)
    add_to_cart(user_client, mug, 4)
    add_to_cart(user_client, lamp, 3)

    response = user_client.post(reverse("shop:checkout"))

    order = Order.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("shop:order_detail", args=[order.number])
    assert order.user == user
    assert order.number.startswith("W")
    assert order.status == Order.Status.PLACED
    assert order.country == "United Kingdom"
    lines = {line.product_id: line for line in order.lines.all()}
    assert (lines[mug.pk].quantity, lines[mug.pk].unit_price) == (4, Decimal("2.55"))
    assert (lines[lamp.pk].quantity, lines[lamp.pk].unit_price) == (3, Decimal("12.00"))
    assert all(line.created_at == order.created_at for line in lines.values())
    assert order.total == Decimal("46.20")
    assert Product.objects.get(pk=mug.pk).stock_quantity == 6
    assert Product.objects.get(pk=lamp.pk).stock_quantity == 0
    assert cart_of(user_client) == {}
    page = user_client.get(response.url)
    assert page.status_code == 200
    assert "£46.20" in page.content.decode()


@pytest.mark.django_db
def test_a_second_place_order_of_the_same_cart_finds_the_first_order(user_client):
    mug = ProductFactory(stock_quantity=10)
    add_to_cart(user_client, mug, 2)
    # What a second click reads: the session as it was before the first one saved it.
    before = {"cart_token": user_client.session["cart_token"]}

    first = user_client.post(reverse("shop:checkout"))
    session = user_client.session
    session.update(before)
    session.save()
    second = user_client.post(reverse("shop:checkout"))

    order = Order.objects.get()
    assert first.url == second.url == reverse("shop:order_detail", args=[order.number])
    assert f"Your order {order.number} was already placed." in message_texts(second)
    assert Product.objects.get(pk=mug.pk).stock_quantity == 8
    assert cart_of(user_client) == {} and "cart_token" not in user_client.session


@pytest.mark.django_db
def test_a_new_cart_after_an_order_has_a_token_of_its_own(user_client):
    mug = ProductFactory(stock_quantity=10)
    add_to_cart(user_client, mug, 1)
    user_client.post(reverse("shop:checkout"))
    add_to_cart(user_client, mug, 1)

    user_client.post(reverse("shop:checkout"))

    assert Order.objects.count() == 2
    assert Product.objects.get(pk=mug.pk).stock_quantity == 8


def _checkouts_at_once(clients: list[Client]) -> list:
    """Each client's "Place order" POST, started together in threads of their own."""
    barrier = threading.Barrier(len(clients))
    responses: list = []
    errors: list[BaseException] = []

    def checkout(client: Client) -> None:
        try:
            barrier.wait(timeout=10)
            responses.append(client.post(reverse("shop:checkout")))
        except BaseException as exc:  # reported by the main thread below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=checkout, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return responses


@pytest.mark.django_db(transaction=True)
def test_two_place_order_clicks_at_once_place_one_order():
    product = ProductFactory(stock_quantity=10)
    first = Client()
    first.force_login(UserFactory())
    add_to_cart(first, product, 2)
    second = Client()
    second.cookies = copy.deepcopy(first.cookies)  # the same browser, the same session
    responses = _checkouts_at_once([first, second])

    order = Order.objects.get()
    # Whichever read the session first: the order's page, or the emptied cart.
    assert {r.url for r in responses} <= {
        reverse("shop:order_detail", args=[order.number]),
        reverse("shop:cart"),
    }
    assert Product.objects.get(pk=product.pk).stock_quantity == 8


def _adds_at_once(clients: list[Client], products: list[Product]) -> None:
    """Each client adds one of its product, all started together in threads."""
    barrier = threading.Barrier(len(clients))
    errors: list[BaseException] = []

    def add(client: Client, product: Product) -> None:
        try:
            barrier.wait(timeout=10)
            assert add_to_cart(client, product).status_code == 302
        except BaseException as exc:  # reported by the main thread below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=add, args=pair) for pair in zip(clients, products, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


@pytest.mark.django_db(transaction=True)
def test_adds_to_one_cart_at_the_same_moment_all_count():
    # Four tabs of one browser: with the cart in the session, the last save won.
    products = [ProductFactory(stock_quantity=10) for _ in range(4)]
    first = Client()
    add_to_cart(first, products[0])
    tabs = [first] + [Client() for _ in range(3)]
    for tab in tabs[1:]:
        tab.cookies = copy.deepcopy(first.cookies)

    _adds_at_once(tabs, products)
    _adds_at_once(tabs, [products[0]] * 4)

    assert cart_of(first) == {products[0].pk: 6, **{p.pk: 1 for p in products[1:]}}


@pytest.mark.django_db
def test_removing_or_refusing_an_item_opens_no_cart(client):
    mug = ProductFactory(stock_quantity=2)

    client.post(reverse("shop:cart_update", args=[mug.pk]), {"quantity": 0})
    add_to_cart(client, mug, 3)  # more than the stock

    assert not CartRow.objects.exists()
    assert "cart_token" not in client.session


def _placed_seen_from_a_stale_tab(client: Client) -> str:
    """Place the client's cart, then give its session the placed cart's token again (a
    tab that read the session before "Place order" saved it); return the token."""
    stale = client.session["cart_token"]
    client.post(reverse("shop:checkout"))
    session = client.session
    session["cart_token"] = stale
    session.save()
    return stale


@pytest.mark.django_db
def test_an_add_with_the_token_of_a_placed_cart_goes_into_a_new_cart(user_client):
    # A tab that read the session before "Place order" saved it adds afterwards.
    mug, lamp = ProductFactory(stock_quantity=10), ProductFactory(stock_quantity=10)
    add_to_cart(user_client, mug, 2)
    stale = _placed_seen_from_a_stale_tab(user_client)

    add_to_cart(user_client, lamp, 1)

    assert cart_of(user_client) == {lamp.pk: 1}
    assert user_client.session["cart_token"] != stale
    assert Order.objects.get().checkout_token == stale
    assert [(line.product_id, line.quantity) for line in OrderLine.objects.all()] == [(mug.pk, 2)]


def _token_lost(client: Client) -> None:
    """What a request running beside the cart's first add does: it saves the session as
    it read it, without the token."""
    session = client.session
    del session["cart_token"]
    session.save()


@pytest.mark.django_db
def test_a_cart_whose_token_the_session_lost_is_found_again(client):
    mug, lamp = ProductFactory(stock_quantity=10), ProductFactory(stock_quantity=10)
    add_to_cart(client, mug, 2)
    _token_lost(client)

    page = client.get(reverse("shop:cart"))

    assert [(line.product, line.quantity) for line in page.context["lines"]] == [(mug, 2)]
    add_to_cart(client, lamp, 1)
    assert cart_of(client) == {mug.pk: 2, lamp.pk: 1}
    assert CartRow.objects.count() == 1


@pytest.mark.django_db
def test_signing_in_takes_the_open_cart_to_the_new_session(client, user):
    mug = ProductFactory(stock_quantity=10)
    add_to_cart(client, mug, 3)

    client.post(reverse("shop:login"), {"username": user.username, "password": PASSWORD})
    _token_lost(client)  # found by the new session's key now

    assert client.get(reverse("shop:cart")).context["cart_count"] == 3
    assert CartRow.objects.get().session_key == client.session.session_key


@pytest.mark.django_db
def test_a_tab_that_read_the_session_before_the_order_cannot_change_the_placed_cart(
    user_client,
):
    mug, lamp = ProductFactory(stock_quantity=10), ProductFactory(stock_quantity=10)
    add_to_cart(user_client, mug, 2)
    add_to_cart(user_client, lamp, 1)
    stale = _placed_seen_from_a_stale_tab(user_client)

    user_client.post(reverse("shop:cart_update", args=[mug.pk]), {"quantity": 0})
    second = user_client.post(reverse("shop:checkout"))

    placed = CartRow.objects.get(token=stale)
    assert dict(placed.items.values_list("product_id", "quantity")) == {mug.pk: 2, lamp.pk: 1}
    order = Order.objects.get()
    assert second.url == reverse("shop:order_detail", args=[order.number])  # already placed


@pytest.mark.django_db
def test_a_page_reads_the_cart_once(client):
    mug = ProductFactory(stock_quantity=10)
    add_to_cart(client, mug, 2)

    with CaptureQueriesContext(connection) as queries:
        assert client.get(mug.get_absolute_url()).status_code == 200

    reads = [q["sql"] for q in queries.captured_queries if "shop_cartitem" in q["sql"]]
    assert len(reads) == 1, reads


@pytest.mark.django_db
def test_clearcarts_deletes_abandoned_and_old_placed_carts_only(user_client):
    mug = ProductFactory(stock_quantity=10)
    client = Client()  # another browser
    add_to_cart(client, mug)
    add_to_cart(user_client, mug)
    user_client.post(reverse("shop:checkout"))
    add_to_cart(user_client, mug)  # a fresh cart after the order
    long_ago = timezone.now() - timedelta(days=30)
    idle = client.session["cart_token"]
    CartRow.objects.filter(token=idle).update(updated_at=long_ago)
    call_command("clearcarts", stdout=io.StringIO())
    assert cart_of(client) == {mug.pk: 1}  # unchanged for long, but its session is alive
    Session.objects.filter(session_key=client.session.session_key).update(expire_date=long_ago)

    call_command("clearcarts", stdout=io.StringIO())

    assert not CartRow.objects.filter(token=idle).exists()
    assert cart_of(user_client) == {mug.pk: 1}
    assert CartRow.objects.filter(ordered_at__isnull=False).count() == 1  # kept a day
    CartRow.objects.filter(ordered_at__isnull=False).update(ordered_at=long_ago)
    out = io.StringIO()
    call_command("clearcarts", stdout=out)
    assert "Deleted 1 carts." in out.getvalue()
    assert CartRow.objects.count() == 1


@pytest.mark.django_db
def test_clearing_carts_goes_batch_by_batch_until_none_is_left():
    long_ago = timezone.now() - timedelta(days=30)
    for i in range(5):
        cart = CartRow.objects.create(token=f"t{i}", session_key=f"gone{i}", updated_at=long_ago)
        CartItem.objects.create(cart=cart, product=ProductFactory(), quantity=1)
    CartRow.objects.create(token="fresh", session_key="fresh")

    assert carts_clear(idle=timedelta(days=14), batch=2) == 5

    assert list(CartRow.objects.values_list("token", flat=True)) == ["fresh"]
    assert not CartItem.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite locks the database")
@pytest.mark.django_db(transaction=True)
def test_clearcarts_skips_a_cart_a_shopper_is_changing_now():
    client = Client()
    add_to_cart(client, ProductFactory(stock_quantity=10))
    cart = CartRow.objects.get()
    long_ago = timezone.now() - timedelta(days=30)
    CartRow.objects.filter(pk=cart.pk).update(updated_at=long_ago)
    Session.objects.update(expire_date=long_ago)  # abandoned, but for the lock
    locked, release = threading.Event(), threading.Event()

    def change_now() -> None:  # an add holding the cart's lock
        try:
            with transaction.atomic():
                CartRow.objects.select_for_update().get(pk=cart.pk)
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=change_now)
    thread.start()
    try:
        assert locked.wait(timeout=30)
        call_command("clearcarts", stdout=io.StringIO())
    finally:
        release.set()
        thread.join(timeout=30)

    assert CartRow.objects.filter(pk=cart.pk).exists()


@pytest.mark.django_db
def test_clearcarts_refuses_a_period_that_is_not_positive():
    with pytest.raises(CommandError, match=re.escape("--idle-days must be positive, got 0.0")):
        call_command("clearcarts", "--idle-days", "0")


@pytest.mark.django_db
def test_order_price_is_the_price_at_checkout_not_later(user_client):
    product = ProductFactory(price=Decimal("3.00"))
    add_to_cart(user_client, product, 1)
    user_client.post(reverse("shop:checkout"))

    Product.objects.filter(pk=product.pk).update(price=Decimal("9.00"))

    assert OrderLine.objects.get().unit_price == Decimal("3.00")


@pytest.mark.django_db
def test_checkout_refuses_quantity_above_stock_and_changes_nothing(user_client):
    plenty = ProductFactory(name="Plenty", stock_quantity=50)
    scarce = ProductFactory(name="Scarce Teapot", stock_quantity=5)
    add_to_cart(user_client, plenty, 10)
    add_to_cart(user_client, scarce, 5)
    # Someone else bought most of the teapots after they went into this cart.
    Product.objects.filter(pk=scarce.pk).update(stock_quantity=2)

    response = user_client.post(reverse("shop:checkout"))

    assert response.status_code == 302
    assert response.url == reverse("shop:cart")
    assert "Only 2 of Scarce Teapot left in stock." in message_texts(response)
    assert not Order.objects.exists()
    assert not OrderLine.objects.exists()
    assert Product.objects.get(pk=plenty.pk).stock_quantity == 50
    assert Product.objects.get(pk=scarce.pk).stock_quantity == 2
    assert cart_of(user_client) == {plenty.pk: 10, scarce.pk: 5}


@pytest.mark.django_db
def test_checkout_refuses_a_product_deactivated_since_it_was_added(user_client):
    product = ProductFactory(stock_quantity=5)
    add_to_cart(user_client, product, 1)
    Product.objects.filter(pk=product.pk).update(is_active=False)

    response = user_client.post(reverse("shop:checkout"))

    assert not Order.objects.exists()
    assert "A product in your cart is no longer sold." in message_texts(response)


@pytest.mark.django_db
def test_checkout_with_an_empty_cart_goes_back_to_the_cart(user_client):
    response = user_client.post(reverse("shop:checkout"))

    assert response.url == reverse("shop:cart")
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_order_page_is_404_for_other_users_and_login_for_anonymous(client):
    owner, other = UserFactory(), UserFactory()
    order = OrderFactory(user=owner)
    OrderLineFactory(order=order)
    url = reverse("shop:order_detail", args=[order.number])

    assert client.get(url).status_code == 302
    client.force_login(other)
    assert client.get(url).status_code == 404
    client.force_login(owner)
    assert client.get(url).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_checkouts_of_the_last_unit_sell_it_once():
    product = ProductFactory(name="Last Lantern", stock_quantity=1)
    clients = []
    for _ in range(2):
        client = Client()
        client.force_login(UserFactory())
        add_to_cart(client, product, 1)
        clients.append(client)
    responses = _checkouts_at_once(clients)

    assert sorted(response.status_code for response in responses) == [302, 302]
    assert sorted(response.url == reverse("shop:cart") for response in responses) == [
        False,
        True,
    ]
    loser = next(response for response in responses if response.url == reverse("shop:cart"))
    assert f"{product.name} is sold out." in message_texts(loser)
    assert Order.objects.count() == 1
    assert OrderLine.objects.get().quantity == 1
    assert Product.objects.get(pk=product.pk).stock_quantity == 0


@pytest.fixture
def trained_store(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "ALGORITHMS": FAST_ALGORITHMS,
        "RELOAD_INTERVAL": 60,
    }
    serving.reset()
    store = make_small_shop()
    run = training_run_start(algorithms=["item_knn"], promote=True)
    assert run.is_active, run.error
    serving.reset()
    yield store
    serving.reset()


def _recommended_for_you(client: Client) -> list[str]:
    html = client.get(reverse("shop:home")).content.decode()
    block = re.search(r'data-rec-block="for_you"(.*?)</section>', html, flags=re.S)
    assert block, "no Recommended for you block"
    return re.findall(r'data-rec-item="(\d+)"', block.group(1))


@pytest.mark.django_db
def test_an_item_just_bought_leaves_recommended_for_you_at_once(
    client, trained_store, django_capture_on_commit_callbacks
):
    buyer = UserFactory()
    OrderLineFactory(order=OrderFactory(user=buyer), product=trained_store.products[0])
    client.force_login(buyer)
    before = _recommended_for_you(client)  # also caches the buyer's history
    bought = Product.objects.get(pk=before[0])
    add_to_cart(client, bought)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("shop:checkout"))

    assert response.status_code == 302
    assert OrderLine.objects.filter(order__user=buyer, product=bought).exists()
    after = _recommended_for_you(client)
    assert after
    assert str(bought.pk) not in after
