"""One value per item from a ``CATALOG`` lookup, whatever relations the lookup crosses.

A lookup such as ``brand__name`` follows foreign keys: one value per item, read from
the item with ``select_related``. A lookup through a many-to-many or a reverse foreign
key (``categories``, ``stockrecords__price``) has several values per item; the app then
reads the first by an ordering (``CATEGORY_ORDER``, ``PRICE_ORDER``, ``LABEL_ORDER``,
ascending by the value itself unless set; a relation's value orders by the related
model's ``Meta.ordering``, else its primary key), as a correlated subquery: one query
for a whole list or catalog, never one per item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import OuterRef, Subquery


@dataclass(frozen=True)
class CatalogLookup:
    """A resolved ``__`` lookup of the catalog model."""

    lookup: str
    # The field (or reverse relation) the lookup ends on.
    field: models.Field | models.ForeignObjectRel
    # Whether it crosses a many-to-many or reverse foreign key (several values per item).
    many: bool
    # The forward single-valued relations it crosses from the item, for select_related.
    related_path: str

    @property
    def target(self) -> type[models.Model] | None:
        """The related model when the lookup ends on a relation (its rows are the values)."""
        return self.field.related_model if self.field.is_relation else None

    @property
    def key_field(self) -> models.Field:
        """The concrete field whose values the lookup gives (a relation: the related key)."""
        target = self.target
        return target._meta.pk if target is not None else self.field


def catalog_lookup(model: type[models.Model], lookup: str) -> CatalogLookup:
    """Resolve ``lookup`` on ``model``; raise FieldDoesNotExist when a part does not exist."""
    current: type[models.Model] | None = model
    field: models.Field | models.ForeignObjectRel | None = None
    many, single_path, crossing = False, [], True
    for part in lookup.split("__"):
        if current is None:
            raise FieldDoesNotExist(f"{field.name!r} is not a relation, cannot follow {part!r}")
        try:
            field = current._meta.pk if part == "pk" else current._meta.get_field(part)
        except FieldDoesNotExist:
            raise FieldDoesNotExist(f"{current._meta.label} has no field {part!r}") from None
        if field.is_relation:
            if field.many_to_many or field.one_to_many:
                many, crossing = True, False
            elif crossing:
                single_path.append(part)
        current = field.related_model if field.is_relation else None
    assert field is not None
    # select_related stops before the last relation only when nothing is read beyond it.
    return CatalogLookup(lookup, field, many, "__".join(single_path))


def first_value(
    model: type[models.Model], lookup: CatalogLookup, order: Sequence[str] = ()
) -> Subquery:
    """The first value of a many-valued ``lookup`` of the outer item, by ``order``.

    ``order`` holds lookups of ``model`` (``-`` for descending); the value itself breaks
    ties and is the whole order when none is given. Items without a value get NULL.
    """
    # One filter call, so ordering and value share the join of the many-valued relation.
    rows = model._base_manager.filter(
        pk=OuterRef("pk"), **{f"{lookup.lookup}__isnull": False}
    ).order_by(*order, lookup.lookup)
    return Subquery(rows.values(lookup.lookup)[:1])
