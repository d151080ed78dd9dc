"""What the app reads from and keeps in the shopper's session.

The adapter says what is in the cart and what this session viewed
(``cart_item_pks(request)``, ``session_item_pks(request)``); the app keeps the views
posted to its events API in the session itself. Each is read once per request: a page
with several blocks asks the adapter once.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from django.http import HttpRequest

from recommendations.adapters import MAX_SESSION_ITEMS, SESSION_VIEWS_KEY, get_adapter

SESSION_KEY = SESSION_VIEWS_KEY
# Where a request keeps what was read for it; dropped with the request.
MEMO_ATTRIBUTE = "_recommendations_memo"


def _memo_of(request: Any) -> dict[Hashable, Any]:
    """The request's memo, kept on Django's own request: a DRF request looks a missing
    attribute up there anyway, through a raised and caught AttributeError."""
    attributes = getattr(request, "_request", request).__dict__
    memo = attributes.get(MEMO_ATTRIBUTE)
    if memo is None:
        memo = attributes[MEMO_ATTRIBUTE] = {}
    return memo


def request_memo(request: Any, name: Hashable, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per request and ``name``; computed every time without a request."""
    if request is None:
        return compute()
    memo = _memo_of(request)
    if name not in memo:
        memo[name] = compute()
    return memo[name]


def session_cart_pks(request: HttpRequest | None) -> list[Any]:
    """Keys of the items in the shopper's cart."""
    if request is None:
        return []
    return request_memo(request, "cart", lambda: list(get_adapter().cart_item_pks(request)))


def session_viewed_pks(request: HttpRequest | None) -> list[Any]:
    """Keys of the items viewed in this session, newest first."""
    if request is None:
        return []
    return request_memo(request, "viewed", lambda: list(get_adapter().session_item_pks(request)))


def session_view_record(request: HttpRequest, item_pk: Any) -> None:
    """Remember a view in the session, newest first, each item once."""
    key = str(item_pk)
    viewed = [pk for pk in request.session.get(SESSION_KEY, []) if pk != key]
    request.session[SESSION_KEY] = [key, *viewed][:MAX_SESSION_ITEMS]
    _memo_of(request).pop("viewed", None)
