"""NadarayaWatsonRegressor against statsmodels and scikit-learn, and the scikit-learn contract."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from regression_data import book_data, random_data
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from statsmodels.nonparametric.kernel_regression import KernelReg

import attnlab
from attnlab import NadarayaWatsonRegressor

# --- the scikit-learn contract ---------------------------------------------------------------


@parametrize_with_checks([NadarayaWatsonRegressor(), NadarayaWatsonRegressor(bandwidth="loo")])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_grid_search_pipeline_and_clone():
    x_train, y_train, x_test, y_test = book_data()
    search = GridSearchCV(
        NadarayaWatsonRegressor(), {"bandwidth": [0.05, 0.3, 3.0]}, cv=5, scoring="r2"
    ).fit(x_train[:, None], y_train)
    assert search.best_params_ == {"bandwidth": 0.3}
    pipeline = make_pipeline(StandardScaler(), NadarayaWatsonRegressor(bandwidth="loo"))
    pipeline.fit(x_train[:, None], y_train)
    assert pipeline.score(x_test[:, None], y_test) > 0.9
    model = NadarayaWatsonRegressor(kernel="tricube", bandwidth=0.7)
    copy = clone(model)
    assert copy.get_params() == {"kernel": "tricube", "bandwidth": 0.7}
    assert copy.fit(x_train[:, None], y_train).bandwidth_ == 0.7
    assert not hasattr(model, "bandwidth_") and not hasattr(clone(copy), "bandwidth_")


# --- oracles -----------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 3])
def test_predict_matches_statsmodels_kernelreg(d):
    X, y = random_data(80, d)
    queries = np.random.default_rng(1).uniform(-1, 6, size=(40, d))
    h = 0.6
    model = NadarayaWatsonRegressor(bandwidth=h).fit(X, y)
    # statsmodels' multivariate kernel is a product kernel: for the gaussian, the radial one
    oracle = KernelReg(endog=y, exog=X, var_type="c" * d, reg_type="lc", bw=[h] * d)
    expected, _ = oracle.fit(queries)
    np.testing.assert_allclose(model.predict(queries), expected, rtol=1e-10, atol=1e-12)


def test_per_feature_bandwidth_matches_statsmodels_and_kneighbors():
    X, y = random_data(70, 3, seed=2)
    queries = np.random.default_rng(3).uniform(0, 5, size=(30, 3))
    bandwidth = np.array([0.4, 1.5, 0.8])
    model = NadarayaWatsonRegressor(bandwidth=bandwidth).fit(X, y)
    statsmodels_fit, _ = KernelReg(y, X, var_type="ccc", reg_type="lc", bw=bandwidth).fit(queries)
    # per-feature bandwidths are one bandwidth on rescaled inputs
    neighbours = KNeighborsRegressor(n_neighbors=len(X), weights=lambda d: np.exp(-0.5 * d**2))
    neighbours.fit(X / bandwidth, y)
    np.testing.assert_allclose(model.predict(queries), statsmodels_fit, rtol=1e-10)
    np.testing.assert_allclose(model.predict(queries), neighbours.predict(queries / bandwidth))
    assert model.bandwidth_.tolist() == bandwidth.tolist()


@pytest.mark.parametrize(
    ("kernel", "weight"),
    [
        ("gaussian", lambda u: np.exp(-0.5 * u**2)),
        ("epanechnikov", lambda u: np.clip(1 - u**2, 0, None)),
        ("triangular", lambda u: np.clip(1 - u, 0, None)),
    ],
)
def test_predict_matches_kneighbors_with_kernel_weights(kernel, weight):
    X, y = random_data(100, 2, seed=4)
    queries = np.random.default_rng(5).uniform(1, 4, size=(50, 2))  # every window holds a key
    h = 1.2
    model = NadarayaWatsonRegressor(kernel=kernel, bandwidth=h).fit(X, y)
    oracle = KNeighborsRegressor(n_neighbors=len(X), weights=lambda d: weight(d / h)).fit(X, y)
    np.testing.assert_allclose(model.predict(queries), oracle.predict(queries), rtol=1e-10)


def test_attention_weights_are_the_pooling_weights():
    X, y = random_data(30, 2)
    model = NadarayaWatsonRegressor(bandwidth=0.5).fit(X, y)
    weights = model.attention_weights(X[:7] + 0.1)
    assert isinstance(weights, np.ndarray) and weights.shape == (7, 30)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    distances = np.linalg.norm(X[:7, None] + 0.1 - X[None], axis=-1)
    expected = np.exp(-0.5 * (distances / 0.5) ** 2)
    np.testing.assert_allclose(weights, expected / expected.sum(1, keepdims=True), rtol=1e-10)
    np.testing.assert_allclose(model.predict(X[:7] + 0.1), weights @ y, rtol=1e-10)


def test_multi_output_pools_each_target():
    X, y = random_data(40, 2)
    targets = np.column_stack([y, -2 * y, y**2])
    model = NadarayaWatsonRegressor(bandwidth=0.7).fit(X, targets)
    single = NadarayaWatsonRegressor(bandwidth=0.7).fit(X, y**2)
    prediction = model.predict(X[:5])
    assert prediction.shape == (5, 3)
    np.testing.assert_allclose(prediction[:, 1], -2 * prediction[:, 0])
    np.testing.assert_allclose(prediction[:, 2], single.predict(X[:5]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("d", [1, 2])
def test_chunked_prediction_equals_unchunked(monkeypatch, dtype, d):
    generator = torch.Generator().manual_seed(0)
    keys = torch.rand(300, d, generator=generator, dtype=dtype) * 5
    values = torch.randn(300, 2, generator=generator, dtype=dtype)
    queries = torch.rand(257, d, generator=generator, dtype=dtype) * 5
    for kernel in ("gaussian", "epanechnikov"):
        _, weights = attnlab.nadaraya_watson(queries, keys, values, kernel=kernel, bandwidth=1.3)
        expected = weights @ values  # the stable path, all queries at once
        monkeypatch.setattr(attnlab.pooling, "_CHUNK_ELEMENTS", 1000)  # 3 queries a chunk
        chunked, none = attnlab.nadaraya_watson(
            queries, keys, values, kernel=kernel, bandwidth=1.3, need_weights=False
        )
        monkeypatch.undo()
        assert none is None
        tolerance = 1e-5 if dtype == torch.float32 else 1e-12
        torch.testing.assert_close(chunked, expected, rtol=tolerance, atol=tolerance)


def test_fast_gaussian_path_recomputes_far_queries_exactly():
    # a query 100 bandwidths from every key: exp underflows, the stable path takes over
    keys = torch.tensor([0.0, 0.1, 0.2], dtype=torch.float64)
    values = torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)
    queries = torch.tensor([0.1, 10.0, -30.0], dtype=torch.float64)
    output, _ = attnlab.nadaraya_watson(queries, keys, values, bandwidth=0.1, need_weights=False)
    assert output.tolist() == pytest.approx(
        [(np.exp(-0.5) + 2 + 4 * np.exp(-0.5)) / (1 + 2 * np.exp(-0.5)), 4.0, 1.0]
    )
    # an infinite query is refused on either path, naming the argument
    queries = torch.tensor([0.1, np.inf], dtype=torch.float64)
    for need_weights in (False, True):
        with pytest.raises(ValueError, match=r"nadaraya_watson: queries must be finite; got 1 NaN"):
            attnlab.nadaraya_watson(queries, keys, values, bandwidth=0.1, need_weights=need_weights)


@given(
    st.integers(2, 30),
    st.floats(0.01, 10.0),
    st.sampled_from(["gaussian", "epanechnikov", "tricube"]),
    st.integers(0, 10_000),
)
def test_predictions_are_convex_combinations_of_targets(n, h, kernel, seed):
    X, y = random_data(n, 2, seed)
    model = NadarayaWatsonRegressor(kernel=kernel, bandwidth=h).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        prediction = model.predict(X[::-1] + 0.01)
    finite = prediction[np.isfinite(prediction)]
    assert np.all(finite >= y.min() - 1e-9) and np.all(finite <= y.max() + 1e-9)
    order = np.random.default_rng(seed).permutation(n)  # the training order does not matter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        shuffled = clone(model).fit(X[order], y[order]).predict(X[::-1] + 0.01)
    np.testing.assert_allclose(shuffled, prediction, rtol=1e-9, atol=1e-12)


def test_empty_window_gives_nan_and_one_warning_naming_the_estimator():
    X, y = random_data(20, 1)
    model = NadarayaWatsonRegressor(kernel="boxcar", bandwidth=0.5).fit(X, y)
    with pytest.warns(UserWarning) as record:
        prediction = model.predict([[2.5], [50.0], [-40.0]])
    messages = [str(warning.message) for warning in record]
    assert len(messages) == 1
    assert messages[0].startswith("NadarayaWatsonRegressor: 2 of 3 samples have no training point")
    assert "nadaraya_watson" not in messages[0]
    assert np.isfinite(prediction[0]) and np.isnan(prediction[1:]).all()


# --- errors --------------------------------------------------------------------------------------


def test_fit_and_predict_errors():
    X, y = random_data(10, 3)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        NadarayaWatsonRegressor().fit(np.where(X > 4, np.nan, X), y)
    with pytest.raises(ValueError, match="Input y contains NaN"):
        NadarayaWatsonRegressor().fit(X, np.where(y > 0, np.nan, y))
    model = NadarayaWatsonRegressor().fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, but NadarayaWatsonRegressor is "):
        model.predict(X[:, :2])
    for bad in (0.0, -1.0, np.inf, [1.0, 0.0, 1.0]):
        with pytest.raises(ValueError, match="NadarayaWatsonRegressor: bandwidth must be positive"):
            NadarayaWatsonRegressor(bandwidth=bad).fit(X, y)
    with pytest.raises(ValueError, match=r"bandwidth must be a scalar or 3 values"):
        NadarayaWatsonRegressor(bandwidth=[1.0, 2.0]).fit(X, y)
    with pytest.raises(ValueError, match=r"bandwidth must be .* or 'loo'; got 'auto'"):
        NadarayaWatsonRegressor(bandwidth="auto").fit(X, y)
    with pytest.raises(ValueError, match="NadarayaWatsonRegressor: kernel must be one of"):
        NadarayaWatsonRegressor(kernel="cosine").fit(X, y)
