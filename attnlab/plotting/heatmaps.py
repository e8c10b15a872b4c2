"""Heatmaps that show attention weights honestly: every panel on one colour scale, nothing global.

:func:`show_heatmaps` accepts every call the book makes and returns the ``Figure``; its single
colour bar is true for every panel because all panels share one ``Normalize``.
:class:`HeatmapDisplay` is the same as a scikit-learn style Display: checked data first, then
``.plot()`` returns the display holding its artists.

References
----------
1. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.1
   (Chinese 2nd edition) / 11.1 (English).
2. J. D. Hunter, "Matplotlib: a 2D graphics environment", Comput. Sci. Eng. 9 (2007).
3. scikit-learn developers, "Visualizations" (``ConfusionMatrixDisplay``), scikit-learn user guide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attnlab._validation import check_choice
from attnlab.plotting._figures import check_colormap
from attnlab.plotting._layouts import draw_grid, draw_mosaic
from attnlab.plotting._panels import MOSAIC_ABOVE, color_limits, prepare

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["LAYOUTS", "HeatmapDisplay", "show_heatmaps"]

LAYOUTS = ("auto", "grid", "mosaic")
"""The layouts :func:`show_heatmaps` draws: one Axes per panel, or one Axes for all."""


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
    xlabel : str, default "Keys"
        Drawn once per column, below the bottom row.
    ylabel : str, default "Queries"
        Drawn once per row, left of the left column.
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
        labels = {"xlabel": xlabel, "ylabel": ylabel, "titles": titles, "row_titles": row_titles,
                  "col_titles": col_titles, "x_ticklabels": x_ticklabels,
                  "y_ticklabels": y_ticklabels, "mask": mask}  # fmt: skip
        self._check(matrices, labels, "HeatmapDisplay")

    def _check(self, matrices: Any, labels: dict, func: str) -> None:
        self._panels = prepare(matrices, func=func, **labels)
        self.matrices_ = self._panels.data

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
        style = {"figsize": figsize, "cmap": cmap, "vmin": vmin, "vmax": vmax,
                 "colorbar": colorbar, "layout": layout, "masked_color": masked_color,
                 "imshow_kw": imshow_kw, "colorbar_kw": colorbar_kw}  # fmt: skip
        return self._draw(axes, style, "HeatmapDisplay.plot")

    def _draw(self, axes: Any, style: dict, func: str) -> HeatmapDisplay:
        from matplotlib.axes import Axes
        from matplotlib.colors import Normalize

        n_rows, n_cols, _, _ = self.matrices_.shape
        layout = check_choice(style["layout"], "layout", func, LAYOUTS)
        # 1) one norm for every panel, so the single colour bar is true for all of them
        limits = color_limits(self.matrices_, style["vmin"], style["vmax"], func)
        self.norm_ = Normalize(*limits)
        # with_extremes copies: the registered (or the caller's) colour map stays as it was
        colormap = check_colormap(style["cmap"], func).with_extremes(bad=style["masked_color"])
        image_kw = {"cmap": colormap, "norm": self.norm_, "interpolation": "nearest",
                    **(style["imshow_kw"] or {})}  # fmt: skip
        # 2) the layout: one Axes per panel, or one Axes holding all panels
        single = isinstance(axes, Axes)
        if layout == "auto":
            many = n_rows * n_cols > (1 if single else MOSAIC_ABOVE)
            layout = "mosaic" if (single or axes is None) and many else "grid"
        if layout == "mosaic" and axes is not None and not single:
            raise ValueError(f"{func}: layout='mosaic' draws into one Axes; got an array of axes.")
        if single and layout == "grid" and n_rows * n_cols > 1:
            axes = [axes]  # reported by axes_grid as a grid of the wrong shape
        # 3) draw
        if layout == "grid":
            drawn = draw_grid(self._panels, axes, style["figsize"], image_kw, func)
        else:
            drawn = draw_mosaic(self._panels, axes, style["figsize"], image_kw)
        self.figure_, self.axes_, self.images_ = drawn
        self.layout_ = layout
        self.colorbar_ = None
        if style["colorbar"]:
            options = {"shrink": 0.6, **(style["colorbar_kw"] or {})}
            self.colorbar_ = self.figure_.colorbar(
                self.images_[0, 0], ax=list(self.axes_.flat), **options
            )
        return self


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
    xlabel : str, default "Keys"
        Label of the horizontal axis (the keys), on the bottom row.
    ylabel : str, default "Queries"
        Label of the vertical axis (the queries), on the left column.
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
        One label per key and per query, e.g. tokens. Without them, ticks fall on whole
        cells (key 0, 1, 2, ...), never between two.
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
    func = "show_heatmaps"
    display = HeatmapDisplay.__new__(HeatmapDisplay)
    labels = {"xlabel": xlabel, "ylabel": ylabel, "titles": titles, "row_titles": row_titles,
              "col_titles": col_titles, "x_ticklabels": x_ticklabels,
              "y_ticklabels": y_ticklabels, "mask": mask}  # fmt: skip
    display._check(matrices, labels, func)
    style = {"figsize": figsize, "cmap": cmap, "vmin": vmin, "vmax": vmax, "colorbar": colorbar,
             "layout": layout, "masked_color": masked_color, "imshow_kw": imshow_kw,
             "colorbar_kw": colorbar_kw}  # fmt: skip
    return display._draw(axes, style, func).figure_
