"""The book's figure helpers, behind ``attnlab.d2l``: ``plot``, ``show_heatmaps``, ``Animator``, ...

They draw what the book's helpers draw and, like them, return nothing, so that a notebook cell
ending with one of them shows its figure once. ``show_heatmaps`` is attnlab's (one colour scale
for every panel); ``attnlab.show_heatmaps`` returns the ``Figure`` when you want it. matplotlib
is imported inside the functions, so importing the d2l layer stays light.

References
----------
1. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 2.4 (English
   and Chinese 2nd edition, ``plot``), section 3.6 (``Animator``) and section 11.1 (English) /
   10.1 (Chinese 2nd ed.) (``show_heatmaps``).
2. J. D. Hunter, "Matplotlib: a 2D graphics environment", Comput. Sci. Eng. 9 (2007).
"""

from __future__ import annotations

from typing import Any

import torch

from attnlab.plotting import heatmaps

__all__ = [
    "Animator",
    "plot",
    "pyplot",
    "set_axes",
    "set_figsize",
    "show_heatmaps",
    "use_svg_display",
]


def pyplot():
    """``matplotlib.pyplot``, imported on first use (the book's ``d2l.plt``)."""
    import matplotlib.pyplot as plt

    return plt


def _array(values: Any) -> Any:
    """Tensors as NumPy arrays (detached, on the CPU); anything else as it is."""
    return values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else values


def use_svg_display() -> None:
    """In a Jupyter notebook, show figures as SVG (as the book does); elsewhere do nothing.

    Examples
    --------
    >>> use_svg_display()  # outside a notebook: nothing changes
    """
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # no notebook machinery installed: nothing to switch
        return
    if get_ipython() is not None:
        set_matplotlib_formats("svg")


def set_figsize(figsize: tuple[float, float] = (3.5, 2.5)) -> None:
    """Set matplotlib's default figure size, as the book's ``set_figsize`` does.

    This is the one helper that changes global matplotlib state (``rcParams``), because that is
    what it is called for; ``plot`` and ``show_heatmaps`` take a ``figsize`` instead.

    Examples
    --------
    >>> import matplotlib as mpl
    >>> with mpl.rc_context():  # only so that the example leaves the default as it was
    ...     set_figsize((6, 2.5))
    ...     mpl.rcParams["figure.figsize"]
    [6.0, 2.5]
    """
    use_svg_display()
    pyplot().rcParams["figure.figsize"] = figsize


def set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend) -> None:
    """Label, scale and limit ``axes``, add the legend and a grid (the book's ``set_axes``).

    Examples
    --------
    >>> axes = pyplot().figure().add_subplot()
    >>> set_axes(axes, "x", "y", [0, 5], None, "linear", "log", None)
    >>> [float(limit) for limit in axes.get_xlim()], axes.get_yscale()
    ([0.0, 5.0], 'log')
    """
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_xscale(xscale)
    axes.set_yscale(yscale)
    axes.set_xlim(xlim)
    axes.set_ylim(ylim)
    if legend:
        axes.legend(legend)
    axes.grid()


def _has_one_axis(values: Any) -> bool:
    """True for a 1-D tensor or array, or a list of numbers: one curve, not several."""
    if hasattr(values, "ndim"):
        return values.ndim == 1
    return isinstance(values, list) and bool(values) and not hasattr(values[0], "__len__")


def plot(
    X,
    Y=None,
    xlabel=None,
    ylabel=None,
    legend=None,
    xlim=None,
    ylim=None,
    xscale="linear",
    yscale="linear",
    fmts=("-", "m--", "g-.", "r:"),
    figsize=(3.5, 2.5),
    axes=None,
) -> None:
    """Plot one or several curves, as the book's ``plot`` does.

    ``X`` and ``Y`` are each one curve (a 1-D tensor, array or list) or several; with ``Y``
    omitted, ``X`` holds the curves' values against their index. Without ``axes``, a new figure
    of size ``figsize`` is drawn and left as pyplot's current one, so that a following
    ``d2l.plt.plot(...)`` adds to it, as in the book.

    Examples
    --------
    >>> import torch
    >>> plot(torch.arange(4.0), [torch.arange(4.0), torch.ones(4)], legend=["x", "1"])
    >>> axes = pyplot().gca()
    >>> len(axes.get_lines()), [text.get_text() for text in axes.get_legend().get_texts()]
    (2, ['x', '1'])
    """
    legend = [] if legend is None else legend
    if _has_one_axis(X):
        X = [X]
    if Y is None:
        X, Y = [[]] * len(X), X
    elif _has_one_axis(Y):
        Y = [Y]
    if len(X) != len(Y):
        X = X * len(Y)
    if axes is None:
        # constrained layout keeps the axis labels inside the figure when it is saved
        axes = pyplot().figure(figsize=figsize, layout="constrained").add_subplot()
    axes.cla()
    for x, y, fmt in zip(X, Y, fmts, strict=False):
        if len(x):
            axes.plot(_array(x), _array(y), fmt)
        else:
            axes.plot(_array(y), fmt)
    set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend)


def show_heatmaps(
    matrices, xlabel, ylabel, titles=None, figsize=(2.5, 2.5), cmap="Reds", **kwargs
) -> None:
    """Draw attention weights as heatmaps with :func:`attnlab.show_heatmaps`; return nothing.

    Takes the book's arguments (``matrices`` of shape ``(rows, cols, n_queries, n_keys)``) and
    any keyword of :func:`attnlab.show_heatmaps`. Every panel shares one colour scale, so the one
    colour bar is true for all of them (the book's is true for its last panel only).

    Examples
    --------
    >>> import torch
    >>> show_heatmaps(torch.eye(10).reshape((1, 1, 10, 10)), xlabel="Keys", ylabel="Queries")
    >>> len(pyplot().gcf().axes)  # the panel and its colour bar
    2
    """
    heatmaps.show_heatmaps(
        matrices, xlabel=xlabel, ylabel=ylabel, titles=titles, figsize=figsize, cmap=cmap, **kwargs
    )


class Animator:
    """Plot curves point by point while a model trains (the book's ``Animator``).

    In a notebook each :meth:`add` redraws the figure in place; elsewhere the figure is only
    updated, and ``animator.fig`` holds it.

    Examples
    --------
    >>> animator = Animator(xlabel="epoch", ylabel="loss", xlim=[1, 3])
    >>> for epoch in range(3):
    ...     animator.add(epoch + 1, 1.0 / (epoch + 1))
    >>> animator.axes[0].get_lines()[0].get_ydata().round(2).tolist()
    [1.0, 0.5, 0.33]
    """

    def __init__(
        self,
        xlabel=None,
        ylabel=None,
        legend=None,
        xlim=None,
        ylim=None,
        xscale="linear",
        yscale="linear",
        fmts=("-", "m--", "g-.", "r:"),
        nrows=1,
        ncols=1,
        figsize=(3.5, 2.5),
    ) -> None:
        use_svg_display()
        self.fig, axes = pyplot().subplots(
            nrows, ncols, figsize=figsize, squeeze=False, layout="constrained"
        )
        self.axes = list(axes.flat)
        self._axes_settings = (xlabel, ylabel, xlim, ylim, xscale, yscale, legend or [])
        self.X: list[list] | None = None
        self.Y: list[list] | None = None
        self.fmts = fmts

    def add(self, x, y) -> None:
        """Add one point to each curve (``y`` a number or one number per curve) and redraw."""
        if not hasattr(y, "__len__"):
            y = [y]
        n = len(y)
        if not hasattr(x, "__len__"):
            x = [x] * n
        if not self.X:
            self.X = [[] for _ in range(n)]
        if not self.Y:
            self.Y = [[] for _ in range(n)]
        for i, (a, b) in enumerate(zip(x, y, strict=False)):
            if a is not None and b is not None:
                self.X[i].append(a)
                self.Y[i].append(b)
        axes = self.axes[0]
        axes.cla()
        for xs, ys, fmt in zip(self.X, self.Y, self.fmts, strict=False):
            axes.plot(xs, ys, fmt)
        set_axes(axes, *self._axes_settings)
        self._show()

    def _show(self) -> None:
        try:
            from IPython import display, get_ipython
        except ImportError:
            return
        if get_ipython() is not None:  # in a notebook: replace the last frame by this one
            display.display(self.fig)
            display.clear_output(wait=True)
