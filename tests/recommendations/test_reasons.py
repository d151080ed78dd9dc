"""Reasons come from the shopper's own history or the rule that chose the item."""

from __future__ import annotations

import datetime as dt
import pickle
import subprocess

import pytest
from django.utils import timezone, translation

from recommendations import reasons, selectors
from recommendations.adapters import Event, SettingsAdapter
from tests.catalogs import needs_gettext
from tests.factories import (
    CategoryFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    ProductViewFactory,
    UserFactory,
)
from tests.recommendations.store import store_build, store_train

pytestmark = pytest.mark.usefixtures("isolated_serving")


def test_because_you_uses_the_verb_of_the_event_source():
    assert reasons.because_you(source="purchase", label="Mug") == "Because you bought Mug"
    assert reasons.because_you(source="view", label="Mug") == "Because you viewed Mug"
    assert reasons.because_you(source="loan", label="Mug") == "Because you liked Mug"


def test_a_configured_verb_or_role_words_the_reason(settings):
    sources = settings.RECOMMENDATIONS["EVENT_SOURCES"]
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "EVENT_SOURCES": [
            {**sources[0], "NAME": "sale", "ROLE": "purchase"},
            {**sources[1], "NAME": "visit", "ROLE": "view"},
            {**sources[2], "VERB": "gave stars to"},
        ],
    }
    assert reasons.because_you(source="sale", label="Mug") == "Because you bought Mug"
    assert reasons.because_you(source="visit", label="Mug") == "Because you viewed Mug"
    assert reasons.because_you(source="review", label="Mug") == "Because you gave stars to Mug"


def test_a_reason_unpickles_as_one_class_and_is_worded_when_shown(settings):
    # Django's lazy strings unpickle through lazy(), a new class of about 12 KB each
    # time: a worker reading lists back from Redis kept one per reason (issue 12).
    sources = settings.RECOMMENDATIONS["EVENT_SOURCES"]
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "EVENT_SOURCES": [*sources[:2], {**sources[2], "VERB": "gave stars to"}],
    }
    built = [
        reasons.because_you(source="purchase", label="Mug"),
        reasons.because_you(source="review", label="Mug"),
        reasons.trending_in(category_label="Kitchen"),
        reasons.PINNED,
    ]

    for reason in built:
        first, second = (pickle.loads(pickle.dumps(reason)) for _ in range(2))
        assert type(first) is type(second) is type(reason)
        assert first == reason
    assert str(pickle.loads(pickle.dumps(built[1]))) == "Because you gave stars to Mug"
    with translation.override("de"):
        assert str(pickle.loads(pickle.dumps(built[0]))) == "Weil Sie Mug gekauft haben"


def test_a_reason_worded_once_is_worded_again_in_another_language():
    reason = reasons.because_you(source="purchase", label="Mug")

    assert str(reason) == "Because you bought Mug"
    with translation.override("de"):
        assert str(reason) == "Weil Sie Mug gekauft haben"
        language = translation.get_language()
        assert reasons.reason_text(reason, language) == "Weil Sie Mug gekauft haben"
    assert str(reason) == "Because you bought Mug"
    assert reasons.reason_text("Plain", None) == "Plain"


@needs_gettext
def test_a_new_reason_is_worded_from_the_catalogs_in_force_after_they_change(settings, tmp_path):
    with translation.override("de"):
        assert str(reasons.because_you(source="purchase", label="Mug")) == (
            "Weil Sie Mug gekauft haben"
        )
    folder = tmp_path / "de" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "django.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Because you bought %(label)s"\nmsgstr "Gekauft: %(label)s"\n',
        encoding="utf-8",
    )
    subprocess.run(
        ["msgfmt", "-o", str(folder / "django.mo"), str(folder / "django.po")], check=True
    )

    settings.LOCALE_PATHS = [tmp_path, *settings.LOCALE_PATHS]

    with translation.override("de"):
        assert str(reasons.because_you(source="purchase", label="Mug")) == "Gekauft: Mug"


def test_a_reason_reads_as_its_text():
    reason = reasons.because_you(source="purchase", label="Mug 100%")

    assert reason == "Because you bought Mug 100%" and reason != "Because you bought Mug"
    assert reason.startswith("Because you") and "Mug" in reason
    assert {reason, "Because you bought Mug 100%"} == {"Because you bought Mug 100%"}
    assert f"[{reason}]" == "[Because you bought Mug 100%]"
    assert len(reason) == len("Because you bought Mug 100%")
    assert str(reasons.Worded("100% cotton")) == "100% cotton"  # no parameters, no format


def test_a_purchase_outranks_a_heavier_view_whatever_the_source_names(settings):
    sources = settings.RECOMMENDATIONS["EVENT_SOURCES"]
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "EVENT_SOURCES": [{**sources[0], "NAME": "sale", "ROLE": "purchase"}, *sources[1:]],
    }
    now = timezone.now()
    events = [Event("1", "view", 5.0, now), Event("1", "sale", 1.0, now)]
    assert reasons.strongest_sources(events) == {"1": "sale"}


def test_trending_names_the_category_when_there_is_one():
    assert reasons.trending_in(category_label="Kitchen") == "Trending in Kitchen"
    assert reasons.trending_in(category_label=None) == "Trending now"


@pytest.mark.django_db
def test_category_label_reads_the_related_category():
    product = ProductFactory(category=CategoryFactory(name="Garden", slug="garden"))
    assert SettingsAdapter().category_label(product) == "Garden"
    product.category = None
    assert SettingsAdapter().category_label(product) is None


def test_a_purchase_outranks_heavier_views_of_the_same_item():
    now = timezone.now()
    events = [
        Event(item_pk=1, source="view", weight=0.2, timestamp=now),
        Event(item_pk=1, source="view", weight=5.0, timestamp=now),
        Event(item_pk=1, source="purchase", weight=1.0, timestamp=now - dt.timedelta(days=1)),
        Event(item_pk=2, source="view", weight=0.2, timestamp=now),
    ]
    assert reasons.strongest_sources(events) == {1: "purchase", 2: "view"}


@pytest.mark.django_db
def test_reasons_never_name_what_other_customers_did():
    store = store_build()
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    OrderLineFactory(order=OrderFactory(user=alice), product=store.product(0, 0))
    ProductViewFactory(user=alice, product=store.product(2, 3))
    # Bob's history is close to Alice's and is in the training data.
    bob_order = OrderFactory(user=bob)
    for product in (store.product(0, 0), store.product(5, 2), store.product(6, 4)):
        OrderLineFactory(order=bob_order, product=product)
    store_train()
    own_labels = {"A0", "C3"}
    allowed = {"Picked by our team", "Popular right now", "Trending now"}

    lists = [
        selectors.recommendations_for_user(user=alice, n=20),
        selectors.trending_products(n=20, user=alice),
        selectors.recently_viewed(user=alice, n=20),
    ]

    for recommendations in lists:
        assert recommendations
        for recommendation in recommendations:
            reason = recommendation.reason
            if reason.startswith("Because you "):
                assert reason.split(" ", 3)[3] in own_labels, reason
            else:
                assert (
                    reason in allowed
                    or reason.startswith("Trending in Cat ")
                    or reason == "You viewed this recently"
                ), reason
            assert "bob" not in reason.lower()
    personal = lists[0]
    assert {r.reason for r in personal} & {"Because you bought A0", "Because you viewed C3"}


@pytest.mark.django_db
def test_a_shopper_without_consent_gets_no_personal_reasons():
    store = store_build()
    alice = UserFactory(username="alice")
    alice.profile.personalisation_consent = False
    alice.profile.save()
    OrderLineFactory(order=OrderFactory(user=alice), product=store.product(0, 0))
    store_train()

    recommendations = selectors.recommendations_for_user(user=alice, n=8)

    assert recommendations
    assert not any(r.reason.startswith("Because you") for r in recommendations)
    assert {r.source for r in recommendations} <= {selectors.TRENDING, selectors.POPULAR}


def test_of_two_sources_as_heavy_the_first_seen_is_the_strongest():
    now = timezone.now()
    events = [
        Event(item_pk=1, source="view", weight=2.0, timestamp=now),
        Event(item_pk=1, source="wishlist", weight=2.0, timestamp=now),
        Event(item_pk=2, source="wishlist", weight=1.0, timestamp=now),
        Event(item_pk=2, source="view", weight=1.0, timestamp=now),
    ]

    assert reasons.strongest_sources(events) == {1: "view", 2: "wishlist"}
