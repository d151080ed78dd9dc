"""The session engine, as the storefront's housekeeping and privacy paths read it."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore


def database_session_store() -> type[DatabaseSessionStore] | None:
    """The session engine's store when it keeps sessions in the database (``db``,
    ``cached_db``), whose rows can be queried; None for cache-only or cookie sessions."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    return store if hasattr(store, "get_model_class") else None
