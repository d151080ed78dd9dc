"""A customer's privacy controls: opt-out, data download, and account deletion."""

from __future__ import annotations

import json
from importlib import import_module

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.models import Session
from django.core.files.storage import FileSystemStorage
from django.db import DatabaseError
from django.test import Client
from django.urls import reverse

from recommendations import receivers, serving
from recommendations.artifacts import artifact_read
from recommendations.models import ForgottenUser, Impression, TrainingRun
from recommendations.services import training_run_start
from recommendations.serving.keys import user_cache_get, user_cache_set
from recommendations.tasks import forgotten_artifacts_rewrite_task
from shop import privacy
from shop.models import Cart, CustomerProfile, Order, OrderLine, ProductView, Review
from tests.factories import (
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    ProductViewFactory,
    ReviewFactory,
    UserFactory,
)
from tests.recommendations.test_training import FAST_ALGORITHMS, make_small_shop

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def artifacts(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "ALGORITHMS": FAST_ALGORITHMS,
        "RELOAD_INTERVAL": 60,
    }
    serving.reset()
    yield
    serving.reset()


def _history(user, product):
    order = OrderFactory(user=user)
    OrderLineFactory(order=order, product=product, quantity=2)
    ProductViewFactory(user=user, product=product)
    ReviewFactory(user=user, product=product, rating=5, title=f"by {user.username}")
    Impression.objects.create(block="for_you", user=user, item_pks=[product.pk])
    return order


# -- opt-out ----------------------------------------------------------------------------


def test_views_of_an_opted_out_customer_are_not_recorded_against_them(user_client, user):
    product = ProductFactory()
    user_client.get(product.get_absolute_url())
    assert ProductView.objects.filter(user=user).count() == 1

    user_client.post(reverse("shop:account"), {})  # unticked: personalisation off
    user_client.get(product.get_absolute_url())

    assert ProductView.objects.filter(user=user).count() == 1
    anonymous = ProductView.objects.filter(user=None, product=product)
    assert anonymous.count() == 1 and anonymous.get().session_key == ""


def _post_view(client, product):
    return client.post(
        reverse("recommendations:events"),
        {"kind": "view", "product": product.pk},
        content_type="application/json",
    )


def test_views_posted_to_the_api_by_an_opted_out_customer_are_anonymous(user_client, user):
    product = ProductFactory()
    assert _post_view(user_client, product).status_code == 202
    assert ProductView.objects.filter(user=user).count() == 1
    assert user_client.session["recommendations_viewed"] == [str(product.pk)]

    user_client.post(reverse("shop:account"), {})  # unticked: personalisation off
    other = ProductFactory()
    response = _post_view(user_client, other)

    assert response.status_code == 202
    assert not ProductView.objects.filter(user=user, product=other).exists()
    anonymous = ProductView.objects.filter(user=None, product=other)
    assert anonymous.count() == 1 and anonymous.get().session_key == ""
    assert "recommendations_viewed" not in user_client.session


def test_views_posted_to_the_api_by_a_consenting_customer_are_theirs(user_client, user):
    product = ProductFactory()

    _post_view(user_client, product)

    view = ProductView.objects.get(product=product)
    assert view.user == user
    assert view.session_key == user_client.session.session_key


def test_a_click_without_an_impression_is_logged_without_the_user(user_client, user, caplog):
    product = ProductFactory()

    with caplog.at_level("INFO", logger="recommendations.api.views"):
        response = user_client.post(
            reverse("recommendations:events"),
            {"kind": "click", "product": product.pk, "block": "trending"},
            content_type="application/json",
        )

    assert response.status_code == 202
    logged = [r.getMessage() for r in caplog.records if r.name == "recommendations.api.views"]
    assert logged == [f"Recommendation click: item={product.pk} block=trending"]


def test_turning_personalisation_off_forgets_cached_lists_and_session_views(user_client, user):
    user_cache_set(user.pk, "for_you", [1, 2])
    session = user_client.session
    session["recommendations_viewed"] = ["1", "2"]
    session.save()

    user_client.post(reverse("shop:account"), {})

    assert CustomerProfile.objects.get(user=user).personalisation_consent is False
    assert user_cache_get(user.pk, "for_you") is None
    assert "recommendations_viewed" not in user_client.session


def test_the_account_page_offers_the_privacy_controls(user_client):
    html = user_client.get(reverse("shop:account")).content.decode()

    assert reverse("shop:account_export") in html
    assert reverse("shop:account_delete") in html
    assert "personalise" in html
    # What outlives a deleted account is said before anyone asks.
    assert "orders (number, date, country, products, quantities and prices)" in html
    assert "kept for the shop's accounting, detached from the account" in html


# -- export -----------------------------------------------------------------------------


def test_download_holds_all_and_only_the_customers_own_data(user_client, user):
    other = UserFactory()
    product = ProductFactory()
    mine = _history(user, product)
    _history(other, product)

    response = user_client.get(reverse("shop:account_export"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Cache-Control"] == "no-store"
    data = json.loads(response.content)
    assert data["account"]["username"] == user.username
    kept = data["kept_after_account_deletion"]
    assert "orders" in kept and "kept for the shop's accounting, detached" in kept
    assert data["profile"]["country"] == "United Kingdom"
    assert [o["number"] for o in data["orders"]] == [mine.number]
    assert data["orders"][0]["lines"][0]["quantity"] == 2
    assert data["orders"][0]["total"] == str(mine.total)
    assert [v["product_id"] for v in data["product_views"]] == [product.pk]
    assert [r["title"] for r in data["reviews"]] == [f"by {user.username}"]
    impressions = data["recommendations"]["impressions"]
    assert [i["items_shown"] for i in impressions] == [[product.pk]]
    assert other.username not in response.content.decode()
    assert other.email not in response.content.decode()


def test_download_needs_a_signed_in_customer(client):
    response = client.get(reverse("shop:account_export"))

    assert response.status_code == 302
    assert reverse("shop:login") in response["Location"]


# -- deletion ---------------------------------------------------------------------------


@pytest.fixture
def trained_shop():
    shop = make_small_shop()
    run = training_run_start(algorithms=["item_knn"], promote=True)
    assert run.is_active, run.error
    serving.reset()
    return shop, run


def test_deleting_the_account_removes_everything_personal_at_once(
    client, trained_shop, django_capture_on_commit_callbacks
):
    shop, run = trained_shop
    user = _customer_with_history(shop)
    user_cache_set(user.pk, "for_you", [1])
    order_pks = list(Order.objects.filter(user=user).values_list("pk", flat=True))
    lines = OrderLine.objects.filter(order__user=user).count()
    assert serving.active_model().user_row(user.pk) is not None
    client.force_login(user)
    pk = user.pk

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("shop:account_delete"), {"confirmation": PASSWORD})

    assert response.status_code == 302 and response["Location"] == reverse("shop:home")
    assert not get_user_model().objects.filter(pk=pk).exists()
    assert not CustomerProfile.objects.filter(user_id=pk).exists()
    assert not ProductView.objects.filter(user_id=pk).exists()
    assert not Review.objects.filter(user_id=pk).exists()
    assert not Impression.objects.filter(user_id=pk).exists()
    # The orders stay for the accounts, attributable to nobody.
    kept = Order.objects.filter(pk__in=order_pks)
    assert kept.count() == len(order_pks) and set(kept.values_list("user", flat=True)) == {None}
    assert OrderLine.objects.filter(order__in=order_pks).count() == lines
    assert user_cache_get(pk, "for_you") is None
    assert serving.active_model().user_row(pk) is None
    run.refresh_from_db()
    assert pk not in artifact_read(run.artifact).user_pks.tolist()
    # Signed out.
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("shop:account")).status_code == 302
    # The next training does not see them.
    retrained = training_run_start(algorithms=["item_knn"], promote=False)
    assert retrained.n_users == run.n_users - 1
    assert pk not in artifact_read(retrained.artifact).user_pks.tolist()


def test_a_wrong_password_deletes_nothing(user_client, user):
    response = user_client.post(reverse("shop:account_delete"), {"confirmation": "nope"})

    assert response.status_code == 400
    assert "not your password" in response.content.decode()
    assert get_user_model().objects.filter(pk=user.pk).exists()


def test_an_imported_customer_confirms_with_their_username(client):
    user = UserFactory(username="customer-12345")
    user.password = make_password(None)
    user.save()
    client.force_login(user)
    page = client.get(reverse("shop:account_delete")).content.decode()
    assert "customer-12345" in page

    wrong = client.post(reverse("shop:account_delete"), {"confirmation": "customer-1"})
    assert wrong.status_code == 400
    right = client.post(reverse("shop:account_delete"), {"confirmation": "customer-12345"})

    assert right.status_code == 302
    assert not get_user_model().objects.filter(pk=user.pk).exists()


def test_deletion_needs_the_csrf_token(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post(reverse("shop:account_delete"), {"confirmation": PASSWORD})

    assert response.status_code == 403
    assert get_user_model().objects.filter(pk=user.pk).exists()


def test_deletion_by_get_only_asks(user_client, user):
    response = user_client.get(reverse("shop:account_delete"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "no longer linked to you" in page
    assert "kept for the shop's accounting" in page
    assert get_user_model().objects.filter(pk=user.pk).exists()


def test_deletion_stands_while_the_artifact_storage_is_down(
    client, trained_shop, monkeypatch, django_capture_on_commit_callbacks
):
    shop, run = trained_shop
    user = _customer_with_history(shop)
    pk = user.pk
    client.force_login(user)

    def fail(*args, **kwargs):
        raise OSError("storage unavailable")

    monkeypatch.setattr(FileSystemStorage, "open", fail)
    monkeypatch.setattr(FileSystemStorage, "_save", fail)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("shop:account_delete"), {"confirmation": PASSWORD})

    assert response.status_code == 302
    assert not get_user_model().objects.filter(pk=pk).exists()
    assert not ProductView.objects.filter(user_id=pk).exists()
    assert ForgottenUser.objects.get(user_pk=str(pk)).artifacts_pending
    # Storage back: the next retry erases them from the stored artifact too.
    monkeypatch.undo()
    forgotten_artifacts_rewrite_task.delay()
    assert pk not in _stored_user_pks(run)
    assert not ForgottenUser.objects.get(user_pk=str(pk)).artifacts_pending


def test_a_database_failure_while_forgetting_leaves_the_account_intact(
    client, trained_shop, monkeypatch
):
    shop, run = trained_shop
    user = _customer_with_history(shop)
    artifact = run.artifact
    client.force_login(user)

    def fail(**kwargs):
        raise DatabaseError("connection lost")

    monkeypatch.setattr(receivers, "user_forget", fail)
    response = client.post(reverse("shop:account_delete"), {"confirmation": PASSWORD})

    assert response.status_code == 400
    assert "nothing was changed" in response.content.decode()
    assert get_user_model().objects.filter(pk=user.pk).exists()
    assert CustomerProfile.objects.filter(user=user).exists()
    assert ProductView.objects.filter(user=user).count() == 1
    assert Review.objects.filter(user=user).count() == 1
    assert Impression.objects.filter(user=user).count() == 1
    assert Order.objects.filter(user=user).count() == 5
    assert not ForgottenUser.objects.exists()
    run.refresh_from_db()
    assert run.artifact == artifact


def _customer_with_history(shop):
    """A customer of the trained shop who signs in with PASSWORD and has a history."""
    user = shop.users[0]
    user.set_password(PASSWORD)
    user.save()
    _history(user, shop.products[0])
    return user


def _stored_user_pks(run):
    run.refresh_from_db()
    return artifact_read(run.artifact).user_pks.tolist()


def _session_store():
    return import_module(settings.SESSION_ENGINE).SessionStore


def _session_of(user=None, **data):
    store = _session_store()()
    if user is not None:
        store[SESSION_KEY] = str(user.pk)
    store.update(data)
    store.create()
    return store.session_key


@pytest.mark.parametrize("engine", ["db", "cached_db"])
def test_deleting_the_account_deletes_every_session_signed_in_as_them(
    client, trained_shop, django_capture_on_commit_callbacks, settings, engine
):
    settings.SESSION_ENGINE = f"django.contrib.sessions.backends.{engine}"
    SessionStore = _session_store()
    shop, _run = trained_shop
    user, other = shop.users[0], shop.users[1]
    user.set_password(PASSWORD)
    user.save()
    theirs = [_session_of(user, recommendations_viewed=["1"]) for _ in range(3)]
    kept = [_session_of(other), _session_of(None, recommendations_viewed=["2"])]
    client.force_login(user)
    theirs.append(client.session.session_key)
    assert Session.objects.filter(session_key__in=theirs).count() == 4

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("shop:account_delete"), {"confirmation": PASSWORD})

    assert response.status_code == 302
    assert not Session.objects.filter(session_key__in=theirs).exists()
    assert set(Session.objects.values_list("session_key", flat=True)) >= set(kept)
    # Not even the cached copy of a cached_db session is left to read.
    assert all(not SessionStore(session_key=key).exists(key) for key in theirs)
    assert SessionStore(session_key=theirs[0]).load() == {}
    assert SessionStore(session_key=kept[0]).load()[SESSION_KEY] == str(other.pk)


def test_deleting_the_account_deletes_the_carts_of_its_sessions(client, user):
    user.set_password(PASSWORD)
    user.save()
    elsewhere = Client()  # another browser signed in as them, and a stranger's
    stranger = Client()
    for browser in (client, elsewhere, stranger):
        if browser is not stranger:
            browser.force_login(user)
        browser.post(reverse("shop:cart_add", args=[ProductFactory().pk]), {"quantity": 1})
    assert Cart.objects.count() == 3

    client.post(reverse("shop:account_delete"), {"confirmation": PASSWORD})

    assert list(Cart.objects.values_list("token", flat=True)) == [stranger.session["cart_token"]]


def test_an_unexpected_failure_rolls_the_deletion_back(trained_shop, monkeypatch):
    shop, _run = trained_shop
    user = shop.users[0]

    def fail(**kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(receivers, "user_forget", fail)
    with pytest.raises(RuntimeError):
        privacy.account_delete(user=user)

    assert get_user_model().objects.filter(pk=user.pk).exists()
    assert Order.objects.filter(user=user).count() == 4
    assert TrainingRun.objects.filter(is_active=True).count() == 1
