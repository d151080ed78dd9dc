"""Results of expensive fits shared within one training, keyed by their exact inputs.

A training fits the same component on the same matrix several times: the blend's EASE
and a standalone EASE with another history setting (``recency_half_life_days`` and
``max_history`` change the scoring, not the weights), the candidates of the model
selection that differ only in such settings, the blend's final fit and its component
fitted alone. Inside :func:`shared_fits` the first fit's result is kept and the others
reuse it; outside, nothing is kept. The key is a digest of the matrix's arrays and of
the parameters the result depends on, so only identical inputs share a result.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

import numpy as np
import scipy.sparse as sp

T = TypeVar("T")

#: Bytes of arrays kept at most; the least recently used go first.
DEFAULT_MAX_BYTES = 1_000_000_000


class FitCache:
    """Least-recently-used results by key, bounded by the bytes of their arrays."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.entries: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The result kept under ``key``, else ``compute()`` kept under it.

        Safe from several threads (a social blend measures its folds at once); two
        threads missing the same key both compute it.
        """
        with self._lock:
            if key in self.entries:
                self.entries.move_to_end(key)
                self.hits += 1
                return self.entries[key][0]  # type: ignore[return-value]
            self.misses += 1
        value = compute()
        size = _nbytes(value)
        if size <= self.max_bytes:
            with self._lock:
                self.entries[key] = (value, size)
                while sum(size for _, size in self.entries.values()) > self.max_bytes:
                    self.entries.popitem(last=False)
        return value


_cache: ContextVar[FitCache | None] = ContextVar("recommendations_fit_cache", default=None)


@contextmanager
def shared_fits(max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[FitCache]:
    """Share identical fits until the block ends (nested blocks share the outer cache)."""
    outer = _cache.get()
    if outer is not None:
        yield outer
        return
    cache = FitCache(max_bytes)
    token = _cache.set(cache)
    try:
        yield cache
    finally:
        _cache.reset(token)


def matrix_digest(matrix: sp.spmatrix | np.ndarray) -> str:
    """A digest of a sparse (or dense) matrix's shape, pattern, values and dtype."""
    digest = hashlib.blake2b(digest_size=20)
    if sp.issparse(matrix):
        csr = sp.csr_matrix(matrix)
        csr.sort_indices()
        arrays = (csr.indptr, csr.indices, csr.data)
    else:
        arrays = (np.ascontiguousarray(matrix),)
    digest.update(repr(matrix.shape).encode())
    for array in arrays:
        digest.update(str(array.dtype).encode())
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def cached_fit(
    kind: str, matrix: sp.spmatrix, params: tuple[Hashable, ...], compute: Callable[[], T]
) -> T:
    """``compute()``, shared with identical earlier fits inside :func:`shared_fits`.

    The result must not be changed in place by its users: others may hold it.
    """
    cache = _cache.get()
    if cache is None:
        return compute()
    return cache.get_or_compute((kind, matrix_digest(matrix), params), compute)


def _nbytes(value: object) -> int:
    if sp.issparse(value):
        return int(sum(a.nbytes for a in (value.data, value.indices, value.indptr)))
    if isinstance(value, tuple | list):
        return sum(_nbytes(part) for part in value)
    return int(getattr(value, "nbytes", 0))  # numpy arrays, EASE's low-rank weights
