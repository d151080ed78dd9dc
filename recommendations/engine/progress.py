"""How far a long fit is, for whoever watches it (the training's progress on the lock row).

A fit made of many steps (the blend: each component on each validation period, then on
all events) calls :func:`progress_report` after each; inside :func:`progress_reporting`
the watcher's callback gets the share done, elsewhere nothing happens. Nested fits (a
blend's components) report as parts of the outer one: only the outermost reporter is
called, with the inner share mapped into the outer step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: Called with the share done (0 to 1) and what was just done.
Reporter = Callable[[float, str], None]

_reporter: ContextVar[Reporter | None] = ContextVar("recommendations_progress", default=None)


@contextmanager
def progress_reporting(reporter: Reporter) -> Iterator[None]:
    """Send the fits' progress inside the block to ``reporter``."""
    token = _reporter.set(reporter)
    try:
        yield
    finally:
        _reporter.reset(token)


@contextmanager
def progress_step(done: int, total: int) -> Iterator[None]:
    """Map the progress reported inside the block into step ``done`` of ``total``.

    Step ``done`` (0-based) covers the shares ``done / total`` to ``(done + 1) / total``
    of the reporter outside the block.
    """
    outer = _reporter.get()
    if outer is None or total <= 0:
        yield
        return

    def inner(share: float, what: str) -> None:
        outer((done + min(max(share, 0.0), 1.0)) / total, what)

    token = _reporter.set(inner)
    try:
        yield
    finally:
        _reporter.reset(token)


@contextmanager
def progress_silenced() -> Iterator[None]:
    """Report nothing from inside the block: work on other threads, whose caller says
    how far it is itself."""
    token = _reporter.set(None)
    try:
        yield
    finally:
        _reporter.reset(token)


def progress_report(done: int, total: int, what: str) -> None:
    """Say that ``done`` of ``total`` steps are done (nothing without a reporter)."""
    reporter = _reporter.get()
    if reporter is not None and total > 0:
        reporter(min(done / total, 1.0), what)
