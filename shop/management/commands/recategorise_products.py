"""Re-categorise the products of an existing store with the current taxonomy (shop.taxonomy)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from shop.services import products_recategorise


class Command(BaseCommand):
    help = "Put every product in the category the taxonomy gives its name (one transaction)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Report the moves, change nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = products_recategorise(dry_run=options["dry_run"])
        for (before, after), count in report.moves.most_common():
            self.stdout.write(f"{count:6d}  {before or '(none)'} -> {after}")
        verb = "Would move" if options["dry_run"] else "Moved"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {report.products_moved} products; "
                f"{report.categories_created} categories created, "
                f"{len(report.categories_deleted)} emptied ones deleted"
                + (
                    f" ({', '.join(report.categories_deleted)})."
                    if report.categories_deleted
                    else "."
                )
            )
        )
