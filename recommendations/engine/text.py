"""TF-IDF of the items' text over hashed terms (scikit-learn), built at training only.

The app names :func:`hashed_tfidf` by its dotted path, imported only when item features
are built, so a process that only serves fitted models does not import scikit-learn.
"""

from __future__ import annotations

import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer


def hashed_tfidf(documents: list[str], n_features: int) -> sp.csr_matrix:
    """One row per document: TF-IDF of its English words (no stop words), hashed."""
    text = HashingVectorizer(
        n_features=n_features, alternate_sign=False, norm=None, stop_words="english"
    ).transform(documents)
    if text.nnz:
        text = TfidfTransformer().fit_transform(text)
    return text
