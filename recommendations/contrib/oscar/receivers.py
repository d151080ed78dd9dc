"""Signal receivers of the Oscar integration, connected in ``AppConfig.ready()``."""

from __future__ import annotations

from typing import Any

from django.db import models

from recommendations.services import availability_changed, catalog_changed

# What lists show of a stock record (a product's price is its first record's); the rest
# (stock, allocations) only decides availability.
STOCK_SHOWN_FIELDS = ("product_id", "price", "price_currency")
# Set on a stock record by ``stock_saving``, read by ``stock_saved``.
_SHOWN_CHANGE = "_recommendations_shown_change"


def stock_saving(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    """Before a stock record is saved: note whether what lists show of it changes.

    Oscar's checkout allocates stock with ``allocate()``, which sends the save signals
    without ``update_fields``: the stored row tells an allocation from a price edit.
    """
    if kwargs.get("raw", False):
        return
    update_fields = kwargs.get("update_fields")
    if update_fields is not None:
        change = bool(set(update_fields) & {"product", *STOCK_SHOWN_FIELDS})
    elif instance.pk is None:
        change = True
    else:
        stored = sender._base_manager.filter(pk=instance.pk).values_list(*STOCK_SHOWN_FIELDS)
        change = stored.first() != tuple(getattr(instance, name) for name in STOCK_SHOWN_FIELDS)
    setattr(instance, _SHOWN_CHANGE, change)


def stock_saved(instance: models.Model, **kwargs: Any) -> None:
    """A stock record saved or allocated: availability only, unless its price changed."""
    if kwargs.get("raw", False):
        return
    if instance.__dict__.pop(_SHOWN_CHANGE, True):
        catalog_changed()
    else:
        availability_changed()


def catalog_row_changed(**kwargs: Any) -> None:
    """A stock record deleted, or a product's category saved or deleted: the catalog changed."""
    if not kwargs.get("raw", False):
        catalog_changed()
