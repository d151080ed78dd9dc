"""The demo store's adapter, able to stop a training midway for the fault tests."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from recommendations.adapters import EventArrays
from shop.recommendations_adapter import ShopAdapter


class BlockingAdapter(ShopAdapter):
    """With ``FAULTS_BLOCK_MARKER`` set, a training writes that file and waits forever.

    The training holds the lock by then, so a test can kill the process at that point.
    """

    def training_events(self) -> EventArrays:
        marker = os.environ.get("FAULTS_BLOCK_MARKER")
        if marker:
            Path(marker).write_text(str(os.getpid()))
            threading.Event().wait()
        return super().training_events()
