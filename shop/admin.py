"""Django admin of the demo store, kept fast on the full imported data set.

Every changelist selects its related rows in the same query, every large foreign key
is picked through autocomplete or a raw id, and the big tables skip the second,
unfiltered ``COUNT(*)`` Django runs by default.
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import (
    Count,
    DecimalField,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce
from django.forms import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from shop.models import (
    Category,
    CustomerProfile,
    Follow,
    Order,
    OrderLine,
    Product,
    ProductView,
    Review,
)

User = get_user_model()

MONEY = DecimalField(max_digits=14, decimal_places=2)


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "product_count"]
    search_fields = ["name", "slug"]
    ordering = ["name"]
    prepopulated_fields = {"slug": ["name"]}
    list_per_page = 100

    def get_queryset(self, request: HttpRequest) -> QuerySet[Category]:
        """Count each category's products in the changelist query itself."""
        return super().get_queryset(request).annotate(product_count=Count("products"))

    @admin.display(description="products", ordering="product_count")
    def product_count(self, category: Category) -> int:
        """Number of products in the category."""
        return category.product_count


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = [
        "sku",
        "name",
        "category",
        "price",
        "stock_quantity",
        "is_active",
        "created_at",
    ]
    list_display_links = ["sku", "name"]
    list_filter = ["is_active", "category", "created_at"]
    search_fields = ["sku", "name"]
    search_help_text = "SKU or name"
    date_hierarchy = "created_at"
    ordering = ["name"]
    list_select_related = ["category"]
    autocomplete_fields = ["category"]
    readonly_fields = ["created_at"]
    list_per_page = 100


class CustomerProfileInline(admin.StackedInline):
    model = CustomerProfile
    fields = ["external_id", "country", "birth_year", "personalisation_consent"]
    can_delete = False
    max_num = 1
    verbose_name_plural = "customer profile"


@admin.register(CustomerProfile)
class CustomerProfileAdmin(admin.ModelAdmin):
    list_display = [
        "user",
        "display_name",
        "external_id",
        "country",
        "birth_year",
        "personalisation_consent",
        "shares_activity",
    ]
    list_filter = ["personalisation_consent", "shares_activity", "country"]
    search_fields = ["user__username", "user__email", "external_id", "display_name"]
    search_help_text = "Username, e-mail or imported customer id"
    ordering = ["user__username"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
    list_per_page = 100


# Keep everything Django's UserAdmin does and show the customer profile beside it.
admin.site.unregister(User)


@admin.register(User)
class ShopUserAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, CustomerProfileInline]

    def get_inlines(self, request: HttpRequest, obj: User | None) -> list:
        """Show the profile only once the user exists (the add form is username/password)."""
        return super().get_inlines(request, obj) if obj is not None else []


def order_line_totals() -> Subquery:
    """Sum of quantity x unit price of the outer order's lines, as a correlated subquery."""
    # A subquery rather than Sum over a join: the changelist's COUNT(*) stays a plain
    # count of orders, and the sum is only computed for the rows of the page.
    lines = (
        OrderLine.objects.filter(order=OuterRef("pk"))
        .order_by()
        .values("order")
        .annotate(total=Sum(F("unit_price") * F("quantity"), output_field=MONEY))
        .values("total")
    )
    return Subquery(lines, output_field=MONEY)


def order_line_counts() -> Subquery:
    """Number of lines of the outer order, as a correlated subquery."""
    lines = (
        OrderLine.objects.filter(order=OuterRef("pk"))
        .order_by()
        .values("order")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return Subquery(lines, output_field=IntegerField())


class OrderLineFormSet(BaseInlineFormSet):
    def save_new(self, form, commit: bool = True) -> OrderLine:
        """Snapshot the product's current price and the order's time onto the new line."""
        line = super().save_new(form, commit=False)
        line.unit_price = line.product.price
        line.created_at = self.instance.created_at
        if commit:
            line.save()
        return line


class OrderLineInline(admin.TabularInline):
    """Blank rows to add lines to an order; the unit price is taken from the product."""

    model = OrderLine
    formset = OrderLineFormSet
    fields = ["product", "quantity"]
    autocomplete_fields = ["product"]
    extra = 1
    verbose_name = "new line"
    verbose_name_plural = "add lines"

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrderLine]:
        """No existing rows: OrderAdmin.lines_table lists those."""
        # Editable rows cost about 2 ms of widget rendering each, and an imported order
        # has up to 1,112 lines: the change form would take seconds.
        return super().get_queryset(request).none()


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["number", "created_at", "user", "country", "status", "line_count", "total"]
    list_filter = ["status", "created_at", "country"]
    search_fields = ["number", "user__username", "user__email"]
    search_help_text = "Order number, username or e-mail"
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
    readonly_fields = ["created_at", "line_count", "total", "lines_table"]
    fieldsets = [
        (None, {"fields": ["number", "user", "country", "status", "created_at"]}),
        ("Lines", {"fields": ["line_count", "total", "lines_table"]}),
    ]
    inlines = [OrderLineInline]
    show_full_result_count = False
    list_per_page = 50

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        """Orders annotated with their line count and total (no query per row)."""
        return (
            super()
            .get_queryset(request)
            .annotate(
                line_count_value=order_line_counts(),
                total_value=Coalesce(order_line_totals(), Decimal("0.00"), output_field=MONEY),
            )
        )

    @admin.display(description="lines", ordering="line_count_value")
    def line_count(self, order: Order) -> int:
        """Number of lines (from the annotation; 0 on the add form)."""
        return getattr(order, "line_count_value", None) or 0

    @admin.display(description="total", ordering="total_value")
    def total(self, order: Order) -> Decimal:
        """Sum of the line totals (from the annotation; 0 on the add form)."""
        return getattr(order, "total_value", Decimal("0.00"))

    @admin.display(description="existing lines")
    def lines_table(self, order: Order) -> str:
        """The order's lines as a read-only table, each linked to its own change form."""
        if order.pk is None:
            return "-"
        lines = order.lines.select_related("product").order_by("pk")
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td><a href="{}">{}</a></td><td>{}</td>'
            "<td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    reverse("admin:shop_orderline_change", args=[line.pk]),
                    line.pk,
                    reverse("admin:shop_product_change", args=[line.product_id]),
                    line.product.sku,
                    line.product.name,
                    line.quantity,
                    line.unit_price,
                    line.line_total,
                )
                for line in lines
            ),
        )
        return format_html(
            "<table><thead><tr><th>line</th><th>SKU</th><th>product</th><th>quantity</th>"
            "<th>unit price</th><th>line total</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )


@admin.register(OrderLine)
class OrderLineAdmin(admin.ModelAdmin):
    list_display = ["pk", "order", "product", "quantity", "unit_price", "created_at"]
    list_display_links = ["pk"]
    list_filter = ["created_at"]
    search_fields = ["=order__number", "=product__sku"]  # see get_search_results
    search_help_text = "Exact order number or SKU"
    # No date_hierarchy: listing its years scans every line (2.2 s on SQLite with the
    # 517,703 imported lines); the created_at filter costs no query.
    ordering = ["-pk"]
    # Sorting by any other column sorts every line (1.3 s for quantity on SQLite).
    sortable_by = ["pk"]
    list_select_related = ["order", "product"]
    raw_id_fields = ["order", "product"]
    readonly_fields = ["unit_price", "created_at"]
    show_full_result_count = False
    list_per_page = 100

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[OrderLine], search_term: str
    ) -> tuple[QuerySet[OrderLine], bool]:
        """Lines of the order with this number or of the product with this SKU."""
        term = search_term.strip()
        if not term:
            return queryset, False
        # The default search ORs LIKEs across two joins and so scans every line; ids
        # from the small tables let the database use the order and product indexes.
        return queryset.filter(
            Q(order__in=Order.objects.filter(number__iexact=term).values("pk"))
            | Q(product__in=Product.objects.filter(sku__iexact=term).values("pk"))
        ), False

    def save_model(self, request: HttpRequest, obj: OrderLine, form, change: bool) -> None:
        """Snapshot the product's price and the order's time onto a new line."""
        if not change:
            obj.unit_price = obj.product.price
            obj.created_at = obj.order.created_at
        super().save_model(request, obj, form, change)


@admin.register(ProductView)
class ProductViewAdmin(admin.ModelAdmin):
    list_display = ["viewed_at", "product", "user", "session_key"]
    list_filter = ["viewed_at"]
    search_fields = ["=product__sku", "=user__username", "=session_key"]  # see below
    search_help_text = "Exact SKU, username or session key"
    # Views are the fastest growing table. Without an index on viewed_at alone, both its
    # date_hierarchy and ordering by it sort every row (3 s with 500,000 views); views are
    # recorded as they happen, so the primary key gives the same order for free.
    ordering = ["-pk"]
    sortable_by: list[str] = []
    list_select_related = ["product", "user"]
    autocomplete_fields = ["product", "user"]
    readonly_fields = ["viewed_at"]
    show_full_result_count = False
    list_per_page = 100

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[ProductView], search_term: str
    ) -> tuple[QuerySet[ProductView], bool]:
        """Views of the product with this SKU, by the user with this name, or in this session."""
        term = search_term.strip()
        if not term:
            return queryset, False
        # As in OrderLineAdmin: ids from the small tables, so the indexes are used.
        return queryset.filter(
            Q(product__in=Product.objects.filter(sku__iexact=term).values("pk"))
            | Q(user__in=User.objects.filter(username__iexact=term).values("pk"))
            | Q(session_key=term)
        ), False


@admin.register(Follow)
class FollowAdmin(admin.ModelAdmin):
    list_display = ["follower", "followed", "created_at", "is_sample"]
    list_filter = ["is_sample", "created_at"]
    search_fields = ["=follower__username", "=followed__username"]
    search_help_text = "Exact username of the follower or the followed"
    ordering = ["-pk"]
    list_select_related = ["follower", "followed"]
    autocomplete_fields = ["follower", "followed"]
    list_per_page = 100


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["title", "product", "user", "rating", "is_approved", "created_at"]
    list_filter = ["is_approved", "rating", "created_at"]
    search_fields = ["title", "product__sku", "product__name", "user__username"]
    search_help_text = "Title, SKU, product name or username"
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    list_select_related = ["product", "user"]
    autocomplete_fields = ["product", "user"]
    readonly_fields = ["created_at"]
    actions = ["approve", "unapprove"]
    list_per_page = 50

    @admin.action(description="Approve selected reviews", permissions=["change"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Review]) -> None:
        """Show the selected reviews in the store."""
        updated = queryset.update(is_approved=True)
        self.message_user(request, f"{updated} review(s) approved.", messages.SUCCESS)

    @admin.action(description="Unapprove selected reviews", permissions=["change"])
    def unapprove(self, request: HttpRequest, queryset: QuerySet[Review]) -> None:
        """Hide the selected reviews from the store."""
        updated = queryset.update(is_approved=False)
        self.message_user(request, f"{updated} review(s) unapproved.", messages.SUCCESS)
