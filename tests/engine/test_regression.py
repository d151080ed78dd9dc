"""The numpy Theil-Sen line against ``scipy.stats.theilslopes``."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from recommendations.engine.regression import theil_sen


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("tied_x", [False, True], ids=["distinct-x", "tied-x"])
def test_theil_sen_matches_scipy(seed: int, tied_x: bool) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 60))
    # Tied x (several points on one day) are the pairs scipy leaves out.
    x = rng.integers(0, n // 2 + 1, n).astype(float) if tied_x else rng.normal(size=n)
    y = -0.3 * x + rng.standard_cauchy(n)
    expected = scipy.stats.theilslopes(y, x)
    slope, intercept = theil_sen(x, y)
    np.testing.assert_allclose(slope, expected.slope, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(intercept, expected.intercept, rtol=1e-12, atol=1e-12)


def test_theil_sen_ignores_an_outlier() -> None:
    x = np.arange(10.0)
    y = 2.0 * x + 1.0
    y[7] = 1000.0
    assert theil_sen(x, y) == pytest.approx((2.0, 1.0))


def test_theil_sen_refuses_a_single_x() -> None:
    with pytest.raises(ValueError, match="different x"):
        theil_sen([1.0, 1.0, 1.0], [0.0, 1.0, 2.0])
