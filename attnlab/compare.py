"""Fit the pooling methods of the attention chapter to one toy regression and compare them.

Average pooling ignores the query; Nadaraya-Watson pooling weighs each key by its distance to
the query, here with the book's bandwidth ``h = 1``, with the bandwidth that leave-one-out
cross-validation selects, and with a bandwidth learned by gradient descent on leave-one-out keys
(the book's parametric attention pooling). Training that pooling minimises the same
leave-one-out error as the bandwidth search, so both should land on about the same bandwidth.

References
----------
1. E. A. Nadaraya, "On estimating regression", Theory Probab. Appl. 9 (1964).
2. G. S. Watson, "Smooth regression analysis", Sankhya A 26 (1964).
3. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 11.2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from attnlab._validation import check_positive_int
from attnlab.datasets import Regression, toy_regression
from attnlab.estimators import select_bandwidth
from attnlab.modules import NadarayaWatson
from attnlab.pooling import average_pooling, nadaraya_watson
from attnlab.training import train_pooling

__all__ = ["BOOK_BANDWIDTH", "HOW_CHOSEN", "METHODS", "Comparison", "Fit", "compare_methods"]

METHODS: tuple[str, ...] = (
    "average pooling",
    "NW, h = 1 (book)",
    "NW, leave-one-out h",
    "NW, learned h",
)
"""The compared methods, in the order of :attr:`Comparison.fits`."""

HOW_CHOSEN: tuple[str, ...] = (
    "ignores the query",
    "fixed, the book's setting",
    "minimises the leave-one-out error (grid search)",
    "learned: {epochs} epochs of Adam on leave-one-out keys",
)
"""How each method of :data:`METHODS` sets its bandwidth, for the table."""

BOOK_BANDWIDTH = 1.0
"""The book's Nadaraya-Watson bandwidth: its Gaussian kernel is ``exp(-(x - x_i)^2 / 2)``."""


@dataclass(frozen=True)
class Fit:
    """One method's fit on the test grid."""

    prediction: torch.Tensor
    """Predictions on the test grid, shape (n_test,)."""
    weights: torch.Tensor
    """Attention weights of every test query over the training keys, shape (n_test, n_train)."""
    test_mse: float
    """Mean squared error against the noise-free targets on the test grid."""
    bandwidth: float | None
    """The bandwidth ``h`` used, or None for average pooling."""


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare_methods` computed: the fits, the bandwidth curve, the training loss."""

    data: Regression
    """The regression that was fitted."""
    fits: dict[str, Fit]
    """One :class:`Fit` per name in :data:`METHODS`, in that order."""
    bandwidths: np.ndarray
    """Bandwidths at which the leave-one-out error was evaluated, shape (n_grid,)."""
    loo_errors: np.ndarray
    """Leave-one-out mean squared error on the training data at each bandwidth, shape (n_grid,)."""
    losses: list[float]
    """Training loss (leave-one-out MSE) of the learned pooling, one per epoch."""
    epochs: int
    """Number of training epochs of the learned pooling."""

    @property
    def test_mse(self) -> dict[str, float]:
        """Test MSE per method name."""
        return {name: fit.test_mse for name, fit in self.fits.items()}

    def table(self) -> str:
        """A plain-text table: one row per method with its bandwidth, test MSE and how h was set."""
        width = max(len(name) for name in self.fits)
        lines = [f"{'method':<{width}}  {'h':>6}  {'test MSE':>8}  how h was chosen"]
        for (name, fit), how in zip(self.fits.items(), HOW_CHOSEN, strict=True):
            h = "-" if fit.bandwidth is None else f"{fit.bandwidth:.3f}"
            how = how.format(epochs=self.epochs)
            lines.append(f"{name:<{width}}  {h:>6}  {fit.test_mse:>8.4f}  {how}")
        return "\n".join(lines)


def _fit(prediction: torch.Tensor, weights: torch.Tensor, y_test: torch.Tensor, bandwidth) -> Fit:
    test_mse = float(torch.mean((prediction - y_test) ** 2))  # (n_test,) -> ()
    return Fit(prediction.detach(), weights.detach(), test_mse, bandwidth)


def compare_methods(
    data: Regression | None = None, *, epochs: int = 200, progress: bool = False
) -> Comparison:
    """Fit average pooling and three Nadaraya-Watson poolings to one regression.

    Parameters
    ----------
    data : Regression, optional
        Training pairs and a test grid with noise-free targets; default
        ``attnlab.datasets.toy_regression()`` (the book's data, seed 0).
    epochs : int, default 200
        Full-batch training epochs of the learned bandwidth, which starts at the book's ``h = 1``.
    progress : bool, default False
        Show a ``tqdm`` progress bar while training.

    Returns
    -------
    Comparison
        Predictions, weights, test MSE and bandwidth per method, the leave-one-out error curve
        and the training loss history. The same ``data`` gives the same result.

    Examples
    --------
    >>> comparison = compare_methods(epochs=20)
    >>> list(comparison.fits)
    ['average pooling', 'NW, h = 1 (book)', 'NW, leave-one-out h', 'NW, learned h']
    >>> fit = comparison.fits["NW, leave-one-out h"]
    >>> fit.prediction.shape, fit.weights.shape
    (torch.Size([50]), torch.Size([50, 50]))
    >>> fit.test_mse < comparison.fits["average pooling"].test_mse
    True
    >>> print(comparison.table().splitlines()[0])
    method                    h  test MSE  how h was chosen
    """
    func = "compare_methods"
    if data is None:
        data = toy_regression()
    if not isinstance(data, Regression):
        raise TypeError(
            f"{func}: data must be an attnlab.datasets.Regression; got {type(data).__name__}."
        )
    check_positive_int(epochs, "epochs", func)
    x_train, y_train, x_test, y_test = data
    fits: dict[str, Fit] = {}

    # average pooling: every test point predicts the mean of the training targets
    prediction, weights = average_pooling(x_test, x_train, y_train)  # (t,), (t, n)
    fits[METHODS[0]] = _fit(prediction, weights, y_test, None)

    # the book's fixed bandwidth
    prediction, weights = nadaraya_watson(x_test, x_train, y_train, bandwidth=BOOK_BANDWIDTH)
    fits[METHODS[1]] = _fit(prediction, weights, y_test, BOOK_BANDWIDTH)

    # the bandwidth with the smallest leave-one-out error on the training data
    bandwidth, curve = select_bandwidth(x_train, y_train, kernel="gaussian", return_curve=True)
    bandwidth = float(bandwidth)
    prediction, weights = nadaraya_watson(x_test, x_train, y_train, bandwidth=bandwidth)
    fits[METHODS[2]] = _fit(prediction, weights, y_test, bandwidth)

    # the book's parametric pooling: learn h by gradient descent; each training query leaves
    # its own key out, otherwise h shrinks to 0 and every point just copies its own target
    pooling = NadarayaWatson(kernel="gaussian", bandwidth=BOOK_BANDWIDTH)
    losses = train_pooling(
        pooling, x_train, y_train, epochs=epochs, leave_one_out=True, progress=progress
    )
    with torch.no_grad():
        prediction, weights = pooling(x_test, x_train, y_train)  # (t,), (t, n)
    fits[METHODS[3]] = _fit(prediction, weights, y_test, float(pooling.bandwidth.detach()))

    return Comparison(
        data=data,
        fits=fits,
        bandwidths=np.asarray(curve.bandwidths, dtype=float),
        loo_errors=np.asarray(curve.errors, dtype=float),
        losses=[float(loss) for loss in losses],
        epochs=epochs,
    )
