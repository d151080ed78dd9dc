"""The API's fast paths: the list serializer and the throttle give what DRF's would."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework import serializers

from recommendations import selectors
from recommendations.api.serializers import RecommendationSerializer
from tests.factories import UserFactory

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
