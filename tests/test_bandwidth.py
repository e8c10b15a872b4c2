"""select_bandwidth: leave-one-out bandwidth choice against statsmodels' cv_ls and brute force."""

import warnings

import numpy as np
import pytest
from regression_data import book_data, brute_force_loo, random_data
from statsmodels.nonparametric.kernel_regression import KernelReg

from attnlab import BandwidthCurve, NadarayaWatsonRegressor, select_bandwidth

# --- bandwidth selection -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_loo_bandwidth_agrees_with_statsmodels_cv_ls(seed):
    x_train, y_train, _, _ = book_data(seed)
    oracle = KernelReg(y_train, x_train, var_type="c", reg_type="lc", bw="cv_ls")
    bandwidth = select_bandwidth(x_train, y_train)
    assert isinstance(bandwidth, float)
    assert bandwidth == pytest.approx(oracle.bw[0], rel=0.02)
    model = NadarayaWatsonRegressor(bandwidth="loo").fit(x_train[:, None], y_train)
    assert model.bandwidth_ == bandwidth


def test_loo_bandwidth_is_the_global_minimum_of_a_brute_force_search():
    # a step target: its leave-one-out curve is not convex, and the grid has to find the basin
    rng = np.random.default_rng(7)
    x = np.sort(rng.uniform(0, 5, 40))
    y = np.where(x > 2.5, 1.0, -1.0) + 0.2 * rng.standard_normal(40)
    bandwidth, curve = select_bandwidth(x, y, return_curve=True)
    dense = np.geomspace(curve.bandwidths[0], curve.bandwidths[-1], 400)
    best_dense = brute_force_loo(x, y, dense).min()
    assert brute_force_loo(x, y, [bandwidth])[0] <= best_dense + 1e-9
    # the curve is the leave-one-out error at its bandwidths
    np.testing.assert_allclose(curve.errors, brute_force_loo(x, y, curve.bandwidths), rtol=1e-9)


def test_curve_shape_and_bounds():
    x_train, y_train, _, _ = book_data()
    bandwidth, curve = select_bandwidth(
        x_train, y_train, bounds=(0.05, 2.0), n_grid=12, return_curve=True
    )
    assert isinstance(curve, BandwidthCurve)
    assert curve.bandwidths.shape == curve.errors.shape == (12,)
    assert curve.bandwidths[0] == pytest.approx(0.05) and curve.bandwidths[-1] == pytest.approx(2)
    assert np.all(np.diff(np.log(curve.bandwidths)) == pytest.approx(np.log(40) / 11))
    assert 0.05 <= bandwidth <= 2.0
    assert curve.errors.min() >= brute_force_loo(x_train, y_train, [bandwidth])[0] - 1e-12


@pytest.mark.parametrize("kernel", ["boxcar", "epanechnikov", "tricube"])
def test_compact_kernels_never_return_an_inadmissible_bandwidth(kernel):
    x_train, y_train, _, _ = book_data(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning spam from inadmissible candidates
        bandwidth, curve = select_bandwidth(
            x_train, y_train, kernel=kernel, bounds=(0.01, 3.0), return_curve=True
        )
    gaps = np.abs(x_train[:, None] - x_train[None])
    np.fill_diagonal(gaps, np.inf)
    assert bandwidth > gaps.min(axis=1).max()  # every point has a neighbour in its window
    assert np.isnan(curve.errors[0]) and np.isfinite(curve.errors[-1])


def test_multivariate_selection_scales_each_feature_by_its_spread():
    X, y = random_data(60, 2, seed=5)
    X[:, 1] *= 10  # the same problem with feature 1 in other units
    bandwidth = select_bandwidth(X, y)
    assert isinstance(bandwidth, np.ndarray) and bandwidth.shape == (2,)
    assert bandwidth[1] / bandwidth[0] == pytest.approx(X[:, 1].std() / X[:, 0].std())
    model = NadarayaWatsonRegressor(bandwidth="loo").fit(X, y)
    np.testing.assert_allclose(model.bandwidth_, bandwidth)
    scale = bandwidth / X.std(axis=0)
    single = select_bandwidth(X / X.std(axis=0), y)  # one scale times each spread
    np.testing.assert_allclose(single, scale, rtol=1e-6)
    assert brute_force_loo(X, y, [bandwidth])[0] < brute_force_loo(X, y, [bandwidth * 1.5])[0]


# --- errors ------------------------------------------------------------------------------------


def test_select_bandwidth_errors():
    x, y = random_data(10, 1)
    with pytest.raises(ValueError, match="select_bandwidth: X must not contain NaN"):
        select_bandwidth(np.where(x > 4, np.nan, x), y)
    with pytest.raises(ValueError, match="select_bandwidth: y must not contain NaN"):
        select_bandwidth(x, np.where(y > 0, np.nan, y))
    with pytest.raises(ValueError, match="the same number of points"):
        select_bandwidth(x, y[:-1])
    with pytest.raises(ValueError, match="at least 3 points; got n_samples=2"):
        select_bandwidth(x[:2], y[:2])
    for bounds in ((0.0, 1.0), (2.0, 1.0), (0.1, np.inf), (1.0,)):
        with pytest.raises(ValueError, match="select_bandwidth: bounds must"):
            select_bandwidth(x, y, bounds=bounds)
    with pytest.raises(ValueError, match="n_grid must be an integer >= 3"):
        select_bandwidth(x, y, n_grid=2)
    with pytest.raises(ValueError, match="kernel must be one of"):
        select_bandwidth(x, y, kernel="cosine")
    with pytest.raises(ValueError, match="no bandwidth in .* gives every point a neighbour"):
        select_bandwidth(x, y, kernel="boxcar", bounds=(1e-6, 1e-5))
