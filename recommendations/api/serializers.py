"""Serializers of the recommendations API: query parameters in, lists out."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from recommendations.models import ItemRule, TrainingRun
from recommendations.selectors import DEFAULT_N, MAX_N


class ListQuerySerializer(serializers.Serializer):
    """``?n=`` of every list endpoint."""

    n = serializers.IntegerField(min_value=1, max_value=MAX_N, default=DEFAULT_N)


class TrendingQuerySerializer(ListQuerySerializer):
    """``?n=&category=`` of the trending list."""

    category = serializers.CharField(required=False, max_length=64)


class RecommendationSerializer(serializers.Serializer):
    """One recommended item with the reason it is shown."""

    item_id = serializers.CharField(source="item.pk")
    label = serializers.CharField()
    url = serializers.CharField(allow_null=True)
    price = serializers.CharField(allow_null=True)
    score = serializers.FloatField()
    reason = serializers.CharField()
    source = serializers.CharField()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        # The same output as the declared fields, without their per-field machinery:
        # this runs for every item of every list the API serves.
        url, price = instance.url, instance.price
        return {
            "item_id": str(instance.item.pk),
            "label": str(instance.label),
            "url": None if url is None else str(url),
            "price": None if price is None else str(price),
            "score": float(instance.score),
            "reason": str(instance.reason),
            "source": str(instance.source),
        }


class EventSerializer(serializers.Serializer):
    """A view or a click on a recommended item, posted by the storefront."""

    class Kind:
        VIEW = "view"
        CLICK = "click"

    product = serializers.CharField(max_length=64)
    kind = serializers.ChoiceField(choices=[Kind.VIEW, Kind.CLICK])
    block = serializers.ChoiceField(
        choices=[*ItemRule.Block.values, "recently_viewed"], required=False, default=""
    )
    # A click names what was shown: the impression of the block and the item's position.
    impression = serializers.CharField(max_length=16, required=False)
    position = serializers.IntegerField(min_value=0, max_value=1000, required=False)

    def validate(self, data: dict) -> dict:
        if ("impression" in data) != ("position" in data):
            field = "position" if "impression" in data else "impression"
            raise serializers.ValidationError({field: ["Give both impression and position."]})
        return data


class TrainingRunSerializer(serializers.ModelSerializer):
    """A training run as staff see it."""

    created_by = serializers.StringRelatedField()

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "algorithm",
            "params",
            "batch",
            "status",
            "is_active",
            "metrics",
            "n_users",
            "n_items",
            "n_events",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "error",
            "data_cutoff",
            "created_by",
            "promoted_at",
        ]
        read_only_fields = fields
