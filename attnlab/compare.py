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
3. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.2
   (Chinese 2nd edition) / 11.2 (English).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attnlab._validation import check_positive_int
from attnlab.bandwidth import select_bandwidth
from attnlab.datasets import Regression, toy_regression
from attnlab.kernels import get_kernel
from attnlab.modules import NadarayaWatson
from attnlab.pooling import average_pooling, nadaraya_watson
from attnlab.training import train_pooling

__all__ = ["BOOK_BANDWIDTH", "METHODS", "Comparison", "Fit", "Method", "compare_methods"]

BOOK_BANDWIDTH = 1.0
"""The book's Nadaraya-Watson bandwidth: its Gaussian kernel is ``exp(-(x - x_i)^2 / 2)``."""


@dataclass(frozen=True)
class Method:
    """One compared method: a file-name-safe key, a label for tables and figures, and how
    its bandwidth is chosen."""

    key: str
    """Name in ``weights.npz`` and in code, e.g. ``"nw_loo"``."""
    label: str
    """Name in tables, figures and ``metrics.json``, e.g. ``"NW, leave-one-out h"``."""
    how_chosen: str
    """How the bandwidth is set, for the table; ``{epochs}`` is filled in."""


AVERAGE = Method("average_pooling", "average pooling", "ignores the query")
BOOK = Method("nw_book", "NW, h = 1 (book)", "fixed, the book's setting")
SELECTED = Method(
    "nw_loo", "NW, leave-one-out h", "minimises the leave-one-out error (grid search)"
)
LEARNED = Method(
    "nw_learned", "NW, learned h", "learned: {epochs} epochs of Adam on leave-one-out keys"
)
METHODS: tuple[Method, ...] = (AVERAGE, BOOK, SELECTED, LEARNED)
"""The compared methods, in the order of :attr:`Comparison.fits`."""


@dataclass(frozen=True)
class Fit:
    """One method's fit on the test grid."""

    method: Method
    """Which method this is."""
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
    kernel: str
    """The kernel of the Nadaraya-Watson poolings."""
    fits: dict[str, Fit]
    """One :class:`Fit` per method of :data:`METHODS`, by its label, in that order."""
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
        """Test MSE per method label."""
        return {label: fit.test_mse for label, fit in self.fits.items()}

    def table(self) -> str:
        """A plain-text table: one row per method with its bandwidth, test MSE and how h was set."""
        width = max(len(label) for label in self.fits)
        lines = [f"{'method':<{width}}  {'h':>6}  {'test MSE':>8}  how h was chosen"]
        for label, fit in self.fits.items():
            h = "-" if fit.bandwidth is None else f"{fit.bandwidth:.3f}"
            how = fit.method.how_chosen.format(epochs=self.epochs)
            lines.append(f"{label:<{width}}  {h:>6}  {fit.test_mse:>8.4f}  {how}")
        return "\n".join(lines)

    def metrics(self, **settings: Any) -> dict[str, Any]:
        """The numbers of ``metrics.json``: test MSE and bandwidth per method label, the final
        training loss, and the settings (the data's and the caller's ``settings``)."""
        return {
            "test_mse": self.test_mse,
            "bandwidth": {label: fit.bandwidth for label, fit in self.fits.items()},
            "final_training_loss": self.losses[-1],
            "settings": {
                "n_train": len(self.data.x_train),
                "n_test": len(self.data.x_test),
                "epochs": self.epochs,
                "kernel": self.kernel,
                **settings,
            },
        }

    def save(self, folder: str | Path, **settings: Any) -> list[Path]:
        """Write ``metrics.json`` (:meth:`metrics`) and ``weights.npz`` (each method's weights
        under its key) into ``folder``; return the paths written."""
        folder = Path(folder)
        metrics_path, weights_path = folder / "metrics.json", folder / "weights.npz"
        with metrics_path.open("w", encoding="utf-8") as file:
            json.dump(self.metrics(**settings), file, indent=2)
            file.write("\n")
        weights = {fit.method.key: fit.weights.numpy() for fit in self.fits.values()}
        np.savez(weights_path, **weights)
        return [metrics_path, weights_path]


def _fit(method: Method, prediction, weights, y_test: torch.Tensor, bandwidth) -> Fit:
    test_mse = float(torch.mean((prediction - y_test) ** 2))  # (n_test,) -> ()
    return Fit(method, prediction.detach(), weights.detach(), test_mse, bandwidth)


def _check_data(data: Regression | None, func: str) -> Regression:
    if data is None:
        return toy_regression()
    if not isinstance(data, Regression):
        raise TypeError(
            f"{func}: data must be an attnlab.datasets.Regression; got {type(data).__name__}."
        )
    return data


def compare_methods(
    data: Regression | None = None,
    *,
    kernel: str = "gaussian",
    epochs: int = 200,
    progress: bool = False,
    on_stage: Callable[[str], None] | None = None,
) -> Comparison:
    """Fit average pooling and three Nadaraya-Watson poolings to one regression.

    Parameters
    ----------
    data : Regression, optional
        Training pairs and a test grid with noise-free targets; default
        ``attnlab.datasets.toy_regression()`` (the book's data, seed 0).
    kernel : str, default "gaussian"
        Kernel of the Nadaraya-Watson poolings; a differentiable one, since one of them is
        trained by gradient descent.
    epochs : int, default 200
        Full-batch training epochs of the learned bandwidth, which starts at the book's ``h = 1``.
    progress : bool, default False
        Show a ``tqdm`` progress bar while training (only if training takes over a second).
    on_stage : callable, optional
        Called with a short description before each stage (for a command's progress lines).

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
    >>> fit.method.key, fit.prediction.shape, fit.weights.shape
    ('nw_loo', torch.Size([50]), torch.Size([50, 50]))
    >>> fit.test_mse < comparison.fits["average pooling"].test_mse
    True
    >>> print(comparison.table().splitlines()[0])
    method                    h  test MSE  how h was chosen
    """
    func = "compare_methods"
    data = _check_data(data, func)
    kernel = get_kernel(kernel, func).name
    check_positive_int(epochs, "epochs", func)
    stage = on_stage or (lambda text: None)
    x_train, y_train, x_test, y_test = data
    fits: list[Fit] = []

    # average pooling: every test point predicts the mean of the training targets
    stage(f"fitting {AVERAGE.label} and {BOOK.label}")
    prediction, weights = average_pooling(x_test, x_train, y_train)  # (t,), (t, n)
    fits.append(_fit(AVERAGE, prediction, weights, y_test, None))
    # the book's fixed bandwidth
    prediction, weights = nadaraya_watson(
        x_test, x_train, y_train, kernel=kernel, bandwidth=BOOK_BANDWIDTH
    )
    fits.append(_fit(BOOK, prediction, weights, y_test, BOOK_BANDWIDTH))

    # the bandwidth with the smallest leave-one-out error on the training data
    stage("selecting the bandwidth by leave-one-out cross-validation")
    bandwidth, curve = select_bandwidth(x_train, y_train, kernel=kernel, return_curve=True)
    bandwidth = float(bandwidth)
    prediction, weights = nadaraya_watson(
        x_test, x_train, y_train, kernel=kernel, bandwidth=bandwidth
    )
    fits.append(_fit(SELECTED, prediction, weights, y_test, bandwidth))

    # the book's parametric pooling: learn h by gradient descent; each training query leaves
    # its own key out, otherwise h shrinks to 0 and every point just copies its own target
    stage(f"learning the bandwidth: {epochs} epochs of Adam")
    pooling = NadarayaWatson(kernel=kernel, bandwidth=BOOK_BANDWIDTH)
    losses = train_pooling(
        pooling, x_train, y_train, epochs=epochs, leave_one_out=True, progress=progress
    )
    with torch.no_grad():
        prediction, weights = pooling(x_test, x_train, y_train)  # (t,), (t, n)
    fits.append(_fit(LEARNED, prediction, weights, y_test, float(pooling.bandwidth.detach())))

    return Comparison(
        data=data,
        kernel=kernel,
        fits={fit.method.label: fit for fit in fits},
        bandwidths=np.asarray(curve.bandwidths, dtype=float),
        loo_errors=np.asarray(curve.errors, dtype=float),
        losses=[float(loss) for loss in losses],
        epochs=epochs,
    )
