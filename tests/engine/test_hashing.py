"""Numpy feature hashing: the columns and values scikit-learn's FeatureHasher gives."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction import FeatureHasher
from sklearn.utils import murmurhash3_32 as sklearn_murmurhash3_32

from recommendations.engine.hashing import feature_column, hash_features, murmurhash3_32


def test_murmurhash3_matches_scikit_learn_on_every_tail_length_and_random_bytes():
    rng = np.random.default_rng(0)
    samples = [b"", b"a", b"ab", b"abc", b"abcd", "país=España".encode()]
    samples += [rng.bytes(int(n)) for n in rng.integers(0, 40, size=500)]
    for data in samples:
        assert murmurhash3_32(data) == sklearn_murmurhash3_32(data, seed=0), data


@pytest.mark.parametrize("n_features", [2**8, 2**10, 7])
def test_hash_features_gives_feature_hashers_matrix(n_features):
    rows = [
        {"country=United Kingdom": 1.0, "birth_year=1980s": 1.0},
        {},
        {"category=Kitchen": 1.0, "price=3": 0.5, "país=España": 2.0},
    ]
    expected = FeatureHasher(n_features=n_features, alternate_sign=False).transform(rows)

    hashed = hash_features(rows, n_features)

    assert hashed.shape == expected.shape and hashed.dtype == np.float32
    np.testing.assert_allclose(hashed.toarray(), expected.toarray(), rtol=1e-6)


def test_hash_features_sums_features_that_share_a_column():
    name = "country=United Kingdom"
    column = feature_column(name, 4)
    other = next(f"k{i}" for i in range(100) if feature_column(f"k{i}", 4) == column)

    hashed = hash_features([{name: 1.0, other: 0.5}], 4)

    assert hashed.nnz == 1 and hashed[0, column] == pytest.approx(1.5)
