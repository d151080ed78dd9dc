"""L2-regularised logistic regression by Newton's method, for few features and many rows.

The blend's ranker learns a dozen weights from hundreds of thousands of candidates,
several times per training (each variant cross-fitted, then on all folds). With so few
features the Hessian is a tiny matrix: Newton's method reaches the optimum in a handful
of passes over the rows, where a quasi-Newton solver needs many more.
"""

from __future__ import annotations

import numpy as np

#: Newton steps at most; the optimum is usually reached in under ten.
MAX_ITERATIONS = 50
#: Converged when no coefficient moves more than this in a step.
TOLERANCE = 1e-6
#: Step halvings at most while the objective does not decrease.
MAX_HALVINGS = 30


def _objective(margin: np.ndarray, labels: np.ndarray, coef: np.ndarray, c: float) -> float:
    """``c * sum(log loss) + ||coef||^2 / 2`` for the margins ``x @ coef + intercept``."""
    # log(1 + exp(-m)) for a positive label, log(1 + exp(m)) for a negative one.
    signed = np.where(labels, -margin, margin)
    return float(c * np.logaddexp(0.0, signed).sum() + 0.5 * coef @ coef)


def logistic_fit(
    inputs: np.ndarray, labels: np.ndarray, *, c: float = 1.0
) -> tuple[np.ndarray, float]:
    """Coefficients and intercept minimising ``c * sum(log loss) + ||coef||^2 / 2``.

    The objective of scikit-learn's ``LogisticRegression(C=c)`` (the intercept is not
    penalised), solved exactly rather than to a tolerance. ``labels`` are booleans.
    """
    inputs = np.asarray(inputs, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    n_rows, n_features = inputs.shape
    design = np.empty((n_rows, n_features + 1))
    design[:, :n_features] = inputs
    design[:, n_features] = 1.0
    # The curvature only steers the steps (the gradient is exact): single precision,
    # half the memory traffic of the costliest product.
    design32 = design.astype(np.float32)
    target = labels.astype(np.float64)
    penalty = np.ones(n_features + 1)
    penalty[n_features] = 0.0  # the intercept
    weights = np.zeros(n_features + 1)
    margin = np.zeros(n_rows)
    current = _objective(margin, labels, weights[:n_features], c)
    for _ in range(MAX_ITERATIONS):
        probability = 0.5 * (1.0 + np.tanh(0.5 * margin))  # the sigmoid, without overflow
        gradient = c * (design.T @ (probability - target)) + penalty * weights
        curvature = probability * (1.0 - probability)
        hessian = c * (design32.T @ (design32 * curvature.astype(np.float32)[:, None]))
        hessian = hessian.astype(np.float64)
        hessian[np.diag_indices(n_features + 1)] += penalty
        # A tiny ridge keeps the intercept's row solvable when every row is alike.
        hessian[n_features, n_features] += 1e-12
        step = np.linalg.solve(hessian, gradient)
        size = 1.0
        for _ in range(MAX_HALVINGS):
            trial = weights - size * step
            trial_margin = design @ trial
            value = _objective(trial_margin, labels, trial[:n_features], c)
            if value <= current:
                break
            size *= 0.5
        else:
            break  # no decrease in any direction this small: at the optimum
        weights, margin, current = trial, trial_margin, value
        if np.max(np.abs(size * step)) < TOLERANCE:
            break
    return weights[:n_features], float(weights[n_features])
