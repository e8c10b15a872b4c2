"""The figures of ``attnlab demo``: a :class:`~attnlab.compare.Comparison` drawn four ways.

Fits and weights of every method; the kernels, with the Gaussian at each compared bandwidth; the
leave-one-out error against the bandwidth with each method's bandwidth marked; the training loss
of the learned bandwidth. The leave-one-out and the learned bandwidths usually coincide (both
minimise the same error), so their marks are drawn with interleaved dashes and the legend says
so: neither hides the other.

References
----------
1. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.2
   (Chinese 2nd edition) / 11.2 (English).
2. W. Härdle, *Applied Nonparametric Regression* (1990), section 5.1: cross-validation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from attnlab.compare import BOOK, BOOK_BANDWIDTH, LEARNED, SELECTED, Comparison
from attnlab.kernels import get_kernel
from attnlab.plotting._figures import new_figure
from attnlab.plotting.lessons import plot_bandwidth_curve, plot_fits, plot_kernels, plot_loss

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "DEMO_FIGURES",
    "DEMO_PLOTS",
    "demo_figures",
    "plot_demo_bandwidth",
    "plot_demo_fits",
    "plot_demo_kernels",
    "plot_demo_loss",
]

DEMO_FIGURES: dict[str, str] = {
    "fits.png": "each method's fit (top) and its attention weights on one colour scale (bottom)",
    "kernels.png": "the kernels, and the Gaussian at each compared bandwidth h",
    "bandwidth.png": "leave-one-out error against h; the selected, book's and learned h marked",
    "loss.png": "training loss of the learned bandwidth, epoch by epoch",
}
"""The demo's figures by file name, with what each shows."""

# two dash patterns that interleave: drawn on the same place, both colours stay visible
_DASHES_FIRST, _DASHES_SECOND = (0, (4, 4)), (4, (4, 4))


def _coincide(first: float, second: float) -> bool:
    """Two bandwidths closer than 2%: their marks would be drawn on top of each other."""
    return abs(math.log(first / second)) < 0.02


def _legend_below(ax: Any, ncols: int = 1) -> None:
    """A legend below the axes (and their axis label), where it can cover no curve."""
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.22), ncols=ncols)


def plot_demo_kernels(comparison: Comparison) -> Figure:
    """Every named kernel at the book's ``h``, and the comparison's kernel at each bandwidth."""
    figure = new_figure((11.0, 4.4))
    every, compared = figure.subplots(1, 2)
    plot_kernels(bandwidth=BOOK_BANDWIDTH, ax=every)
    _legend_below(every, ncols=3)
    kernel = get_kernel(comparison.kernel)
    selected = comparison.fits[SELECTED.label].bandwidth
    learned = comparison.fits[LEARNED.label].bandwidth
    reach = 3.0 * max(BOOK_BANDWIDTH, selected, learned)
    distance = torch.linspace(-reach, reach, 601, dtype=torch.float64)  # (601,)
    same = _coincide(selected, learned)
    learned_label = f"learned h = {learned:.3g}" + (
        " (dashed: on the leave-one-out curve)" if same else ""
    )
    for label, bandwidth, style in (
        (f"book's h = {BOOK_BANDWIDTH:g}", BOOK_BANDWIDTH, {"color": "0.45"}),
        (f"leave-one-out h = {selected:.3g}", selected, {"color": "C3", "linewidth": 2.5}),
        (learned_label, learned, {"color": "C2", "linestyle": _DASHES_SECOND if same else "-"}),
    ):
        compared.plot(distance.numpy(), kernel(distance / bandwidth).numpy(), label=label, **style)
    compared.set_xlabel("Distance between query and key, x - x_i")
    compared.set_ylabel("K((x - x_i) / h)")
    compared.set_title(f"The {kernel.name} kernel at each bandwidth compared")
    _legend_below(compared)
    return figure


def plot_demo_bandwidth(comparison: Comparison) -> Figure:
    """Leave-one-out error against ``h``, with the selected, the book's and the learned ``h``."""
    selected = comparison.fits[SELECTED.label].bandwidth
    learned = comparison.fits[LEARNED.label].bandwidth
    figure = new_figure((6.5, 4.6))
    ax = figure.add_subplot()
    plot_bandwidth_curve(comparison.bandwidths, comparison.loo_errors, selected=selected, ax=ax)
    same = _coincide(selected, learned)
    ax.lines[-1].set_linestyle(_DASHES_FIRST)
    ax.axvline(BOOK_BANDWIDTH, color="0.45", linestyle="-.", label=f"{BOOK.label}")
    label = f"learned h = {learned:.3g}" + (" (green dashes: same as selected)" if same else "")
    ax.axvline(learned, color="C2", linestyle=_DASHES_SECOND if same else ":", label=label)
    ax.set_title("Choosing h: leave-one-out error on the training data")
    _legend_below(ax, ncols=2)
    return figure


def plot_demo_loss(comparison: Comparison) -> Figure:
    """Training loss of the learned bandwidth, with the leave-one-out minimum it approaches."""
    figure = plot_loss(comparison.losses)
    ax = figure.axes[0]
    best = float(np.nanmin(comparison.loo_errors))
    ax.axhline(best, color="C3", linestyle="--", label="smallest leave-one-out error on the grid")
    ax.set_title("Learning h: leave-one-out training loss")
    ax.legend(fontsize="small")
    return figure


def plot_demo_fits(comparison: Comparison) -> Figure:
    """Each method's fit above and its weights below, all weights on one colour scale."""
    data = comparison.data
    fits = {label: (fit.prediction, fit.weights) for label, fit in comparison.fits.items()}
    return plot_fits(data.x_train, data.y_train, data.x_test, data.y_test, fits)


DEMO_PLOTS: dict[str, Callable[[Comparison], Figure]] = {
    "fits.png": plot_demo_fits,
    "kernels.png": plot_demo_kernels,
    "bandwidth.png": plot_demo_bandwidth,
    "loss.png": plot_demo_loss,
}
"""The function that draws each of :data:`DEMO_FIGURES`, by file name."""


def demo_figures(comparison: Comparison) -> dict[str, Figure]:
    """The figures of ``attnlab demo``, by file name (the keys of :data:`DEMO_FIGURES`).

    Parameters
    ----------
    comparison : Comparison
        What :func:`attnlab.compare.compare_methods` computed.

    Returns
    -------
    dict of str to matplotlib.figure.Figure

    Examples
    --------
    >>> from attnlab.compare import compare_methods
    >>> figures = demo_figures(compare_methods(epochs=5))
    >>> list(figures) == list(DEMO_FIGURES)
    True
    >>> [line.get_label() for line in figures["loss.png"].axes[0].lines][1]
    'smallest leave-one-out error on the grid'
    """
    if not isinstance(comparison, Comparison):
        raise TypeError(
            "demo_figures: comparison must be an attnlab.compare.Comparison (from "
            f"compare_methods); got {type(comparison).__name__}."
        )
    return {name: plot(comparison) for name, plot in DEMO_PLOTS.items()}
