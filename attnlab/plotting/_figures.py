"""Figure helpers shared by the plotting package: new figures, given axes, colour maps, saving.

A plot function creates a figure only when it is given no ``ax``/``axes``, never calls
``plt.show()`` and never touches ``rcParams``. matplotlib is imported inside the functions, so
importing the plotting package costs nothing until something is drawn.

References
----------
1. J. D. Hunter, "Matplotlib: a 2D graphics environment", Comput. Sci. Eng. 9 (2007).
2. scikit-learn developers, "Visualizations" (the Display API), scikit-learn user guide.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from attnlab._validation import describe

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure

__all__ = [
    "axes_grid",
    "check_axes",
    "check_colormap",
    "check_image_path",
    "figure_and_axes",
    "image_formats",
    "is_colormap",
    "new_figure",
    "rc",
    "save_figure",
    "use_off_screen_backend",
]


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A new figure through pyplot (so Jupyter shows it), with constrained layout, which keeps
    titles, labels and colour bars inside the figure."""
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize, layout="constrained")


def rc(name: str) -> Any:
    """The current value of an rcParam (read, never written)."""
    import matplotlib as mpl

    return mpl.rcParams[name]


def check_axes(ax: Any, name: str, func: str) -> Axes:
    """``ax`` if it is a matplotlib Axes, else a ``TypeError`` naming the argument."""
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise TypeError(f"{func}: {name} must be a matplotlib Axes; got {describe(ax)}.")
    return ax


def figure_and_axes(ax: Any, figsize: tuple[float, float], func: str) -> tuple[Figure, Axes]:
    """The given Axes and its figure, or a new figure with one Axes."""
    if ax is None:
        figure = new_figure(figsize)
        return figure, figure.add_subplot()
    ax = check_axes(ax, "ax", func)
    return ax.figure.figure, ax


def axes_grid(axes: Any, shape: tuple[int, int], func: str) -> np.ndarray:
    """``axes`` as an object array of the given ``(n_rows, n_cols)`` shape."""
    grid = np.asarray(axes, dtype=object)
    if grid.ndim == 0 and shape == (1, 1):
        grid = grid.reshape(1, 1)  # one Axes for one panel
    if grid.ndim == 1 and 1 in shape and grid.size == shape[0] * shape[1]:
        grid = grid.reshape(shape)  # one row or one column of axes, as plt.subplots gives it
    if grid.shape != shape:
        raise ValueError(
            f"{func}: axes must be one Axes or an array of shape {shape}, one per panel; "
            f"got an array of shape {grid.shape}."
        )
    for ax in grid.flat:
        check_axes(ax, "axes", func)
    return grid


def is_colormap(name: str) -> bool:
    """Whether matplotlib has a colour map of this name."""
    import matplotlib as mpl

    return name in mpl.colormaps


def image_formats() -> list[str]:
    """The image formats (file extensions, without the dot) that figures can be saved as."""
    from matplotlib.backend_bases import FigureCanvasBase

    return sorted(FigureCanvasBase.get_supported_filetypes())


def check_colormap(cmap: Any, func: str) -> Colormap:
    """A colour map given by name or as a ``Colormap``, or a ``ValueError`` listing examples."""
    import matplotlib as mpl
    from matplotlib.colors import Colormap

    if isinstance(cmap, Colormap):
        return cmap
    if isinstance(cmap, str) and cmap in mpl.colormaps:
        return mpl.colormaps[cmap]
    raise ValueError(
        f"{func}: cmap must be the name of a matplotlib colour map (e.g. 'Reds', 'viridis') "
        f"or a Colormap; got {describe(cmap)}."
    )


def check_image_path(path: str | Path, func: str) -> Path:
    """``path`` if its extension names an image format matplotlib writes (png, svg, pdf, ...)."""
    path = Path(path)
    formats = image_formats()
    if path.suffix.lower().removeprefix(".") not in formats:
        raise ValueError(
            f"{func}: the extension of the image's path picks its format; use one of "
            f"{', '.join('.' + name for name in formats)}; got {str(path)!r}."
        )
    return path


def save_figure(figure: Figure, path: str | Path, **savefig_kw: Any) -> Path:
    """Save ``figure`` (its format from the extension) and close it if pyplot holds it, so that
    drawing many figures in a loop does not keep them all open. Returns the path.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from attnlab.plotting import save_figure, show_heatmaps
    >>> path = save_figure(show_heatmaps([[0.5, 0.5]]), Path(tempfile.mkdtemp()) / "w.png")
    >>> path.read_bytes()[:4]
    b'\\x89PNG'
    """
    path = check_image_path(path, "save_figure")
    figure.savefig(path, **savefig_kw)
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        plt.close(figure)
    return path


def use_off_screen_backend() -> None:
    """Draw off-screen with matplotlib's Agg backend, unless pyplot is already in use (then the
    program that uses it chose its backend)."""
    if "matplotlib.pyplot" not in sys.modules:
        import matplotlib

        matplotlib.use("Agg")
