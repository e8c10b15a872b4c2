"""Lesson plots: kernels, regression fits with their weights, bandwidth curves, training loss.

Each takes an optional ``ax``/``axes``, creates a figure only when none is given, and returns the
figure; the data are checked before anything is drawn. matplotlib is imported only when a
figure is drawn.

References
----------
1. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.2
   (Chinese 2nd edition) / 11.2 (English).
2. B. W. Silverman, *Density Estimation for Statistics and Data Analysis* (1986), section 3.4.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from attnlab._validation import as_float_tensor, check_bandwidth, describe
from attnlab.kernels import get_kernel
from attnlab.kernels import names as kernel_names
from attnlab.plotting._figures import axes_grid, figure_and_axes, new_figure
from attnlab.plotting.heatmaps import HeatmapDisplay

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_bandwidth_curve", "plot_fits", "plot_kernels", "plot_loss"]


def _vector(values: Any, name: str, func: str) -> np.ndarray:
    """1-D float NumPy array from a tensor, an array or a list of numbers or 0-d tensors."""
    if isinstance(values, Sequence) and not isinstance(values, str):
        try:
            values = [
                float(value.detach() if isinstance(value, torch.Tensor) else value)
                for value in values
            ]
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(
                f"{func}: {name} must be a sequence of numbers; got {describe(values)}."
            ) from error
    tensor = as_float_tensor(values, name, func).detach().cpu().double()
    if tensor.ndim != 1 or tensor.numel() == 0:
        raise ValueError(
            f"{func}: {name} must be one-dimensional and non-empty; "
            f"got {name}.shape={tuple(tensor.shape)}."
        )
    return tensor.numpy()


def plot_kernels(kernels: Any = None, *, bandwidth: float = 1.0, ax: Any = None) -> Figure:
    """Plot kernels ``K((x - x_i) / h)`` against the distance ``x - x_i``, overlaid.

    Parameters
    ----------
    kernels : name, Kernel, callable or a sequence of them, optional
        Default: every named kernel of :mod:`attnlab.kernels`.
    bandwidth : float, default 1.0
        The bandwidth ``h``: compact kernels vanish beyond ``|x - x_i| = h``.
    ax : Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_kernels(["gaussian", "boxcar"], bandwidth=0.5)
    >>> [line.get_label() for line in fig.axes[0].lines]
    ['gaussian', 'boxcar']
    """
    func = "plot_kernels"
    if kernels is None:
        kernels = kernel_names
    elif isinstance(kernels, str) or callable(kernels):
        kernels = [kernels]
    resolved = [get_kernel(kernel, func) for kernel in kernels]
    width = check_bandwidth(bandwidth, func).detach()
    if width.numel() != 1:
        raise ValueError(
            f"{func}: bandwidth must be a single positive number; got {width.numel()} values."
        )
    width = float(width)
    fig, ax = figure_and_axes(ax, (5.0, 3.2), func)
    distance = torch.linspace(-3 * width, 3 * width, 601, dtype=torch.float64)  # (601,)
    for kernel in resolved:
        ax.plot(distance.numpy(), kernel(distance / width).numpy(), label=kernel.name)
    ax.set_xlabel("Distance between query and key, x - x_i")
    ax.set_ylabel("K((x - x_i) / h)")
    ax.set_title(f"Kernels at bandwidth h = {width:g}")
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def plot_fits(
    x_train: Any,
    y_train: Any,
    x_test: Any,
    y_test: Any,
    fits: Mapping[str, tuple[Any, Any]],
    *,
    axes: Any = None,
    cmap: Any = "Reds",
) -> Figure:
    """Compare regression fits: one column per method, its fit above and its weights below.

    Parameters
    ----------
    x_train, y_train : tensor or array of shape (n_train,)
    x_test, y_test : tensor or array of shape (n_test,)
        The test grid and the noise-free truth on it.
    fits : dict of str to (prediction, weights)
        ``prediction`` of shape ``(n_test,)``; ``weights`` of shape ``(n_test, n_train)`` or
        None. All weight heatmaps share one colour scale and one colour bar.
    axes : array of Axes of shape (2, n_methods), optional
    cmap : str or Colormap, default "Reds"

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import torch
    >>> from attnlab import average_pooling, datasets, nadaraya_watson
    >>> x_train, y_train, x_test, y_test = datasets.toy_regression()
    >>> fits = {"average": average_pooling(x_test, x_train, y_train),
    ...         "Gaussian, h = 0.5": nadaraya_watson(x_test, x_train, y_train, bandwidth=0.5)}
    >>> fig = plot_fits(x_train, y_train, x_test, y_test, fits)
    >>> len(fig.axes)  # 2 fits, 2 heatmaps, 1 colour bar
    5
    """
    func = "plot_fits"
    x_train, y_train, x_test, y_test = _check_data(x_train, y_train, x_test, y_test, func)
    predictions, weights = _check_fits(fits, len(x_test), len(x_train), func)
    n_methods = len(predictions)
    if axes is None:
        fig = new_figure((3.0 * n_methods + 1.0, 6.0))
        grid = fig.subplots(2, n_methods, squeeze=False)
    else:
        grid = axes_grid(axes, (2, n_methods), func)
        fig = grid[0, 0].figure.figure
    # 1) fits, on one y scale so the methods compare at a glance
    for col, (name, prediction) in enumerate(predictions.items()):
        ax = grid[0, col]
        if col > 0:
            ax.sharey(grid[0, 0])
        ax.plot(x_test, y_test, label="truth")
        ax.plot(x_test, prediction, "--", label="prediction")
        ax.plot(x_train, y_train, "o", alpha=0.5, markersize=3, label="training data")
        ax.set_title(name)
        ax.set_xlabel("x")
    grid[0, 0].set_ylabel("y")
    # one legend for the row, above the figure: inside an axes it would cover training points
    handles, labels = grid[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=3, fontsize="small")
    # 2) weights of every method on one colour scale, one colour bar
    _draw_weights(fig, grid[1], predictions, weights, cmap)
    return fig


def _check_data(x_train, y_train, x_test, y_test, func: str) -> tuple[np.ndarray, ...]:
    """The training pairs and the test grid as 1-D arrays of matching lengths."""
    x_train, y_train = _vector(x_train, "x_train", func), _vector(y_train, "y_train", func)
    x_test, y_test = _vector(x_test, "x_test", func), _vector(y_test, "y_test", func)
    if len(y_train) != len(x_train) or len(y_test) != len(x_test):
        raise ValueError(
            f"{func}: x and y must have the same length; got x_train {len(x_train)}, y_train "
            f"{len(y_train)}, x_test {len(x_test)}, y_test {len(y_test)}."
        )
    return x_train, y_train, x_test, y_test


def _check_fits(
    fits: Any, n_test: int, n_train: int, func: str
) -> tuple[dict[str, np.ndarray], dict[str, torch.Tensor]]:
    """Predictions ``(n_test,)`` per method, and weights ``(n_test, n_train)`` where given."""
    if not isinstance(fits, Mapping) or not fits:
        raise TypeError(
            f"{func}: fits must be a non-empty dict of method name to (prediction, weights); "
            f"got {describe(fits)}."
        )
    predictions, weights = {}, {}
    for name, fit in fits.items():
        if not isinstance(fit, Sequence) or len(fit) != 2:
            raise TypeError(
                f"{func}: fits[{name!r}] must be a pair (prediction, weights); got {describe(fit)}."
            )
        predictions[name] = _vector(fit[0], f"fits[{name!r}] prediction", func)
        if len(predictions[name]) != n_test:
            raise ValueError(
                f"{func}: fits[{name!r}] prediction must have shape ({n_test},), one value per "
                f"test input; got ({len(predictions[name])},)."
            )
        if fit[1] is not None:
            weights[name] = as_float_tensor(fit[1], f"fits[{name!r}] weights", func).detach()
            if tuple(weights[name].shape) != (n_test, n_train):
                raise ValueError(
                    f"{func}: fits[{name!r}] weights must have shape (n_test, n_train) = "
                    f"({n_test}, {n_train}); got {tuple(weights[name].shape)}."
                )
    return predictions, weights


def _draw_weights(fig, row: np.ndarray, predictions: dict, weights: dict, cmap: Any) -> None:
    """Each method's weights below its fit, all on one colour scale with one colour bar."""
    with_weights = [col for col, name in enumerate(predictions) if name in weights]
    for col, name in enumerate(predictions):
        if name not in weights:
            row[col].set_axis_off()
            row[col].text(0.5, 0.5, "no weights", ha="center", va="center",
                          transform=row[col].transAxes)  # fmt: skip
    if with_weights:
        stacked = torch.stack([weights[name] for name in weights])[None]  # (1, m, test, train)
        display = HeatmapDisplay(stacked, xlabel="Training inputs", ylabel="Test inputs").plot(
            row[with_weights].reshape(1, -1), cmap=cmap, layout="grid", colorbar=False,
            imshow_kw={"aspect": "auto"},  # fill the panel below each fit, whatever n_train
        )  # fmt: skip
        # the bar spans the whole bottom row, so it sits right of every heatmap
        fig.colorbar(display.images_[0, 0], ax=list(row), shrink=0.6)


def plot_bandwidth_curve(
    bandwidths: Any, errors: Any, *, selected: float | None = None, ax: Any = None
) -> Figure:
    """Plot leave-one-out error against bandwidth on a log axis, marking the chosen one.

    Examples
    --------
    >>> fig = plot_bandwidth_curve([0.1, 0.3, 1.0], [0.5, 0.3, 0.4], selected=0.3)
    >>> fig.axes[0].get_xscale()
    'log'
    """
    func = "plot_bandwidth_curve"
    bandwidths = _vector(bandwidths, "bandwidths", func)
    errors = _vector(errors, "errors", func)
    if len(bandwidths) != len(errors):
        raise ValueError(
            f"{func}: bandwidths and errors must have the same length; "
            f"got {len(bandwidths)} and {len(errors)}."
        )
    if not (bandwidths > 0).all():
        raise ValueError(f"{func}: bandwidths must be positive (log axis); got {bandwidths.min()}.")
    fig, ax = figure_and_axes(ax, (5.0, 3.2), func)
    order = np.argsort(bandwidths)
    ax.plot(bandwidths[order], errors[order], marker="o", markersize=3, label="error")
    ax.set_xscale("log")
    if selected is not None:
        ax.axvline(float(selected), color="C3", linestyle="--",
                   label=f"selected h = {float(selected):.3g}")  # fmt: skip
        ax.legend(fontsize="small")
    ax.set_xlabel("Bandwidth h")
    ax.set_ylabel("Leave-one-out error")
    return fig


def plot_loss(losses: Any, *, ax: Any = None) -> Figure:
    """Plot the training loss per epoch (epochs counted from 1).

    Examples
    --------
    >>> fig = plot_loss([1.0, 0.5, 0.25])
    >>> fig.axes[0].lines[0].get_xdata().tolist()
    [1, 2, 3]
    """
    func = "plot_loss"
    losses = _vector(losses, "losses", func)
    fig, ax = figure_and_axes(ax, (5.0, 3.2), func)
    epochs = np.arange(1, len(losses) + 1)
    ax.plot(epochs, losses, marker="o" if len(losses) <= 30 else None, markersize=3)
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Loss")
    return fig
