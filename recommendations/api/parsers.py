"""Request body parsers of the API, whatever the host's ``REST_FRAMEWORK`` says."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.request import Request


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, answering 400 to nesting too deep for Python's parser, which
    raises RecursionError (a 2 KB body of brackets) where DRF expects ValueError."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(_("JSON parse error - nested too deeply.")) from None


#: What the event route reads: JSON, and the form bodies the click script sends.
EVENT_PARSERS = (JSONParser, parsers.FormParser, parsers.MultiPartParser)


def request_data(request: Request) -> Any:
    """``request.data``, with Django's limits on a body (``DATA_UPLOAD_MAX_MEMORY_SIZE``,
    ``DATA_UPLOAD_MAX_NUMBER_FIELDS``, ``..._FILES``) answered as the API's other 400s:
    JSON, not Django's HTML page."""
    try:
        return request.data
    except RequestDataTooBig:
        raise ParseError(_("The request body is too large.")) from None
    except (TooManyFieldsSent, TooManyFilesSent):
        raise ParseError(_("The request has too many fields.")) from None
