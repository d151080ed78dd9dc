"""The recommendations API: thin views over the selectors.

Reads of lists are public except the shopper's own list (signed-in only); another
user's list and the training runs are for the staff the admin lets see them
(:class:`~recommendations.api.permissions.CanViewTrainingRuns`). Every view validates
its input and answers 400 naming the field, 404 for an unknown product, user or run.
Each view carries its own schema class, so the OpenAPI schema works in a host whose
``DEFAULT_SCHEMA_CLASS`` is DRF's own.
"""

from __future__ import annotations

import logging
from functools import cache, lru_cache
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from recommendations import selectors, tracking
from recommendations.adapters import get_adapter
from recommendations.api.exceptions import BackendErrorsAs503
from recommendations.api.parsers import EVENT_PARSERS, request_data
from recommendations.api.permissions import CanViewTrainingRuns
from recommendations.api.responses import RUN_HEADER as RUN_HEADER  # where hosts import it
from recommendations.api.responses import ListResponse
from recommendations.api.serializers import (
    FIELD_ERRORS_SCHEMA,
    ErrorSerializer,
    EventSerializer,
    ListQuerySerializer,
    RecommendationListSerializer,
    TrainingRunSerializer,
    TrendingQuerySerializer,
)
from recommendations.conf import app_settings
from recommendations.models import TrainingRun
from recommendations.session import session_cart_pks, session_view_record, session_viewed_pks

logger = logging.getLogger(__name__)


@cache
def _classes(paths: tuple[str, ...]) -> tuple[type, ...]:
    """The classes ``paths`` name, imported once per distinct setting value."""
    return tuple(import_string(path) for path in paths)


class _AppDefaults:
    """Authentication and throttles from ``RECOMMENDATIONS``, never the host's defaults.

    The setting is read on each request (a changed one applies at once); the classes it
    names are resolved once per value, and instantiated per request as DRF expects.
    """

    def get_authenticators(self) -> list[Any]:
        app_settings.refresh()  # DRF asks first: the request reads the setting in force
        return [cls() for cls in _classes(app_settings.API_AUTHENTICATION_CLASSES)]

    def get_throttles(self) -> list[Any]:
        return [cls() for cls in _classes(app_settings.API_THROTTLE_CLASSES)]


def _catalog_item(pk: str) -> Any:
    """The catalog item with key ``pk`` (available or not), or 404."""
    return _get_or_404(get_adapter().shape.model, pk, "Unknown product.")


def _get_or_404(model: type[Any], pk: str, message: str) -> Any:
    """The row of ``model`` with key ``pk``, or 404 for any key that names none."""
    try:
        return model._default_manager.get(pk=pk)
    except (model.DoesNotExist, ValueError, TypeError, OverflowError, ValidationError):
        raise Http404(message) from None


# What every view may answer besides its success, as the schema says it.
_BAD_REQUEST = OpenApiResponse(
    FIELD_ERRORS_SCHEMA, description="Invalid input: each field at fault with its messages."
)
_FORBIDDEN = OpenApiResponse(ErrorSerializer, description="Not signed in, or not allowed.")
_NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such product, user or run.")
_THROTTLED = OpenApiResponse(
    ErrorSerializer, description="Too many requests: retry after Retry-After seconds."
)
_LIST = OpenApiResponse(RecommendationListSerializer, description="The recommended items.")
_ID = {"type": "integer"}


class _ListView(_AppDefaults, BackendErrorsAs503, APIView):
    """A GET that validates ``query_serializer`` and returns a list of recommendations."""

    schema = AutoSchema()
    query_serializer: type[serializers.Serializer] = ListQuerySerializer

    def query(self, request: Request) -> dict[str, Any]:
        # A plain dict, not the QueryDict: DRF would read ``?n=`` as "not given" there,
        # where the schema (and the shopper) mean an empty, invalid number.
        data = request.query_params.dict()
        if self.query_serializer is ListQuerySerializer:
            return dict(_list_query(frozenset(data.items())))
        serializer = self.query_serializer(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def respond(self, recommendations: list[selectors.Recommendation]) -> Response:
        return ListResponse(recommendations)


_LIST_QUERY = ListQuerySerializer()


@lru_cache(maxsize=64)
def _list_query(params: frozenset[tuple[str, str]]) -> dict[str, Any]:
    """The validated ``?n=`` of a query string, once per distinct one (refusals each time).

    Its fields never change: one bound instance validates (validation keeps no state on
    it), with the same errors as is_valid; the same parameters validate the same.
    """
    return _LIST_QUERY.run_validation(dict(params))


class _OwnListView(_ListView):
    """A list of the signed-in shopper's own: ``recommendations`` makes it."""

    permission_classes = [permissions.IsAuthenticated]

    def recommendations(self, request: Request, n: int) -> list[selectors.Recommendation]:
        raise NotImplementedError

    @extend_schema(
        parameters=[ListQuerySerializer],
        responses={200: _LIST, 400: _BAD_REQUEST, 403: _FORBIDDEN, 429: _THROTTLED},
    )
    def get(self, request: Request) -> Response:
        return self.respond(self.recommendations(request, self.query(request)["n"]))


class MyRecommendationsView(_OwnListView):
    """The signed-in shopper's own personal list."""

    def recommendations(self, request: Request, n: int) -> list[selectors.Recommendation]:
        return selectors.recommendations_for_user(
            user=request.user,
            n=n,
            exclude=session_cart_pks(request),
            session_item_pks=session_viewed_pks(request),
        )


class FollowedView(_OwnListView):
    """What the people the signed-in shopper follows bought or rated well (their own
    follows only; empty when they follow nobody or nothing qualifies)."""

    def recommendations(self, request: Request, n: int) -> list[selectors.Recommendation]:
        return selectors.popular_with_followed(
            user=request.user, n=n, exclude=session_cart_pks(request)
        )


class UserRecommendationsView(_ListView):
    """Any user's personal list, for staff checking what a customer sees."""

    permission_classes = [CanViewTrainingRuns]

    @extend_schema(
        parameters=[OpenApiParameter("id", _ID, OpenApiParameter.PATH), ListQuerySerializer],
        responses={
            200: _LIST,
            400: _BAD_REQUEST,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
            429: _THROTTLED,
        },
    )
    def get(self, request: Request, pk: str) -> Response:
        query = self.query(request)
        user = _get_or_404(get_user_model(), pk, "Unknown user.")
        return self.respond(selectors.recommendations_for_user(user=user, n=query["n"]))


_PRODUCT_LIST = {200: _LIST, 400: _BAD_REQUEST, 404: _NOT_FOUND, 429: _THROTTLED}


class SimilarProductsView(_ListView):
    """Alternatives to this product: alike in text and category, and co-bought."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(parameters=[ListQuerySerializer], responses=_PRODUCT_LIST)
    def get(self, request: Request, pk: str) -> Response:
        query = self.query(request)
        return self.respond(
            selectors.similar_products(
                item=_catalog_item(pk),
                n=query["n"],
                user=request.user,
                exclude=session_cart_pks(request),
            )
        )


class BoughtTogetherView(_ListView):
    """Items frequently bought together with this product."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(parameters=[ListQuerySerializer], responses=_PRODUCT_LIST)
    def get(self, request: Request, pk: str) -> Response:
        query = self.query(request)
        return self.respond(
            selectors.bought_together(
                item=_catalog_item(pk),
                n=query["n"],
                user=request.user,
                exclude=session_cart_pks(request),
            )
        )


class TrendingView(_ListView):
    """What is selling now, optionally in one category."""

    permission_classes = [permissions.AllowAny]
    query_serializer = TrendingQuerySerializer

    @extend_schema(
        parameters=[TrendingQuerySerializer],
        responses={200: _LIST, 400: _BAD_REQUEST, 429: _THROTTLED},
    )
    def get(self, request: Request) -> Response:
        query = self.query(request)
        try:
            recommendations = selectors.trending_products(
                n=query["n"], category=query.get("category"), user=request.user
            )
        except ValueError as exc:
            raise serializers.ValidationError({"category": [str(exc)]}) from None
        return self.respond(recommendations)


class EventView(_AppDefaults, BackendErrorsAs503, APIView):
    """Record that the shopper viewed or clicked an item (anonymous: in the session)."""

    schema = AutoSchema()
    permission_classes = [permissions.AllowAny]
    parser_classes = EVENT_PARSERS

    @extend_schema(
        request=EventSerializer,
        responses={
            202: OpenApiResponse(description="Recorded."),
            400: _BAD_REQUEST,
            403: OpenApiResponse(ErrorSerializer, description="A signed-in post without CSRF."),
            429: _THROTTLED,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = EventSerializer(data=request_data(request))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            item = _catalog_item(data["product"])
        except Http404:
            raise serializers.ValidationError({"product": [_("Unknown product.")]}) from None
        if data["kind"] == EventSerializer.Kind.VIEW:
            adapter = get_adapter()
            signed_in = request.user.is_authenticated
            if signed_in and not adapter.user_consents(request.user):
                # Personalisation is off: the view counts for the catalog, anonymously,
                # and is neither kept against the user nor in their session's history.
                adapter.record_view(user=None, session_key="", item_pk=item.pk)
            else:
                session_view_record(request, item.pk)
                if not request.session.session_key:
                    request.session.save()
                adapter.record_view(
                    user=request.user if signed_in else None,
                    session_key=request.session.session_key,
                    item_pk=item.pk,
                )
        elif "impression" in data:
            try:
                tracking.click_record(
                    token=data["impression"],
                    position=data["position"],
                    item_pk=item.pk,
                    user=request.user,
                    block=data["block"],
                )
            except ValidationError as exc:
                raise serializers.ValidationError(exc.message_dict) from None
        else:
            # Logs are kept outside the user's export and deletion: no user in them.
            logger.info("Recommendation click: item=%s block=%s", item.pk, data["block"] or "-")
        return Response(status=status.HTTP_202_ACCEPTED)


@extend_schema(responses={200: TrainingRunSerializer(many=True), 403: _FORBIDDEN, 429: _THROTTLED})
class TrainingRunListView(_AppDefaults, BackendErrorsAs503, generics.ListAPIView):
    """Every training run, newest first (staff only)."""

    schema = AutoSchema()
    permission_classes = [CanViewTrainingRuns]
    serializer_class = TrainingRunSerializer
    queryset = TrainingRun.objects.select_related("created_by").order_by("-created_at", "-pk")


@extend_schema(
    parameters=[OpenApiParameter("id", _ID, OpenApiParameter.PATH)],
    responses={200: TrainingRunSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND, 429: _THROTTLED},
)
class TrainingRunDetailView(_AppDefaults, BackendErrorsAs503, generics.RetrieveAPIView):
    """One training run (staff only)."""

    schema = AutoSchema()
    permission_classes = [CanViewTrainingRuns]
    serializer_class = TrainingRunSerializer
    queryset = TrainingRun.objects.select_related("created_by")
