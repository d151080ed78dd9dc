"""Sign-in attempts counted per account and per client address, in every worker process.

Each attempt counts against the account named and against the address it came from
(:func:`recommendations.clients.client_address`, which trusts forwarded headers only
behind the configured proxies) for ``LOGIN_ATTEMPTS_WINDOW`` seconds. Beyond
``LOGIN_ATTEMPTS_PER_ACCOUNT`` or ``LOGIN_ATTEMPTS_PER_ADDRESS`` attempts the password is
not even checked until the window ends. A successful sign-in clears its account's
count; the address keeps its count, as a success says nothing of the other accounts
tried from there.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.http import HttpRequest

from recommendations.clients import client_address
from recommendations.counters import counter_increment, counter_reset


def _account_key(username: str) -> str:
    # Digested: any text may be typed as a user name, the key must stay short and plain.
    digest = hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]
    return f"shop-login:account:{digest}"


def login_attempt_record(*, request: HttpRequest, username: str) -> float | None:
    """Count a sign-in attempt; the seconds to wait when one too many, else None."""
    limits = (
        (_account_key(username), settings.LOGIN_ATTEMPTS_PER_ACCOUNT),
        (f"shop-login:address:{client_address(request)}", settings.LOGIN_ATTEMPTS_PER_ADDRESS),
    )
    waits = []
    for key, limit in limits:
        count = counter_increment(key, duration=settings.LOGIN_ATTEMPTS_WINDOW)
        if count.value > limit:
            waits.append(count.retry_after)
    return max(waits) if waits else None


def login_attempts_clear(*, username: str) -> None:
    """Forget the attempts on an account once it signed in."""
    counter_reset(_account_key(username), duration=settings.LOGIN_ATTEMPTS_WINDOW)
