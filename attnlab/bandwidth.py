"""Choosing the bandwidth by leave-one-out cross-validation.

A bandwidth ``h`` too narrow copies the noise of the nearest key; too wide, it flattens the fit
towards average pooling. Leave-one-out cross-validation predicts each training point from all
the others (zero weight on itself) and picks the ``h`` with the smallest mean squared error: the
criterion of statsmodels' ``bw="cv_ls"``, and the one that training the book's parametric
pooling on leave-one-out keys minimises by gradient descent.

References
----------
1. W. Härdle, *Applied Nonparametric Regression* (1990), section 5.1: cross-validation.
2. Q. Li, J. S. Racine, *Nonparametric Econometrics* (2007), section 2.2.
3. J. Kiefer, "Sequential minimax search for a maximum", Proc. AMS 4 (1953): golden section.
4. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.2
   (Chinese 2nd edition) / 11.2 (English).
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral
from typing import Any, NamedTuple

import numpy as np
import torch

from attnlab.kernels import Kernel, get_kernel
from attnlab.pooling import nadaraya_watson

__all__ = ["BandwidthCurve", "as_finite_array", "select_bandwidth"]

EMPTY_WINDOW = r"nadaraya_watson: \d+ of \d+ queries have no key inside"
"""The warning of a query with no key in a compact kernel's window (filtered while searching)."""
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


def as_finite_array(value: Any, name: str, func: str) -> np.ndarray:
    """``value`` as a float64 NumPy copy, refusing non-numbers, NaN and infinity."""
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


def _check_training_set(X: Any, y: Any, n_grid: Any, func: str) -> tuple[np.ndarray, ...]:
    """``(n, d)`` inputs and ``(n,)`` or ``(n, n_outputs)`` targets, at least 3 points."""
    inputs, targets = as_finite_array(X, "X", func), as_finite_array(y, "y", func)
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
    return inputs, targets


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


def _default_range(scaled_inputs: torch.Tensor, kernel: Kernel) -> tuple[float, float]:
    """From a quarter of the median nearest-neighbour distance (or, for a compact kernel, the
    largest one, below which some point has no neighbour in its window) to ten spreads."""
    nearest = _nearest_distances(scaled_inputs).numpy()
    positive = nearest[nearest > 0]
    low = 0.25 * float(np.median(positive)) if positive.size else 1e-3
    high = max(10.0, 2.0 * float(nearest.max()))
    if math.isfinite(kernel.support):
        low = max(low, float(nearest.max()) / kernel.support)
    return low, max(high, 10.0 * low)


def _check_bounds(bounds: Any, func: str) -> tuple[float, float]:
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
    inputs, targets = _check_training_set(X, y, n_grid, func)
    kernel = get_kernel(kernel, func)
    # search a common scale c: feature j gets bandwidth c * spread_j (spread 1 if constant)
    spreads = inputs.std(axis=0)
    spreads[spreads == 0] = 1.0
    mean_spread = float(np.exp(np.log(spreads).mean()))  # geometric mean
    keys, values = torch.from_numpy(inputs), torch.from_numpy(targets)
    if bounds is None:
        low, high = _default_range(keys / torch.from_numpy(spreads), kernel)
    else:
        low, high = (bound / mean_spread for bound in _check_bounds(bounds, func))

    def loo_error(log_scale: float) -> float:
        bandwidth = torch.from_numpy(math.exp(log_scale) * spreads)  # (d,)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=EMPTY_WINDOW, category=UserWarning)
            output, _ = nadaraya_watson(
                keys, keys, values, kernel=kernel, bandwidth=bandwidth, leave_one_out=True,
                need_weights=False,
            )  # fmt: skip
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
    # 2) golden-section refinement between the best grid point's neighbours
    best = int(np.argmin(errors))
    left, right = grid[max(best - 1, 0)], grid[min(best + 1, n_grid - 1)]
    best_point, _ = _golden_section(loo_error, left, right, grid[best], errors[best])
    scale = math.exp(best_point)
    chosen = float(scale * spreads[0]) if inputs.shape[1] == 1 else scale * spreads
    if not return_curve:
        return chosen
    curve_errors = np.where(np.isfinite(errors), errors, np.nan)
    return chosen, BandwidthCurve(np.exp(grid) * mean_spread, curve_errors)
