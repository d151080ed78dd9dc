"""Project-level views."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import extend_schema, inline_serializer
from drf_spectacular.views import SpectacularAPIView
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


@extend_schema(responses=inline_serializer("Health", {"status": serializers.CharField()}))
class HealthView(APIView):
    """Liveness probe for load balancers; also the trivial baseline of the load benchmark."""

    permission_classes = [AllowAny]
    throttle_classes: list = []
    # Its own schema class, like the app's views: the schema never depends on the setting.
    schema = AutoSchema()

    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class SchemaView(SpectacularAPIView):
    """The OpenAPI schema, itself left out of it whatever ``DEFAULT_SCHEMA_CLASS`` says."""

    schema = None
