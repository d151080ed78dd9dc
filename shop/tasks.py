"""The demo store's periodic housekeeping, run by Celery beat."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from shop.cart import carts_clear
from shop.login_attempts import login_attempts_purge


@shared_task(name="shop.tasks.housekeeping_task")
def housekeeping_task() -> dict[str, int]:
    """Delete abandoned carts (idle for the session cookie's age, their session ended),
    placed ones past their day and sign-in attempts past their window; say how many."""
    return {
        "carts": carts_clear(idle=timedelta(seconds=settings.SESSION_COOKIE_AGE)),
        "login_attempts": login_attempts_purge(),
    }
