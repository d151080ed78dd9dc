"""The ranker's logistic regression: scikit-learn's objective, solved by Newton's method."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from recommendations.engine.logistic import logistic_fit


def sample(n_rows: int = 4000, n_features: int = 6, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(n_rows, n_features)) * rng.uniform(0.5, 3.0, n_features)
    truth = rng.normal(size=n_features)
    labels = rng.random(n_rows) < 1.0 / (1.0 + np.exp(-(inputs @ truth - 2.0)))
    return inputs, labels


@pytest.mark.parametrize("c", [0.01, 1.0, 100.0])
def test_logistic_fit_finds_the_optimum_scikit_learn_approaches(c):
    inputs, labels = sample()
    coefficients, intercept = logistic_fit(inputs, labels, c=c)
    reference = LogisticRegression(C=c, tol=1e-12, max_iter=10_000).fit(inputs, labels)
    np.testing.assert_allclose(coefficients, reference.coef_.ravel(), rtol=1e-4, atol=1e-5)
    assert intercept == pytest.approx(reference.intercept_[0], rel=1e-4, abs=1e-5)


def test_at_its_solution_the_gradient_of_the_objective_vanishes():
    inputs, labels = sample(seed=1)
    c = 2.0
    coefficients, intercept = logistic_fit(inputs, labels, c=c)
    probability = 1.0 / (1.0 + np.exp(-(inputs @ coefficients + intercept)))
    residual = probability - labels
    # The objective is c * sum(log loss) + |coef|^2 / 2: its gradient, relative to the
    # size of the loss term's gradient at zero.
    scale = np.abs(c * inputs.T @ (0.5 - labels)).max()
    assert np.abs(c * inputs.T @ residual + coefficients).max() < 1e-6 * scale
    assert abs(c * residual.sum()) < 1e-6 * scale


def test_separable_rows_still_give_finite_coefficients():
    inputs = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    labels = np.array([False, False, True, True])
    coefficients, intercept = logistic_fit(inputs, labels, c=1.0)
    assert np.all(np.isfinite(coefficients)) and np.isfinite(intercept)
    assert coefficients[0] > 0
