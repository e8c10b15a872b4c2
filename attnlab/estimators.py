"""Nadaraya-Watson regression as a scikit-learn estimator, with leave-one-out bandwidth choice.

A toy regression is an attention pooling whose keys are the training inputs and whose values are
the training targets. The estimator wraps :func:`attnlab.nadaraya_watson` for ``fit``/``predict``
pipelines and exposes the weights; :func:`select_bandwidth` picks ``h`` by leave-one-out
cross-validation, each point predicted from all the others (zero weight on itself).

References
----------
1. E. A. Nadaraya, "On estimating regression", Theory Probab. Appl. 9 (1964).
2. G. S. Watson, "Smooth regression analysis", Sankhya A 26 (1964).
3. W. Härdle, *Applied Nonparametric Regression* (1990), section 5.1: cross-validation.
4. Q. Li, J. S. Racine, *Nonparametric Econometrics* (2007), section 2.2.
5. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 11.2.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral
from typing import NamedTuple

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from attnlab._validation import check_bandwidth
from attnlab.kernels import get_kernel
from attnlab.pooling import nadaraya_watson

__all__ = ["BandwidthCurve", "NadarayaWatsonRegressor", "select_bandwidth"]

_EMPTY_WINDOW = r"nadaraya_watson: \d+ of \d+ queries have no key inside"
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0  # 0.618...: the golden-section step


class BandwidthCurve(NamedTuple):
    """Leave-one-out error on the coarse grid of :func:`select_bandwidth`, for plotting.

    Examples
    --------
    >>> from attnlab import datasets, select_bandwidth
    >>> data = datasets.toy_regression(seed=0)
    >>> bandwidth, curve = select_bandwidth(data.x_train, data.y_train, return_curve=True)
    >>> curve.bandwidths.shape == curve.errors.shape
    True
    >>> bool(curve.errors.min() >= 0)
    True
    """

    bandwidths: np.ndarray
    """Grid of bandwidths, shape (n_grid,); for several features their geometric mean."""
    errors: np.ndarray
    """Leave-one-out mean squared error at each, shape (n_grid,); NaN where inadmissible."""


def _as_array(value, name: str, func: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        array = np.array(value, dtype=np.float64)  # a copy: torch needs writable memory
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{func}: {name} must be an array of numbers; got {value!r:.60}."
        ) from error
    if not np.isfinite(array).all():
        raise ValueError(
            f"{func}: {name} must not contain NaN or infinity; got {name}={array!r:.80}."
        )
    return array


def _nearest_distances(points: torch.Tensor) -> torch.Tensor:
    """Distance from each point to its nearest other point, shape (n,), in chunks of rows."""
    n = points.shape[0]
    nearest = torch.empty(n, dtype=points.dtype)
    rows = max(1, (1 << 22) // n)
    for start in range(0, n, rows):
        distances = torch.cdist(points[start : start + rows], points)  # (c, n)
        distances[:, start : start + rows].fill_diagonal_(math.inf)
        nearest[start : start + rows] = distances.amin(dim=1)
    return nearest


def select_bandwidth(
    X,
    y,
    *,
    kernel="gaussian",
    bounds: tuple[float, float] | None = None,
    n_grid: int = 24,
    return_curve: bool = False,
) -> float | np.ndarray | tuple[float | np.ndarray, BandwidthCurve]:
    """Choose the bandwidth that minimises the leave-one-out mean squared error.

    Each training point is predicted from all the others (:func:`attnlab.nadaraya_watson` with
    ``leave_one_out=True``, all points at once), the criterion of statsmodels' ``bw="cv_ls"``.
    The search runs on log-bandwidth: a coarse grid, so a local minimum cannot trap it, then a
    golden-section refinement between the best grid point's neighbours. With several features,
    the bandwidth of feature ``j`` is one common scale times that feature's standard deviation,
    and the scale is searched. A bandwidth at which some point has no other point inside a
    compact kernel's window is inadmissible and never returned.

    Parameters
    ----------
    X : array-like of shape (n,) or (n, d)
        Training inputs (NumPy array, tensor or nested list), at least 3 points.
    y : array-like of shape (n,) or (n, n_outputs)
        Training targets; with several outputs their errors are averaged.
    kernel : str, Kernel or callable, default "gaussian"
    bounds : (low, high), optional
        Search range of the bandwidth (for several features, of the geometric mean of the
        per-feature bandwidths). By default from a quarter of the median nearest-neighbour
        distance (from the largest one for a compact kernel, below which some point has no
        neighbour in its window) to ten standard deviations.
    n_grid : int, default 24
        Points of the coarse grid, evenly spaced in log-bandwidth.
    return_curve : bool, default False
        Also return the grid's errors as a :class:`BandwidthCurve`.

    Returns
    -------
    bandwidth : float, or ndarray of shape (d,) for several features
    curve : BandwidthCurve
        Only with ``return_curve=True``.

    Examples
    --------
    >>> from attnlab.datasets import toy_regression
    >>> data = toy_regression(seed=0)
    >>> bandwidth = select_bandwidth(data.x_train, data.y_train)
    >>> round(bandwidth, 3)
    0.252
    >>> bandwidth, curve = select_bandwidth(data.x_train, data.y_train, return_curve=True)
    >>> curve.bandwidths.shape, curve.errors.shape
    ((24,), (24,))
    """
    func = "select_bandwidth"
    inputs, targets = _as_array(X, "X", func), _as_array(y, "y", func)
    if inputs.ndim not in (1, 2) or targets.ndim not in (1, 2):
        raise ValueError(
            f"{func}: X must have shape (n,) or (n, d) and y (n,) or (n, n_outputs); "
            f"got X.shape={inputs.shape}, y.shape={targets.shape}."
        )
    inputs = inputs.reshape(len(inputs), -1)
    if len(inputs) != len(targets):
        raise ValueError(
            f"{func}: X and y must hold the same number of points; "
            f"got X.shape={inputs.shape}, y.shape={targets.shape}."
        )
    if len(inputs) < 3:
        raise ValueError(
            f"{func}: leave-one-out needs at least 3 points; got n_samples={len(inputs)}."
        )
    if isinstance(n_grid, bool) or not isinstance(n_grid, Integral) or n_grid < 3:
        raise ValueError(f"{func}: n_grid must be an integer >= 3; got {n_grid!r}.")
    kernel = get_kernel(kernel, func)

    # search a common scale c: feature j gets bandwidth c * spread_j (spread 1 if constant)
    spreads = inputs.std(axis=0)
    spreads[spreads == 0] = 1.0
    mean_spread = float(np.exp(np.log(spreads).mean()))  # geometric mean
    keys = torch.from_numpy(inputs)
    values = torch.from_numpy(targets)
    if bounds is None:
        nearest = _nearest_distances(keys / torch.from_numpy(spreads)).numpy()
        positive = nearest[nearest > 0]
        low = 0.25 * float(np.median(positive)) if positive.size else 1e-3
        high = max(10.0, 2.0 * float(nearest.max()))
        if math.isfinite(kernel.support):
            # below this, some point has no other point inside its window
            low = max(low, float(nearest.max()) / kernel.support)
        high = max(high, 10.0 * low)
    else:
        low, high = _check_bounds(bounds, func)
        low, high = low / mean_spread, high / mean_spread

    def loo_error(log_scale: float) -> float:
        bandwidth = math.exp(log_scale) * spreads  # (d,)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_EMPTY_WINDOW, category=UserWarning)
            output, _ = nadaraya_watson(
                keys,
                keys,
                values,
                kernel=kernel,
                bandwidth=torch.from_numpy(bandwidth),
                leave_one_out=True,
                need_weights=False,
            )
        error = float(((output - values) ** 2).mean())
        return error if math.isfinite(error) else math.inf  # NaN: some point had no neighbour

    # 1) coarse grid on log-scale
    grid = np.linspace(math.log(low), math.log(high), n_grid)
    errors = np.array([loo_error(point) for point in grid])
    if not np.isfinite(errors).any():
        raise ValueError(
            f"{func}: no bandwidth in [{low * mean_spread:.4g}, {high * mean_spread:.4g}] gives "
            f"every point a neighbour inside the {kernel.name} kernel's window; widen the bounds "
            "or use the gaussian kernel."
        )
    best = int(np.argmin(errors))
    # 2) golden-section refinement between the best grid point's neighbours
    left, right = grid[max(best - 1, 0)], grid[min(best + 1, n_grid - 1)]
    best_point, _ = _golden_section(loo_error, left, right, grid[best], errors[best])
    scale = math.exp(best_point)
    chosen = float(scale * spreads[0]) if inputs.shape[1] == 1 else scale * spreads
    if not return_curve:
        return chosen
    curve_errors = np.where(np.isfinite(errors), errors, np.nan)
    return chosen, BandwidthCurve(np.exp(grid) * mean_spread, curve_errors)


def _check_bounds(bounds, func: str) -> tuple[float, float]:
    try:
        low, high = (float(bound) for bound in bounds)
    except (TypeError, ValueError):
        raise ValueError(
            f"{func}: bounds must be a pair (low, high) of bandwidths; got {bounds!r}."
        ) from None
    if not (0 < low < high < math.inf):
        raise ValueError(
            f"{func}: bounds must satisfy 0 < low < high < inf; got bounds=({low}, {high})."
        )
    return low, high


def _golden_section(objective, left, right, best_point, best_error, tolerance=3e-3):
    """Minimise ``objective`` on ``[left, right]``; keep the best point seen (start included)."""
    inner_left = right - _GOLDEN * (right - left)
    inner_right = left + _GOLDEN * (right - left)
    error_left, error_right = objective(inner_left), objective(inner_right)
    seen = [(best_error, best_point), (error_left, inner_left), (error_right, inner_right)]
    while right - left > tolerance:
        # inf (inadmissible) compares larger than every finite error, so it is left behind
        if error_left <= error_right:
            right, inner_right, error_right = inner_right, inner_left, error_left
            inner_left = right - _GOLDEN * (right - left)
            error_left = objective(inner_left)
            seen.append((error_left, inner_left))
        else:
            left, inner_left, error_left = inner_left, inner_right, error_right
            inner_right = left + _GOLDEN * (right - left)
            error_right = objective(inner_right)
            seen.append((error_right, inner_right))
    error, point = min(seen)
    return point, error


class NadarayaWatsonRegressor(RegressorMixin, BaseEstimator):
    """Nadaraya-Watson kernel regression: predict by attention pooling over the training set.

    ``predict`` pools the training targets with weights ``softmax(log K(||x - x_i|| / h))``
    (:func:`attnlab.nadaraya_watson`), in chunks of queries so memory stays bounded;
    :meth:`attention_weights` returns those weights. Computation runs in float64.

    Parameters
    ----------
    kernel : str, Kernel or callable, default "gaussian"
        One of :data:`attnlab.kernels.names`, an attnlab ``Kernel`` or a callable ``K(u)``.
    bandwidth : float, array-like of shape (n_features,) or "loo", default 1.0
        The bandwidth ``h`` (statsmodels' ``bw``), one per feature if an array; ``"loo"`` picks
        it at fit time by leave-one-out cross-validation (:func:`select_bandwidth`).

    Attributes
    ----------
    bandwidth_ : float or ndarray of shape (n_features,)
        The bandwidth used.
    bandwidth_curve_ : BandwidthCurve or None
        Leave-one-out errors on the search grid when ``bandwidth="loo"``.
    X_train_ : ndarray of shape (n_samples, n_features)
    y_train_ : ndarray of shape (n_samples,) or (n_samples, n_outputs)
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(5.0)[:, None]
    >>> model = NadarayaWatsonRegressor(bandwidth=0.5).fit(X, 2 * X[:, 0])
    >>> model.predict([[2.0]])
    array([4.])
    >>> model.attention_weights([[2.0]]).round(3)
    array([[0.   , 0.106, 0.787, 0.106, 0.   ]])
    >>> NadarayaWatsonRegressor(bandwidth="loo").fit(X, 2 * X[:, 0]).bandwidth_ > 0
    True
    """

    def __init__(self, *, kernel="gaussian", bandwidth=1.0):
        self.kernel = kernel
        self.bandwidth = bandwidth

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y):
        """Store the training set (the keys and values) and fix the bandwidth; returns self."""
        func = type(self).__name__
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True, multi_output=True)
        get_kernel(self.kernel, func)
        self.bandwidth_curve_ = None
        if isinstance(self.bandwidth, str):
            if self.bandwidth != "loo":
                raise ValueError(
                    f"{func}: bandwidth must be a positive number, an array of them (one per "
                    f"feature) or 'loo'; got {self.bandwidth!r}."
                )
            bandwidth, self.bandwidth_curve_ = select_bandwidth(
                X, y, kernel=self.kernel, return_curve=True
            )
        else:
            bandwidth = np.asarray(self.bandwidth, dtype=np.float64)
            if bandwidth.ndim == 0 and isinstance(self.bandwidth, bool | np.bool_):
                raise TypeError(f"{func}: bandwidth must be a number; got {self.bandwidth!r}.")
            bandwidth = check_bandwidth(bandwidth, func, n_features=X.shape[1]).numpy()
        self.bandwidth_ = float(bandwidth) if np.ndim(bandwidth) == 0 else np.asarray(bandwidth)
        self.X_train_, self.y_train_ = X, y
        return self

    def _pool(self, X, need_weights: bool):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            output, weights = nadaraya_watson(
                torch.from_numpy(np.array(X)),  # a writable copy: torch rejects read-only memory
                torch.from_numpy(np.array(self.X_train_)),
                torch.from_numpy(np.array(self.y_train_)),
                kernel=self.kernel,
                bandwidth=torch.as_tensor(self.bandwidth_, dtype=torch.float64),
                need_weights=need_weights,
            )
        for warning in caught:
            if warning.category is UserWarning and str(warning.message).startswith(
                "nadaraya_watson:"
            ):
                n_empty = int(torch.isnan(output).reshape(len(X), -1).any(dim=1).sum())
                warnings.warn(
                    f"{type(self).__name__}: {n_empty} of {len(X)} samples have no training "
                    f"point inside the kernel's window (bandwidth={self.bandwidth_}); their "
                    "prediction is NaN. Use a wider bandwidth or the gaussian kernel.",
                    UserWarning,
                    stacklevel=3,
                )
            else:
                warnings.warn_explicit(
                    warning.message, warning.category, warning.filename, warning.lineno
                )
        return output.numpy(), weights

    def predict(self, X):
        """Pool the training targets for each row of X: shape (n,) or (n, n_outputs)."""
        return self._pool(X, need_weights=False)[0]

    def attention_weights(self, X):
        """The weights each row of X gives each training point, shape (n_queries, n_train)."""
        return self._pool(X, need_weights=True)[1].numpy()
