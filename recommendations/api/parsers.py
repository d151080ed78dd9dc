"""Request body parsers of the API, whatever the host's ``REST_FRAMEWORK`` says."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError


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
