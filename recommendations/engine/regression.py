"""Robust line fits for the engine, in numpy alone (no ``scipy.stats`` at import)."""

from __future__ import annotations

from typing import Any

import numpy as np


def theil_sen(x: Any, y: Any) -> tuple[float, float]:
    """Theil-Sen line through ``(x, y)``: ``(slope, intercept)``.

    Parameters
    ----------
    x, y : array-like of the same length
        The points; at least two must differ in ``x``.

    Returns
    -------
    slope : float
        The median of the slopes between every pair of points with different ``x``.
    intercept : float
        ``median(y) - slope * median(x)``, as ``scipy.stats.theilslopes`` with its
        default ``method="separate"``.

    Raises
    ------
    ValueError
        If the lengths differ or no two points differ in ``x``.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.size != y.size:
        raise ValueError(f"x and y differ in length ({x.size} and {y.size}).")
    first, second = np.triu_indices(x.size, k=1)
    dx = x[second] - x[first]
    distinct = dx != 0
    if not distinct.any():
        raise ValueError("A line needs two points with different x.")
    slope = float(np.median((y[second] - y[first])[distinct] / dx[distinct]))
    return slope, float(np.median(y) - slope * np.median(x))
