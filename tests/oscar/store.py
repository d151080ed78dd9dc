"""Filling an Oscar shop through Oscar's own models."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from oscar.core.loading import get_model

Category = get_model("catalogue", "Category")
Product = get_model("catalogue", "Product")
ProductCategory = get_model("catalogue", "ProductCategory")
ProductClass = get_model("catalogue", "ProductClass")
Partner = get_model("partner", "Partner")
StockRecord = get_model("partner", "StockRecord")
Order = get_model("order", "Order")
Line = get_model("order", "Line")

CATEGORIES = ["Crime", "Poetry", "Travel", "Cooking"]
PER_CATEGORY = 15
SHOPPERS = 80
BOUGHT_EACH = 6


@dataclass
class Shop:
    products: dict[str, list[Product]]  # category name -> its products
    preferences: dict[int, list[str]]  # shopper pk -> preferred category names
    bought: dict[int, set[int]]  # shopper pk -> product pks bought

    def category_of(self, product_pk: int) -> str:
        return next(
            name for name, items in self.products.items() if any(p.pk == product_pk for p in items)
        )


def product_create(
    *, title: str, category: Category, product_class: ProductClass, partner: Partner, stock: int
) -> Product:
    """A standalone product in one category with one stock record."""
    product = Product.objects.create(
        title=title, product_class=product_class, structure=Product.STANDALONE
    )
    ProductCategory.objects.create(product=product, category=category)
    StockRecord.objects.create(
        product=product,
        partner=partner,
        partner_sku=f"SKU-{product.pk}",
        price=Decimal("9.99"),
        num_in_stock=stock,
    )
    return product


def order_place(*, user, products: list[Product], number: str, placed: dt.datetime) -> Order:
    """An order of ``products`` (one each) placed by ``user`` at ``placed``."""
    total = Decimal("9.99") * len(products)
    order = Order.objects.create(
        number=number,
        user=user,
        currency="GBP",
        total_incl_tax=total,
        total_excl_tax=total,
        date_placed=placed,
    )
    for product in products:
        record = product.stockrecords.first()
        Line.objects.create(
            order=order,
            partner=record.partner,
            partner_name=record.partner.name,
            partner_sku=record.partner_sku,
            stockrecord=record,
            product=product,
            title=product.title,
            quantity=1,
            num_allocated=1,
            line_price_incl_tax=record.price,
            line_price_excl_tax=record.price,
            line_price_before_discounts_incl_tax=record.price,
            line_price_before_discounts_excl_tax=record.price,
        )
    return order
