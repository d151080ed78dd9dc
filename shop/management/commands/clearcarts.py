"""Delete abandoned carts and placed ones past their day, like ``clearsessions``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from shop.cart import carts_clear


class Command(BaseCommand):
    help = (
        "Delete the carts nobody changed for --idle-days (by default the session "
        "cookie's age) whose session has ended, and the placed carts older than a day."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--idle-days",
            type=float,
            default=settings.SESSION_COOKIE_AGE / 86400,
            help="Days without a change after which an open cart is abandoned.",
        )

    def handle(self, *args: Any, idle_days: float, **options: Any) -> None:
        if not idle_days > 0:
            raise CommandError(f"--idle-days must be positive, got {idle_days}.")
        deleted = carts_clear(idle=timedelta(days=idle_days))
        self.stdout.write(self.style.SUCCESS(f"Deleted {deleted} carts."))
