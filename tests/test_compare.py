"""compare_methods: every method checked against a NumPy oracle written from its formula."""

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.compare import METHODS, Comparison, compare_methods
from attnlab.datasets import toy_regression


def nw_oracle(x_query, x_train, y_train, bandwidth, leave_one_out=False):
    """Nadaraya-Watson with a Gaussian kernel, from the formula, in float64 NumPy."""
    x_query, x_train, y_train = (
        np.asarray(a, dtype=np.float64) for a in (x_query, x_train, y_train)
    )
    log_kernel = -0.5 * ((x_query[:, None] - x_train[None, :]) / bandwidth) ** 2
    if leave_one_out:
        np.fill_diagonal(log_kernel, -np.inf)
    # divide numerator and denominator by the largest kernel value, so a narrow h cannot underflow
    kernel = np.exp(log_kernel - log_kernel.max(axis=1, keepdims=True))
    weights = kernel / kernel.sum(axis=1, keepdims=True)
    return weights @ y_train, weights


def loo_mse(x_train, y_train, bandwidth):
    prediction, _ = nw_oracle(x_train, x_train, y_train, bandwidth, leave_one_out=True)
    return float(np.mean((prediction - np.asarray(y_train, dtype=np.float64)) ** 2))


@pytest.fixture(scope="module")
def data():
    return toy_regression(50, seed=0)


@pytest.fixture(scope="module")
def comparison(data):
    return compare_methods(data, epochs=200)


def test_methods_in_order_with_shapes(comparison, data):
    assert isinstance(comparison, Comparison)
    assert tuple(comparison.fits) == tuple(method.label for method in METHODS)
    assert [fit.method for fit in comparison.fits.values()] == list(METHODS)
    assert [method.key for method in METHODS] == [
        "average_pooling", "nw_book", "nw_loo", "nw_learned"
    ]  # fmt: skip
    assert comparison.kernel == "gaussian"
    for fit in comparison.fits.values():
        assert fit.prediction.shape == (50,)
        assert fit.weights.shape == (50, 50)
        assert not fit.weights.requires_grad
        assert (fit.weights >= 0).all()
        torch.testing.assert_close(fit.weights.sum(-1), torch.ones(50))
        torch.testing.assert_close(fit.weights @ data.y_train, fit.prediction)
        by_hand = float(
            np.mean((fit.prediction.double().numpy() - data.y_test.double().numpy()) ** 2)
        )
        assert comparison.test_mse[fit.method.label] == pytest.approx(by_hand, rel=1e-5)


def test_average_pooling_matches_hand_computation(comparison, data):
    fit = comparison.fits["average pooling"]
    y_train, y_test = data.y_train.double().numpy(), data.y_test.double().numpy()
    expected = np.mean((y_train.mean() - y_test) ** 2)
    assert fit.test_mse == pytest.approx(expected, rel=1e-5)
    assert fit.bandwidth is None


def test_book_bandwidth_matches_oracle(comparison, data):
    fit = comparison.fits["NW, h = 1 (book)"]
    prediction, weights = nw_oracle(data.x_test, data.x_train, data.y_train, 1.0)
    assert fit.bandwidth == 1.0
    np.testing.assert_allclose(fit.weights.numpy(), weights, atol=1e-6)
    np.testing.assert_allclose(fit.prediction.numpy(), prediction, atol=1e-5)
    expected = np.mean((prediction - data.y_test.double().numpy()) ** 2)
    assert fit.test_mse == pytest.approx(expected, rel=1e-4)


def test_loo_bandwidth_minimises_the_leave_one_out_error(comparison, data):
    fit = comparison.fits["NW, leave-one-out h"]
    h = fit.bandwidth
    error_at_h = loo_mse(data.x_train, data.y_train, h)
    # no bandwidth nearby, nor the book's, does better on held-out training points
    for other in (1.0, h * 0.8, h * 1.25, *comparison.bandwidths):
        assert error_at_h <= loo_mse(data.x_train, data.y_train, other) + 1e-5
    # the curve holds leave-one-out errors, as recomputed from the formula
    pairs = list(zip(comparison.bandwidths, comparison.loo_errors, strict=True))
    for bandwidth, error in pairs[::7]:
        assert error == pytest.approx(loo_mse(data.x_train, data.y_train, bandwidth), rel=1e-3)
    prediction, _ = nw_oracle(data.x_test, data.x_train, data.y_train, h)
    np.testing.assert_allclose(fit.prediction.numpy(), prediction, atol=1e-5)


def test_learned_bandwidth_reaches_the_loo_optimum(comparison, data):
    learned = comparison.fits["NW, learned h"].bandwidth
    selected = comparison.fits["NW, leave-one-out h"].bandwidth
    # gradient descent on the leave-one-out loss and the search minimise the same function
    assert learned == pytest.approx(selected, rel=0.1)
    assert len(comparison.losses) == comparison.epochs == 200
    assert comparison.losses[-1] < comparison.losses[0]
    # the loss history is the leave-one-out MSE, as recomputed from the formula
    assert comparison.losses[0] == pytest.approx(loo_mse(data.x_train, data.y_train, 1.0), rel=1e-3)
    assert comparison.losses[-1] == pytest.approx(
        loo_mse(data.x_train, data.y_train, learned), rel=1e-2
    )
    prediction, _ = nw_oracle(data.x_test, data.x_train, data.y_train, learned)
    np.testing.assert_allclose(comparison.fits["NW, learned h"].prediction, prediction, atol=1e-5)


def test_attention_pooling_beats_average_pooling(comparison):
    mse = comparison.test_mse
    assert mse["NW, leave-one-out h"] < mse["average pooling"]
    assert mse["NW, learned h"] < mse["average pooling"]
    assert mse["NW, h = 1 (book)"] < mse["average pooling"]


def test_same_data_gives_identical_results(data):
    first, second = compare_methods(data, epochs=15), compare_methods(data, epochs=15)
    assert first.test_mse == second.test_mse
    assert first.losses == second.losses
    np.testing.assert_array_equal(first.loo_errors, second.loo_errors)


def test_other_target_and_default_data():
    data = toy_regression(30, function="sine", seed=4)
    result = compare_methods(data, epochs=5)
    assert result.fits["NW, learned h"].weights.shape == (50, 30)
    assert len(result.losses) == 5
    assert compare_methods(epochs=3).data.x_train.shape == (50,)


@pytest.mark.parametrize("epochs", [0, -3, 2.5, True])
def test_bad_epochs(data, epochs):
    with pytest.raises(ValueError, match=r"compare_methods: epochs must be a positive integer"):
        compare_methods(data, epochs=epochs)


def test_bad_data():
    with pytest.raises(
        TypeError, match=r"compare_methods: data must be an attnlab.datasets.Regression"
    ):
        compare_methods((torch.zeros(3),) * 4)


def test_table_lists_every_method_with_its_numbers(comparison):
    lines = comparison.table().splitlines()
    assert lines[0].split() == ["method", "h", "test", "MSE", "how", "h", "was", "chosen"]
    for line, (name, fit) in zip(lines[1:], comparison.fits.items(), strict=True):
        h, mse = line[len(name) :].split()[:2]
        assert line.startswith(name)
        assert float(mse) == pytest.approx(fit.test_mse, abs=5e-5)
        assert (
            h == "-"
            if fit.bandwidth is None
            else float(h) == pytest.approx(fit.bandwidth, abs=5e-4)
        )
    assert "200 epochs" in lines[-1]


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_train=st.integers(3, 60))
def test_invariants_on_any_draw(seed, n_train):
    data = toy_regression(n_train, seed=seed)
    result = compare_methods(data, epochs=3)
    for fit in result.fits.values():
        assert fit.weights.shape == (50, n_train)
        torch.testing.assert_close(fit.weights.sum(-1), torch.ones(50))
        assert np.isfinite(fit.test_mse)
    y_train, y_test = data.y_train.double().numpy(), data.y_test.double().numpy()
    by_hand = np.mean((y_train.mean() - y_test) ** 2)
    assert result.test_mse["average pooling"] == pytest.approx(by_hand, rel=1e-4)
    # the selected bandwidth never does worse on held-out training points than the book's
    selected = result.fits["NW, leave-one-out h"].bandwidth
    assert (
        loo_mse(data.x_train, data.y_train, selected)
        <= loo_mse(data.x_train, data.y_train, 1.0) + 1e-5
    )


def test_saved_files_come_from_the_method_records(comparison, tmp_path):
    written = comparison.save(tmp_path, seed=7)
    assert [path.name for path in written] == ["metrics.json", "weights.npz"]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert list(metrics["test_mse"]) == [method.label for method in METHODS]
    for method in METHODS:
        fit = comparison.fits[method.label]
        assert metrics["test_mse"][method.label] == fit.test_mse
        assert metrics["bandwidth"][method.label] == fit.bandwidth
    assert metrics["settings"] == {
        "n_train": 50, "n_test": 50, "epochs": 200, "kernel": "gaussian", "seed": 7
    }  # fmt: skip
    assert metrics["final_training_loss"] == comparison.losses[-1]
    with np.load(tmp_path / "weights.npz") as weights:
        assert weights.files == [method.key for method in METHODS]
        for method in METHODS:
            np.testing.assert_array_equal(
                weights[method.key], comparison.fits[method.label].weights.numpy()
            )


def test_kernel_is_recorded_and_used(data):
    result = compare_methods(data, kernel="epanechnikov", epochs=5)
    assert result.kernel == "epanechnikov"
    assert result.metrics()["settings"]["kernel"] == "epanechnikov"
    # a compact kernel: keys beyond h from a query get exactly zero weight
    fit = result.fits["NW, leave-one-out h"]
    far = (data.x_test[:, None] - data.x_train[None, :]).abs() >= fit.bandwidth
    assert (fit.weights[far] == 0).all()


def test_stages_are_reported_in_order(data):
    stages = []
    compare_methods(data, epochs=2, on_stage=stages.append)
    assert len(stages) == 3
    assert stages[0].startswith("fitting average pooling")
    assert "leave-one-out" in stages[1] and "2 epochs" in stages[2]
