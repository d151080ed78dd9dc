"""Side information as sparse matrices: item text, category and price; user country and age.

Pure functions over lists and arrays: the caller extracts the values from its own models
and passes them in the order of the item (or user) indices of the interaction matrix.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

#: Upper bounds (exclusive) of the age bands of :func:`user_features`; older falls in the last.
AGE_BANDS = (25, 35, 45, 55, 65)


def _labels(values: Sequence[Any] | np.ndarray, *, name: str) -> list[str]:
    """Category-like values as stripped strings; ``None`` and blanks become ``""``."""
    if isinstance(values, str | bytes):
        raise ValueError(f"{name} must be a sequence of values, not a single string.")
    return ["" if value is None else str(value).strip() for value in values]


def one_hot(values: Sequence[Any] | np.ndarray, *, name: str = "values") -> sp.csr_matrix:
    """One column per distinct non-blank value (sorted); blank values get an empty row."""
    labels = _labels(values, name=name)
    vocabulary = sorted({label for label in labels if label})
    column = {label: j for j, label in enumerate(vocabulary)}
    rows = [i for i, label in enumerate(labels) if label]
    cols = [column[labels[i]] for i in rows]
    return sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)),
        shape=(len(labels), len(vocabulary)),
    )


def _bands(values: np.ndarray, edges: np.ndarray) -> sp.csr_matrix:
    """One-hot of the band each finite value falls in; NaN gets an empty row."""
    known = np.flatnonzero(np.isfinite(values))
    band = np.searchsorted(edges, values[known], side="right")
    return sp.csr_matrix(
        (np.ones(known.size, dtype=np.float32), (known, band)),
        shape=(values.size, edges.size + 1),
    )


def _float_array(values: Any, *, name: str, size: int) -> np.ndarray:
    try:
        array = np.asarray(
            [np.nan if value is None else value for value in values], dtype=np.float64
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must hold numbers or None: {exc}") from exc
    if array.ndim != 1 or array.size != size:
        raise ValueError(f"{name} has {array.size} values, expected {size}.")
    if np.any(np.isinf(array)):
        raise ValueError(f"{name} contains infinite values.")
    return array


def item_features(
    texts: Sequence[str | None],
    categories: Sequence[Any] | None = None,
    prices: Sequence[float | None] | None = None,
    *,
    max_text_features: int = 2000,
    price_bands: int = 5,
    text_weight: float = 1.0,
    category_weight: float = 1.0,
    price_weight: float = 0.5,
) -> sp.csr_matrix:
    """Item feature matrix from text, category and price, one row per item.

    Parameters
    ----------
    texts : sequence of str or None, length n_items
        Name and description of each item, joined by the caller.
    categories : sequence, optional
        Category label of each item (any hashable printed with ``str``); blank is none.
    prices : sequence of float or None, optional
        Price of each item; missing or NaN prices get no price band.
    max_text_features : int
        Largest vocabulary of the TF-IDF block (words and word pairs, most frequent kept).
    price_bands : int
        Number of price bands, cut at quantiles of the known prices.
    text_weight, category_weight, price_weight : float
        Scale of each L2-normalised block, so a cosine between two rows weighs the
        three kinds of evidence as the caller wishes.

    Returns
    -------
    csr_matrix of float32, shape (n_items, n_features)
        Blocks side by side: TF-IDF text, one-hot category, one-hot price band.
    """
    labels = _labels(texts, name="texts")
    n_items = len(labels)
    if n_items == 0:
        raise ValueError("texts is empty: item_features needs at least one item.")
    if isinstance(max_text_features, bool) or not isinstance(max_text_features, int):
        raise ValueError(f"max_text_features must be an integer, got {max_text_features!r}.")
    if max_text_features < 0:
        raise ValueError(f"max_text_features must be >= 0, got {max_text_features!r}.")
    if isinstance(price_bands, bool) or not isinstance(price_bands, int) or price_bands < 1:
        raise ValueError(f"price_bands must be a positive integer, got {price_bands!r}.")
    blocks: list[sp.csr_matrix] = []
    if max_text_features and any(labels):
        vectorizer = TfidfVectorizer(
            lowercase=True,
            ngram_range=(1, 2),
            max_features=max_text_features,
            sublinear_tf=True,
            dtype=np.float32,
            token_pattern=r"(?u)\b[^\W\d_]{2,}\b",
        )
        try:
            text = vectorizer.fit_transform(labels)
        except ValueError:
            # Every text is empty or stop-words only: there is no vocabulary to learn.
            text = None
        if text is not None:
            blocks.append(text_weight * normalize(text))
    if categories is not None:
        category_labels = _labels(categories, name="categories")
        if len(category_labels) != n_items:
            raise ValueError(f"categories has {len(category_labels)} values, expected {n_items}.")
        blocks.append(category_weight * one_hot(category_labels, name="categories"))
    if prices is not None:
        values = _float_array(prices, name="prices", size=n_items)
        known = values[np.isfinite(values)]
        if known.size:
            quantiles = np.quantile(known, np.linspace(0, 1, price_bands + 1)[1:-1])
            blocks.append(price_weight * _bands(values, np.unique(quantiles)))
    if not blocks:
        return sp.csr_matrix((n_items, 0), dtype=np.float32)
    return sp.csr_matrix(sp.hstack(blocks, format="csr"), dtype=np.float32)


def user_features(
    countries: Sequence[Any],
    birth_years: Sequence[int | None] | None = None,
    *,
    reference_year: int | None = None,
    age_bands: Sequence[int] = AGE_BANDS,
) -> sp.csr_matrix:
    """User feature matrix: one-hot country and, if birth years are given, one-hot age band.

    Parameters
    ----------
    countries : sequence, length n_users
        Country of each user; blank means unknown (an empty row in that block).
    birth_years : sequence of int or None, optional
        Year of birth of each user; ``None`` means unknown.
    reference_year : int, optional
        Year ages are computed at; defaults to the current year.
    age_bands : sequence of int
        Increasing upper bounds of the age bands; ages beyond the last share one band.

    Returns
    -------
    csr_matrix of float32, shape (n_users, n_features)
    """
    blocks = [one_hot(countries, name="countries")]
    n_users = blocks[0].shape[0]
    if birth_years is not None:
        years = _float_array(birth_years, name="birth_years", size=n_users)
        year = dt.date.today().year if reference_year is None else int(reference_year)
        edges = np.asarray(age_bands, dtype=np.float64)
        if edges.ndim != 1 or edges.size == 0 or np.any(np.diff(edges) <= 0):
            raise ValueError(f"age_bands must be increasing numbers, got {age_bands!r}.")
        blocks.append(_bands(year - years, edges))
    return sp.csr_matrix(sp.hstack(blocks, format="csr"), dtype=np.float32)
