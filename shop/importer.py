"""Import the UCI Online Retail transactions (CSV, plain or gzipped) into the demo store.

The import is one batch: the file (or the part of it ``limit`` selects) is read once with
the ``csv`` module and every row is checked and aggregated in memory; only then is the
database written, with ``bulk_create`` in chunks, all inside one transaction. An import
therefore either completes or writes nothing, on SQLite and PostgreSQL alike: a file
that cannot be read, holds a NUL byte or a byte that is not UTF-8 is refused with the
number of its line, before any write.

Every row is checked in a fixed order and a row that fails is counted under the first
reason that applies (see ``SKIP_REASONS``); a dirty row never stops the import.

Decisions worth knowing:

* Rows dated before ``EARLIEST_DATE`` (or the ``earliest`` given) or later than now plus
  ``FUTURE_SKEW`` are skipped: the data set is a shop's sales, not a calendar.
* All rows of an invoice belong to one customer: the one most of its rows name (of
  equals, the first). Rows naming another customer are skipped.
* Cancellations (invoices starting with "C", negative quantities) are netted against the
  purchases they cancel: the same customer's earlier rows of the same stock code. A row
  of exactly the cancelled quantity is taken first (the latest, at the same unit price if
  any), otherwise the quantity is taken from the latest purchases backwards. Purchases
  netted to nothing make no order line, and an order netted to nothing is kept as
  cancelled without lines, so it counts as no purchase anywhere. A cancellation that
  the earlier purchases do not cover wholly (a guest's, one of a purchase from before
  the file begins) is skipped: which purchase it cancels cannot be known.
* Several rows of one invoice for the same stock code at the same unit price are merged
  into one order line (quantities summed), as a cart holds one line per product; rows at
  different unit prices stay separate lines so the order total is exactly the file's.
* Existing rows are never modified: customers are matched by ``external_id``, products
  by ``sku`` and orders by ``number``; an order that already exists is skipped whole,
  so running the import twice creates nothing the second time. Cancellations are netted
  within the file: one in a later file does not reach an order already imported.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import statistics
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.text import slugify

from shop import taxonomy
from shop.models import Category, CustomerProfile, Order, OrderLine, Product

REQUIRED_COLUMNS = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
# The shop sold from the UK: timestamps in the file are London wall-clock time.
DATA_TIMEZONE = ZoneInfo("Europe/London")
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
# Rows dated earlier are typing errors (0001-01-01), not sales of this shop.
EARLIEST_DATE = datetime(1990, 1, 1, tzinfo=DATA_TIMEZONE)
# Rows dated later than now by more than this are typing errors too (2099); the margin
# covers clocks and time zones.
FUTURE_SKEW = timedelta(days=1)
BATCH_SIZE = 2000
# How often the reading and the writing of orders say how far they are.
PROGRESS_ROWS = 100_000
PROGRESS_ORDERS = 5_000
# The data set records sales, not stock: every imported product starts with this many.
INITIAL_STOCK = 100
USERNAME_PREFIX = "customer-"
# How many line numbers the report keeps per skip reason.
FIRST_LINES_KEPT = 5

# Skip reasons, in the order rows are checked.
SKIP_MALFORMED = "malformed CSV"
SKIP_COLUMNS = "wrong number of columns"
SKIP_INVOICE = "missing invoice number"
SKIP_NON_PRODUCT = "non-product code"
SKIP_QUANTITY = "unparsable quantity"
SKIP_PRICE = "unparsable unit price"
SKIP_DATE = "unparsable invoice date"
SKIP_CUSTOMER = "unparsable customer id"
SKIP_DATE_TOO_EARLY = "invoice date before the earliest accepted"
SKIP_DATE_FUTURE = "invoice date in the future"
SKIP_CANCELLATION_QUANTITY = "cancellation with quantity >= 0"
SKIP_NON_POSITIVE_QUANTITY = "quantity <= 0"
SKIP_NON_POSITIVE_PRICE = "unit price <= 0"
SKIP_NO_DESCRIPTION = "missing description of unknown product"
SKIP_CUSTOMER_CONFLICT = "customer differs from the rest of its invoice"
SKIP_CANCELLATION_UNMATCHED = "cancellation without matching earlier purchase"
SKIP_REASONS = (
    SKIP_MALFORMED,
    SKIP_COLUMNS,
    SKIP_INVOICE,
    SKIP_NON_PRODUCT,
    SKIP_QUANTITY,
    SKIP_PRICE,
    SKIP_DATE,
    SKIP_CUSTOMER,
    SKIP_DATE_TOO_EARLY,
    SKIP_DATE_FUTURE,
    SKIP_CANCELLATION_QUANTITY,
    SKIP_NON_POSITIVE_QUANTITY,
    SKIP_NON_POSITIVE_PRICE,
    SKIP_NO_DESCRIPTION,
    SKIP_CUSTOMER_CONFLICT,
    SKIP_CANCELLATION_UNMATCHED,
)

# A product code is five digits with an optional letter suffix (85123A, 15056BL); the
# others are postage, fees, discounts, adjustments, gift vouchers and samples.
PRODUCT_CODE = re.compile(r"\d{5}[A-Z]{0,3}")
# The data set's known non-product codes, listed as well so that widening the pattern
# can never turn them into products.
NON_PRODUCT_CODES = frozenset(
    {"POST", "DOT", "M", "D", "C2", "CRUK", "BANK CHARGES", "AMAZONFEE", "S", "B", "PADS"}
)

# Runs of two or more capitals (with an inner apostrophe: PINK'S) are title-cased; short
# runs (T-LIGHT's T, 3D) and mixed-case text (40x40cm) are left as they are.
_UPPER_RUN = re.compile(r"[A-Z]{2,}(?:'[A-Z]+)?|[A-Z]'[A-Z]+")
# Acronyms stay upper case: a "Led Torch" or a "Cd Wall Tidy" reads like a typo.
_KEEP_UPPER = frozenset(
    {"LED", "USB", "UK", "USA", "DIY", "XL", "OK", "TV", "CD", "DVD", "ABC", "BBQ"}
)
# What errors="surrogateescape" turns each byte that is not UTF-8 into.
_UNDECODED = re.compile("[\udc80-\udcff]")
_MAX_QUANTITY = 2**31 - 1
_MAX_PRICE = Decimal("100000000")  # Product.price and OrderLine.unit_price hold 10 digits.
_CENT = Decimal("0.01")

T = TypeVar("T")
# Called with a line of text as the import moves on.
Progress = Callable[[str], None]


class OnlineRetailImportError(Exception):
    """The file as a whole cannot be imported (unreadable, NUL or non-UTF-8 bytes, ...)."""


@dataclass
class OnlineRetailImportReport:
    """What an import read, created and skipped."""

    rows_read: int = 0
    rows_valid: int = 0
    categories_created: int = 0
    products_created: int = 0
    inactive_products_created: int = 0
    customers_created: int = 0
    orders_created: int = 0
    orders_cancelled: int = 0
    order_lines_created: int = 0
    cancellations_netted: int = 0
    guest_orders_created: int = 0
    orders_existing: int = 0
    # Days added to every date of the file (see ``last_day``); 0 when not shifted.
    days_shifted: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_lines: dict[str, list[int]] = field(default_factory=dict)

    def skip(self, reason: str, line: int) -> None:
        """Count a skipped row under ``reason``, keeping its line if among the first."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        lines = self.skipped_lines.setdefault(reason, [])
        if len(lines) < FIRST_LINES_KEPT:
            lines.append(line)

    @property
    def rows_skipped(self) -> int:
        """How many rows were skipped, for any reason."""
        return sum(self.skipped.values())


class _Row(NamedTuple):
    line: int
    invoice: str
    sku: str
    quantity: int  # negative on a cancellation
    unit_price: Decimal
    invoiced_at: datetime
    customer: str  # external id, "" for a guest
    country: str
    has_description: bool


@dataclass
class _Catalog:
    """Per stock code: descriptions seen on sale rows, split by whether priced."""

    priced: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    unpriced: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def name_of(self, sku: str) -> str:
        """The most frequent description of priced sales, else of unpriced ones, or ""."""
        for counter in (self.priced.get(sku), self.unpriced.get(sku)):
            if counter:
                return counter.most_common(1)[0][0]
        return ""


def online_retail_import(
    *,
    path: Path | str,
    limit: int | None = None,
    earliest: datetime = EARLIEST_DATE,
    last_day: date | None = None,
    progress: Progress | None = None,
) -> OnlineRetailImportReport:
    """Import an Online Retail CSV file into the store and report what happened.

    ``last_day`` shifts every date of the file by one constant number of days so that
    the newest imported order falls on that day (a demo opened today then shows a shop
    whose last sales were yesterday); ``progress`` is called with a line per phase.
    """
    say = progress or (lambda message: None)
    report = OnlineRetailImportReport()
    catalog = _Catalog()
    rows = _rows_read(
        path=Path(path),
        report=report,
        catalog=catalog,
        limit=limit,
        # Same time zone as the rows', so comparisons skip the offset arithmetic.
        dates=(
            earliest.astimezone(DATA_TIMEZONE),
            (timezone.now() + FUTURE_SKEW).astimezone(DATA_TIMEZONE),
        ),
        say=say,
    )
    rows = _rows_described(
        rows=rows,
        report=report,
        catalog=catalog,
        known_skus=set(Product.objects.values_list("sku", flat=True)),
    )
    rows = _rows_of_invoice_customer(rows=rows, report=report)
    sales = [row for row in rows if row.quantity > 0]
    cancelling = len(rows) - len(sales)
    say(f"Checked {report.rows_read:,} rows; netting cancellation rows ({cancelling:,}) ...")
    quantities = _cancellations_net(
        sales=sales, cancellations=[row for row in rows if row.quantity < 0], report=report
    )
    report.rows_valid = len(sales) + report.cancellations_netted
    if last_day is not None and sales:
        newest = max(row.invoiced_at for row in sales).date()
        report.days_shifted = (last_day - newest).days
    shift = timedelta(days=report.days_shifted)
    invoices = _invoices_build(sales=sales, quantities=quantities, shift=shift)
    customers = _customers_aggregate(sales, shift=shift)
    user_ids = dict(
        _in_chunks(
            customers,
            lambda chunk: CustomerProfile.objects.filter(external_id__in=chunk).values_list(
                "external_id", "user_id"
            ),
        )
    )
    new_customers = {eid: customer for eid, customer in customers.items() if eid not in user_ids}
    # Checked before anything is written, so a clash leaves the store untouched.
    _usernames_check_free(external_ids=new_customers)

    with transaction.atomic():
        product_ids = _products_create(rows=sales, report=report, catalog=catalog)
        user_ids |= _customers_create(customers=new_customers, report=report)
        say(
            f"Created {report.products_created:,} products and "
            f"{report.customers_created:,} customers; writing {len(invoices):,} orders ..."
        )
        _orders_create(
            invoices=invoices,
            report=report,
            product_ids=product_ids,
            user_ids=user_ids,
            say=say,
        )
    return report


def product_name_format(description: str) -> str:
    """Turn a catalogue description (mostly capitals) into a product name."""

    def title(match: re.Match[str]) -> str:
        word = match.group(0)
        return word if word in _KEEP_UPPER else word.capitalize()

    return _UPPER_RUN.sub(title, description)[:255]


def category_for_description(description: str) -> str:
    """The category of a product description in the store's taxonomy (shop.taxonomy)."""
    return taxonomy.category_for_text(description)


def is_product_code(code: str) -> bool:
    """Whether a (stripped, upper-cased) stock code names a product."""
    return code not in NON_PRODUCT_CODES and PRODUCT_CODE.fullmatch(code) is not None


def _usernames_check_free(*, external_ids: Iterable[str]) -> None:
    """Fail if the username of a new customer is already someone else's."""
    taken = _in_chunks(
        [USERNAME_PREFIX + external_id for external_id in external_ids],
        lambda chunk: (
            get_user_model().objects.filter(username__in=chunk).values_list("username", flat=True)
        ),
    )
    if taken:
        raise OnlineRetailImportError(
            f"username(s) already used by users who are not these customers: "
            f"{', '.join(sorted(taken)[:5])}"
        )


def _rows_read(
    *,
    path: Path,
    report: OnlineRetailImportReport,
    catalog: _Catalog,
    limit: int | None,
    dates: tuple[datetime, datetime],
    say: Progress,
) -> list[_Row]:
    """Parse and check the file's rows; return the good ones, count the others."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise OnlineRetailImportError(f"cannot open {path}: {exc.strerror or exc}") from exc
    with raw:
        compressed = raw.read(2) == b"\x1f\x8b" or path.suffix.lower() == ".gz"
        raw.seek(0)
        binary: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        # Bytes that are not UTF-8 become lone surrogates, which _lines_checked refuses
        # with their line number (a decoding error would not tell the line).
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")
        try:
            return list(
                _rows_checked(
                    reader=csv.reader(_lines_checked(text)),
                    report=report,
                    catalog=catalog,
                    limit=limit,
                    dates=dates,
                    on_progress=lambda: say(f"Read {report.rows_read:,} rows ..."),
                )
            )
        except (OSError, EOFError, zlib.error) as exc:
            kind = "gzip " if compressed else ""
            raise OnlineRetailImportError(f"cannot read {kind}file {path}: {exc}") from exc


def _lines_checked(lines: Iterable[str]) -> Iterator[str]:
    """Pass the lines on; refuse one with a NUL byte or a byte that is not UTF-8."""
    # Counted like csv.reader.line_num: the header is line 1.
    for number, line in enumerate(lines, 1):
        if "\x00" in line:
            raise OnlineRetailImportError(f"line {number}: NUL byte")
        if not line.isascii() and (undecoded := _UNDECODED.search(line)):
            byte = ord(undecoded.group()) - 0xDC00
            raise OnlineRetailImportError(f"line {number}: byte 0x{byte:02x} is not UTF-8")
        yield line


def _rows_checked(
    *,
    reader: Iterator[list[str]],
    report: OnlineRetailImportReport,
    catalog: _Catalog,
    limit: int | None,
    dates: tuple[datetime, datetime],
    on_progress: Callable[[], None],
) -> Iterator[_Row]:
    """Check each CSV record; yield the good rows and count each bad one by reason."""
    header = next(reader, None)
    if header is None:
        raise OnlineRetailImportError("the file is empty: no header row")
    header = [name.strip() for name in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise OnlineRetailImportError(f"missing required column(s): {', '.join(missing)}")
    width = len(header)
    columns = {name: header.index(name) for name in REQUIRED_COLUMNS}
    i_invoice, i_description, i_country = (
        columns[name] for name in ("InvoiceNo", "Description", "Country")
    )
    earliest, latest = dates

    # One string object per invoice and per country instead of one per row.
    shared: dict[str, str] = {}
    end_of_previous = reader.line_num
    last_invoice = ""
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error:
            report.rows_read += 1
            report.skip(SKIP_MALFORMED, end_of_previous + 1)
            end_of_previous = reader.line_num
            continue
        # CSV line numbers, the header being line 1: where the record starts.
        line, end_of_previous = end_of_previous + 1, reader.line_num
        if not record:
            continue  # a blank line is no row
        if (
            limit is not None
            and report.rows_read >= limit
            and (len(record) != width or record[i_invoice].strip() != last_invoice)
        ):
            break  # --limit stops at an invoice boundary: no order is cut in half
        report.rows_read += 1
        if report.rows_read % PROGRESS_ROWS == 0:
            on_progress()
        if len(record) != width:
            report.skip(SKIP_COLUMNS, line)
            continue
        invoice = last_invoice = record[i_invoice].strip()
        if not invoice or len(invoice) > 32:
            report.skip(SKIP_INVOICE, line)
            continue
        fields = _fields_parse(record, columns, report=report, line=line)
        if fields is None:
            continue
        sku, quantity, price, invoiced_at, customer = fields
        if invoiced_at < earliest:
            report.skip(SKIP_DATE_TOO_EARLY, line)
            continue
        if invoiced_at > latest:
            report.skip(SKIP_DATE_FUTURE, line)
            continue
        description = " ".join(record[i_description].split())
        if invoice[0] in "cC":
            # A cancellation's unit price only helps to find the purchase it cancels.
            if quantity >= 0:
                report.skip(SKIP_CANCELLATION_QUANTITY, line)
                continue
        elif quantity <= 0:
            report.skip(SKIP_NON_POSITIVE_QUANTITY, line)
            continue
        elif price <= 0:
            # A code only ever "sold" for nothing still becomes an (inactive) product.
            if description:
                catalog.unpriced[sku][description] += 1
            report.skip(SKIP_NON_POSITIVE_PRICE, line)
            continue
        elif description:
            catalog.priced[sku][description] += 1
        country = record[i_country].strip()[:64]
        yield _Row(
            line=line,
            invoice=shared.setdefault(invoice, invoice),
            sku=sku,
            quantity=quantity,
            unit_price=price,
            invoiced_at=invoiced_at,
            customer=customer,
            country=shared.setdefault(country, country),
            has_description=bool(description),
        )


def _rows_described(
    *,
    rows: list[_Row],
    report: OnlineRetailImportReport,
    catalog: _Catalog,
    known_skus: set[str],
) -> list[_Row]:
    """Drop rows without a description whose code is named nowhere else."""
    kept = []
    for row in rows:
        if row.has_description or row.sku in known_skus or catalog.name_of(row.sku):
            kept.append(row)
        else:
            report.skip(SKIP_NO_DESCRIPTION, row.line)
    return kept


def _rows_of_invoice_customer(*, rows: list[_Row], report: OnlineRetailImportReport) -> list[_Row]:
    """Drop the rows whose customer is not their invoice's: most rows' (of equals, first)."""
    first: dict[str, str] = {}
    mixed: set[str] = set()
    for row in rows:
        if first.setdefault(row.invoice, row.customer) != row.customer:
            mixed.add(row.invoice)
    if not mixed:
        return rows
    customers: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        if row.invoice in mixed:
            customers[row.invoice][row.customer] += 1
    # most_common orders equal counts as first seen.
    owner = {invoice: counts.most_common(1)[0][0] for invoice, counts in customers.items()}
    kept = []
    for row in rows:
        if row.invoice in mixed and row.customer != owner[row.invoice]:
            report.skip(SKIP_CUSTOMER_CONFLICT, row.line)
        else:
            kept.append(row)
    return kept


def _cancellations_net(
    *, sales: list[_Row], cancellations: list[_Row], report: OnlineRetailImportReport
) -> list[int]:
    """Net each cancellation against the purchases it cancels; return sales' quantities left."""
    quantities = [row.quantity for row in sales]
    # Only the few pairs cancellations name are indexed: a list per pair of the whole file
    # would cost seconds of garbage collection.
    purchases: dict[tuple[str, str], list[int]] = {
        (row.customer, row.sku): [] for row in cancellations if row.customer
    }
    for index, row in enumerate(sales):
        # A guest has no key: one guest's purchases cannot be told from another's.
        indices = purchases.get((row.customer, row.sku))
        if indices is not None:
            indices.append(index)
    for cancellation in sorted(cancellations, key=lambda row: (row.invoiced_at, row.line)):
        wanted = -cancellation.quantity
        earlier = sorted(
            (
                index
                for index in purchases.get((cancellation.customer, cancellation.sku), ())
                if quantities[index] and sales[index].invoiced_at <= cancellation.invoiced_at
            ),
            key=lambda index: (sales[index].invoiced_at, sales[index].line),
        )
        if sum(quantities[index] for index in earlier) < wanted:
            report.skip(SKIP_CANCELLATION_UNMATCHED, cancellation.line)
            continue
        report.cancellations_netted += 1
        exact = [index for index in earlier if quantities[index] == wanted]
        if exact:
            same_price = [i for i in exact if sales[i].unit_price == cancellation.unit_price]
            quantities[(same_price or exact)[-1]] = 0
            continue
        for index in reversed(earlier):
            taken = min(wanted, quantities[index])
            quantities[index] -= taken
            wanted -= taken
            if not wanted:
                break
    return quantities


# The parsers cache their answers: the same codes, prices, dates and customer ids repeat
# on many rows (the data set has under 25,000 distinct values of each).
@lru_cache(maxsize=65536)
def _sku_parse(value: str) -> str | None:
    code = value.strip().upper()
    return code if is_product_code(code) else None


def _quantity_parse(value: str) -> int | None:
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    # "6" and "6.0" are six; "6.5" is no quantity.
    if not number.is_finite() or number != number.to_integral_value():
        return None
    quantity = int(number)
    return quantity if abs(quantity) <= _MAX_QUANTITY else None


@lru_cache(maxsize=65536)
def _price_parse(value: str) -> Decimal | None:
    try:
        price = Decimal(value.strip())
    except InvalidOperation:
        return None
    if not price.is_finite() or abs(price) >= _MAX_PRICE:
        return None
    return price.quantize(_CENT, rounding=ROUND_HALF_UP)


@lru_cache(maxsize=65536)
def _date_parse(value: str) -> datetime | None:
    try:
        return datetime.strptime(value.strip(), DATE_FORMAT).replace(tzinfo=DATA_TIMEZONE)
    except ValueError:
        return None


@lru_cache(maxsize=65536)
def _customer_parse(value: str) -> str | None:
    """The external id of a CustomerID ("17850.0" or "17850" -> "17850"), "" for none."""
    value = value.strip()
    if not value:
        return ""
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    if not number.is_finite() or number < 0 or number != number.to_integral_value():
        return None
    external_id = str(int(number))
    return external_id if len(external_id) <= 32 else None


# Checks of single fields, in the order they run: skip reason, column, parser (None = bad).
_FIELD_CHECKS: tuple[tuple[str, str, Callable[[str], object]], ...] = (
    (SKIP_NON_PRODUCT, "StockCode", _sku_parse),
    (SKIP_QUANTITY, "Quantity", _quantity_parse),
    (SKIP_PRICE, "UnitPrice", _price_parse),
    (SKIP_DATE, "InvoiceDate", _date_parse),
    (SKIP_CUSTOMER, "CustomerID", _customer_parse),
)


def _fields_parse(
    record: list[str], columns: dict[str, int], *, report: OnlineRetailImportReport, line: int
) -> list[Any] | None:
    """Parse the checked fields of a record, or count the first bad one and return None."""
    values = []
    for reason, column, parse in _FIELD_CHECKS:
        value = parse(record[columns[column]])
        if value is None:
            report.skip(reason, line)
            return None
        values.append(value)
    return values


def _in_chunks(items: Iterable[str], query: Callable[[list[str]], Iterable[T]]) -> list[T]:
    """Run ``query`` on chunks of ``items`` so no query has too many parameters."""
    items = list(items)
    results: list[T] = []
    for start in range(0, len(items), BATCH_SIZE):
        results.extend(query(items[start : start + BATCH_SIZE]))
    return results


def _products_create(
    *, rows: list[_Row], report: OnlineRetailImportReport, catalog: _Catalog
) -> dict[str, int]:
    """Create the products (and categories) not yet in the store; return sku -> id."""
    prices: defaultdict[str, list[Decimal]] = defaultdict(list)
    for row in rows:
        prices[row.sku].append(row.unit_price)
    wanted = set(prices) | set(catalog.unpriced)
    product_ids = dict(
        _in_chunks(
            wanted,
            lambda chunk: Product.objects.filter(sku__in=chunk).values_list("sku", "pk"),
        )
    )
    new_products: list[tuple[Product, str]] = []
    for sku in sorted(wanted - product_ids.keys()):
        description = catalog.name_of(sku)
        if not description:
            continue  # only ever seen without a description and at no price
        name = product_name_format(description)
        category = category_for_description(description)
        sku_prices = prices.get(sku)
        product = Product(
            sku=sku,
            name=name,
            description=taxonomy.product_description(name=name, category=category, sku=sku),
            # median_low picks a price that was actually charged.
            price=statistics.median_low(sku_prices) if sku_prices else Decimal("0.00"),
            stock_quantity=INITIAL_STOCK,
            # No positive price means nothing to sell at.
            is_active=bool(sku_prices),
        )
        new_products.append((product, category))
    categories = _categories_get_or_create(
        names={category for _, category in new_products}, report=report
    )
    for product, category in new_products:
        product.category = categories[category]
    products = [product for product, _ in new_products]
    for start in range(0, len(products), BATCH_SIZE):
        batch = Product.objects.bulk_create(products[start : start + BATCH_SIZE])
        product_ids.update((product.sku, product.pk) for product in batch)
    report.products_created = len(products)
    report.inactive_products_created = sum(not product.is_active for product in products)
    return product_ids


def _categories_get_or_create(
    *, names: set[str], report: OnlineRetailImportReport
) -> dict[str, Category]:
    categories = {}
    for name in sorted(names):
        category, created = Category.objects.get_or_create(
            name=name, defaults={"slug": slugify(name)}
        )
        categories[name] = category
        report.categories_created += created
    return categories


class _Customer(NamedTuple):
    country: str
    first_order_at: datetime


def _customers_aggregate(rows: list[_Row], *, shift: timedelta) -> dict[str, _Customer]:
    """Per external id: the most frequent country (of equals, the last seen), first order."""
    countries: defaultdict[str, Counter[str]] = defaultdict(Counter)
    last_seen: dict[tuple[str, str], int] = {}
    first_order_at: dict[str, datetime] = {}
    for position, row in enumerate(rows):
        if not row.customer:
            continue
        countries[row.customer][row.country] += 1
        last_seen[row.customer, row.country] = position
        if row.customer not in first_order_at or row.invoiced_at < first_order_at[row.customer]:
            first_order_at[row.customer] = row.invoiced_at
    return {
        external_id: _Customer(
            country=max(counts, key=lambda c, e=external_id: (counts[c], last_seen[e, c])),
            first_order_at=first_order_at[external_id] + shift,
        )
        for external_id, counts in countries.items()
    }


def _customers_create(
    *, customers: dict[str, _Customer], report: OnlineRetailImportReport
) -> dict[str, int]:
    """Create a user and a profile per customer; return external id -> user id."""
    user_model = get_user_model()
    user_ids: dict[str, int] = {}
    external_ids = sorted(customers, key=int)
    for start in range(0, len(external_ids), BATCH_SIZE):
        batch = external_ids[start : start + BATCH_SIZE]
        users = user_model.objects.bulk_create(
            [
                user_model(
                    username=USERNAME_PREFIX + external_id,
                    # Imported customers sign in through the demo sign-in only.
                    password=make_password(None),
                    date_joined=customers[external_id].first_order_at,
                )
                for external_id in batch
            ]
        )
        batch_ids = {eid: user.pk for eid, user in zip(batch, users, strict=True)}
        CustomerProfile.objects.bulk_create(
            [
                CustomerProfile(
                    user_id=user_id,
                    external_id=external_id,
                    country=customers[external_id].country,
                )
                for external_id, user_id in batch_ids.items()
            ]
        )
        user_ids |= batch_ids
        report.customers_created += len(users)
    return user_ids


class _Invoice(NamedTuple):
    first: _Row  # its number, customer and country
    created_at: datetime
    # (stock code, unit price) -> quantity left after cancellations; empty if none is.
    lines: dict[tuple[str, Decimal], int]


def _invoices_build(
    *, sales: list[_Row], quantities: list[int], shift: timedelta
) -> dict[str, _Invoice]:
    """Group the sales by invoice into order lines; fail on a line no column can hold."""
    rows_of: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(sales):
        rows_of[row.invoice].append(index)
    invoices = {}
    for number, indices in rows_of.items():
        lines: dict[tuple[str, Decimal], int] = {}
        for index in indices:
            if quantities[index]:
                key = (sales[index].sku, sales[index].unit_price)
                lines[key] = lines.get(key, 0) + quantities[index]
        for (sku, _), quantity in lines.items():
            if quantity > _MAX_QUANTITY:
                rows = ", ".join(str(sales[i].line) for i in indices if sales[i].sku == sku)
                raise OnlineRetailImportError(
                    f"lines {rows}: invoice {number} orders {quantity} units of {sku}, "
                    f"more than {_MAX_QUANTITY}"
                )
        invoices[number] = _Invoice(
            first=sales[indices[0]],
            # Rows of one invoice may straddle a minute: the invoice is as old as its first.
            created_at=min(sales[index].invoiced_at for index in indices) + shift,
            lines=lines,
        )
    return invoices


def _orders_create(
    *,
    invoices: dict[str, _Invoice],
    report: OnlineRetailImportReport,
    product_ids: dict[str, int],
    user_ids: dict[str, int],
    say: Progress,
) -> None:
    """Create the orders not yet in the store, with their lines."""
    existing = set(
        _in_chunks(
            invoices,
            lambda chunk: Order.objects.filter(number__in=chunk).values_list("number", flat=True),
        )
    )
    report.orders_existing = len(existing)
    numbers = [number for number in invoices if number not in existing]
    columns = ("order", "product", "quantity", "unit_price", "created_at")
    reported = 0
    for start in range(0, len(numbers), BATCH_SIZE):
        batch = numbers[start : start + BATCH_SIZE]
        orders = Order.objects.bulk_create(
            [_order_build(number, invoices[number], user_ids) for number in batch]
        )
        lines = [
            (order.pk, product_ids[sku], quantity, unit_price, order.created_at)
            for order in orders
            for (sku, unit_price), quantity in invoices[order.number].lines.items()
        ]
        _rows_insert(OrderLine, columns, lines)
        report.orders_created += len(orders)
        report.orders_cancelled += sum(order.status == Order.Status.CANCELLED for order in orders)
        report.guest_orders_created += sum(order.user_id is None for order in orders)
        report.order_lines_created += len(lines)
        if report.orders_created - reported >= PROGRESS_ORDERS or start + BATCH_SIZE >= len(
            numbers
        ):
            reported = report.orders_created
            say(
                f"Wrote {report.orders_created:,} of {len(numbers):,} orders "
                f"({report.order_lines_created:,} lines) ..."
            )


def _rows_insert(
    model: type[models.Model], columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert rows of plain values into ``model``'s table, many rows per statement.

    ``bulk_create`` builds a model instance and prepares every field of every row: for
    the half a million order lines that was most of the import's time. Here each
    distinct value of a date or decimal column is prepared once, the rest is passed as is.
    """
    fields = [model._meta.get_field(name) for name in columns]
    quote = connection.ops.quote_name
    prepared: list[dict[Any, Any] | None] = [
        {} if isinstance(field, models.DateTimeField | models.DecimalField) else None
        for field in fields
    ]

    def prepare(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(
            value
            if cache is None
            else cache[value]
            if value in cache
            else cache.setdefault(value, field.get_db_prep_save(value, connection))
            for value, field, cache in zip(row, fields, prepared, strict=True)
        )

    per_statement = max(1, (connection.features.max_query_params or 65535) // len(fields))
    per_statement = min(per_statement, BATCH_SIZE)
    head = (
        f"INSERT INTO {quote(model._meta.db_table)} "
        f"({', '.join(quote(field.column) for field in fields)}) VALUES "
    )
    one = f"({', '.join(['%s'] * len(fields))})"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            cursor.execute(
                head + ", ".join([one] * len(chunk)),
                [value for row in chunk for value in prepare(row)],
            )


def _order_build(number: str, invoice: _Invoice, user_ids: dict[str, int]) -> Order:
    customer = invoice.first.customer
    return Order(
        number=number,
        user_id=user_ids[customer] if customer else None,
        country=invoice.first.country,
        # Cancelled whole: kept for the record, with no line, so never counted as bought.
        status=Order.Status.PLACED if invoice.lines else Order.Status.CANCELLED,
        created_at=invoice.created_at,
    )
