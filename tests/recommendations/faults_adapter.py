"""The demo store's adapter, able to stop a training midway for the fault tests."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from recommendations.adapters import EventArrays
from shop.recommendations_adapter import ShopAdapter


class BlockingAdapter(ShopAdapter):
    """With ``FAULTS_BLOCK_MARKER`` set, a training writes that file and waits forever.

    The training holds the lock by then, so a test can kill the process at that point.
    With ``FAULTS_HOLD_MARKER`` set, it writes that file and waits until the test
    deletes it: the training shows as running for as long as the test needs.
    """

    def training_events(self) -> EventArrays:
        marker = os.environ.get("FAULTS_BLOCK_MARKER")
        if marker:
            Path(marker).write_text(str(os.getpid()))
            threading.Event().wait()
        hold = os.environ.get("FAULTS_HOLD_MARKER")
        if hold:
            Path(hold).write_text(str(os.getpid()))
            while Path(hold).exists():
                time.sleep(0.1)
        return super().training_events()
