"""Data and a brute-force leave-one-out oracle shared by the regression tests."""

import numpy as np

from attnlab.datasets import toy_regression


def book_data(seed=0, n_train=50):
    data = toy_regression(n_train, seed=seed)
    return tuple(t.double().numpy() for t in data)


def random_data(n=60, d=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 5, size=(n, d))
    y = np.sin(X).sum(axis=1) + 0.3 * rng.standard_normal(n)
    return X, y


def brute_force_loo(X, y, bandwidths, kernel=lambda u: np.exp(-0.5 * u**2)):
    """Leave-one-out mean squared error by an explicit loop over the left-out point."""
    X = X.reshape(len(X), -1)
    errors = []
    for h in bandwidths:
        residuals = []
        for i in range(len(X)):
            others = np.arange(len(X)) != i
            weights = kernel(np.linalg.norm((X[others] - X[i]) / h, axis=1))
            residuals.append(weights @ y[others] / weights.sum() - y[i])
        errors.append(np.mean(np.square(residuals)))
    return np.array(errors)
