"""The Online Retail importer: dirty rows counted, store filled once, bad files refused."""

from __future__ import annotations

import gzip
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from shop.importer import (
    SKIP_CANCELLATION,
    SKIP_COLUMNS,
    SKIP_CUSTOMER,
    SKIP_DATE,
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
from tests.factories import ProductFactory, UserFactory

FIXTURE = Path(__file__).parent / "fixtures" / "online_retail_dirty.csv"
HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"

# What the fixture holds, line by line (the header is line 1).
EXPECTED_SKIPS = {
    SKIP_CANCELLATION: [8, 30],
    SKIP_NON_PRODUCT: [5, 25, 26, 27],
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
    "categories": 4,
}


def store_counts() -> dict[str, int]:
    return {
        "orders": Order.objects.count(),
        "lines": OrderLine.objects.count(),
        "products": Product.objects.count(),
        "customers": CustomerProfile.objects.count(),
        "categories": Category.objects.count(),
    }


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
    assert report.categories_created == 4
    assert report.orders_existing == 0


@pytest.mark.django_db
def test_products_take_the_most_frequent_description_and_the_median_price():
    online_retail_import(path=FIXTURE)

    # Two descriptions, one with trailing spaces: the most frequent wins, title-cased.
    cakestand = Product.objects.get(sku="22776")
    assert cakestand.name == "Sweetheart Cakestand 3 Tier"
    assert cakestand.price == Decimal("9.95")
    assert cakestand.category.name == "Kitchen & Dining"
    # "85123a" is the same product as "85123A"; its prices are 2.55, 2.55 and 2.95.
    heart = Product.objects.get(sku="85123A")
    assert heart.name == "White Hanging Heart T-Light Holder"
    assert heart.price == Decimal("2.55")
    assert heart.category.name == "Candles & Lights"
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
    assert "non-product code: 4 (lines 5, 25, 26, 27)" in output
    assert "cancellation: 2 (lines 8, 30)" in output
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


@pytest.mark.parametrize(
    ("description", "category"),
    [
        ("CHRISTMAS HANGING T-LIGHT HOLDER", "Christmas"),
        ("LUNCH BAG RED RETROSPOT", "Bags"),
        ("SET OF 6 T-LIGHTS SANTA", "Christmas"),
        ("PACK OF 12 PINK PAISLEY TISSUES", "Cards & Wrap"),
        ("ROSES REGENCY TEACUP AND SAUCER", "Kitchen & Dining"),
        ("SPACEBOY BIRTHDAY CARD", "Cards & Wrap"),
        ("ASSORTED COLOUR MINI CASES", "Other"),
    ],
)
def test_category_follows_the_keyword_table(description, category):
    assert category_for_description(description) == category


def test_product_name_is_title_cased_without_mangling_sizes_or_acronyms():
    assert product_name_format("PINK'S LED T-LIGHT 40x40cm 3D") == "Pink's LED T-Light 40x40cm 3D"
