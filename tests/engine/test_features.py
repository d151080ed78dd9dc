"""Item and user feature matrices built from plain values."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.engine.features import item_features, one_hot, user_features


def test_item_features_puts_text_category_and_price_blocks_side_by_side():
    matrix = item_features(
        ["red mug", "blue mug", "red lantern", "garden lantern"],
        ["kitchen", "kitchen", "garden", "garden"],
        [1.0, 2.0, 3.0, 4.0],
        price_bands=2,
        price_weight=1.0,
    )
    assert sp.isspmatrix_csr(matrix) and matrix.dtype == np.float32
    assert matrix.shape[0] == 4
    dense = matrix.toarray()
    # Each block is L2-normalised, so each row has squared norm = number of blocks (3).
    np.testing.assert_allclose((dense**2).sum(axis=1), 3.0, rtol=1e-5)
    cosine = dense @ dense.T
    # Same category and a shared word beat a shared word alone.
    assert cosine[0, 1] > cosine[0, 2]
    assert cosine[2, 3] > cosine[1, 3]


def test_item_features_price_bands_split_at_quantiles_and_skip_missing_prices():
    matrix = item_features(["a b"] * 5, prices=[1.0, 2.0, None, 10.0, 20.0], price_bands=2)
    price_block = matrix.toarray()[:, -2:]
    assert price_block[2].sum() == 0
    assert price_block[0].argmax() == price_block[1].argmax()
    assert price_block[3].argmax() == price_block[4].argmax() != price_block[0].argmax()


def test_item_features_without_text_still_encodes_category():
    matrix = item_features(["", None, ""], ["x", "y", "x"], max_text_features=0)
    assert matrix.shape == (3, 2)
    assert matrix[0].toarray().tolist() == matrix[2].toarray().tolist()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"categories": ["a"]}, "categories has 1 values, expected 2"),
        ({"prices": [1.0]}, "prices has 1 values, expected 2"),
        ({"prices": [1.0, "cheap"]}, "prices must hold numbers"),
        ({"price_bands": 0}, "price_bands must be a positive integer"),
        ({"max_text_features": -1}, "max_text_features must be >= 0"),
    ],
)
def test_item_features_rejects_bad_input_with_a_clear_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        item_features(["a mug", "a cup"], **kwargs)


def test_one_hot_leaves_blank_values_empty():
    matrix = one_hot(["UK", "", None, "France", "UK"])
    assert matrix.shape == (5, 2)
    assert matrix.sum(axis=1).A1.tolist() == [1, 0, 0, 1, 1]


def test_user_features_encodes_country_and_age_band():
    matrix = user_features(
        ["UK", "France", ""], [1990, None, 1950], reference_year=2020, age_bands=(40, 60)
    )
    dense = matrix.toarray()
    assert dense.shape == (3, 2 + 3)
    assert dense[0].tolist() == [0, 1, 1, 0, 0]  # UK, aged 30
    assert dense[1].tolist() == [1, 0, 0, 0, 0]  # France, age unknown
    assert dense[2].tolist() == [0, 0, 0, 0, 1]  # no country, aged 70


def test_user_features_rejects_mismatched_birth_years():
    with pytest.raises(ValueError, match="birth_years has 1 values, expected 2"):
        user_features(["UK", "UK"], [1980])
