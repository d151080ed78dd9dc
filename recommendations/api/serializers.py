"""Serializers of the recommendations API: query parameters in, lists out."""

from __future__ import annotations

from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

from recommendations.adapters import get_adapter
from recommendations.models import ItemRule, TrainingRun
from recommendations.reasons import reason_text
from recommendations.selectors import DEFAULT_N, MAX_N


class ListQuerySerializer(serializers.Serializer):
    """``?n=`` of every list endpoint."""

    n = serializers.IntegerField(min_value=1, max_value=MAX_N, default=DEFAULT_N)


def _category_field() -> serializers.Field:
    """``?category=`` as the catalog keys its categories: an integer within the range of
    the database column (a larger one would fail the query), else text."""
    key = get_adapter().category_key_field()
    if not isinstance(key, models.IntegerField):
        return serializers.CharField(required=False, min_length=1, max_length=64)
    limits = {
        type(validator): validator.limit_value
        for validator in key.validators
        if isinstance(validator, MinValueValidator | MaxValueValidator)
    }
    return serializers.IntegerField(
        required=False,
        min_value=limits.get(MinValueValidator),
        max_value=limits.get(MaxValueValidator),
        help_text=_("A category key."),
    )


class TrendingQuerySerializer(ListQuerySerializer):
    """``?n=&category=`` of the trending list."""

    def get_fields(self) -> dict[str, serializers.Field]:
        # Built per request: the category key's type comes from the host's catalog.
        return {**super().get_fields(), "category": _category_field()}


class RecommendationSerializer(serializers.Serializer):
    """One recommended item with the reason it is shown."""

    item_id = serializers.CharField(source="item.pk")
    label = serializers.CharField()
    url = serializers.CharField(allow_null=True)
    price = serializers.CharField(allow_null=True)
    score = serializers.FloatField()
    reason = serializers.CharField()
    # What the people the shopper follows did with the item; "" when nothing may be told.
    social_reason = serializers.CharField(allow_blank=True)
    source = serializers.CharField()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return self.represent(instance, get_language())

    def represent(self, instance: Any, language: str | None) -> dict[str, Any]:
        """:meth:`to_representation` with the active ``language`` read by the caller.

        The same output as the declared fields, without their per-field machinery:
        this runs for every item of every list the API serves.
        """
        url, price = instance.url, instance.price
        return {
            "item_id": str(instance.item.pk),
            "label": str(instance.label),
            "url": None if url is None else str(url),
            "price": None if price is None else str(price),
            "score": float(instance.score),
            "reason": reason_text(instance.reason, language),
            "social_reason": reason_text(instance.social_reason, language),
            "source": str(instance.source),
        }


class RecommendationListSerializer(serializers.Serializer):
    """The envelope of every list of recommendations."""

    results = RecommendationSerializer(many=True)


class ErrorSerializer(serializers.Serializer):
    """Why a request was refused (403, 404, 405, 429)."""

    detail = serializers.CharField()


# A 400 names each field at fault with its messages (``non_field_errors`` for the
# whole), or gives a ``detail`` when the body cannot be parsed at all.
FIELD_ERRORS_SCHEMA = {
    "oneOf": [
        {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "minProperties": 1,
        },
        {
            "type": "object",
            "properties": {"detail": {"type": "string"}},
            "required": ["detail"],
            "additionalProperties": False,
        },
    ]
}


class EventSerializer(serializers.Serializer):
    """A view or a click on a recommended item, posted by the storefront."""

    class Kind:
        VIEW = "view"
        CLICK = "click"

    product = serializers.CharField(min_length=1, max_length=64)
    kind = serializers.ChoiceField(choices=[Kind.VIEW, Kind.CLICK])
    block = serializers.ChoiceField(
        choices=[*ItemRule.Block.values, "recently_viewed"], required=False, default=""
    )
    # A click names what was shown: the impression of the block and the item's position.
    impression = serializers.CharField(min_length=1, max_length=16, required=False)
    position = serializers.IntegerField(min_value=0, max_value=1000, required=False)

    def validate(self, data: dict) -> dict:
        if ("impression" in data) != ("position" in data):
            field = "position" if "impression" in data else "impression"
            raise serializers.ValidationError({field: [_("Give both impression and position.")]})
        return data


class EventSerializerSchema(OpenApiSerializerExtension):
    """The event body's schema says what ``EventSerializer.validate`` checks: a click
    names both the impression and the position, or neither."""

    target_class = EventSerializer

    def map_serializer(self, auto_schema: AutoSchema, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        both = ["impression", "position"]
        schema["anyOf"] = [
            {"required": both},
            {"not": {"anyOf": [{"required": [name]} for name in both]}},
        ]
        return schema


class TrainingRunSerializer(serializers.ModelSerializer):
    """A training run as staff see it."""

    created_by = serializers.StringRelatedField(allow_null=True)

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
