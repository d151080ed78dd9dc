"""The list cache: computed lists kept in the shared cache and in this process.

Lists of signed-in shoppers are cached in their generation (:mod:`.keys`), so a
deletion or a consent change leaves every list of theirs behind at once.
A list is cached whole (item keys, scores, reasons, what each item showed), keyed by
everything it was computed from, so a repeat request does no engine work. Availability
is checked again in the process's catalog (:mod:`.catalog`), which holds the instances.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from operator import is_
from typing import Any

from django.core.cache import cache
from django.utils.translation import get_language

from recommendations.adapters import SettingsAdapter
from recommendations.conf import app_settings
from recommendations.serving.assembly import Recommendation
from recommendations.serving.catalog import Catalog
from recommendations.serving.keys import LIST_CACHE_PREFIX, LISTS_CACHE_NAME, UserCache, digest
from recommendations.serving.state import process_state

ServedKey = tuple[Any, Any, str]  # (user key, generation, list name); (None, None, name)


class ServedList(list):
    """A list as :func:`list_get` and :func:`list_set` serve it: a list like any other.

    ``served`` names the process's memory of it (its key and the served tuple), so what
    is derived from the list alone, such as its rendered body, can be kept with it
    (:func:`list_body_get`, :func:`list_body_set`).
    """

    __slots__ = ("served",)

    def __init__(self, key: ServedKey, result: tuple[Recommendation, ...]) -> None:
        super().__init__(result)
        self.served = (key, result)


def _served_of(recommendations: list[Recommendation]) -> tuple[ServedKey, tuple] | None:
    served = getattr(recommendations, "served", None)
    if served is None:
        return None
    # The very items served, in order: a list changed since it was served has no body.
    result = served[1]
    if len(recommendations) != len(result) or not all(map(is_, recommendations, result)):
        return None
    return served


def list_body_get(recommendations: list[Recommendation], variant: Any) -> Any:
    """The body rendered for ``recommendations`` in ``variant``, or None.

    ``variant`` names everything but the list that the body depends on (language,
    format). Only a list served from this process's memory has one, and only while
    that memory serves the very same list: a list computed or checked again is a new one.
    """
    served = _served_of(recommendations)
    if served is None:
        return None
    kept = process_state.bodies.get((served[0], variant))
    return kept[1] if kept is not None and kept[0] is served[1] else None


def list_body_set(recommendations: list[Recommendation], variant: Any, body: Any) -> None:
    """Keep the body rendered for a served list in ``variant`` (see :func:`list_body_get`)."""
    served = _served_of(recommendations)
    if served is not None:
        process_state.body_remember((served[0], variant), (served[1], body))


def list_name(
    block: str, run_id: int | None, rules_key: Any, history: str, parts: tuple[Any, ...]
) -> str:
    """The cache name of a list: its block, model run, rules, history digest and inputs."""
    # The setting too: a changed business rule (MAX_PER_CATEGORY ...) applies at once.
    # And the language: a cached item's label and page may be worded per language (a
    # translated name, i18n_patterns URLs); its reason is worded when shown anyway.
    return LIST_CACHE_PREFIX + digest(
        (block, run_id, rules_key, history, app_settings.fingerprint, get_language(), parts)
    )


def _anonymous_key(name: str) -> str:
    return f"recommendations:{name}"


def _served_key(owner: UserCache | None, name: str) -> ServedKey:
    return (None, None, name) if owner is None else (owner.user_pk, owner.generation, name)


def _entry_get(owner: UserCache | None, name: str) -> Any:
    return cache.get(_anonymous_key(name)) if owner is None else owner.get(name)


def _entry_set(owner: UserCache | None, name: str, entry: tuple, *, timeout: float) -> None:
    if owner is None:
        cache.set(_anonymous_key(name), entry, timeout)
    else:
        owner.set(name, entry, timeout=timeout)


def list_get(
    adapter: SettingsAdapter,
    catalog: Callable[[], Catalog],
    owner: UserCache | None,
    name: str,
    availability_changed_at: float,
) -> ServedList | None:
    """A cached list whose items are still available, or None.

    ``owner`` is the signed-in shopper's cache (None: shared by anonymous shoppers).
    The availability of the listed items is checked again (in the process's
    ``catalog()``) when the availability changed since the last check
    (``services.catalog_changed``, ``availability_changed``) or, as a safety net for
    changes made without telling, when the last check is older than ``RELOAD_INTERVAL``;
    the entry names its items by key, with the label, page and price shown (a changed
    label or price shows within ``CACHE_TIMEOUT`` seconds), and their instances come
    from the process's catalog. Within ``RELOAD_INTERVAL`` of its last check a list this
    process served is taken from memory, without reading and unpickling the entry.
    """
    now = time.time()
    key = _served_key(owner, name)
    served = process_state.served.get(key)
    if served is not None:
        computed_at, checked_at, result = served
        fresh = (
            now - checked_at < app_settings.RELOAD_INTERVAL
            and checked_at > availability_changed_at
        )
        if fresh and now < computed_at + app_settings.CACHE_TIMEOUT:
            return ServedList(key, result)
    entry = None if owner is not None and owner.new else _entry_get(owner, name)
    if not entry:
        process_state.served.pop(key, None)
        return None
    computed_at, checked_at, rows = entry
    if not rows and checked_at <= availability_changed_at:
        return None  # an empty list may have something to show once the catalog changed
    if now - checked_at >= app_settings.RELOAD_INTERVAL or checked_at <= availability_changed_at:
        keys = [str(row[0]) for row in rows]
        available = catalog().available(keys)
        remaining = computed_at + app_settings.CACHE_TIMEOUT - now
        if len(available) < len(set(keys)) or remaining <= 0:
            process_state.served.pop(key, None)
            return None  # sold out or withdrawn since: compute the list afresh
        checked_at = now
        _entry_set(owner, name, (computed_at, checked_at, rows), timeout=remaining)
    instances = catalog().instances_of(adapter, [row[0] for row in rows])
    if len(instances) < len(rows):
        process_state.served.pop(key, None)
        return None  # an item deleted since: compute the list afresh
    result = tuple(
        Recommendation(
            item=instances[str(pk)],
            score=score,
            reason=reason,
            source=source,
            run_id=run_id,
            known=known,
            # Lists cached before social reasons existed have none.
            social_reason=social[0] if social else "",
        )
        for pk, score, reason, source, run_id, known, *social in rows
    )
    process_state.served_remember(key, (computed_at, checked_at, result))
    return ServedList(key, result)


def list_set(owner: UserCache | None, name: str, result: list[Recommendation]) -> ServedList:
    """Cache a computed list (per user, or shared for anonymous shoppers) and return it.

    An empty list is cached too (a block with nothing it means to show, asked on every
    page): it is computed again once the catalog changes.
    """
    kept: list[Recommendation] = []
    # The instances stay in the process's catalog: the entry names them by key.
    rows = []
    for rec in result:
        if not rec.known:
            rec = replace(rec, known=(rec.label, rec.url, rec.price))
        kept.append(rec)
        rows.append(
            (
                rec.item.pk,
                rec.score,
                rec.reason,
                rec.source,
                rec.run_id,
                rec.known,
                rec.social_reason,
            )
        )
    served, now = tuple(kept), time.time()
    entry = (now, now, rows)
    if owner is None:
        _entry_set(owner, name, entry, timeout=app_settings.CACHE_TIMEOUT)
    else:  # the list, and the mark the export reads, in one round trip
        cache.set_many(
            {owner.key(name): entry, owner.key(LISTS_CACHE_NAME): True}, app_settings.CACHE_TIMEOUT
        )
    key = _served_key(owner, name)
    process_state.served_remember(key, (now, now, served))
    return ServedList(key, served)
