"""Cache keys of the read path, and the per-user cache versioned by a generation.

Everything cached about one user lives under ``recommendations:user:<pk>:g<gen>:<name>``:
the user's generation is a number kept under one key per user. Deleting the user's
data or a change of their consent increments it (:func:`user_generation_bump`), and
nothing written under an older generation is read again, in any process; every value
expires on its own, so no index of a user's keys is kept or rewritten. A missing
generation (evicted, expired) starts a new random one, which is as good as a bump.
Imported by the write path too (services, privacy, receivers): it imports nothing of
the read path.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache

from recommendations.conf import app_settings
from recommendations.serving.near_cache import near_cache, near_forget

# Written by services.catalog_changed, read with every list.
CATALOG_CHANGED_KEY = "recommendations:catalog-changed-at"
# Written by services.availability_changed (stock, flags: nothing shown), read with it.
AVAILABILITY_CHANGED_KEY = "recommendations:availability-changed-at"
# Written by services.social_changed, read with every list when SOCIAL is set.
SOCIAL_CHANGED_KEY = "recommendations:social-changed-at"
HISTORY_CACHE_NAME = "history"
HISTORY_ROWS_CACHE_NAME = "history-rows"
BOUGHT_CACHE_NAME = "bought"
FEATURES_CACHE_NAME = "features"
# Set whenever a list is cached for a user: the export can say so without an index.
LISTS_CACHE_NAME = "lists"
# Computed lists are cached per user under names with this prefix.
LIST_CACHE_PREFIX = "list:"
# Every value cached for a user names the generation it was computed in: kept longer
# than any of them, and a lost generation only costs a recomputation.
GENERATION_TIMEOUT = 30 * 86400


def user_generation_key(user_pk: Any) -> str:
    """The cache key holding a user's generation number."""
    return f"recommendations:user:{user_pk}:gen"


def user_head_key(user_pk: Any) -> str:
    """The cache key of a user's history head, read with the generation in one call.

    The head names the generation it was written in and counts only under it.
    """
    return f"recommendations:user:{user_pk}:{HISTORY_CACHE_NAME}"


def _generation_start(user_pk: Any) -> tuple[int, bool]:
    """A new generation, random so it never meets the values of a lost one, and whether
    this call started it (else another process did meanwhile, and may have written)."""
    generation, key = secrets.randbits(48), user_generation_key(user_pk)
    added = cache.add(key, generation, GENERATION_TIMEOUT)
    if near_cache.values:  # no call on the read path when nothing is kept
        near_cache.forget([key])
    if added:
        return generation, True
    # Another process started one meanwhile: both agree on whichever ``add`` won.
    return cache.get(key), False


def user_generation_bump(user_pk: Any) -> None:
    """Make everything cached for a user unreachable, in every process."""
    try:
        cache.incr(user_generation_key(user_pk))
    except ValueError:  # none yet, or evicted: a new random one is a bump too
        cache.set(user_generation_key(user_pk), secrets.randbits(48), GENERATION_TIMEOUT)
    near_forget(user_generation_key(user_pk))


@dataclass(frozen=True)
class UserCache:
    """The cache of one user in one generation."""

    user_pk: Any
    generation: int
    # Started by this request: nothing can be cached under it yet, so a computed list is
    # not looked for first.
    new: bool = field(default=False, compare=False)

    @classmethod
    def of(cls, user_pk: Any, generation: int | None = None, *, read: bool = False) -> UserCache:
        """The user's current cache (``generation`` when the caller read it already).

        ``read``: the caller read the generation, and None means the user has none yet
        (it is started without asking the cache again).
        """
        if generation is None and not read:
            generation = cache.get(user_generation_key(user_pk))
        if generation is None:
            generation, new = _generation_start(user_pk)
            return cls(user_pk, generation, new)
        return cls(user_pk, generation)

    @classmethod
    def current(cls, user_pk: Any) -> UserCache | None:
        """The user's current cache, or None when nothing was cached (no generation)."""
        generation = cache.get(user_generation_key(user_pk))
        return None if generation is None else cls(user_pk, generation)

    def key(self, name: str) -> str:
        """The cache key of ``name`` in this generation."""
        return f"recommendations:user:{self.user_pk}:g{self.generation}:{name}"

    def get(self, name: str, default: Any = None) -> Any:
        """A value cached for the user in this generation, or ``default``."""
        return cache.get(self.key(name), default)

    def get_many(self, names: Iterable[str]) -> dict[str, Any]:
        """The values cached under ``names`` in this generation, by name (missing left out)."""
        keys = {self.key(name): name for name in names}
        return {keys[key]: value for key, value in cache.get_many(list(keys)).items()}

    def set(self, name: str, value: Any, *, timeout: float | None = None) -> None:
        """Cache a value for ``timeout`` (default ``CACHE_TIMEOUT``) seconds."""
        timeout = app_settings.CACHE_TIMEOUT if timeout is None else timeout
        cache.set(self.key(name), value, timeout)

    def delete(self, names: Iterable[str]) -> None:
        """Delete values of this generation by name."""
        cache.delete_many([self.key(name) for name in names])


def user_cache_key(user_pk: Any, name: str) -> str:
    """The cache key of ``name`` for one user in their current generation."""
    return UserCache.of(user_pk).key(name)


def user_cache_get(user_pk: Any, name: str, default: Any = None) -> Any:
    """A value cached for one user in their current generation, or ``default``."""
    user_cache = UserCache.current(user_pk)
    return default if user_cache is None else user_cache.get(name, default)


def user_cache_set(user_pk: Any, name: str, value: Any, *, timeout: float | None = None) -> None:
    """Cache a value computed for one user for ``timeout`` (default ``CACHE_TIMEOUT``) seconds."""
    UserCache.of(user_pk).set(name, value, timeout=timeout)


def digest(value: Any) -> str:
    """A short stable digest of a value made of str, numbers, datetimes and lists."""
    return hashlib.blake2b(repr(value).encode(), digest_size=12).hexdigest()
