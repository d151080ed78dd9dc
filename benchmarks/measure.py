"""Run one model per forked child and measure its wall time and peak memory.

Peak memory is the growth of the resident set: the child resets the kernel's
high-water mark (``/proc/self/clear_refs``), notes ``VmRSS`` before fitting and reads
``VmHWM`` after, so the data inherited from the parent does not count.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def limit_threads(threads: int = 2) -> None:
    """Cap BLAS/OpenMP threads (call before numpy is imported); the machine has 2 cores."""
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, str(threads))


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not found in /proc/self/status")


def start_memory() -> int:
    """Reset this process's peak RSS and return the current RSS in kB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kb("VmRSS")


def peak_growth_mb(baseline_kb: int) -> float:
    """Peak RSS since :func:`start_memory`, minus the RSS it started from, in MB."""
    return (_status_kb("VmHWM") - baseline_kb) / 1024


def peak_rss_mb() -> float:
    """Peak resident set of this process since :func:`start_memory`, data included, in MB."""
    return _status_kb("VmHWM") / 1024


def _child(connection: Any, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        connection.send(("ok", func(*args)))
    except BaseException as exc:  # report anything to the parent, which keeps going
        message = str(exc) or type(exc).__name__
        connection.send(("error", f"{type(exc).__name__}: {message}", traceback.format_exc()))
    finally:
        connection.close()


def in_child(func: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    """Run ``func(*args)`` in a forked process: ("ok", result) or ("error", message)."""
    context = mp.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, func, args))
    process.start()
    sender.close()
    try:
        outcome = receiver.recv()
    except EOFError:
        outcome = ("error", "the child process died (out of memory?)")
    process.join()
    return outcome[0], outcome[1]
