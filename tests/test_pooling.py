"""average_pooling and nadaraya_watson against statsmodels and scikit-learn, plus invariants."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from sklearn.neighbors import KNeighborsRegressor
from statsmodels.nonparametric.kernel_regression import KernelReg

import attnlab.pooling
from attnlab import average_pooling, datasets, kernels, nadaraya_watson


@pytest.fixture
def book():
    return datasets.toy_regression(seed=0, dtype=torch.float64)


# --- oracles ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bandwidth", [0.1, 0.5, 1.0, 3.0])
def test_nw_equals_statsmodels_kernelreg(book, bandwidth):
    oracle = KernelReg(
        book.y_train.numpy(), book.x_train.numpy(), var_type="c", reg_type="lc", bw=[bandwidth]
    )
    expected, _ = oracle.fit(book.x_test.numpy())
    output, _ = nadaraya_watson(book.x_test, book.x_train, book.y_train, bandwidth=bandwidth)
    # statsmodels exponentiates before normalising, so narrow bandwidths cost it a few digits
    np.testing.assert_allclose(output.numpy(), expected, rtol=1e-7, atol=1e-7)


def test_multivariate_gaussian_nw_equals_statsmodels_product_kernel():
    # a product of Gaussians is the radial Gaussian of the scaled Euclidean distance
    rng = np.random.default_rng(3)
    x_train, x_test = rng.uniform(-2, 2, (60, 2)), rng.uniform(-2, 2, (25, 2))
    y_train = np.sin(x_train[:, 0]) + x_train[:, 1] ** 2 + rng.normal(0, 0.1, 60)
    bandwidth = np.array([0.4, 0.9])
    oracle = KernelReg(y_train, x_train, var_type="cc", reg_type="lc", bw=bandwidth)
    expected, _ = oracle.fit(x_test)
    output, _ = nadaraya_watson(
        torch.tensor(x_test),
        torch.tensor(x_train),
        torch.tensor(y_train),
        bandwidth=torch.tensor(bandwidth),
    )
    np.testing.assert_allclose(output.numpy(), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("bandwidth", [0.3, 1.0])
def test_nw_equals_kneighbors_regressor_with_gaussian_weights(bandwidth):
    rng = np.random.default_rng(4)
    x_train, x_test = rng.normal(size=(40, 3)), rng.normal(size=(15, 3))
    y_train = rng.normal(size=(40, 2))
    oracle = KNeighborsRegressor(
        n_neighbors=40, weights=lambda distances: np.exp(-0.5 * (distances / bandwidth) ** 2)
    ).fit(x_train, y_train)
    output, weights = nadaraya_watson(
        torch.tensor(x_test), torch.tensor(x_train), torch.tensor(y_train), bandwidth=bandwidth
    )
    # scikit-learn's distances come from |a|^2 + |b|^2 - 2ab, good to about 1e-8
    np.testing.assert_allclose(output.numpy(), oracle.predict(x_test), rtol=1e-5, atol=1e-7)
    assert weights.shape == (15, 40)


def test_constant_kernel_is_average_pooling(book):
    nw, nw_weights = nadaraya_watson(book.x_test, book.x_train, book.y_train, kernel="constant")
    average, average_weights = average_pooling(book.x_test, book.x_train, book.y_train)
    torch.testing.assert_close(nw, average)
    torch.testing.assert_close(nw_weights, average_weights)
    torch.testing.assert_close(average, book.y_train.mean().expand(len(book.x_test)))


def test_weights_follow_the_formula(book):
    # softmax of -(x - x_i)^2 / (2 h^2) is the book's formula with w = 1 / h
    h = 0.7
    _, weights = nadaraya_watson(book.x_test, book.x_train, book.y_train, bandwidth=h)
    distances = book.x_test[:, None] - book.x_train[None, :]
    expected = torch.softmax(-0.5 * (distances / h) ** 2, dim=1)
    torch.testing.assert_close(weights, expected)


# --- conventions -----------------------------------------------------------------------------


def test_narrow_bandwidth_never_gives_nan(book):
    output, weights = nadaraya_watson(book.x_test, book.x_train, book.y_train, bandwidth=1e-4)
    assert torch.isfinite(output).all() and torch.isfinite(weights).all()
    nearest = (book.x_test[:, None] - book.x_train[None, :]).abs().argmin(dim=1)
    torch.testing.assert_close(output, book.y_train[nearest])


def test_leave_one_out_puts_zero_weight_on_each_point(book):
    _, weights = nadaraya_watson(
        book.x_train, book.x_train, book.y_train, bandwidth=0.5, leave_one_out=True
    )
    assert torch.equal(weights.diagonal(), torch.zeros(len(book.x_train), dtype=weights.dtype))
    torch.testing.assert_close(weights.sum(-1), torch.ones(len(book.x_train), dtype=weights.dtype))


def test_leave_one_out_with_batch_axes():
    keys = torch.randn(3, 8, 2)
    _, weights = nadaraya_watson(keys, keys, torch.randn(3, 8, 1), leave_one_out=True)
    assert torch.equal(weights.diagonal(dim1=-2, dim2=-1), torch.zeros(3, 8))


def test_empty_window_gives_zero_weights_nan_output_and_one_warning():
    keys = torch.tensor([0.0, 1.0])
    queries = torch.tensor([0.1, 5.0, 9.0])
    with pytest.warns(
        UserWarning, match=r"2 of 3 queries have no key inside the epanechnikov kernel's window"
    ) as record:
        output, weights = nadaraya_watson(queries, keys, keys, kernel="epanechnikov", bandwidth=0.5)
    assert len(record) == 1
    assert torch.equal(weights[1:], torch.zeros(2, 2))
    assert torch.isnan(output[1:]).all() and not torch.isnan(output[0])


def test_gradient_stays_finite_with_empty_rows_and_narrow_bandwidth():
    bandwidth = torch.tensor(0.3, requires_grad=True)
    values = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    keys = torch.tensor([0.0, 1.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        output, weights = nadaraya_watson(
            torch.tensor([0.0, 1.0, 7.0]), keys, values, kernel="tricube", bandwidth=bandwidth
        )
    output[:2].sum().backward()
    assert torch.isfinite(values.grad).all() and torch.isfinite(bandwidth.grad)
    assert not torch.isnan(weights).any()


def test_gradient_through_bandwidth_when_query_equals_key_in_several_dimensions():
    keys = torch.randn(6, 3)
    bandwidth = torch.tensor(1.0, requires_grad=True)
    output, _ = nadaraya_watson(keys, keys, torch.randn(6), bandwidth=bandwidth)
    output.sum().backward()
    assert torch.isfinite(bandwidth.grad)


def test_chunked_path_equals_full_path(monkeypatch, book):
    full, _ = nadaraya_watson(book.x_test, book.x_train, book.y_train, bandwidth=0.4)
    monkeypatch.setattr(attnlab.pooling, "_CHUNK_ELEMENTS", 7 * len(book.x_train))
    chunked, weights = nadaraya_watson(
        book.x_test, book.x_train, book.y_train, bandwidth=0.4, need_weights=False
    )
    assert weights is None
    torch.testing.assert_close(chunked, full)


def test_chunked_leave_one_out(monkeypatch, book):
    full, _ = nadaraya_watson(book.x_train, book.x_train, book.y_train, leave_one_out=True)
    monkeypatch.setattr(attnlab.pooling, "_CHUNK_ELEMENTS", 3 * len(book.x_train))
    chunked, _ = nadaraya_watson(
        book.x_train, book.x_train, book.y_train, leave_one_out=True, need_weights=False
    )
    torch.testing.assert_close(chunked, full)


def test_accepts_numpy_and_lists():
    output, weights = nadaraya_watson([0.0, 1.0], np.array([0.0, 1.0, 2.0]), [1, 2, 3])
    assert isinstance(output, torch.Tensor) and weights.shape == (2, 3)


def test_half_precision_inputs():
    keys = torch.linspace(0, 5, 30)
    output, _ = nadaraya_watson(keys.half(), keys.half(), torch.sin(keys).half(), bandwidth=0.05)
    assert output.dtype == torch.float16 and torch.isfinite(output).all()


@pytest.mark.parametrize("kernel", kernels.names)
def test_every_kernel_runs(book, kernel):
    output, weights = nadaraya_watson(
        book.x_test, book.x_train, book.y_train, kernel=kernel, bandwidth=2.0
    )
    assert torch.isfinite(output).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones_like(output))


# --- invariants ------------------------------------------------------------------------------

shapes = st.tuples(st.integers(1, 3), st.integers(1, 7), st.integers(1, 7), st.integers(1, 3))


@given(shapes, st.sampled_from(["gaussian", "constant"]), st.floats(0.05, 5), st.integers(0, 2**16))
def test_weights_are_a_distribution_and_output_is_weights_at_values(shape, kernel, bandwidth, seed):
    batch, n_queries, n_keys, d = shape
    generator = torch.Generator().manual_seed(seed)
    queries = torch.randn(batch, n_queries, d, generator=generator, dtype=torch.float64)
    keys = torch.randn(batch, n_keys, d, generator=generator, dtype=torch.float64)
    values = torch.randn(batch, n_keys, 2, generator=generator, dtype=torch.float64)
    output, weights = nadaraya_watson(queries, keys, values, kernel=kernel, bandwidth=bandwidth)
    assert weights.shape == (batch, n_queries, n_keys)
    assert (weights >= 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(batch, n_queries, dtype=torch.float64))
    torch.testing.assert_close(output, weights @ values)


@given(st.integers(2, 9), st.integers(1, 6), st.integers(0, 2**16))
def test_permutation_equivariance(n_keys, n_queries, seed):
    generator = torch.Generator().manual_seed(seed)
    queries = torch.randn(n_queries, generator=generator, dtype=torch.float64)
    keys = torch.randn(n_keys, generator=generator, dtype=torch.float64)
    values = torch.randn(n_keys, generator=generator, dtype=torch.float64)
    key_order = torch.randperm(n_keys, generator=generator)
    query_order = torch.randperm(n_queries, generator=generator)
    output, weights = nadaraya_watson(queries, keys, values, bandwidth=0.7)
    permuted_output, permuted_weights = nadaraya_watson(
        queries[query_order], keys[key_order], values[key_order], bandwidth=0.7
    )
    torch.testing.assert_close(permuted_output, output[query_order])
    torch.testing.assert_close(permuted_weights, weights[query_order][:, key_order])


# --- errors ----------------------------------------------------------------------------------


def test_mismatched_keys_and_values():
    with pytest.raises(
        ValueError,
        match=r"nadaraya_watson: keys and values must have the same number of keys; got keys.shape=\(5, 1\), values.shape=\(4, 1\)",
    ):
        nadaraya_watson(torch.zeros(3), torch.zeros(5), torch.zeros(4))


def test_mismatched_feature_sizes():
    with pytest.raises(
        ValueError,
        match=r"queries and keys must have the same number of features .*queries.shape=\(3, 2\), keys.shape=\(5, 3\)",
    ):
        nadaraya_watson(torch.zeros(3, 2), torch.zeros(5, 3), torch.zeros(5))


@pytest.mark.parametrize("bandwidth", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_bandwidth_value(bandwidth):
    with pytest.raises(
        ValueError, match="nadaraya_watson: bandwidth must be positive and finite; got bandwidth="
    ):
        nadaraya_watson(torch.zeros(3), torch.zeros(5), torch.zeros(5), bandwidth=bandwidth)


def test_bandwidth_of_wrong_type_or_shape():
    with pytest.raises(TypeError, match="belongs to NadarayaWatsonRegressor"):
        nadaraya_watson(torch.zeros(3), torch.zeros(5), torch.zeros(5), bandwidth="loo")
    with pytest.raises(
        ValueError,
        match=r"bandwidth must be a scalar or 2 values \(one per feature\); got bandwidth.shape=\(3,\)",
    ):
        nadaraya_watson(
            torch.zeros(3, 2), torch.zeros(5, 2), torch.zeros(5), bandwidth=[1.0, 1.0, 1.0]
        )


def test_unknown_kernel():
    with pytest.raises(ValueError, match="nadaraya_watson: kernel must be one of 'gaussian'"):
        nadaraya_watson(torch.zeros(3), torch.zeros(5), torch.zeros(5), kernel="rbf")


def test_leave_one_out_needs_queries_equal_to_keys():
    with pytest.raises(
        ValueError,
        match="leave_one_out=True needs the queries to be the keys .*got 3 queries and 5 keys",
    ):
        nadaraya_watson(torch.zeros(3), torch.zeros(5), torch.zeros(5), leave_one_out=True)


def test_scalar_and_empty_inputs():
    with pytest.raises(
        ValueError, match=r"average_pooling: queries must have shape \(n,\) for scalar items"
    ):
        average_pooling(torch.tensor(1.0), torch.zeros(5), torch.zeros(5))
    with pytest.raises(ValueError, match="keys must hold at least one key"):
        nadaraya_watson(torch.zeros(3), torch.zeros(0), torch.zeros(0))


def test_batch_axes_that_do_not_broadcast():
    with pytest.raises(
        ValueError, match="leading \\(batch\\) axes of queries, keys and values must broadcast"
    ):
        nadaraya_watson(torch.zeros(2, 3, 1), torch.zeros(3, 5, 1), torch.zeros(3, 5, 1))


def test_non_numeric_input():
    with pytest.raises(TypeError, match="nadaraya_watson: keys must be a tensor, a NumPy array"):
        nadaraya_watson(torch.zeros(3), "keys", torch.zeros(5))
