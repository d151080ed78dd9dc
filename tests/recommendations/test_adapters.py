"""The settings adapter reads the host's models as events, items, users and features."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from recommendations import selectors
from recommendations.adapters import SettingsAdapter, get_adapter
from tests.factories import (
    CategoryFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    ProductViewFactory,
    ReviewFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2024, 3, 1, 12, 30, 15, 250_000, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _events_by_source(events) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    for user, item, weight, time, code in zip(
        events.user_pk, events.item_pk, events.weight, events.time, events.source, strict=True
    ):
        out.setdefault(events.sources[code], []).append(
            (int(user), int(item), float(weight), float(time))
        )
    return {name: sorted(rows) for name, rows in out.items()}


def test_training_events_reads_every_source_with_weights_and_times():
    alice, bob = UserFactory(), UserFactory()
    mug, pen, cup = ProductFactory.create_batch(3)
    OrderLineFactory(order=OrderFactory(user=alice, created_at=T0), product=mug)
    cancelled = OrderFactory(user=alice, status="cancelled", created_at=T0)
    OrderLineFactory(order=cancelled, product=cup)
    OrderLineFactory(order=OrderFactory(user=None, created_at=T0), product=cup)
    ProductViewFactory(user=bob, product=pen, viewed_at=T0 + dt.timedelta(days=1))
    ProductViewFactory(user=None, session_key="anon", product=pen)
    ReviewFactory(user=bob, product=mug, rating=1, created_at=T0)
    ReviewFactory(user=alice, product=pen, rating=5, created_at=T0)
    ReviewFactory(user=alice, product=cup, rating=3, created_at=T0)  # maps to 0: no signal
    ReviewFactory(user=bob, product=cup, rating=5, is_approved=False, created_at=T0)

    events = get_adapter().training_events()

    t0 = T0.timestamp()
    assert events.sources == ("purchase", "view", "review")
    assert _events_by_source(events) == {
        "purchase": [(alice.pk, mug.pk, 1.0, pytest.approx(t0, abs=1e-3))],
        "view": [(bob.pk, pen.pk, 0.2, pytest.approx(t0 + 86_400, abs=1e-3))],
        "review": sorted(
            [
                (bob.pk, mug.pk, -1.0, pytest.approx(t0, abs=1e-3)),
                (alice.pk, pen.pk, 1.0, pytest.approx(t0, abs=1e-3)),
            ]
        ),
    }
    assert events.user_pk.dtype == np.int64 and events.time.dtype == np.float64
    assert len(events) == 4


def test_training_events_leave_out_users_without_consent():
    keen, shy, no_profile = UserFactory(), UserFactory(), UserFactory()
    shy.profile.personalisation_consent = False
    shy.profile.save()
    no_profile.profile.delete()
    for user in (keen, shy, no_profile):
        OrderLineFactory(order=OrderFactory(user=user))
        ProductViewFactory(user=user)

    events = get_adapter().training_events()

    assert set(events.user_pk.tolist()) == {keen.pk}
    assert len(events) == 2


def test_without_a_consent_field_everyone_is_read(settings):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "CONSENT_FIELD": None}
    shy = UserFactory()
    shy.profile.personalisation_consent = False
    shy.profile.save()
    OrderLineFactory(order=OrderFactory(user=shy))

    assert get_adapter().training_events().user_pk.tolist() == [shy.pk]
    assert get_adapter().consenting_user_ids() is None


def test_user_events_are_newest_first_and_respect_consent():
    user = UserFactory()
    mug, pen = ProductFactory.create_batch(2)
    OrderLineFactory(order=OrderFactory(user=user, created_at=T0), product=mug)
    ProductViewFactory(user=user, product=pen, viewed_at=T0 + dt.timedelta(hours=1))
    ReviewFactory(user=user, product=mug, rating=2, created_at=T0 + dt.timedelta(hours=2))
    ProductViewFactory(product=pen)  # somebody else

    events = get_adapter().user_events(user.pk)

    assert [(e.item_pk, e.source, e.weight) for e in events] == [
        (mug.pk, "review", -0.5),
        (pen.pk, "view", 0.2),
        (mug.pk, "purchase", 1.0),
    ]
    assert events[0].timestamp == T0 + dt.timedelta(hours=2)
    # The window is per source: more views never push the purchase out.
    ProductViewFactory.create_batch(3, user=user, viewed_at=T0 + dt.timedelta(hours=3))
    windowed = get_adapter().user_events(user.pk, limit=2)
    assert [e.source for e in windowed].count("view") == 2
    assert {e.source for e in windowed} == {"view", "review", "purchase"}
    assert get_adapter().user_bought(user.pk) == {str(mug.pk)}
    user.profile.personalisation_consent = False
    user.profile.save()
    assert get_adapter().user_events(user.pk) == []
    assert get_adapter().user_bought(user.pk) == set()


def test_catalog_helpers_follow_the_setting():
    shoes = CategoryFactory(name="Shoes")
    boot = ProductFactory(name="Boot", category=shoes)
    gone = ProductFactory(is_active=False)
    empty = ProductFactory(stock_quantity=0)
    adapter = get_adapter()

    assert adapter.catalog_model()._meta.label == "shop.Product"
    assert set(adapter.available_items()) == {boot}
    assert adapter.available_item_pks() == {boot.pk}
    assert adapter.item_label(boot) == "Boot"
    assert adapter.item_category_key(boot) == str(shoes.pk)
    assert adapter.category_values([boot, gone.pk]) == {
        boot.pk: str(shoes.pk),
        gone.pk: str(gone.category_id),
    }
    assert empty.pk not in adapter.available_item_pks()


def test_user_consents():
    from django.contrib.auth.models import AnonymousUser

    keen, shy = UserFactory(), UserFactory()
    shy.profile.personalisation_consent = False
    shy.profile.save()
    adapter = get_adapter()

    assert adapter.user_consents(keen) is True
    assert adapter.user_consents(shy) is False
    assert adapter.user_consents(AnonymousUser()) is False
    assert adapter.consenting_user_ids() == {keen.pk}


def test_item_features_share_category_and_words_and_keep_their_layout():
    toys = CategoryFactory()
    a = ProductFactory(category=toys, name="red wooden train", description="")
    b = ProductFactory(category=toys, name="blue wooden train", description="")
    c = ProductFactory(category=CategoryFactory(), name="garden hose", description="")
    adapter = get_adapter()

    features = adapter.item_features([a.pk, b.pk, c.pk, 10**9])

    assert features.shape[0] == 4
    assert features[3].nnz == 0
    similarity = (features @ features.T).toarray()
    assert similarity[0, 1] > similarity[0, 2]
    assert adapter.item_features([c.pk]).shape[1] == features.shape[1]


def test_user_features_hash_country_and_birth_decade():
    uk, uk2, fr = UserFactory(), UserFactory(), UserFactory()
    for user, country, year in ((uk, "UK", 1981), (uk2, "UK", 1987), (fr, "France", 1990)):
        user.profile.country, user.profile.birth_year = country, year
        user.profile.save()

    features = get_adapter().user_features([uk.pk, uk2.pk, fr.pk]).toarray()

    assert (features[0] == features[1]).all()
    assert (features[0] != features[2]).any()
    assert features.sum(axis=1).tolist() == [2.0, 2.0, 2.0]


class OnlyPurchases(SettingsAdapter):
    def user_events(self, user_pk, *, limit=200):
        return [event for event in super().user_events(user_pk) if event.source == "purchase"]


class CountingAdapter(SettingsAdapter):
    """Counts how often serving asks for the category's expression."""

    asked = 0

    def category_expression(self):
        type(self).asked += 1
        return super().category_expression()


def test_one_adapter_serves_a_value_of_the_setting_and_resolves_the_catalog_once(settings, store):
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "ADAPTER": "tests.recommendations.test_adapters.CountingAdapter",
    }
    CountingAdapter.asked = 0
    adapter = get_adapter()
    shoppers = UserFactory.create_batch(3)
    for shopper, rank in zip(shoppers, range(3), strict=True):
        OrderLineFactory(order=OrderFactory(user=shopper), product=store.product(0, rank))
        assert selectors.recommendations_for_user(user=shopper, n=4)

    assert get_adapter() is adapter
    assert CountingAdapter.asked == 1
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "MAX_PER_CATEGORY": 2}
    assert get_adapter() is not adapter  # another value of the setting: resolved again
    assert type(get_adapter()) is CountingAdapter


def test_get_adapter_returns_the_configured_class(settings):
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "ADAPTER": "tests.recommendations.test_adapters.OnlyPurchases",
    }
    assert type(get_adapter()) is OnlyPurchases
