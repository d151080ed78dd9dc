"""Import a follow graph from CSV into the follow model ``RECOMMENDATIONS["SOCIAL"]`` names:
columns ``user,followed`` (usernames, the host's own names for users, or user ids)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommendations.follows_import import FollowsImportError, follows_import


class Command(BaseCommand):
    help = (
        "Import who follows whom from a CSV with the columns user,followed (usernames, "
        "the shop's own names for users such as customer numbers, or user ids) into the "
        "follow model RECOMMENDATIONS['SOCIAL'] names. All or nothing; follows already "
        "there are left as they are."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("csv", help="The CSV file (UTF-8, with a header row).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            # utf-8-sig: a spreadsheet's export starts with a byte-order mark.
            with open(options["csv"], encoding="utf-8-sig", newline="") as lines:
                report = follows_import(lines)
        except OSError as exc:
            raise CommandError(f"Cannot read {options['csv']}: {exc.strerror}.") from exc
        except UnicodeDecodeError as exc:
            raise CommandError(f"{options['csv']} is not UTF-8 text: {exc.reason}.") from exc
        except FollowsImportError as exc:
            raise CommandError(f"{exc} Nothing was imported.") from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"{report.rows} rows: {report.created} follows created, "
                f"{report.existing} already there."
            )
        )
