"""Kernels: textbook formulas (written independently in NumPy) and density properties."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from attnlab import kernels

COMPACT = ["boxcar", "epanechnikov", "triangular", "tricube"]
DENSITIES = ["gaussian", *COMPACT]

TEXTBOOK = {
    "gaussian": lambda u: np.exp(-(u**2) / 2) / np.sqrt(2 * np.pi),
    "boxcar": lambda u: np.where(np.abs(u) <= 1, 0.5, 0.0),
    "epanechnikov": lambda u: np.where(np.abs(u) <= 1, 0.75 * (1 - u**2), 0.0),
    "triangular": lambda u: np.where(np.abs(u) <= 1, 1 - np.abs(u), 0.0),
    "tricube": lambda u: np.where(np.abs(u) <= 1, 70 / 81 * (1 - np.abs(u) ** 3) ** 3, 0.0),
    "constant": lambda u: np.ones_like(u),
}


@pytest.mark.parametrize("name", kernels.names)
def test_matches_textbook_formula(name):
    u = np.linspace(-3, 3, 601)
    got = kernels.get_kernel(name)(torch.tensor(u, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got, TEXTBOOK[name](u), atol=1e-12)


@pytest.mark.parametrize("name", DENSITIES)
def test_integrates_to_one(name):
    u = np.linspace(-10, 10, 400_001)
    values = kernels.get_kernel(name)(torch.tensor(u, dtype=torch.float64)).numpy()
    assert values.sum() * (u[1] - u[0]) == pytest.approx(1.0, abs=1e-4)  # Riemann sum


@pytest.mark.parametrize("name", COMPACT)
def test_zero_outside_support(name):
    kernel = kernels.get_kernel(name)
    assert kernel.support == 1.0
    u = torch.tensor([1.0001, 1.5, 10.0, -1.0001, -7.0])
    assert torch.equal(kernel(u), torch.zeros_like(u))
    assert torch.isneginf(kernel.log(u)).all()


def test_epanechnikov_is_not_triangular():
    # the book's code calls the triangular kernel "Epanechnikov"
    u = torch.tensor(0.5)
    assert kernels.epanechnikov(u) == pytest.approx(0.5625)
    assert kernels.triangular(u) == pytest.approx(0.5)


@given(st.floats(-5, 5, allow_nan=False), st.sampled_from(kernels.names))
def test_non_negative_and_symmetric(u, name):
    kernel = kernels.get_kernel(name)
    value = kernel(torch.tensor(u, dtype=torch.float64))
    assert value >= 0
    assert value == kernel(torch.tensor(-u, dtype=torch.float64))


@pytest.mark.parametrize("name", ["epanechnikov", "triangular", "tricube", "gaussian"])
def test_gradient_is_finite_at_support_edge_and_centre(name):
    u = torch.tensor([-1.0, 0.0, 1.0, 2.0], requires_grad=True)
    kernels.get_kernel(name)(u).sum().backward()
    assert torch.isfinite(u.grad).all()


def test_log_kernel_does_not_underflow():
    # exp(-u^2 / 2) is 0 in float32 for u = 20, but the log-kernel stays exact
    log_k = kernels.gaussian.log(torch.tensor(20.0))
    assert log_k.item() == pytest.approx(-200 - 0.5 * math.log(2 * math.pi))


def test_user_callable_kernel():
    cauchy = kernels.get_kernel(lambda u: 1 / (math.pi * (1 + u**2)))
    assert cauchy(torch.tensor(0.0)).item() == pytest.approx(1 / math.pi)


def test_user_callable_must_return_non_negative_values():
    with pytest.raises(ValueError, match="kernel 'bad' must return non-negative values"):

        def bad(u):
            return -u.abs()

        kernels.get_kernel(bad).log(torch.ones(3))


def test_user_callable_must_keep_shape():
    with pytest.raises(ValueError, match=r"must return one value per input, of shape \(3,\)"):
        kernels.get_kernel(lambda u: u.sum()).log(torch.ones(3))


def test_unknown_kernel_name():
    with pytest.raises(
        ValueError, match="get_kernel: kernel must be one of 'gaussian', .*; got 'gauss'"
    ):
        kernels.get_kernel("gauss")


def test_kernel_of_wrong_type():
    with pytest.raises(
        TypeError, match="kernel must be a kernel name, an attnlab Kernel or a callable"
    ):
        kernels.get_kernel(3)
