"""The list cache: computed lists kept in the shared cache and in this process.

Lists of signed-in shoppers are cached in their generation (:mod:`.keys`), so a
deletion or a consent change leaves every list of theirs behind at once.
A list is cached whole (keys, scores, reasons), keyed by everything it was computed
from, so a repeat request does no engine work. Availability is checked again on every
hit, in the same query that reads the instances to show.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import get_language

from recommendations.adapters import SettingsAdapter
from recommendations.conf import app_settings
from recommendations.serving.assembly import Recommendation
from recommendations.serving.keys import LIST_CACHE_PREFIX, LISTS_CACHE_NAME, UserCache, digest
from recommendations.serving.state import process_state


def list_name(
    block: str, run_id: int | None, rules_key: Any, history: str, parts: tuple[Any, ...]
) -> str:
    """The cache name of a list: its block, model run, rules, history digest and inputs."""
    # The setting too: a changed business rule (MAX_PER_CATEGORY ...) applies at once.
    configuration = digest(getattr(settings, "RECOMMENDATIONS", None))
    # And the language: a cached item's label and page may be worded per language (a
    # translated name, i18n_patterns URLs); its reason is worded when shown anyway.
    language = get_language()
    return LIST_CACHE_PREFIX + digest(
        (block, run_id, rules_key, history, configuration, language, parts)
    )


def _anonymous_key(name: str) -> str:
    return f"recommendations:{name}"


def _served_key(owner: UserCache | None, name: str) -> tuple[Any, Any, str]:
    return (None, None, name) if owner is None else (owner.user_pk, owner.generation, name)


def _entry_get(owner: UserCache | None, name: str) -> Any:
    return cache.get(_anonymous_key(name)) if owner is None else owner.get(name)


def _entry_set(owner: UserCache | None, name: str, entry: tuple, *, timeout: float) -> None:
    if owner is None:
        cache.set(_anonymous_key(name), entry, timeout)
    else:
        owner.set(name, entry, timeout=timeout)


def list_get(
    adapter: SettingsAdapter, owner: UserCache | None, name: str, catalog_changed_at: float
) -> list[Recommendation] | None:
    """A cached list whose items are still available, or None.

    ``owner`` is the signed-in shopper's cache (None: shared by anonymous shoppers).
    The availability of the listed items is checked again (one query) when the catalog
    changed since the last check (``services.catalog_changed``) or, as a safety net for
    changes made without telling, when the last check is older than ``RELOAD_INTERVAL``;
    the items themselves come from the cache (a changed label or price shows within
    ``CACHE_TIMEOUT`` seconds). Within ``RELOAD_INTERVAL`` of its last check a list this
    process served is taken from memory, without reading and unpickling the entry.
    """
    now = time.time()
    key = _served_key(owner, name)
    served = process_state.served.get(key)
    if served is not None:
        computed_at, checked_at, result = served
        fresh = now - checked_at < app_settings.RELOAD_INTERVAL and checked_at > catalog_changed_at
        if fresh and now < computed_at + app_settings.CACHE_TIMEOUT:
            return list(result)
    entry = _entry_get(owner, name)
    if not entry:
        process_state.served.pop(key, None)
        return None
    computed_at, checked_at, rows = entry
    if not rows and checked_at <= catalog_changed_at:
        return None  # an empty list may have something to show once the catalog changed
    if now - checked_at >= app_settings.RELOAD_INTERVAL or checked_at <= catalog_changed_at:
        pks = [row[0].pk for row in rows]
        available = adapter.available_items().filter(pk__in=pks).values_list("pk", flat=True)
        remaining = computed_at + app_settings.CACHE_TIMEOUT - now
        if len(set(available)) < len(pks) or remaining <= 0:
            process_state.served.pop(key, None)
            return None  # sold out or withdrawn since: compute the list afresh
        checked_at = now
        _entry_set(owner, name, (computed_at, checked_at, rows), timeout=remaining)
    result = _from_rows(rows)
    process_state.served_remember(key, (computed_at, checked_at, result))
    return list(result)


def _from_rows(rows: Iterable[tuple]) -> tuple[Recommendation, ...]:
    """The recommendations of a cached list's rows."""
    return tuple(
        Recommendation(
            item=item, score=score, reason=reason, source=source, run_id=run_id, known=known
        )
        for item, score, reason, source, run_id, known in rows
    )


def list_set(
    owner: UserCache | None, name: str, result: list[Recommendation]
) -> list[Recommendation]:
    """Cache a computed list (per user, or shared for anonymous shoppers) and return it.

    An empty list is cached too (a block with nothing it means to show, asked on every
    page): it is computed again once the catalog changes.
    """
    rows = [
        (rec.item, rec.score, rec.reason, rec.source, rec.run_id, (rec.label, rec.url, rec.price))
        for rec in result
    ]
    now = time.time()
    _entry_set(owner, name, (now, now, rows), timeout=app_settings.CACHE_TIMEOUT)
    if owner is not None:
        owner.set(LISTS_CACHE_NAME, True)
    served = _from_rows(rows)
    process_state.served_remember(_served_key(owner, name), (now, now, served))
    return list(served)
