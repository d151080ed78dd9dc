"""The API's fast paths: the list serializer, the kept bodies and the throttle give what
DRF's would."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from recommendations import selectors, services
from recommendations.api import responses
from recommendations.api.responses import RUN_HEADER
from recommendations.api.serializers import RecommendationSerializer
from recommendations.serving.keys import user_generation_bump
from recommendations.serving.state import process_state
from shop.models import Product
from tests.factories import OrderFactory, OrderLineFactory, UserFactory

pytestmark = pytest.mark.usefixtures("isolated_serving")


def _same_as_declared_fields(recommendation):
    fast = RecommendationSerializer(recommendation).data
    generic = serializers.Serializer.to_representation(RecommendationSerializer(), recommendation)
    assert fast == dict(generic)
    return fast


def test_the_list_serializer_gives_what_its_declared_fields_give(store, settings):
    recommendations = selectors.trending_products(n=6)
    for recommendation in recommendations:
        assert _same_as_declared_fields(recommendation)["price"] is not None
    assert len(RecommendationSerializer(recommendations, many=True).data) == 6

    # A catalog without a price field: the price is null, as the field gives it.
    catalog = {**settings.RECOMMENDATIONS["CATALOG"], "PRICE_FIELD": None}
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "CATALOG": catalog}
    recommendations = selectors.trending_products(n=6)  # a new setting: a new list
    assert _same_as_declared_fields(recommendations[0])["price"] is None


def test_the_throttle_counts_per_user_and_says_when_to_retry(client, store, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "3/min", "user": "2/min"},
    }
    url = reverse("recommendations:trending")
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")

    client.force_login(alice)
    codes = [client.get(url, {"n": 1}).status_code for _ in range(3)]
    refused = client.get(url, {"n": 1})
    client.force_login(bob)
    other = client.get(url, {"n": 1})

    assert codes == [200, 200, 429]
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert other.status_code == 200  # bob has his own counter


def test_an_anonymous_request_is_counted_once_under_the_anonymous_rate(client, store, settings):
    # DRF's pair of throttles would count it under the user rate too, by its address.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "3/min", "user": "1/min"},
    }
    url = reverse("recommendations:trending")

    codes = [client.get(url, {"n": 1}).status_code for _ in range(4)]

    assert codes == [200, 200, 200, 429]


# A list served again from this process's memory is answered with the body rendered the
# first time (recommendations.api.responses): the same bytes, never another list's.


@pytest.fixture
def alice(store):
    alice = UserFactory(username="alice")
    OrderLineFactory(order=OrderFactory(user=alice), product=store.product(0, 0))
    return alice


@pytest.fixture
def represented(monkeypatch):
    """The items the list responses represented (a kept body represents none)."""
    items = []
    represent = responses._ITEM.represent

    def counted(instance, language):
        items.append(instance)
        return represent(instance, language)

    monkeypatch.setattr(responses._ITEM, "represent", counted)
    return items


def _me(client, **headers):
    return client.get(reverse("recommendations:me"), {"n": 10}, **headers)


def test_a_repeat_is_answered_the_body_rendered_first_which_is_the_uncached_one(
    client, store, alice, represented
):
    client.force_login(alice)

    first = _me(client)
    after_first = len(represented)
    second = _me(client)

    assert after_first == 10
    assert len(represented) == 10  # the second neither represented nor rendered
    assert second.content == first.content
    assert second["Content-Type"] == first["Content-Type"] == "application/json"
    assert second[RUN_HEADER] == first[RUN_HEADER] == str(store.run.pk)
    # What the list renders to without any kept body, through DRF's own serializer.
    listed = selectors.recommendations_for_user(user=alice, n=10)
    uncached = {"results": RecommendationSerializer(listed, many=True).data}
    assert second.content == JSONRenderer().render(uncached)
    assert second.data == uncached  # read from the response, the data are there too


def test_another_shopper_never_gets_the_kept_body(client, store, alice, represented):
    bob = UserFactory(username="bob")
    OrderLineFactory(order=OrderFactory(user=bob), product=store.product(6, 3))
    client.force_login(alice)
    _me(client)
    alices = _me(client)

    client.force_login(bob)
    bobs = _me(client)

    assert alices.json()["results"][0]["reason"] == "Because you bought A0"
    assert bobs.json()["results"][0]["reason"] == "Because you bought G3"
    assert len(represented) == 20  # alice's list once, bob's once


def test_a_new_purchase_is_answered_with_a_new_body(client, store, alice):
    client.force_login(alice)
    _me(client)
    listed = [r["item_id"] for r in _me(client).json()["results"]]

    OrderLineFactory(order=OrderFactory(user=alice), product=Product.objects.get(pk=listed[0]))
    after = [r["item_id"] for r in _me(client).json()["results"]]

    assert listed[0] not in after  # bought now: no longer recommended


def test_an_item_sold_out_since_leaves_the_kept_body_at_once(client, store, alice):
    client.force_login(alice)
    _me(client)
    listed = [r["item_id"] for r in _me(client).json()["results"]]

    # Under the same list name: the list checked again is a new one, so is its body.
    Product.objects.filter(pk=listed[0]).update(stock_quantity=0)
    services.availability_changed()
    after = [r["item_id"] for r in _me(client).json()["results"]]

    assert listed[0] not in after
    assert len(after) == 10


def test_a_generation_bump_leaves_the_kept_body_behind(client, store, alice, represented):
    client.force_login(alice)
    first = _me(client)
    _me(client)

    user_generation_bump(alice.pk)
    again = _me(client)

    assert len(represented) == 20  # computed and rendered anew in the new generation
    assert again.content == first.content  # the same history: the same list


def test_forgetting_a_user_drops_their_kept_bodies_only(client, store, alice):
    bob = UserFactory(username="bob")  # a list of his own: he bought something
    OrderLineFactory(order=OrderFactory(user=bob), product=store.product(1, 0))
    for user in (alice, bob):
        client.force_login(user)
        _me(client)

    process_state.user_forget(alice.pk)

    assert [key[0][0] for key in process_state.bodies] == [bob.pk]


def test_each_language_has_its_own_body(client, store, alice):
    client.force_login(alice)

    english = _me(client)
    german = _me(client, HTTP_ACCEPT_LANGUAGE="de")
    english_again = _me(client)
    german_again = _me(client, HTTP_ACCEPT_LANGUAGE="de")

    assert english.json()["results"][0]["reason"] == "Because you bought A0"
    assert german.json()["results"][0]["reason"].startswith("Weil Sie ")
    assert english_again.content == english.content
    assert german_again.content == german.content


def test_other_translation_catalogs_forget_the_kept_bodies(client, store, alice, settings):
    client.force_login(alice)
    _me(client)
    kept = len(process_state.bodies)

    settings.LOCALE_PATHS = [*settings.LOCALE_PATHS]  # as a deployment changing them

    assert kept == 1
    assert process_state.bodies == {}


def test_an_indented_json_is_rendered_as_asked_not_taken_from_the_kept_body(client, store, alice):
    client.force_login(alice)
    compact = _me(client)

    indented = _me(client, HTTP_ACCEPT="application/json; indent=4")
    compact_again = _me(client)

    assert indented.content == JSONRenderer().render(indented.data, "application/json; indent=4")
    assert b'\n    "results"' in indented.content
    assert compact_again.content == compact.content


def test_a_served_list_changed_by_its_caller_has_no_kept_body(store):
    served = selectors.trending_products(n=4)
    selectors.list_body_set(served, "variant", b"body")
    again = selectors.trending_products(n=4)  # from this process's memory

    assert selectors.list_body_get(again, "variant") == b"body"
    assert selectors.list_body_get(again, "another variant") is None
    again.reverse()
    assert selectors.list_body_get(again, "variant") is None
    assert selectors.list_body_get(list(served), "variant") is None  # a plain list
    assert selectors.list_body_get(served[:3], "variant") is None


def test_a_query_string_validated_before_is_validated_the_same_and_refused_every_time(
    client, store, alice
):
    client.force_login(alice)
    url = reverse("recommendations:me")

    refused = [client.get(url, {"n": "abc"}) for _ in range(2)]
    served = [len(client.get(url, {"n": 2}).json()["results"]) for _ in range(2)]
    other = [len(client.get(url, {"n": 3, "x": "y"}).json()["results"]) for _ in range(2)]
    over = client.get(url, {"n": 101})

    assert [response.status_code for response in refused] == [400, 400]
    assert refused[1].json() == refused[0].json() == {"n": ["A valid integer is required."]}
    assert served == [2, 2]
    assert other == [3, 3]
    assert over.status_code == 400
