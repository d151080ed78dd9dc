"""The demo store's social side: follows, public profiles, sharing, the importer, the
sample graph, and the privacy paths (export, deletion) that cover them."""

from __future__ import annotations

import json

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from recommendations import serving
from recommendations.selectors import recommendations_for_user
from recommendations.services import training_run_start
from shop import privacy
from shop.follows import sample_social_graph_create
from shop.models import CustomerProfile, Follow
from tests.factories import (
    FollowFactory,
    OrderFactory,
    OrderLineFactory,
    ReviewFactory,
    UserFactory,
)
from tests.recommendations.store import buyer, item_names, store_build

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _share(user, name="Alice", shares=True):
    CustomerProfile.objects.filter(user=user).update(display_name=name, shares_activity=shares)


# -- the model ---------------------------------------------------------------------------


def test_a_pair_is_followed_once_and_nobody_follows_themself():
    alice, bob = UserFactory(), UserFactory()
    FollowFactory(follower=alice, followed=bob)

    with pytest.raises(IntegrityError), transaction.atomic():
        Follow.objects.create(follower=alice, followed=bob)
    with pytest.raises(IntegrityError), transaction.atomic():
        Follow.objects.create(follower=alice, followed=alice)


def test_a_new_profile_has_a_non_identifying_name_and_does_not_share():
    user = UserFactory(username="jane.doe", email="jane@example.com")

    profile = CustomerProfile.objects.get(user=user)

    assert profile.display_name.startswith("Shopper ")
    assert "jane" not in profile.display_name.lower()
    assert profile.shares_activity is False


# -- pages ------------------------------------------------------------------------------


def test_the_public_profile_shows_the_display_name_only(client):
    alice = UserFactory(username="customer-17850", email="alice@example.com")
    _share(alice, "Alice", shares=False)

    html = client.get(reverse("shop:person", args=[alice.pk])).content.decode()

    assert "Alice" in html
    assert "customer-17850" not in html and "alice@example.com" not in html


def test_follow_and_unfollow_take_a_signed_in_post_with_the_csrf_token():
    alice, bee = UserFactory(), UserFactory()
    follow_url = reverse("shop:person_follow", args=[alice.pk])
    anonymous = Client().post(follow_url)
    assert anonymous.status_code == 302 and reverse("shop:login") in anonymous["Location"]
    client = Client(enforce_csrf_checks=True)
    client.force_login(bee)
    assert client.get(follow_url).status_code == 405
    assert client.post(follow_url).status_code == 403  # no CSRF token
    assert not Follow.objects.exists()

    page = client.get(reverse("shop:person", args=[alice.pk]))
    token = page.cookies["csrftoken"].value
    client.post(follow_url, {"csrfmiddlewaretoken": token})
    assert Follow.objects.filter(follower=bee, followed=alice).count() == 1
    client.post(follow_url, {"csrfmiddlewaretoken": token})  # again: still one
    assert Follow.objects.filter(follower=bee, followed=alice).count() == 1

    unfollow = reverse("shop:person_unfollow", args=[alice.pk])
    client.post(unfollow, {"csrfmiddlewaretoken": token})
    assert not Follow.objects.exists()


def test_a_shopper_cannot_follow_themself_through_the_page(client):
    bee = UserFactory()
    client.force_login(bee)

    response = client.post(reverse("shop:person_follow", args=[bee.pk]), follow=True)

    assert "You cannot follow yourself." in response.content.decode()
    assert not Follow.objects.exists()


def test_staff_and_unknown_people_have_no_profile(client):
    staff = UserFactory(is_staff=True)

    assert client.get(reverse("shop:person", args=[staff.pk])).status_code == 404
    assert client.get(reverse("shop:person", args=[staff.pk + 99])).status_code == 404


def test_purchases_and_reviews_are_visible_to_followers_only_while_sharing_is_on(client):
    store = store_build()
    alice = buyer(store.product(1, 1), username="alice")
    ReviewFactory(user=alice, product=store.product(2, 2), rating=4, title="Lovely")
    bee, stranger = UserFactory(), UserFactory()
    FollowFactory(follower=bee, followed=alice)
    url = reverse("shop:person", args=[alice.pk])

    def seen(user):
        client.force_login(user)
        html = client.get(url).content.decode()
        # Whole elements, not bare names a random CSRF token could contain.
        return (
            f'href="{store.product(1, 1).get_absolute_url()}"' in html,
            "<strong>Lovely</strong>" in html,
        )

    _share(alice, shares=False)
    assert seen(bee) == (False, False)
    _share(alice, shares=True)
    assert seen(bee) == (True, True)
    assert seen(stranger) == (False, False)  # sharing is with followers only
    client.logout()
    assert "<strong>Lovely</strong>" not in client.get(url).content.decode()


def test_people_you_follow_lists_them_by_name_and_unfollows(client):
    bee = UserFactory()
    for name in ("Alice", "Bob"):
        person = UserFactory()
        _share(person, name, shares=False)
        FollowFactory(follower=bee, followed=person)
    client.force_login(bee)

    html = client.get(reverse("shop:following")).content.decode()
    assert "Alice" in html and "Bob" in html

    alice = Follow.objects.get(follower=bee, followed__profile__display_name="Alice").followed
    response = client.post(reverse("shop:person_unfollow", args=[alice.pk]), {"next": "following"})
    assert response["Location"] == reverse("shop:following")
    assert list(Follow.objects.values_list("followed__profile__display_name", flat=True)) == [
        "Bob"
    ]


def test_following_and_sharing_say_so_in_the_shoppers_language(client):
    bee, alice = UserFactory(), UserFactory()
    _share(alice, "Alice", shares=False)
    client.force_login(bee)
    german = {"HTTP_ACCEPT_LANGUAGE": "de"}

    follow = reverse("shop:person_follow", args=[alice.pk])
    unfollow = reverse("shop:person_unfollow", args=[alice.pk])
    sharing = reverse("shop:account_sharing")
    said = [
        client.post(follow, follow=True, **german).content.decode(),
        client.post(unfollow, follow=True, **german).content.decode(),
        client.post(sharing, {"display_name": "Bee"}, follow=True, **german).content.decode(),
    ]

    assert "Sie folgen Alice." in said[0]
    assert "Sie folgen Alice nicht mehr." in said[1]
    assert "Ihre Einstellungen zum Teilen sind gespeichert." in said[2]


def test_the_account_page_saves_the_public_name_and_sharing(client):
    bee = UserFactory()
    client.force_login(bee)
    url = reverse("shop:account_sharing")

    assert "Show my purchases and reviews" in client.get(reverse("shop:account")).content.decode()
    client.post(url, {"display_name": "  Bee   Keeper ", "shares_activity": "on"})
    profile = CustomerProfile.objects.get(user=bee)
    assert (profile.display_name, profile.shares_activity) == ("Bee Keeper", True)

    refused = client.post(url, {"display_name": "   "})
    assert refused.status_code == 400 and "Choose a public name." in refused.content.decode()
    client.post(url, {"display_name": "Bee"})  # unticked: sharing off
    profile.refresh_from_db()
    assert (profile.display_name, profile.shares_activity) == ("Bee", False)


@pytest.mark.parametrize(
    "name",
    [
        "\u200b",  # a zero-width space: an invisible name
        "Zed\u202eevil",  # a right-to-left override: turns the reason's sentence around
        "Bee\u0007",  # a control character
        "\u0301",  # a combining accent on nothing
        "\u3164",  # a Hangul filler: a letter that draws nothing
    ],
)
def test_a_public_name_must_be_visible(client, name):
    bee = UserFactory()
    client.force_login(bee)

    refused = client.post(
        reverse("shop:account_sharing"), {"display_name": name, "shares_activity": "on"}
    )

    assert refused.status_code == 400
    assert "Use only visible characters" in refused.content.decode()
    assert not CustomerProfile.objects.filter(user=bee, shares_activity=True).exists()


# -- export and deletion --------------------------------------------------------------------


def test_the_export_holds_the_follows_both_ways_and_the_sharing_choice(client):
    bee, alice, carol = UserFactory(), UserFactory(), UserFactory()
    _share(alice, "Alice", shares=False)
    _share(carol, "Carol", shares=False)
    _share(bee, "Bee", shares=True)
    FollowFactory(follower=bee, followed=alice)
    FollowFactory(follower=carol, followed=bee)
    client.force_login(bee)

    data = json.loads(client.get(reverse("shop:account_export")).content)

    assert data["profile"]["display_name"] == "Bee"
    assert data["profile"]["shares_activity"] is True
    assert [f["display_name"] for f in data["following"]] == ["Alice"]
    assert [f["display_name"] for f in data["followers"]] == ["Carol"]


def test_deleting_an_account_removes_its_follows_both_ways():
    bee, alice, carol = UserFactory(), UserFactory(), UserFactory()
    FollowFactory(follower=bee, followed=alice)
    FollowFactory(follower=carol, followed=bee)
    FollowFactory(follower=carol, followed=alice)

    privacy.account_delete(user=bee)

    assert list(Follow.objects.values_list("follower", "followed")) == [(carol.pk, alice.pk)]


def test_deleting_a_followed_account_removes_them_from_the_trained_social_model_at_once(
    settings, tmp_path, isolated_serving
):
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "SIMILAR_ALGORITHM": "item_knn",
        "SELECTION": {"ENABLED": False},
    }
    store = store_build()
    alice = buyer(store.product(7, 4), store.product(6, 4), username="alice")
    bee = UserFactory(username="bee")
    FollowFactory(follower=bee, followed=alice)  # before the training: in the model
    run = training_run_start(algorithms=["social_trust"], promote=True)
    assert run.is_active, run.error
    serving.reset()
    assert set(item_names(recommendations_for_user(user=bee, n=2))) == {"H4", "G4"}

    privacy.account_delete(user=alice)

    # Her orders stay, detached: nothing links them to her or to the people she followed.
    after = item_names(recommendations_for_user(user=bee, n=2))
    assert not {"H4", "G4"} & set(after)


# -- the importer and the sample graph ---------------------------------------------------------


def test_the_sample_graph_follows_similar_tastes_is_labelled_and_made_once():
    store = store_build()
    for i in range(3):
        order = OrderFactory(user=UserFactory(username=f"lone{i}"))
        OrderLineFactory(order=order, product=store.product(3, 3))

    first = sample_social_graph_create()

    assert first.created > 0 and not Follow.objects.filter(is_sample=False).exists()
    lone = Follow.objects.filter(follower__username="lone0")
    # The lone buyers of D3 follow people who bought D3 too (their only overlap).
    assert lone.exists()
    assert all(f.followed.orders.filter(lines__product=store.product(3, 3)) for f in lone)
    assert sample_social_graph_create().created == 0
    assert Follow.objects.count() == first.created
