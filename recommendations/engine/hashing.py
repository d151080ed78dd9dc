"""Hashed features in numpy: what scikit-learn's ``FeatureHasher`` computes, without it.

Users' attributes are hashed at request time too; doing it here keeps scikit-learn out
of a web process. The columns are scikit-learn's (``alternate_sign=False``), so models
fitted on features hashed by either rank the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

_MASK = 0xFFFFFFFF


def _rotl(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (32 - bits))) & _MASK


def _mix(block: int) -> int:
    return (_rotl((block * 0xCC9E2D51) & _MASK, 15) * 0x1B873593) & _MASK


def murmurhash3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 (x86, 32 bits) of ``data`` as a signed integer, like scikit-learn's."""
    state = seed & _MASK
    body = len(data) - len(data) % 4
    for start in range(0, body, 4):
        state ^= _mix(int.from_bytes(data[start : start + 4], "little"))
        state = (_rotl(state, 13) * 5 + 0xE6546B64) & _MASK
    if body < len(data):
        state ^= _mix(int.from_bytes(data[body:], "little"))
    state ^= len(data)
    state ^= state >> 16
    state = (state * 0x85EBCA6B) & _MASK
    state ^= state >> 13
    state = (state * 0xC2B2AE35) & _MASK
    state ^= state >> 16
    return state - (1 << 32) if state & 0x80000000 else state


@lru_cache(maxsize=4096)
def feature_column(name: str, n_features: int) -> int:
    """The column ``FeatureHasher(n_features)`` gives the feature ``name``."""
    hashed = murmurhash3_32(name.encode("utf-8"))
    if hashed == -(1 << 31):  # abs() would overflow in int32: scikit-learn's special case
        return (2**31 - 1 - (n_features - 1)) % n_features
    return abs(hashed) % n_features


def hash_features(
    rows: Iterable[Mapping[str, float]], n_features: int, *, dtype: type = np.float32
) -> sp.csr_matrix:
    """One CSR row per mapping of feature name to value, values of equal columns summed."""
    indptr, indices, values = [0], [], []
    for row in rows:
        for name, value in row.items():
            indices.append(feature_column(name, n_features))
            values.append(value)
        indptr.append(len(indices))
    matrix = sp.csr_matrix(
        (np.asarray(values, dtype=dtype), np.asarray(indices, dtype=np.int32), indptr),
        shape=(len(indptr) - 1, n_features),
    )
    matrix.sum_duplicates()
    return matrix
