"""Plots that show attention weights honestly: every panel on one colour scale, nothing global.

:func:`show_heatmaps` accepts every call the book makes and returns the ``Figure``; its single
colour bar is true for every panel because all panels share one ``Normalize``. The lesson plots
(kernels, regression fits with their weights, bandwidth curves, training loss) each take an
optional ``ax``/``axes`` and return their figure. matplotlib is imported inside the functions,
so ``import attnlab`` stays light.

References
----------
1. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, sections 11.1.4, 11.2.
2. J. D. Hunter, "Matplotlib: a 2D graphics environment", Comput. Sci. Eng. 9 (2007).
3. scikit-learn developers, "Visualizations" (``ConfusionMatrixDisplay``), scikit-learn user guide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from attnlab import _heatmaps
from attnlab._lesson_plots import plot_bandwidth_curve, plot_fits, plot_kernels, plot_loss
from attnlab._validation import check_choice, describe

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "HeatmapDisplay",
    "plot_bandwidth_curve",
    "plot_fits",
    "plot_kernels",
    "plot_loss",
    "show_heatmaps",
]

LAYOUTS = ("auto", "grid", "mosaic")


def _new_figure(figsize: tuple[float, float]) -> Figure:
    import matplotlib.pyplot as plt

    # constrained layout keeps titles, labels and the colour bar inside the figure
    return plt.figure(figsize=figsize, layout="constrained")


def _rc(name: str) -> Any:
    import matplotlib as mpl

    return mpl.rcParams[name]


def _check_axes(ax: Any, name: str, func: str) -> Axes:
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise TypeError(f"{func}: {name} must be a matplotlib Axes; got {describe(ax)}.")
    return ax


def _axes_grid(axes: Any, shape: tuple[int, int], func: str) -> np.ndarray:
    """``axes`` as an object array of the given ``(n_rows, n_cols)`` shape."""
    grid = np.asarray(axes, dtype=object)
    if grid.ndim == 1 and 1 in shape and grid.size == shape[0] * shape[1]:
        grid = grid.reshape(shape)  # one row or one column of axes, as plt.subplots gives it
    if grid.shape != shape:
        raise ValueError(
            f"{func}: axes must be one Axes or an array of shape {shape}, one per panel; "
            f"got an array of shape {grid.shape}."
        )
    for ax in grid.flat:
        _check_axes(ax, "axes", func)
    return grid


class HeatmapDisplay:
    """Heatmaps of a grid of matrices on one shared colour scale (scikit-learn's Display API).

    The constructor checks and stores the data and the labels; :meth:`plot` draws them and
    returns the display with its artists in ``figure_``, ``axes_``, ``images_`` and
    ``colorbar_``. :func:`show_heatmaps` is the one-call form.

    Parameters
    ----------
    matrices : tensor, array or nested list of shape (n_rows, n_cols, n_queries, n_keys)
        Also ``(n_cols, n_queries, n_keys)`` (one row of panels, e.g. heads) or
        ``(n_queries, n_keys)`` (one panel). Tensors may need grad or live on a GPU.
    xlabel, ylabel : str, default "Keys", "Queries"
        Drawn once per column (bottom row) and once per row (left column).
    titles : sequence of str, optional
        One per column, drawn on every panel of that column (the book's ``titles``), or one
        per panel (flat, row by row, or nested ``[row][col]``).
    row_titles, col_titles : sequence of str, optional
        Drawn once right of each row (e.g. layers) and once above each column (e.g. heads).
    x_ticklabels, y_ticklabels : sequence, optional
        One label per key and per query (tokens), shown on every tick.
    mask : bool array broadcastable to ``matrices``, optional
        True where a query may attend to a key; other cells, and NaN, are drawn in
        ``masked_color`` and left out of the colour scale.

    Attributes
    ----------
    matrices_ : numpy.ma.MaskedArray of shape (n_rows, n_cols, n_queries, n_keys)
    figure_, axes_, images_, colorbar_, norm_, layout_
        Set by :meth:`plot`. ``axes_`` has shape ``(n_rows, n_cols)`` in the ``"grid"`` layout and
        ``(1, 1)`` in the ``"mosaic"`` layout; ``images_`` always has shape ``(n_rows, n_cols)``.

    Examples
    --------
    >>> import torch
    >>> display = HeatmapDisplay(torch.eye(3)).plot()
    >>> display.images_.shape, display.colorbar_.mappable.norm.vmax
    ((1, 1), 1.0)
    """

    def __init__(
        self,
        matrices: Any,
        *,
        xlabel: str | None = "Keys",
        ylabel: str | None = "Queries",
        titles: Any = None,
        row_titles: Any = None,
        col_titles: Any = None,
        x_ticklabels: Any = None,
        y_ticklabels: Any = None,
        mask: Any = None,
    ) -> None:
        self._panels = _heatmaps.prepare(
            matrices, xlabel=xlabel, ylabel=ylabel, titles=titles, row_titles=row_titles,
            col_titles=col_titles, x_ticklabels=x_ticklabels, y_ticklabels=y_ticklabels,
            mask=mask, func="HeatmapDisplay",
        )  # fmt: skip
        self.matrices_ = self._panels.data

    @classmethod
    def _from_panels(cls, panels: _heatmaps.Panels) -> HeatmapDisplay:
        display = cls.__new__(cls)
        display._panels, display.matrices_ = panels, panels.data
        return display

    def plot(
        self,
        axes: Any = None,
        *,
        figsize: tuple[float, float] = (2.5, 2.5),
        cmap: Any = "Reds",
        vmin: float | None = None,
        vmax: float | None = None,
        colorbar: bool = True,
        layout: str = "auto",
        masked_color: Any = "lightgrey",
        imshow_kw: dict | None = None,
        colorbar_kw: dict | None = None,
    ) -> HeatmapDisplay:
        """Draw the heatmaps; see :func:`show_heatmaps` for the parameters. Returns ``self``."""
        return self._plot(
            "HeatmapDisplay.plot", axes, figsize, cmap, vmin, vmax, colorbar, layout,
            masked_color, imshow_kw, colorbar_kw,
        )  # fmt: skip

    def _plot(self, func, axes, figsize, cmap, vmin, vmax, colorbar, layout, masked_color,
              imshow_kw, colorbar_kw) -> HeatmapDisplay:  # fmt: skip
        import matplotlib as mpl
        from matplotlib.axes import Axes
        from matplotlib.colors import Normalize

        n_rows, n_cols, _, _ = self.matrices_.shape
        check_choice(layout, "layout", func, LAYOUTS)
        # 1) one norm for every panel, so the single colour bar is true for all of them
        self.norm_ = Normalize(*_heatmaps.color_limits(self.matrices_, vmin, vmax, func))
        # with_extremes copies: the registered (or the caller's) colour map stays as it was
        colormap = mpl.colormaps[cmap] if isinstance(cmap, str) else cmap
        colormap = colormap.with_extremes(bad=masked_color)
        image_kw = {"cmap": colormap, "norm": self.norm_, "interpolation": "nearest"}
        image_kw.update(imshow_kw or {})
        # 2) decide the layout: one Axes per panel, or one Axes holding all panels
        single = isinstance(axes, Axes)
        if layout == "auto":
            many = n_rows * n_cols > (1 if single else _heatmaps.MOSAIC_ABOVE)
            layout = "mosaic" if (single or axes is None) and many else "grid"
        if layout == "mosaic" and axes is not None and not single:
            raise ValueError(f"{func}: layout='mosaic' draws into one Axes; got an array of axes.")
        if single and layout == "grid" and n_rows * n_cols > 1:
            axes = [axes]  # reported by _axes_grid as a grid of the wrong shape
        # 3) draw
        if layout == "grid":
            self._draw_grid(axes, figsize, image_kw, func)
        else:
            self._draw_mosaic(axes, figsize, image_kw)
        self.layout_ = layout
        self.colorbar_ = None
        if colorbar:
            options = {"shrink": 0.6, **(colorbar_kw or {})}
            self.colorbar_ = self.figure_.colorbar(
                self.images_[0, 0], ax=list(self.axes_.flat), **options
            )
        return self

    def _draw_grid(self, axes, figsize, image_kw, func) -> None:
        panels = self._panels
        n_rows, n_cols, n_queries, n_keys = panels.data.shape
        if axes is None:
            self.figure_ = _new_figure(figsize)
            grid = self.figure_.subplots(n_rows, n_cols, sharex=True, sharey=True, squeeze=False)
        else:
            grid = _axes_grid(axes, (n_rows, n_cols), func)
            self.figure_ = grid[0, 0].figure.figure
        self.axes_, self.images_ = grid, np.empty((n_rows, n_cols), dtype=object)
        for row, col in np.ndindex(n_rows, n_cols):
            ax = grid[row, col]
            self.images_[row, col] = ax.imshow(panels.data[row, col], **image_kw)
            if panels.x_ticklabels is not None:
                ax.set_xticks(range(n_keys), panels.x_ticklabels, rotation=90)
            if panels.y_ticklabels is not None:
                ax.set_yticks(range(n_queries), panels.y_ticklabels)
            if row == n_rows - 1 and panels.xlabel:
                ax.set_xlabel(panels.xlabel)
            if col == 0 and panels.ylabel:
                ax.set_ylabel(panels.ylabel)
            if panels.titles is not None:
                ax.set_title(panels.titles[row][col])
            if row == 0 and panels.col_titles is not None:
                ax.set_title(panels.col_titles[col])
            if col == n_cols - 1 and panels.row_titles is not None:
                ax.text(1.05, 0.5, panels.row_titles[row], transform=ax.transAxes,
                        rotation=270, ha="left", va="center")  # fmt: skip

    def _draw_mosaic(self, ax, figsize, image_kw) -> None:
        from matplotlib.font_manager import FontProperties
        from matplotlib.ticker import MaxNLocator
        from matplotlib.transforms import offset_copy

        panels = self._panels
        n_rows, n_cols, n_queries, n_keys = panels.data.shape
        if ax is None:
            fig = _new_figure(figsize)
            ax = fig.add_subplot()
        fig = ax.figure.figure
        # titles that repeat on every row (the book's one per column) are drawn once, on top
        titles = panels.titles or ([panels.col_titles] if panels.col_titles else [])
        if all(row_titles == titles[0] for row_titles in titles):
            titles = titles[:1]
        # 1) geometry: panels side by side in data coordinates, gaps of ~8% of a panel; titles
        # between rows need a text line of room, sized for the axes' current scale
        gap = 0.08 * max(n_queries, n_keys)
        x_starts = _heatmaps.mosaic_offsets(n_cols, n_keys, gap)
        row_gap = gap
        if len(titles) > 1:
            size = FontProperties(size=_rc("axes.titlesize")).get_size_in_points()
            box = ax.get_position()
            width_in = box.width * fig.get_figwidth() * 0.85  # less the colour bar
            height_in = box.height * fig.get_figheight()
            for _ in range(3):  # fixed point: the gap changes the scale
                total_height = n_rows * n_queries + (n_rows - 1) * row_gap
                inches_per_cell = min(width_in / (x_starts[-1] + n_keys), height_in / total_height)
                row_gap = gap + 1.6 * size / 72 / inches_per_cell
        y_starts = _heatmaps.mosaic_offsets(n_rows, n_queries, row_gap)
        # 2) one image per panel, placed by its extent (left, right, bottom, top)
        self.images_ = np.empty((n_rows, n_cols), dtype=object)
        for row, col in np.ndindex(n_rows, n_cols):
            left, top = x_starts[col] - 0.5, y_starts[row] - 0.5
            extent = (left, left + n_keys, top + n_queries, top)
            self.images_[row, col] = ax.imshow(panels.data[row, col], extent=extent, **image_kw)
        ax.set_xlim(-0.5, x_starts[-1] + n_keys - 0.5)
        ax.set_ylim(y_starts[-1] + n_queries - 0.5, -0.5)
        ax.spines[:].set_visible(False)
        # 3) ticks of every panel on the outer edges only; labels once for the whole mosaic
        for axis, starts, n, labels in (
            (ax.xaxis, x_starts, n_keys, panels.x_ticklabels),
            (ax.yaxis, y_starts, n_queries, panels.y_ticklabels),
        ):
            if labels is None:
                ticks = MaxNLocator(nbins=3, integer=True).tick_values(0, n - 1)
                ticks = ticks[(ticks >= 0) & (ticks <= n - 1)].astype(int)
                labels = [str(tick) for tick in ticks]
            else:
                ticks = np.arange(n)
            rotation = 90 if axis is ax.xaxis and panels.x_ticklabels is not None else 0
            axis.set_ticks(np.concatenate([start + ticks for start in starts]),
                           labels * len(starts), rotation=rotation)  # fmt: skip
        ax.set_xlabel(panels.xlabel or "")
        ax.set_ylabel(panels.ylabel or "")
        # 4) titles above panels and columns, row titles right of the last column
        above = offset_copy(ax.transData, fig=fig, y=3, units="points")
        right = offset_copy(ax.transData, fig=fig, x=4, units="points")
        title_size = _rc("axes.titlesize")
        for row, row_titles in enumerate(titles):
            for col, title in enumerate(row_titles):
                ax.text(x_starts[col] + (n_keys - 1) / 2, y_starts[row] - 0.5, title,
                        transform=above, ha="center", va="bottom", size=title_size)  # fmt: skip
        for row, title in enumerate(panels.row_titles or []):
            ax.text(x_starts[-1] + n_keys - 0.5, y_starts[row] + (n_queries - 1) / 2, title,
                    transform=right, rotation=270, ha="left", va="center")  # fmt: skip
        self.figure_, self.axes_ = fig, np.array([[ax]], dtype=object)


def show_heatmaps(
    matrices: Any,
    xlabel: str | None = "Keys",
    ylabel: str | None = "Queries",
    titles: Any = None,
    figsize: tuple[float, float] = (2.5, 2.5),
    cmap: Any = "Reds",
    *,
    row_titles: Any = None,
    col_titles: Any = None,
    x_ticklabels: Any = None,
    y_ticklabels: Any = None,
    mask: Any = None,
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = True,
    axes: Any = None,
    layout: str = "auto",
    masked_color: Any = "lightgrey",
    imshow_kw: dict | None = None,
    colorbar_kw: dict | None = None,
) -> Figure:
    """Draw a grid of attention-weight matrices as heatmaps on one colour scale.

    Every call of the book works unchanged; unlike the book's function this one returns the
    figure, accepts NumPy arrays, 2-D and 3-D input and tensors that need grad or live on a
    GPU, scales all panels alike (so the one colour bar is true for every panel) and changes
    no global matplotlib state.

    Parameters
    ----------
    matrices : tensor, array or nested list of shape (n_rows, n_cols, n_queries, n_keys)
        Or ``(n_cols, n_queries, n_keys)`` (one row of panels) or ``(n_queries, n_keys)``.
    xlabel, ylabel : str, default "Keys", "Queries"
        Axis labels, on the bottom row and the left column.
    titles : sequence of str, optional
        One per column, drawn on every panel of it (the book), or one per panel.
    figsize : (float, float), default (2.5, 2.5)
        Size of the whole figure in inches, as in the book (which passes it to
        ``plt.subplots``); give a larger one for grids. Ignored when ``axes`` is given.
    cmap : str or Colormap, default "Reds"
        Copied before masked cells get ``masked_color``; the original is not changed.
    row_titles, col_titles : sequence of str, optional
        Once per row (right of it, e.g. layers) and once per column (above it, e.g. heads).
    x_ticklabels, y_ticklabels : sequence, optional
        One label per key and per query, e.g. tokens.
    mask : bool array broadcastable to ``matrices``, optional
        True where a query may attend to a key (attnlab's convention); the other cells, and
        NaN or infinite values, are drawn in ``masked_color`` and left out of the scale.
    vmin, vmax : float, optional
        Colour scale. By default from 0 (or the minimum, if negative) to the maximum over
        all panels; pass ``vmin=0, vmax=1`` to compare figures on the probability scale.
    colorbar : bool, default True
        One colour bar for all panels.
    axes : Axes or array of Axes of shape (n_rows, n_cols), optional
        Draw into these instead of a new figure (then no figure is created).
    layout : {"auto", "grid", "mosaic"}, default "auto"
        ``"grid"``: one Axes per panel. ``"mosaic"``: all panels in one Axes, with ticks on
        the outer edges, titles of a column once above it; drawing is about 10 times faster
        for many panels. ``"auto"`` picks ``"mosaic"`` above 16 panels or when a single
        Axes is given for several panels.
    masked_color : colour, default "lightgrey"
    imshow_kw, colorbar_kw : dict, optional
        Merged over the defaults (``interpolation="nearest"``; ``shrink=0.6``).

    Returns
    -------
    matplotlib.figure.Figure
        In a notebook, end the call with ``;`` or assign the figure, else it is shown twice.

    Examples
    --------
    >>> import torch
    >>> fig = show_heatmaps(torch.eye(10).reshape((1, 1, 10, 10)), xlabel="Keys", ylabel="Queries")
    >>> [ax.get_label() for ax in fig.axes]
    ['', '<colorbar>']
    """
    panels = _heatmaps.prepare(
        matrices, xlabel=xlabel, ylabel=ylabel, titles=titles, row_titles=row_titles,
        col_titles=col_titles, x_ticklabels=x_ticklabels, y_ticklabels=y_ticklabels,
        mask=mask, func="show_heatmaps",
    )  # fmt: skip
    display = HeatmapDisplay._from_panels(panels)
    display._plot(
        "show_heatmaps", axes, figsize, cmap, vmin, vmax, colorbar, layout, masked_color,
        imshow_kw, colorbar_kw,
    )  # fmt: skip
    return display.figure_


def _figure_and_axes(ax: Any, figsize: tuple[float, float], func: str) -> tuple[Figure, Axes]:
    if ax is None:
        fig = _new_figure(figsize)
        return fig, fig.add_subplot()
    ax = _check_axes(ax, "ax", func)
    return ax.figure.figure, ax
