"""The catalog as serving sees it, held in this process: what is available, and its instances.

Which items may be shown, with their category, is read in one query and kept in the
:class:`~recommendations.serving.state.ServingState` until the catalog or the
availability changes (``services.catalog_changed``, ``services.availability_changed``,
whose times every list reads anyway) or, as a safety net for changes made without
telling, ``RELOAD_INTERVAL`` seconds pass. The instances of the items shown (labels,
pages, prices, categories for reasons) are read with the available items when the
catalog is not bigger than ``INSTANCES_PRELOAD_MAX`` (a few queries, a few MB for
thousands of items), else as lists show them (one query for the items of a list not
read yet); either way they are kept until the catalog changes or ``CACHE_TIMEOUT``
seconds pass. A change of availability alone keeps them: a checkout costs each process
one query, not the instances. So a list is ranked, filtered and assembled without a
query for the catalog, and a sold-out item leaves every list at the next request after
the change.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import get_language

from recommendations.adapters import SettingsAdapter
from recommendations.conf import app_settings
from recommendations.serving.state import process_state

# Instances kept per process at most (cleared whole when full, refilled by requests).
INSTANCES_MAX = 20_000
# Available items whose instances are read with the catalog, at most: a bigger catalog's
# are read as lists show them. Below INSTANCES_MAX, which leaves room for the
# unavailable items a reason names ("Because you bought X", X sold out since).
INSTANCES_PRELOAD_MAX = 10_000


@dataclass(frozen=True)
class CatalogChanges:
    """When the catalog last changed, as the shared cache says (0: never told)."""

    # services.catalog_changed: what items show, and which are available.
    catalog_at: float
    # services.availability_changed, or catalog_changed: which items are available.
    availability_at: float

    @classmethod
    def of(cls, catalog_at: float, availability_at: float) -> CatalogChanges:
        """The changes from the times each service wrote (a catalog change is both)."""
        return cls(catalog_at, max(catalog_at, availability_at))


@dataclass(frozen=True)
class CatalogRow:
    """An available item as the rules see it: its key and category, no model instance."""

    pk: Any
    category: str | None


#: The category of an available item (the rules' ``category_of``), in C: called per candidate.
row_category = operator.attrgetter("category")


def available_rows(
    adapter: SettingsAdapter, queryset: models.QuerySet, *, limit: int | None = None
) -> dict[str, CatalogRow]:
    """Key and category of the items of ``queryset`` by string key, in one query."""
    category = adapter.category_lookup()
    rows = queryset.values_list("pk", category) if category else queryset.values_list("pk", "pk")
    # The first ``limit`` by key; else no order: the rows are kept by key, and a host's
    # default ordering (by name) would only make the database sort the whole catalog.
    rows = rows.order_by("pk")[:limit] if limit is not None else rows.order_by()
    return {
        str(pk): CatalogRow(pk, None if not category or value is None else str(value))
        for pk, value in rows
    }


def valid_pks(catalog: type[models.Model], pks: Iterable[Any]) -> list[Any]:
    """Keys the catalog's primary key accepts, each once; a mistyped rule key is skipped."""
    field_ = catalog._meta.pk
    valid = []
    for pk in pks:
        try:
            valid.append(field_.to_python(pk))
        except ValidationError:
            continue
    return list(dict.fromkeys(valid))


@dataclass
class Catalog:
    """The available items of this process's catalog, and the instances read so far."""

    # Read for this adapter and this setting (fields, availability): another reads again.
    adapter_class: type[SettingsAdapter]
    setting: Any
    loaded_at: float
    rows: dict[str, CatalogRow]
    # When the instances were first kept: they go after CACHE_TIMEOUT (labels, prices).
    instances_since: float
    instances: dict[str, models.Model] = field(default_factory=dict)
    # (label, page, price) of the instances shown, by (language, key): computed once per
    # instance and language (a host may word labels and pages per language).
    shown: dict[tuple[str | None, str], tuple[str, str | None, Any]] = field(default_factory=dict)

    def available(self, keys: Iterable[str]) -> dict[str, CatalogRow]:
        """The available items among ``keys`` (string keys), by key."""
        rows = self.rows
        return {key: rows[key] for key in keys if key in rows}

    def instances_of(self, adapter: SettingsAdapter, pks: Iterable[Any]) -> dict[str, Any]:
        """Catalog instances by string key (available or not), reading the missing ones."""
        pks = list(pks)
        keys = dict(zip(map(str, pks), pks, strict=True))
        missing = [pk for key, pk in keys.items() if key not in self.instances]
        if missing:
            valid = valid_pks(adapter.shape.model, missing)
            if valid:
                found = adapter.display_items(valid)
                if len(self.instances) + len(found) > INSTANCES_MAX:
                    self.instances, self.shown = {}, {}
                self.instances.update({str(pk): item for pk, item in found.items()})
        instances = self.instances
        return {key: instances[key] for key in keys if key in instances}

    def instances_preload(self, adapter: SettingsAdapter) -> None:
        """Read the instances of the available items not read yet, when the catalog is
        not bigger than ``INSTANCES_PRELOAD_MAX``: then no list queries for them."""
        if len(self.rows) > INSTANCES_PRELOAD_MAX:
            return
        missing = [row.pk for key, row in self.rows.items() if key not in self.instances]
        if not missing:
            return
        if len(self.instances) + len(missing) > INSTANCES_MAX:
            self.instances, self.shown = {}, {}
        found = adapter.display_items(missing)
        self.instances.update({str(pk): item for pk, item in found.items()})

    def shown_of(self, adapter: SettingsAdapter, items: list[Any]) -> list[tuple[str, Any, Any]]:
        """Label, page and price of each instance, as a list shows them."""
        shown, language = self.shown, get_language()
        result = []
        for item in items:
            key = (language, str(item.pk))
            known = shown.get(key)
            if known is None:
                get_absolute_url = getattr(item, "get_absolute_url", None)
                url = get_absolute_url() if callable(get_absolute_url) else None
                known = shown[key] = (adapter.item_label(item), url, adapter.item_price(item))
            result.append(known)
        return result


def catalog_current(adapter: SettingsAdapter, changes: CatalogChanges) -> Catalog:
    """This process's catalog, read again when it changed or ``RELOAD_INTERVAL`` passed.

    The instances are kept when only the availability changed since they were read.
    """
    now = time.time()
    current = process_state.catalog
    setting = getattr(settings, "RECOMMENDATIONS", None)
    same = (
        current is not None
        and current.adapter_class is type(adapter)
        and current.setting is setting
    )
    if (
        same
        and current.loaded_at > changes.availability_at
        and now - current.loaded_at < app_settings.RELOAD_INTERVAL
    ):
        return current
    rows = available_rows(adapter, adapter.available_items())
    if (
        same
        and current.instances_since > changes.catalog_at
        and now - current.instances_since < app_settings.CACHE_TIMEOUT
    ):
        fresh = Catalog(
            type(adapter),
            setting,
            now,
            rows,
            current.instances_since,
            current.instances,
            current.shown,
        )
    else:
        fresh = Catalog(type(adapter), setting, now, rows, now)
    fresh.instances_preload(adapter)
    process_state.catalog = fresh
    return fresh


def catalog_prepare(adapter: SettingsAdapter, changes: CatalogChanges) -> Catalog:
    """This process's catalog, with what lists show of every instance it holds (label,
    page, price) worded in the active language: for a process about to serve, so that
    its first lists do not each work out the pages of the items new to it."""
    current = catalog_current(adapter, changes)
    current.shown_of(adapter, list(current.instances.values()))
    return current
