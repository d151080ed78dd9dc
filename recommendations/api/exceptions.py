"""How the API answers when the database or the cache is down: 503 with a JSON detail.

The views use :class:`BackendErrorsAs503` whatever the host's ``EXCEPTION_HANDLER``;
every other exception goes to the host's handler as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from recommendations.availability import DATABASE_ERRORS, UNAVAILABLE_ERRORS

logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 30


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """503 when a backing service is down, else the host's (or DRF's) handler."""
    if isinstance(exc, UNAVAILABLE_ERRORS):
        view = context.get("view")
        logger.error("Recommendations API unavailable in %s: %r", type(view).__name__, exc)
        detail = (
            _("Recommendations are unavailable: the database cannot be reached.")
            if isinstance(exc, DATABASE_ERRORS)
            else _("Recommendations are unavailable: the cache cannot be reached.")
        )
        return Response(
            {"detail": detail},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    handler = api_settings.EXCEPTION_HANDLER
    if handler is exception_handler:
        handler = drf_exception_handler
    return handler(exc, context)


class BackendErrorsAs503:
    """A mixin of the app's API views: database or cache outages answer 503, not 500."""

    def get_exception_handler(self) -> Callable[[Exception, dict[str, Any]], Response | None]:
        return exception_handler
