"""Signal receivers of the Oscar integration, connected in ``AppConfig.ready()``."""

from __future__ import annotations

from typing import Any

from recommendations.services import catalog_changed


def stock_changed(**kwargs: Any) -> None:
    """A stock record saved, allocated or deleted: cached lists check availability again."""
    if not kwargs.get("raw", False):
        catalog_changed()
