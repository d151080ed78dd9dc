"""Sign-in attempts counted per account and per client address, in every worker process.

Each attempt counts against the account named and against the address it came from
(:func:`recommendations.clients.client_address`, which trusts forwarded headers only
behind the configured proxies) for ``LOGIN_ATTEMPTS_WINDOW`` seconds after it: a window
that slides with each attempt, so no moment allows more than ``LOGIN_ATTEMPTS_PER_ACCOUNT``
(or ``LOGIN_ATTEMPTS_PER_ADDRESS``) attempts in any such span, where fixed windows
allowed twice that across a window's end. Beyond the limit the password is not even
checked (a refused attempt counts too). A successful sign-in clears its account's
attempts; the address keeps its count, as a success says nothing of the other accounts
tried from there. Attempts are rows in the database (:class:`shop.models.LoginAttempt`),
which every process shares: an attempt costs two inserts, two indexed reads and the
deletion of the attempts gone by, small beside the password hash it guards (and a
flood of them is refused before any hash is computed).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from recommendations.clients import client_address
from shop.models import LoginAttempt


def _account_key(username: str) -> str:
    # Digested: any text may be typed as a user name, the key must stay short and plain.
    digest = hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]
    return f"account:{digest}"


def _window() -> timedelta:
    return timedelta(seconds=settings.LOGIN_ATTEMPTS_WINDOW)


def login_attempt_record(
    *, request: HttpRequest, username: str, now: datetime | None = None
) -> float | None:
    """Count a sign-in attempt; the seconds to wait when one too many, else None."""
    now, window = now or timezone.now(), _window()
    limits = (
        (_account_key(username), settings.LOGIN_ATTEMPTS_PER_ACCOUNT),
        (f"address:{client_address(request)}"[:120], settings.LOGIN_ATTEMPTS_PER_ADDRESS),
    )
    login_attempts_purge(now=now)
    LoginAttempt.objects.bulk_create([LoginAttempt(key=key, at=now) for key, _limit in limits])
    waits = []
    for key, limit in limits:
        newest = list(
            LoginAttempt.objects.filter(key=key, at__gt=now - window, at__lte=now)
            .order_by("-at", "-pk")
            .values_list("at", flat=True)[: limit + 1]
        )
        if len(newest) > limit:
            # Allowed again once the limit-th newest attempt is a window old: the next
            # one then makes no more than the limit.
            waits.append(max((newest[max(limit, 1) - 1] + window - now).total_seconds(), 1.0))
    return max(waits) if waits else None


def login_attempts_purge(*, now: datetime | None = None) -> int:
    """Delete the attempts older than the window (they hold client addresses); return
    how many. Each attempt does it, and the nightly housekeeping for quiet sites."""
    return LoginAttempt.objects.filter(at__lte=(now or timezone.now()) - _window()).delete()[0]


def login_attempts_clear(*, username: str) -> None:
    """Forget the attempts on an account once it signed in."""
    LoginAttempt.objects.filter(key=_account_key(username)).delete()
