"""The demo store's periodic housekeeping, run by Celery beat."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from shop.cart import carts_clear


@shared_task(name="shop.tasks.carts_clear_task")
def carts_clear_task() -> int:
    """Delete abandoned carts (idle for the session cookie's age) and placed ones past
    their day; return how many."""
    return carts_clear(idle=timedelta(seconds=settings.SESSION_COOKIE_AGE))
