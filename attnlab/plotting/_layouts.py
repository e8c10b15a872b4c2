"""The two ways :class:`~attnlab.plotting.HeatmapDisplay` lays out its panels.

``grid``: one Axes per panel, as the book does; ``mosaic``: every panel as an image in one Axes,
placed by its extent, with ticks on the outer edges and titles as text. Creating an Axes costs
milliseconds, so for many panels the mosaic draws about ten times faster.

References
----------
1. J. D. Hunter, "Matplotlib: a 2D graphics environment", Comput. Sci. Eng. 9 (2007).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from attnlab.plotting._figures import axes_grid, new_figure, rc
from attnlab.plotting._panels import Panels, mosaic_offsets

__all__ = ["draw_grid", "draw_mosaic"]


def _integer_ticks(axis: Any) -> None:
    """Ticks on whole cells only: a heatmap has no key 2.5."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(nbins="auto", integer=True, min_n_ticks=1))


def draw_grid(
    panels: Panels, axes: Any, figsize: tuple[float, float], image_kw: dict, func: str
) -> tuple[Any, np.ndarray, np.ndarray]:
    """One Axes per panel; returns ``(figure, axes, images)``, both arrays ``(n_rows, n_cols)``."""
    n_rows, n_cols, n_queries, n_keys = panels.data.shape
    if axes is None:
        figure = new_figure(figsize)
        grid = figure.subplots(n_rows, n_cols, sharex=True, sharey=True, squeeze=False)
    else:
        grid = axes_grid(axes, (n_rows, n_cols), func)
        figure = grid[0, 0].figure.figure
    images = np.empty((n_rows, n_cols), dtype=object)
    for row, col in np.ndindex(n_rows, n_cols):
        ax = grid[row, col]
        images[row, col] = ax.imshow(panels.data[row, col], **image_kw)
        if panels.x_ticklabels is not None:
            ax.set_xticks(range(n_keys), panels.x_ticklabels, rotation=90)
        else:
            _integer_ticks(ax.xaxis)
        if panels.y_ticklabels is not None:
            ax.set_yticks(range(n_queries), panels.y_ticklabels)
        else:
            _integer_ticks(ax.yaxis)
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
    return figure, grid, images


def _title_rows(panels: Panels) -> list[list[str]]:
    """Titles to draw above each row of the mosaic; titles that repeat on every row (the
    book's one per column) are drawn once, on top."""
    titles = panels.titles or ([panels.col_titles] if panels.col_titles else [])
    if all(row_titles == titles[0] for row_titles in titles):
        titles = titles[:1]
    return titles


def _row_gap(panels: Panels, ax: Any, gap: float, x_extent: float, n_title_rows: int) -> float:
    """Vertical gap between rows of panels, in cells: room for a line of title text when titles
    stand between rows, sized for the axes' current scale (a fixed point, since the gap itself
    changes the scale)."""
    if n_title_rows <= 1:
        return gap
    from matplotlib.font_manager import FontProperties

    n_rows, _, n_queries, _ = panels.data.shape
    size = FontProperties(size=rc("axes.titlesize")).get_size_in_points()
    box, figure = ax.get_position(), ax.figure.figure
    width_in = box.width * figure.get_figwidth() * 0.85  # less the colour bar
    height_in = box.height * figure.get_figheight()
    row_gap = gap
    for _ in range(3):
        total_height = n_rows * n_queries + (n_rows - 1) * row_gap
        inches_per_cell = min(width_in / x_extent, height_in / total_height)
        row_gap = gap + 1.6 * size / 72 / inches_per_cell
    return row_gap


def _mosaic_ticks(panels: Panels, ax: Any, x_starts: np.ndarray, y_starts: np.ndarray) -> None:
    """Ticks of every panel on the outer edges only."""
    from matplotlib.ticker import MaxNLocator

    _, _, n_queries, n_keys = panels.data.shape
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


def draw_mosaic(
    panels: Panels, ax: Any, figsize: tuple[float, float], image_kw: dict
) -> tuple[Any, np.ndarray, np.ndarray]:
    """Every panel in one Axes; returns ``(figure, axes of shape (1, 1), images)``."""
    from matplotlib.transforms import offset_copy

    n_rows, n_cols, n_queries, n_keys = panels.data.shape
    if ax is None:
        ax = new_figure(figsize).add_subplot()
    figure = ax.figure.figure
    titles = _title_rows(panels)
    # 1) geometry: panels side by side in data coordinates, gaps of ~8% of a panel
    gap = 0.08 * max(n_queries, n_keys)
    x_starts = mosaic_offsets(n_cols, n_keys, gap)
    row_gap = _row_gap(panels, ax, gap, x_starts[-1] + n_keys, len(titles))
    y_starts = mosaic_offsets(n_rows, n_queries, row_gap)
    # 2) one image per panel, placed by its extent (left, right, bottom, top)
    images = np.empty((n_rows, n_cols), dtype=object)
    for row, col in np.ndindex(n_rows, n_cols):
        left, top = x_starts[col] - 0.5, y_starts[row] - 0.5
        extent = (left, left + n_keys, top + n_queries, top)
        images[row, col] = ax.imshow(panels.data[row, col], extent=extent, **image_kw)
    ax.set_xlim(-0.5, x_starts[-1] + n_keys - 0.5)
    ax.set_ylim(y_starts[-1] + n_queries - 0.5, -0.5)
    ax.spines[:].set_visible(False)
    # 3) ticks on the outer edges; labels once for the whole mosaic
    _mosaic_ticks(panels, ax, x_starts, y_starts)
    ax.set_xlabel(panels.xlabel or "")
    ax.set_ylabel(panels.ylabel or "")
    # 4) titles above panels and columns, row titles right of the last column
    above = offset_copy(ax.transData, fig=figure, y=3, units="points")
    right = offset_copy(ax.transData, fig=figure, x=4, units="points")
    title_size = rc("axes.titlesize")
    for row, row_titles in enumerate(titles):
        for col, title in enumerate(row_titles):
            ax.text(x_starts[col] + (n_keys - 1) / 2, y_starts[row] - 0.5, title,
                    transform=above, ha="center", va="bottom", size=title_size)  # fmt: skip
    for row, title in enumerate(panels.row_titles or []):
        ax.text(x_starts[-1] + n_keys - 0.5, y_starts[row] + (n_queries - 1) / 2, title,
                transform=right, rotation=270, ha="left", va="center")  # fmt: skip
    return figure, np.array([[ax]], dtype=object), images
