"""CATALOG lookups through relations, in the library host (run in a subprocess).

Books stand on several shelves (a many-to-many), have a publisher (a foreign key to a
model without ``__str__``) and several copies for sale (a reverse foreign key with
prices). Run by tests/recommendations/test_drop_in_host.py; fixtures come from
tests/hostproject/fixtures.py.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recommendations import selectors, serving
from recommendations.adapters import get_adapter
from recommendations.checks import check_settings
from recommendations.services import training_run_start
from tests.hostproject.fixtures import GENRES
from tests.hostproject.library.models import Book, Copy, Publisher, Shelf


def catalog(settings, **fields) -> None:
    """The library's setting with these CATALOG entries (None removes one).

    A new value of the setting makes a new adapter: ask ``get_adapter()`` again after it.
    """
    merged = {**settings.RECOMMENDATIONS["CATALOG"], **fields}
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "CATALOG": {key: value for key, value in merged.items() if value is not None},
    }


@pytest.fixture
def shelved(books):
    """Each book on its genre's shelf and on the "Staff picks" shelf (placed first)."""
    picks = Shelf.objects.create(name="Staff picks", position=0)
    shelves = {
        genre: Shelf.objects.create(name=genre.title(), position=1 + g)
        for g, genre in enumerate(GENRES)
    }
    for key, book in books.items():
        genre = key.rstrip("0123456789")
        book.shelves.add(shelves[genre], picks)
    return books, shelves, picks


def messages(code: str) -> list[str]:
    return [m.msg for m in check_settings() if m.id == f"recommendations.{code}"]


def test_a_book_on_several_shelves_belongs_to_the_first_by_the_shelfs_ordering(settings, shelved):
    books, shelves, picks = shelved
    book = books["crime0"]

    catalog(settings, CATEGORY_FIELD="shelves")
    assert get_adapter().category_values([book]) == {book.pk: str(picks.pk)}  # Shelf.Meta.ordering
    assert get_adapter().category_label(book) == "Staff picks"
    assert get_adapter().category_key_field() == Shelf._meta.pk

    catalog(settings, CATEGORY_ORDER="-shelves__position")
    assert get_adapter().item_category_key(book) == str(shelves["crime"].pk)
    assert get_adapter().category_label(book) == "Crime"
    available = (
        get_adapter()
        .available_items()
        .filter(**{get_adapter().category_lookup(): shelves["crime"].pk})
    )
    assert set(available) == {books[f"crime{i}"] for i in range(4)}
    assert messages("W002") == []


def test_shelves_as_categories_train_and_name_the_shelf_in_reasons(settings, shelved):
    _, shelves, _ = shelved
    catalog(settings, CATEGORY_FIELD="shelves", CATEGORY_ORDER="-shelves__position")
    run = training_run_start(promote=True)
    assert run.is_active, run.error
    serving.reset()

    trending = selectors.trending_products(n=8)
    assert trending
    for rec in trending:
        genre = rec.item.genre
        assert rec.reason == f"Trending in {genre.title()}", rec.reason
        assert "None" not in rec.reason
    # The category cap counts one shelf per book (MAX_PER_CATEGORY is 2 here).
    genres = [rec.item.genre for rec in trending]
    assert max(genres.count(genre) for genre in set(genres)) <= 2
    crime = selectors.trending_products(n=4, category=shelves["crime"].pk)
    assert crime and {rec.item.genre for rec in crime} == {"crime"}


def test_a_list_reads_labels_categories_and_prices_in_a_fixed_number_of_queries(settings, shelved):
    books, _, _ = shelved
    for i, book in enumerate(books.values()):
        for price in (9 + i, 4 + i, 20 + i):
            Copy.objects.create(book=book, price=Decimal(price))
    catalog(settings, CATEGORY_FIELD="shelves", PRICE_FIELD="copies__price")
    adapter = get_adapter()
    counts = []
    for n in (2, 8):
        pks = [book.pk for book in list(books.values())[:n]]
        with CaptureQueriesContext(connection) as queries:
            items = adapter.display_items(pks)
            labels = [
                (adapter.category_label(item), adapter.item_price(item)) for item in items.values()
            ]
        counts.append(len(queries))
        assert len(labels) == n and all(label == "Staff picks" for label, _ in labels)
    assert counts[0] == counts[1] <= 2
    assert adapter.item_price(items[books["crime0"].pk]) == Decimal(4)  # the lowest copy
    # With the field's places, whatever the database's converter gives a subquery.
    assert str(adapter.item_price(items[books["crime0"].pk])) == "4.00"


def test_the_price_of_several_copies_follows_price_order(settings, books):
    book = books["poetry1"]
    for price, condition in ((12, "fine"), (5, "worn"), (8, "good")):
        Copy.objects.create(book=book, price=Decimal(price), condition=condition)

    catalog(settings, PRICE_FIELD="copies__price")
    assert get_adapter().item_price(book) == Decimal(5)
    catalog(settings, PRICE_ORDER="-copies__price")
    assert get_adapter().item_price(book) == Decimal(12)
    catalog(settings, PRICE_ORDER="copies__condition")
    assert get_adapter().item_price(book) == Decimal(12)  # "fine" sorts first
    assert get_adapter().item_price(books["travel0"]) is None  # no copy
    assert messages("W002") == []


def test_labels_and_categories_through_a_foreign_key(settings, books):
    penguin = Publisher.objects.create(name="Penguin")
    book = books["travel2"]
    book.publisher = penguin
    book.save()
    book = Book.objects.select_related("publisher").get(pk=book.pk)

    catalog(settings, LABEL_FIELD="publisher__name")
    assert get_adapter().item_label(book) == "Penguin"
    catalog(settings, CATEGORY_FIELD="publisher", CATEGORY_LABEL_FIELD="name")
    assert get_adapter().item_category_key(book) == str(penguin.pk)
    assert get_adapter().category_label(book) == "Penguin"
    assert messages("W002") == []


@pytest.mark.parametrize(
    ("fields", "key", "text"),
    [
        ({"CATEGORY_FIELD": "publisher"}, "CATEGORY_FIELD", "no __str__"),
        (
            {"CATEGORY_FIELD": "shelves", "CATEGORY_LABEL_FIELD": "title"},
            "CATEGORY_LABEL_FIELD",
            "no field 'title'",
        ),
        ({"CATEGORY_LABEL_FIELD": "name"}, "CATEGORY_LABEL_FIELD", "ends at a value"),
        ({"LABEL_FIELD": "shelves"}, "LABEL_FIELD", "to-many relation"),
        ({"LABEL_FIELD": "publisher"}, "LABEL_FIELD", "no __str__"),
        ({"PRICE_FIELD": "copies__condition"}, "PRICE_FIELD", "not a number field"),
        ({"PRICE_FIELD": "copies"}, "PRICE_FIELD", "not a number field"),
        ({"PRICE_FIELD": "title"}, "PRICE_FIELD", "not a number field"),
        ({"CATEGORY_ORDER": "title"}, "CATEGORY_ORDER", "one value per item"),
    ],
)
def test_a_field_that_cannot_be_read_as_configured_is_warned_about(settings, fields, key, text):
    catalog(settings, **fields)
    warnings = messages("W002")
    assert len(warnings) == 1, warnings
    assert f"RECOMMENDATIONS['CATALOG'][{key!r}]" in warnings[0]
    assert text in warnings[0]
    assert [m for m in check_settings() if m.is_serious()] == []


def test_an_unknown_field_in_an_order_is_an_error(settings):
    catalog(settings, CATEGORY_FIELD="shelves", CATEGORY_ORDER=["shelves__rank"])
    errors = [m.msg for m in check_settings() if m.id == "recommendations.E002"]
    assert errors and "CATEGORY_ORDER" in errors[0] and "'rank'" in errors[0]
