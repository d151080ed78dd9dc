"""The Online Retail importer: dirty rows counted, cancellations netted, bad files refused."""

from __future__ import annotations

import gzip
import shutil
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import DatabaseError
from django.utils import timezone

from shop import importer
from shop.importer import (
    DATA_TIMEZONE,
    DATE_FORMAT,
    SKIP_CANCELLATION_QUANTITY,
    SKIP_CANCELLATION_UNMATCHED,
    SKIP_COLUMNS,
    SKIP_CUSTOMER,
    SKIP_CUSTOMER_CONFLICT,
    SKIP_DATE,
    SKIP_DATE_FUTURE,
    SKIP_DATE_TOO_EARLY,
    SKIP_INVOICE,
    SKIP_NO_DESCRIPTION,
    SKIP_NON_POSITIVE_PRICE,
    SKIP_NON_POSITIVE_QUANTITY,
    SKIP_NON_PRODUCT,
    SKIP_PRICE,
    SKIP_QUANTITY,
    category_for_description,
    online_retail_import,
    product_name_format,
)
from shop.models import Category, CustomerProfile, Order, OrderLine, Product
from shop.selectors import products_popular
from tests.factories import ProductFactory, UserFactory

FIXTURE = Path(__file__).parent / "fixtures" / "online_retail_dirty.csv"
HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"

# What the fixture holds, line by line (the header is line 1).
EXPECTED_SKIPS = {
    SKIP_CANCELLATION_UNMATCHED: [8],
    SKIP_NON_PRODUCT: [5, 25, 26, 27, 30],
    SKIP_QUANTITY: [21],
    SKIP_PRICE: [22],
    SKIP_DATE: [20],
    SKIP_CUSTOMER: [23],
    SKIP_NON_POSITIVE_QUANTITY: [9],
    SKIP_NON_POSITIVE_PRICE: [10, 11],
    SKIP_NO_DESCRIPTION: [14],
    SKIP_COLUMNS: [24],
    SKIP_INVOICE: [28],
}
STORE_COUNTS = {
    "orders": 9,
    "lines": 12,
    "products": 8,
    "customers": 3,
    "categories": 5,
}


def store_counts() -> dict[str, int]:
    return {
        "orders": Order.objects.count(),
        "lines": OrderLine.objects.count(),
        "products": Product.objects.count(),
        "customers": CustomerProfile.objects.count(),
        "categories": Category.objects.count(),
    }


def csv_file(tmp_path: Path, *rows: str, name: str = "rows.csv") -> Path:
    """A CSV file of the header and ``rows``."""
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def lines_of(number: str) -> list[tuple[str, int]]:
    """(stock code, quantity) of each line of order ``number``."""
    return list(
        OrderLine.objects.filter(order__number=number)
        .order_by("product__sku", "unit_price")
        .values_list("product__sku", "quantity")
    )


def london(moment: datetime) -> str:
    """``moment`` written as the file writes dates: London wall-clock time."""
    return moment.astimezone(DATA_TIMEZONE).strftime(DATE_FORMAT)


def run_command(*args: str) -> str:
    out = StringIO()
    call_command("import_online_retail", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def gzipped_fixture(tmp_path: Path) -> Path:
    path = tmp_path / "online_retail.csv.gz"
    with FIXTURE.open("rb") as source, gzip.open(path, "wb") as target:
        shutil.copyfileobj(source, target)
    return path


@pytest.mark.django_db
def test_import_counts_every_dirty_row_by_reason_with_its_line_numbers():
    report = online_retail_import(path=FIXTURE)

    assert report.rows_read == 29
    assert report.rows_valid == 13
    assert report.rows_valid + report.rows_skipped == report.rows_read
    assert report.skipped == {reason: len(lines) for reason, lines in EXPECTED_SKIPS.items()}
    assert report.skipped_lines == EXPECTED_SKIPS


@pytest.mark.django_db
def test_import_creates_orders_lines_products_and_customers():
    report = online_retail_import(path=FIXTURE)

    assert store_counts() == STORE_COUNTS
    assert report.orders_created == 9
    assert report.guest_orders_created == 1
    assert report.order_lines_created == 12
    assert report.products_created == 8
    assert report.inactive_products_created == 1
    assert report.customers_created == 3
    assert report.categories_created == 5
    assert report.orders_existing == 0


@pytest.mark.django_db
def test_products_take_the_most_frequent_description_and_the_median_price():
    online_retail_import(path=FIXTURE)

    # Two descriptions, one with trailing spaces: the most frequent wins, title-cased.
    cakestand = Product.objects.get(sku="22776")
    assert cakestand.name == "Sweetheart Cakestand 3 Tier"
    assert cakestand.price == Decimal("9.95")
    assert cakestand.category.name == "Kitchen & Baking"
    # "85123a" is the same product as "85123A"; its prices are 2.55, 2.55 and 2.95.
    heart = Product.objects.get(sku="85123A")
    assert heart.name == "White Hanging Heart T-Light Holder"
    assert heart.price == Decimal("2.55")
    assert heart.category.name == "Candles & Lighting"
    assert (heart.stock_quantity, heart.is_active) == (100, True)
    assert Product.objects.get(sku="21260").name == "String Of 8 Butterflies,Pink"
    # Only ever sold for nothing: a product, but not for sale.
    unpriced = Product.objects.get(sku="22632")
    assert (unpriced.is_active, unpriced.price) == (False, Decimal("0.00"))
    assert not Product.objects.filter(sku__in=["POST", "90999Z", "GIFT_0001_20"]).exists()


@pytest.mark.django_db
def test_customers_become_users_without_usable_password_with_a_profile():
    online_retail_import(path=FIXTURE)

    user = get_user_model().objects.get(username="customer-17850")
    assert not user.has_usable_password()
    assert user.profile.external_id == "17850"
    # Four rows from the United Kingdom, two from France.
    assert user.profile.country == "United Kingdom"
    assert user.date_joined == datetime(2010, 12, 1, 8, 26, tzinfo=UTC)
    # One row each from the United Kingdom and Germany: the last one seen wins.
    assert CustomerProfile.objects.get(external_id="13047").country == "Germany"
    assert CustomerProfile.objects.get(external_id="12583").country == "France"


@pytest.mark.django_db
def test_orders_keep_the_invoice_time_in_london_and_the_country():
    online_retail_import(path=FIXTURE)

    winter = Order.objects.get(number="536365")
    # Rows at 08:26 and 08:27: the invoice is as old as its first row; GMT in December.
    assert winter.created_at == datetime(2010, 12, 1, 8, 26, tzinfo=UTC)
    assert winter.country == "United Kingdom"
    assert winter.user.username == "customer-17850"
    assert winter.status == Order.Status.PLACED
    # British Summer Time in June: 10:15 in London is 09:15 UTC.
    summer = Order.objects.get(number="536366")
    assert summer.created_at == datetime(2011, 6, 1, 9, 15, tzinfo=UTC)
    assert summer.country == "France"
    assert Order.objects.get(number="536370").country == "Germany"
    guest = Order.objects.get(number="536371")
    assert guest.user is None
    for order in Order.objects.prefetch_related("lines"):
        assert {line.created_at for line in order.lines.all()} == {order.created_at}


@pytest.mark.django_db
def test_rows_of_one_product_in_one_invoice_merge_only_at_the_same_price():
    online_retail_import(path=FIXTURE)

    merged = Order.objects.get(number="536365").lines.filter(product__sku="85123A")
    assert [(line.quantity, line.unit_price) for line in merged] == [(8, Decimal("2.55"))]
    two_prices = Order.objects.get(number="536366").lines.order_by("unit_price")
    assert [(line.quantity, line.unit_price) for line in two_prices] == [
        (6, Decimal("1.85")),
        (3, Decimal("2.10")),
    ]
    assert Order.objects.get(number="536366").total == Decimal("17.40")
    # The row without a description is kept: its product is named on another row.
    assert Order.objects.get(number="536370").lines.get().product.sku == "84029G"


@pytest.mark.django_db
def test_a_product_already_in_the_store_is_used_and_left_unchanged():
    ProductFactory(sku="90999Z", name="Shop-made", price=Decimal("5.00"), stock_quantity=3)

    report = online_retail_import(path=FIXTURE)

    assert SKIP_NO_DESCRIPTION not in report.skipped
    assert report.products_created == 8
    product = Product.objects.get(sku="90999Z")
    assert (product.name, product.price, product.stock_quantity) == (
        "Shop-made",
        Decimal("5.00"),
        3,
    )
    assert Order.objects.get(number="536370").lines.count() == 2


@pytest.mark.django_db
def test_second_import_creates_nothing_and_reports_the_same_skips(gzipped_fixture):
    first = online_retail_import(path=gzipped_fixture)
    counts = store_counts()

    second = online_retail_import(path=gzipped_fixture)

    assert store_counts() == counts == STORE_COUNTS
    assert second.orders_existing == first.orders_created == 9
    assert (
        second.orders_created,
        second.order_lines_created,
        second.products_created,
        second.customers_created,
        second.categories_created,
    ) == (0, 0, 0, 0, 0)
    assert second.skipped_lines == first.skipped_lines == EXPECTED_SKIPS


@pytest.mark.django_db
def test_gzip_is_recognised_by_its_magic_bytes_without_the_suffix(tmp_path, gzipped_fixture):
    disguised = tmp_path / "online_retail.csv"
    shutil.copy(gzipped_fixture, disguised)

    assert online_retail_import(path=disguised).skipped_lines == EXPECTED_SKIPS
    assert store_counts() == STORE_COUNTS


@pytest.mark.django_db
def test_command_prints_the_summary_with_reasons_and_line_numbers(gzipped_fixture):
    output = run_command(str(gzipped_fixture), "--no-progress")

    assert "Rows read: 29 (13 valid, 16 skipped)" in output
    assert "Orders created: 9 (1 guest); already present: 0" in output
    assert "Order lines created: 12" in output
    assert "Products created: 8 (1 inactive, no positive price)" in output
    assert "Customers created: 3" in output
    assert "non-product code: 5 (lines 5, 25, 26, 27, 30)" in output
    assert "cancellation without matching earlier purchase: 1 (lines 8)" in output
    assert "missing description of unknown product: 1 (lines 14)" in output


@pytest.mark.django_db
def test_limit_stops_at_the_end_of_the_invoice_it_reaches():
    output = run_command(str(FIXTURE), "--limit", "1")

    # Rows 2-4 of invoice 536365 are read too, so its order is whole; 536366 is not.
    assert "Rows read: 4 (3 valid, 1 skipped)" in output
    assert list(Order.objects.values_list("number", flat=True)) == ["536365"]
    assert OrderLine.objects.get(product__sku="85123A").quantity == 8
    assert OrderLine.objects.filter(order__number="536365").count() == 2


@pytest.mark.django_db
def test_keeps_only_the_first_five_line_numbers_of_a_reason(tmp_path):
    path = tmp_path / "posts.csv"
    row = "536365,POST,POSTAGE,1,2010-12-01 08:26:00,18.00,17850.0,United Kingdom"
    path.write_text("\n".join([HEADER] + [row] * 7) + "\n")

    report = online_retail_import(path=path)

    assert report.skipped == {SKIP_NON_PRODUCT: 7}
    assert report.skipped_lines == {SKIP_NON_PRODUCT: [2, 3, 4, 5, 6]}
    assert store_counts() == dict.fromkeys(STORE_COUNTS, 0)


@pytest.mark.django_db
def test_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="cannot open"):
        run_command(str(tmp_path / "nowhere.csv"))


@pytest.mark.django_db
def test_missing_column_is_a_command_error_naming_it(tmp_path):
    path = tmp_path / "no_quantity.csv"
    path.write_text(
        "InvoiceNo,StockCode,Description,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "536365,85123A,HEART,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n"
    )

    with pytest.raises(CommandError, match=r"missing required column.*: Quantity$"):
        run_command(str(path))
    assert store_counts() == dict.fromkeys(STORE_COUNTS, 0)


@pytest.mark.django_db
def test_empty_file_is_a_command_error(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")

    with pytest.raises(CommandError, match="empty"):
        run_command(str(path))


@pytest.mark.django_db
def test_truncated_gzip_is_a_command_error_and_writes_nothing(tmp_path, gzipped_fixture):
    truncated = tmp_path / "truncated.csv.gz"
    truncated.write_bytes(gzipped_fixture.read_bytes()[:-20])

    with pytest.raises(CommandError, match="cannot read gzip file"):
        run_command(str(truncated))
    assert store_counts() == dict.fromkeys(STORE_COUNTS, 0)


@pytest.mark.django_db
def test_username_taken_by_another_user_is_a_command_error_and_writes_nothing():
    UserFactory(username="customer-13047")

    with pytest.raises(CommandError, match="customer-13047"):
        run_command(str(FIXTURE))
    assert (Order.objects.count(), Product.objects.count()) == (0, 0)


@pytest.mark.django_db
def test_rows_dated_in_the_future_or_before_1990_are_skipped_with_their_lines(tmp_path):
    now = timezone.now()
    path = csv_file(
        tmp_path,
        "536365,71053,WHITE METAL LANTERN,1,2099-01-01 10:00:00,3.39,17850,United Kingdom",
        "536366,71053,WHITE METAL LANTERN,1,0001-01-01 00:00:00,3.39,17850,United Kingdom",
        "536367,71053,WHITE METAL LANTERN,1,1989-12-31 23:59:59,3.39,17850,United Kingdom",
        f"536368,71053,WHITE METAL LANTERN,1,{london(now + timedelta(days=2))},3.39,17850,UK",
        "536369,71053,WHITE METAL LANTERN,1,1990-01-01 00:00:00,3.39,17850,United Kingdom",
        f"536370,71053,WHITE METAL LANTERN,1,{london(now - timedelta(hours=1))},3.39,17850,UK",
    )

    report = online_retail_import(path=path)

    assert report.skipped_lines == {SKIP_DATE_FUTURE: [2, 5], SKIP_DATE_TOO_EARLY: [3, 4]}
    assert sorted(Order.objects.values_list("number", flat=True)) == ["536369", "536370"]
    user = get_user_model().objects.get(username="customer-17850")
    assert user.date_joined == datetime(1990, 1, 1, tzinfo=UTC)


@pytest.mark.django_db
def test_earliest_date_option_moves_the_lower_bound(tmp_path):
    path = csv_file(
        tmp_path,
        "536365,71053,WHITE METAL LANTERN,1,2010-12-31 23:59:00,3.39,17850,United Kingdom",
        "536366,71053,WHITE METAL LANTERN,1,2011-01-01 00:00:00,3.39,17850,United Kingdom",
    )

    output = run_command(str(path), "--earliest-date", "2011-01-01")

    assert "invoice date before the earliest accepted: 1 (lines 2)" in output
    assert list(Order.objects.values_list("number", flat=True)) == ["536366"]


def test_earliest_date_option_that_is_no_date_is_a_command_error():
    with pytest.raises(CommandError, match="expected a date as YYYY-MM-DD, got '1990'"):
        run_command(str(FIXTURE), "--earliest-date", "1990")


@pytest.mark.django_db
def test_a_cancellation_nets_its_line_away_and_the_rest_of_the_order_stays(tmp_path):
    path = csv_file(
        tmp_path,
        "536365,71053,WHITE METAL LANTERN,5,2011-01-10 10:00:00,3.39,17850,United Kingdom",
        "536365,21730,GLASS STAR FROSTED T-LIGHT HOLDER,2,2011-01-10 10:00:00,4.25,17850,UK",
        "C536366,71053,WHITE METAL LANTERN,-5,2011-01-10 10:20:00,3.39,17850,United Kingdom",
    )

    report = online_retail_import(path=path)

    assert lines_of("536365") == [("21730", 2)]
    assert Order.objects.get(number="536365").status == Order.Status.PLACED
    assert not Order.objects.filter(number="C536366").exists()
    assert (report.rows_valid, report.rows_skipped, report.cancellations_netted) == (3, 0, 1)
    assert (report.order_lines_created, report.orders_cancelled) == (1, 0)


@pytest.mark.django_db
def test_an_order_cancelled_whole_is_kept_cancelled_without_lines_and_is_not_popular(
    tmp_path,
):
    path = csv_file(
        tmp_path,
        '581483,23843,"PAPER CRAFT , LITTLE BIRDIE",80995,2011-12-09 09:15:00,2.08,16446,UK',
        "581484,23843,PAPER CRAFT LITTLE BIRDIE,1,2011-12-09 09:20:00,2.08,17850,UK",
        "581484,71053,WHITE METAL LANTERN,3,2011-12-09 09:20:00,3.39,17850,UK",
        'C581485,23843,"PAPER CRAFT , LITTLE BIRDIE",-80995,2011-12-09 09:27:00,2.08,16446,UK',
    )
    cache.clear()

    report = online_retail_import(path=path)

    cancelled = Order.objects.get(number="581483")
    assert cancelled.status == Order.Status.CANCELLED
    assert cancelled.user.username == "customer-16446"
    assert lines_of("581483") == []
    assert report.orders_cancelled == 1
    # One buyer each: the 80,995 units cancelled whole count for nothing.
    assert sorted(product.sku for product in products_popular()) == ["23843", "71053"]


@pytest.mark.django_db
def test_second_import_of_netted_cancellations_creates_nothing(tmp_path):
    path = csv_file(
        tmp_path,
        "536365,71053,WHITE METAL LANTERN,5,2011-01-10 10:00:00,3.39,17850,United Kingdom",
        "536366,71053,WHITE METAL LANTERN,2,2011-01-11 10:00:00,3.39,17850,United Kingdom",
        "C536367,71053,WHITE METAL LANTERN,-5,2011-01-12 10:00:00,3.39,17850,United Kingdom",
    )
    online_retail_import(path=path)

    second = online_retail_import(path=path)

    assert (second.orders_created, second.order_lines_created, second.orders_existing) == (0, 0, 2)
    assert second.cancellations_netted == 1
    assert list(Order.objects.order_by("number").values_list("number", "status")) == [
        ("536365", Order.Status.CANCELLED),
        ("536366", Order.Status.PLACED),
    ]
    assert (lines_of("536365"), lines_of("536366")) == ([], [("71053", 2)])


@pytest.mark.django_db
def test_a_cancellation_takes_a_row_of_exactly_its_quantity_before_later_rows(tmp_path):
    path = csv_file(
        tmp_path,
        "536365,71053,WHITE METAL LANTERN,5,2011-01-10 10:00:00,3.39,17850,United Kingdom",
        "536366,71053,WHITE METAL LANTERN,2,2011-02-10 10:00:00,3.39,17850,United Kingdom",
        "536367,71053,WHITE METAL LANTERN,5,2011-03-10 10:00:00,3.10,17850,United Kingdom",
        "C536368,71053,WHITE METAL LANTERN,-5,2011-04-10 10:00:00,3.39,17850,United Kingdom",
    )

    online_retail_import(path=path)

    # Two rows of five: the one at the cancellation's price, though not the latest.
    assert Order.objects.get(number="536365").status == Order.Status.CANCELLED
    assert (lines_of("536365"), lines_of("536366"), lines_of("536367")) == (
        [],
        [("71053", 2)],
        [("71053", 5)],
    )


@pytest.mark.django_db
def test_a_cancellation_of_no_single_row_takes_from_the_latest_purchases_first(tmp_path):
    path = csv_file(
        tmp_path,
        "536365,71053,WHITE METAL LANTERN,4,2011-01-10 10:00:00,3.39,17850,United Kingdom",
        "536365,71053,WHITE METAL LANTERN,1,2011-01-10 10:00:00,3.39,17850,United Kingdom",
        "536366,71053,WHITE METAL LANTERN,3,2011-02-10 10:00:00,3.39,17850,United Kingdom",
        "536366,21730,GLASS STAR FROSTED T-LIGHT HOLDER,2,2011-02-10 10:00:00,4.25,17850,UK",
        "C536367,71053,WHITE METAL LANTERN,-6,2011-03-10 10:00:00,3.39,17850,United Kingdom",
        # A later purchase is not what an earlier cancellation cancels.
        "536368,71053,WHITE METAL LANTERN,7,2011-04-10 10:00:00,3.39,17850,United Kingdom",
    )

    report = online_retail_import(path=path)

    # Three from February, then one row of January's and two of its other.
    assert lines_of("536366") == [("21730", 2)]
    assert lines_of("536365") == [("71053", 2)]
    assert lines_of("536368") == [("71053", 7)]
    assert report.cancellations_netted == 1


@pytest.mark.django_db
def test_cancellations_without_a_matching_earlier_purchase_are_skipped_and_reported(tmp_path):
    path = csv_file(
        tmp_path,
        "C536364,71053,WHITE METAL LANTERN,-1,2011-01-09 10:00:00,3.39,17850,United Kingdom",
        "536365,71053,WHITE METAL LANTERN,2,2011-01-10 10:00:00,3.39,17850,United Kingdom",
        "536366,71053,WHITE METAL LANTERN,4,2011-01-10 10:00:00,3.39,,United Kingdom",
        "C536367,71053,WHITE METAL LANTERN,-3,2011-01-11 10:00:00,3.39,17850,United Kingdom",
        "C536368,71053,WHITE METAL LANTERN,-1,2011-01-11 10:00:00,3.39,,United Kingdom",
        "C536369,71053,WHITE METAL LANTERN,-1,2011-01-11 10:00:00,3.39,13047,United Kingdom",
        "C536370,21730,GLASS STAR FROSTED T-LIGHT HOLDER,-1,2011-01-11 10:00:00,4.25,17850,UK",
        "C536371,71053,WHITE METAL LANTERN,1,2011-01-11 10:00:00,3.39,17850,United Kingdom",
    )

    report = online_retail_import(path=path)

    # Before the purchase, more than bought, a guest's, another customer's, another product's.
    assert report.skipped_lines == {
        SKIP_CANCELLATION_UNMATCHED: [2, 5, 6, 7, 8],
        SKIP_CANCELLATION_QUANTITY: [9],
    }
    assert (lines_of("536365"), lines_of("536366")) == ([("71053", 2)], [("71053", 4)])
    assert report.cancellations_netted == 0
    assert report.rows_valid + report.rows_skipped == report.rows_read == 8


@pytest.mark.django_db
def test_rows_naming_another_customer_than_the_rest_of_the_invoice_are_skipped(tmp_path):
    path = csv_file(
        tmp_path,
        "536365,71053,WHITE METAL LANTERN,1,2011-01-10 10:00:00,3.39,13047,United Kingdom",
        "536365,21730,GLASS STAR FROSTED T-LIGHT HOLDER,1,2011-01-10 10:00:00,4.25,17850,UK",
        "536365,22633,HAND WARMER UNION JACK,1,2011-01-10 10:00:00,1.85,17850,United Kingdom",
        "536366,71053,WHITE METAL LANTERN,1,2011-01-11 10:00:00,3.39,12583,France",
        "536366,21730,GLASS STAR FROSTED T-LIGHT HOLDER,1,2011-01-11 10:00:00,4.25,,France",
    )

    output = run_command(str(path))

    # Most rows win; of equals, the first.
    assert f"{SKIP_CUSTOMER_CONFLICT}: 2 (lines 2, 6)" in output
    assert Order.objects.get(number="536365").user.username == "customer-17850"
    assert lines_of("536365") == [("21730", 1), ("22633", 1)]
    assert Order.objects.get(number="536366").user.username == "customer-12583"
    assert lines_of("536366") == [("71053", 1)]
    assert not CustomerProfile.objects.filter(external_id="13047").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        (
            "5363\x0067,71053,WHITE METAL LANTERN,1,2011-01-12 10:00:00,3.39,13047,Germany",
            "line 4: NUL byte",
        ),
        (
            "536367,71053,WHITE METAL LANTERN,1,2011-01-12 10:00:00,3.39,13047,Germa\x00ny",
            "line 4: NUL byte",
        ),
    ],
)
def test_a_nul_byte_is_a_command_error_naming_the_line_and_writes_nothing(
    tmp_path, bad_row, message
):
    path = csv_file(
        tmp_path,
        "536365,71053,WHITE METAL LANTERN,1,2011-01-10 10:00:00,3.39,17850,United Kingdom",
        "536366,21730,GLASS STAR FROSTED T-LIGHT HOLDER,1,2011-01-11 10:00:00,4.25,12583,UK",
        bad_row,
    )

    with pytest.raises(CommandError, match=f"^{message}$"):
        run_command(str(path))
    assert store_counts() == dict.fromkeys(STORE_COUNTS, 0)
    assert not get_user_model().objects.exists()


@pytest.mark.django_db
def test_a_byte_that_is_not_utf8_is_a_command_error_naming_the_line_and_writes_nothing(
    tmp_path,
):
    path = tmp_path / "latin1.csv.gz"
    text = FIXTURE.read_bytes().replace(b"LANTERN   ", "LANTERN \xa3".encode("latin-1"))
    path.write_bytes(gzip.compress(text))

    with pytest.raises(CommandError, match=r"^line 3: byte 0xa3 is not UTF-8$"):
        run_command(str(path))
    assert store_counts() == dict.fromkeys(STORE_COUNTS, 0)
    assert not get_user_model().objects.exists()


@pytest.mark.django_db
def test_an_order_line_too_large_for_the_database_is_a_command_error(tmp_path):
    path = csv_file(
        tmp_path,
        "536365,71053,WHITE METAL LANTERN,1,2011-01-10 10:00:00,3.39,17850,United Kingdom",
        "536366,71053,WHITE METAL LANTERN,2147483647,2011-01-11 10:00:00,3.39,17850,UK",
        "536366,71053,WHITE METAL LANTERN,1,2011-01-11 10:00:00,3.39,17850,UK",
    )

    with pytest.raises(CommandError, match=r"^lines 3, 4: invoice 536366 orders 2147483648 units"):
        run_command(str(path))
    assert store_counts() == dict.fromkeys(STORE_COUNTS, 0)


@pytest.mark.django_db
def test_a_database_error_while_writing_orders_leaves_nothing_written(monkeypatch):
    def refuse(*args, **kwargs):
        raise DatabaseError("the disk is full")

    # The one failure validation cannot foresee, injected after products and customers.
    monkeypatch.setattr(importer, "_rows_insert", refuse)

    with pytest.raises(DatabaseError):
        online_retail_import(path=FIXTURE)
    assert store_counts() == dict.fromkeys(STORE_COUNTS, 0)
    assert not get_user_model().objects.exists()


@pytest.mark.parametrize(
    ("description", "category"),
    [
        ("CHRISTMAS HANGING T-LIGHT HOLDER", "Christmas"),
        ("LUNCH BAG RED RETROSPOT", "Bags & Purses"),
        ("SET OF 6 T-LIGHTS SANTA", "Christmas"),
        ("PACK OF 12 PINK PAISLEY TISSUES", "Cards & Gift Wrap"),
        ("ROSES REGENCY TEACUP AND SAUCER", "Tableware"),
        ("SPACEBOY BIRTHDAY CARD", "Cards & Gift Wrap"),
        ("HAND WARMER RED LOVE HEART", "Accessories"),
        ("UNSALEABLE, DESTROYED.", "Other"),
    ],
)
def test_category_follows_the_taxonomy(description, category):
    assert category_for_description(description) == category


def test_product_name_is_title_cased_without_mangling_sizes_or_acronyms():
    assert product_name_format("PINK'S LED T-LIGHT 40x40cm 3D") == "Pink's LED T-Light 40x40cm 3D"
    assert product_name_format("CD WALL TIDY BLUE OFFICE") == "CD Wall Tidy Blue Office"


@pytest.mark.django_db
def test_shifting_to_a_last_day_moves_every_date_by_the_same_whole_days():
    online_retail_import(path=FIXTURE)
    unshifted = dict(Order.objects.values_list("number", "created_at"))
    joined = dict(get_user_model().objects.values_list("username", "date_joined"))
    Order.objects.all().delete()
    CustomerProfile.objects.all().delete()
    get_user_model().objects.all().delete()

    report = online_retail_import(path=FIXTURE, last_day=date(2026, 3, 31))

    # The fixture's newest order (536377) is of 2011-12-09, London time.
    assert report.days_shifted == (date(2026, 3, 31) - date(2011, 12, 9)).days
    shift = timedelta(days=report.days_shifted)
    shifted = dict(Order.objects.values_list("number", "created_at"))
    assert shifted.keys() == unshifted.keys()
    for number, created_at in shifted.items():
        # Whole days in London: the same wall-clock time, across summer time too.
        expected = (unshifted[number].astimezone(DATA_TIMEZONE) + shift).astimezone(UTC)
        assert created_at == expected, number
    assert max(shifted.values()).astimezone(DATA_TIMEZONE).date() == date(2026, 3, 31)
    assert set(OrderLine.objects.values_list("created_at", flat=True)) <= set(shifted.values())
    for username, date_joined in get_user_model().objects.values_list("username", "date_joined"):
        assert date_joined == (joined[username].astimezone(DATA_TIMEZONE) + shift).astimezone(UTC)


@pytest.mark.django_db
def test_command_shifts_dates_only_when_asked(gzipped_fixture):
    run_command(str(gzipped_fixture), "--no-progress")
    assert max(Order.objects.values_list("created_at", flat=True)).year == 2011
    Order.objects.all().delete()

    output = run_command(str(gzipped_fixture), "--no-progress", "--shift-to-yesterday")

    yesterday = timezone.now().astimezone(DATA_TIMEZONE).date() - timedelta(days=1)
    newest = max(Order.objects.values_list("created_at", flat=True))
    assert newest.astimezone(DATA_TIMEZONE).date() == yesterday
    assert f"Dates shifted by {(yesterday - date(2011, 12, 9)).days} days" in output


@pytest.mark.django_db
def test_command_reports_each_phase_with_counts_unless_told_not_to(gzipped_fixture):
    output = run_command(str(gzipped_fixture))

    assert "Checked 29 rows; netting cancellation rows (1) ..." in output
    assert "Created 8 products and 3 customers; writing 9 orders ..." in output
    assert "Wrote 9 of 9 orders (12 lines) ..." in output
    Order.objects.all().delete()
    assert "Checked" not in run_command(str(gzipped_fixture), "--no-progress")
