"""The fit-time half of the blend's ranker: its logistic regression (scikit-learn).

:mod:`recommendations.engine.blend` resolves :func:`logistic_coefficients` by its dotted
path when it fits, so a process that only ranks with a fitted blend (its coefficients)
never imports scikit-learn.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression


def logistic_coefficients(inputs: np.ndarray, labels: np.ndarray, *, c: float) -> np.ndarray:
    """Coefficients of an L2 logistic regression of ``labels`` on ``inputs`` (no intercept).

    Parameters
    ----------
    inputs : ndarray of shape (n_samples, n_features)
        Standardised features.
    labels : ndarray of bool, shape (n_samples,)
        The outcome; both values must occur.
    c : float
        Inverse strength of the L2 penalty (scikit-learn's ``C``).

    Returns
    -------
    ndarray of shape (n_features,)
        One weight per feature; the intercept is fitted but not returned.
    """
    model = LogisticRegression(C=c, max_iter=1000)
    model.fit(inputs, labels)
    return model.coef_.ravel()
