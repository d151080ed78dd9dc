"""Rebuild the product search index (SQLite's FTS5 table; PostgreSQL's index needs none)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import connection

from shop.search import search_index_rebuild


class Command(BaseCommand):
    help = "Rebuild the SQLite full-text index of products from the product table."

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "sqlite":
            self.stdout.write("PostgreSQL indexes products as they are written: nothing to do.")
            return
        rows = search_index_rebuild()
        self.stdout.write(self.style.SUCCESS(f"Indexed {rows} products."))
