"""``manage.py import_online_retail PATH``: load the UCI Online Retail data into the store."""

from __future__ import annotations

from argparse import ArgumentParser, ArgumentTypeError
from datetime import date, datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from shop.importer import (
    DATA_TIMEZONE,
    EARLIEST_DATE,
    SKIP_REASONS,
    OnlineRetailImportError,
    OnlineRetailImportReport,
    online_retail_import,
)


def positive_int(value: str) -> int:
    """Parse a strictly positive integer option."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return number


def london_midnight(value: str) -> datetime:
    """Parse a YYYY-MM-DD option as the start of that day in the data's time zone."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {value!r}") from None
    return datetime(day.year, day.month, day.day, tzinfo=DATA_TIMEZONE)


class Command(BaseCommand):
    help = (
        "Import the UCI Online Retail CSV (plain or gzipped) as customers, products and "
        "orders. The import is one batch: the whole file (or the part --limit selects) is "
        "checked before anything is written, then written in one transaction, so it either "
        "completes or writes nothing; a NUL byte or a byte that is not UTF-8 stops it with "
        "the line's number. Dirty rows (wrong dates, unknown codes, a customer other than "
        "the rest of the invoice's, cancellations of no earlier purchase, ...) are skipped "
        "and reported by line; cancellations are netted against the purchases they cancel. "
        "Safe to run again: existing customers, products and orders are kept."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("path", help="the CSV file (.csv or .csv.gz)")
        parser.add_argument(
            "--limit",
            type=positive_int,
            help="import the first N data rows and the rest of their last invoice (a demo)",
        )
        parser.add_argument(
            "--earliest-date",
            type=london_midnight,
            default=EARLIEST_DATE,
            metavar="YYYY-MM-DD",
            help=f"skip rows dated earlier (default {EARLIEST_DATE:%Y-%m-%d}); rows dated "
            "more than a day after now are always skipped",
        )
        parser.add_argument(
            "--shift-to-yesterday",
            action="store_true",
            help="move every date of the file by the same number of days so that the newest "
            "order falls on yesterday (a demo then looks current); off by default",
        )
        parser.add_argument("--no-progress", action="store_true", help="do not report progress")

    def handle(self, *args: Any, **options: Any) -> None:
        quiet = options["no_progress"] or options["verbosity"] < 1
        last_day = None
        if options["shift_to_yesterday"]:
            last_day = timezone.now().astimezone(DATA_TIMEZONE).date() - timedelta(days=1)
        try:
            report = online_retail_import(
                path=options["path"],
                limit=options["limit"],
                earliest=options["earliest_date"],
                last_day=last_day,
                progress=None if quiet else self._progress,
            )
        except OnlineRetailImportError as exc:
            raise CommandError(str(exc)) from exc
        if options["verbosity"] > 0:
            self.stdout.write(report_format(report))

    def _progress(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()


def report_format(report: OnlineRetailImportReport) -> str:
    """The summary printed after an import."""
    lines = [
        f"Rows read: {report.rows_read} ({report.rows_valid} valid, "
        f"{report.rows_skipped} skipped)",
        f"Orders created: {report.orders_created} ({report.guest_orders_created} guest); "
        f"already present: {report.orders_existing}",
        f"Order lines created: {report.order_lines_created}",
        f"Cancellations netted: {report.cancellations_netted} rows; "
        f"orders cancelled whole: {report.orders_cancelled}",
        f"Products created: {report.products_created} "
        f"({report.inactive_products_created} inactive, no positive price)",
        f"Categories created: {report.categories_created}",
        f"Customers created: {report.customers_created}",
    ]
    if report.days_shifted:
        lines.append(f"Dates shifted by {report.days_shifted} days (newest order: yesterday)")
    if report.skipped:
        lines.append("Skipped rows (first line numbers, header = line 1):")
        for reason in SKIP_REASONS:
            if reason in report.skipped:
                first = ", ".join(map(str, report.skipped_lines[reason]))
                lines.append(f"  {reason}: {report.skipped[reason]} (lines {first})")
    return "\n".join(lines)
