"""What the app reads from and keeps in the shopper's session.

Two optional adapter hooks let a host project say what is in its cart and what an
anonymous shopper viewed: ``cart_item_pks(request)`` and ``session_item_pks(request)``.
Without the second, the app remembers the views posted to its events API itself.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from recommendations.adapters import get_adapter

SESSION_KEY = "recommendations_viewed"
MAX_SESSION_ITEMS = 50


def session_cart_pks(request: HttpRequest | None) -> list[Any]:
    """Keys of the items in the shopper's cart (empty without the adapter hook)."""
    hook = getattr(get_adapter(), "cart_item_pks", None)
    if request is None or hook is None:
        return []
    return list(hook(request))


def session_viewed_pks(request: HttpRequest | None) -> list[Any]:
    """Keys of the items viewed in this session, newest first."""
    if request is None:
        return []
    hook = getattr(get_adapter(), "session_item_pks", None)
    if hook is not None:
        return list(hook(request))
    session = getattr(request, "session", None)
    return list(session.get(SESSION_KEY, [])) if session is not None else []


def session_view_record(request: HttpRequest, item_pk: Any) -> None:
    """Remember a view in the session, newest first, each item once."""
    key = str(item_pk)
    viewed = [pk for pk in request.session.get(SESSION_KEY, []) if pk != key]
    request.session[SESSION_KEY] = [key, *viewed][:MAX_SESSION_ITEMS]
