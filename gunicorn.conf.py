"""gunicorn's settings for this project: read from the working directory by default.

Each worker prepares serving as it starts, after forking (database, cache and object
storage clients are then its own, with or without ``--preload``): the active model, the
catalog and the history statements are loaded before its first shopper arrives, then
frozen out of the garbage collector's scans with everything else loaded so far.
"""

from __future__ import annotations

import gc
from typing import Any


def post_worker_init(worker: Any) -> None:
    """Prepare serving in a new worker, then freeze what it loaded."""
    # Imported here: the master reads this file before Django is set up.
    from recommendations.selectors import serving_prepare

    serving_prepare()
    gc.freeze()
