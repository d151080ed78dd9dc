"""The errors that mean a backing service (the database, a Redis cache) is down.

They are not bugs of the caller: the API answers 503, template tags render nothing
and the training command says which service is down, instead of a traceback.
"""

from __future__ import annotations

from django.db import InterfaceError, OperationalError
from django.utils.translation import gettext as _

try:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
except ImportError:  # redis is optional: a host may cache elsewhere or not at all
    CACHE_ERRORS: tuple[type[Exception], ...] = ()
else:
    CACHE_ERRORS = (RedisConnectionError, RedisTimeoutError)

DATABASE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = DATABASE_ERRORS + CACHE_ERRORS


def unavailable_message(exc: BaseException) -> str:
    """Which service is down, and the driver's reason, for a user-facing error."""
    if isinstance(exc, DATABASE_ERRORS):
        return _("The database is unavailable: %(reason)s") % {"reason": exc}
    return _("The cache is unavailable: %(reason)s") % {"reason": exc}
