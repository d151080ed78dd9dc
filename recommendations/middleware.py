"""Middleware of the recommendations app."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from recommendations import tracking


class ImpressionMiddleware:
    """Store the impressions of all the recommendation blocks of a page in one INSERT.

    The blocks record their impressions on the request while the page renders; once
    the response is rendered they are written together with one ``bulk_create``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tracking.impressions_collect(request)
        try:
            return self.get_response(request)
        finally:
            # Whatever happened to the response, what was rendered is not left unsaved.
            tracking.impressions_flush(request)
