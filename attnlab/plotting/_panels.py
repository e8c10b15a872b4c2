"""The panels behind :func:`attnlab.show_heatmaps`: checks, colour scale and geometry, no drawing.

A heatmap grid is a 4-D array ``(n_rows, n_cols, n_queries, n_keys)``. This module turns what the
user passes (2-D, 3-D or 4-D; tensor, array or list; labels, titles, a mask) into that array and
checked label lists, and computes the one colour scale and the mosaic geometry that the plotting
package draws. It never imports matplotlib.

References
----------
1. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.1
   (Chinese 2nd edition) / 11.1 (English).
2. scikit-learn developers, "Visualizations" (the Display API), scikit-learn user guide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from attnlab._validation import as_float_tensor, describe

__all__ = ["MOSAIC_ABOVE", "Panels", "color_limits", "mosaic_offsets", "prepare"]

SHAPES = "(n_queries, n_keys), (n_cols, n_queries, n_keys) or (n_rows, n_cols, n_queries, n_keys)"

MOSAIC_ABOVE = 16
"""With ``layout="auto"``, grids of more panels than this are drawn as one mosaic Axes:
creating one Axes costs milliseconds, so 144 of them dominate the time to draw."""


@dataclass
class Panels:
    """Checked heatmap data and labels, laid out as a ``(n_rows, n_cols)`` grid of panels."""

    data: np.ma.MaskedArray
    """``(n_rows, n_cols, n_queries, n_keys)``; masked where a mask forbids or a value is NaN."""
    xlabel: str | None
    ylabel: str | None
    titles: list[list[str]] | None
    """One title per panel, ``titles[row][col]``."""
    row_titles: list[str] | None
    col_titles: list[str] | None
    x_ticklabels: list[str] | None
    y_ticklabels: list[str] | None


def _as_array(matrices: Any, func: str) -> np.ndarray:
    """Detached CPU NumPy copy of ``matrices`` (tensor on any device, array, nested list)."""
    tensor = as_float_tensor(matrices, "matrices", func)
    if tensor.ndim not in (2, 3, 4) or tensor.numel() == 0:
        problem = "no values" if tensor.ndim in (2, 3, 4) else f"{tensor.ndim} axes"
        raise ValueError(
            f"{func}: matrices must have shape {SHAPES} with at least one value; "
            f"got matrices.shape={tuple(tensor.shape)} ({problem})."
        )
    tensor = tensor.detach().cpu()
    if tensor.dtype in (torch.float16, torch.bfloat16):
        tensor = tensor.float()  # NumPy has no bfloat16
    return tensor.numpy()


def _as_mask(mask: Any, shape: tuple[int, ...], func: str) -> np.ndarray:
    """Boolean mask (True = may attend) broadcast to ``shape``."""
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    allowed = np.asarray(mask)
    if allowed.dtype != np.bool_:
        raise TypeError(
            f"{func}: mask must be boolean, True where a query may attend to a key; "
            f"got {describe(allowed)}."
        )
    try:
        return np.broadcast_to(allowed, shape)
    except ValueError:
        raise ValueError(
            f"{func}: mask must be broadcastable to matrices.shape={shape}; "
            f"got mask.shape={allowed.shape}."
        ) from None


def _labels(labels: Any, expected: int, name: str, what: str, func: str) -> list[str] | None:
    """``labels`` as a list of ``expected`` strings, or None."""
    if labels is None:
        return None
    if isinstance(labels, str) or not isinstance(labels, Sequence | np.ndarray | torch.Tensor):
        raise TypeError(
            f"{func}: {name} must be a sequence of {expected} labels, one per {what}; "
            f"got {describe(labels)}."
        )
    labels = [str(label) for label in (labels.tolist() if hasattr(labels, "tolist") else labels)]
    if len(labels) != expected:
        raise ValueError(
            f"{func}: {name} must have one label per {what} ({expected}); got {len(labels)}."
        )
    return labels


def _titles(titles: Any, n_rows: int, n_cols: int, func: str) -> list[list[str]] | None:
    """Per-panel titles from the book's one-per-column list, a flat list or a nested list."""
    if titles is None:
        return None
    if isinstance(titles, str):
        titles = [titles]
    if not isinstance(titles, Sequence):
        raise TypeError(f"{func}: titles must be a sequence of strings; got {describe(titles)}.")
    titles = list(titles)
    if len(titles) == n_rows and all(
        isinstance(row, Sequence) and not isinstance(row, str) and len(row) == n_cols
        for row in titles
    ):
        return [[str(title) for title in row] for row in titles]
    flat = [str(title) for title in titles]
    if len(flat) == n_cols:  # the book: the same title for every panel of a column
        return [flat for _ in range(n_rows)]
    if len(flat) == n_rows * n_cols:
        return [flat[row * n_cols : (row + 1) * n_cols] for row in range(n_rows)]
    raise ValueError(
        f"{func}: titles must have one title per column ({n_cols}), one per panel "
        f"({n_rows * n_cols}) or shape ({n_rows}, {n_cols}); got {len(flat)} titles."
    )


def prepare(
    matrices: Any,
    *,
    xlabel: str | None,
    ylabel: str | None,
    titles: Any,
    row_titles: Any,
    col_titles: Any,
    x_ticklabels: Any,
    y_ticklabels: Any,
    mask: Any,
    func: str,
) -> Panels:
    """Validate everything :class:`attnlab.plotting.HeatmapDisplay` draws; see its docstring."""
    values = _as_array(matrices, func)
    # 3-D input is one row of panels (heads, or a batch), 2-D a single panel
    invalid = ~np.isfinite(values)
    if mask is not None:
        invalid = invalid | ~_as_mask(mask, values.shape, func)
    data = np.ma.masked_array(values, mask=invalid)
    data = data.reshape((1,) * (4 - values.ndim) + values.shape)  # (rows, cols, q, k)
    n_rows, n_cols, n_queries, n_keys = data.shape
    if titles is not None and col_titles is not None:
        raise ValueError(
            f"{func}: pass titles (on every panel) or col_titles (once above each column), "
            "not both."
        )
    return Panels(
        data=data,
        xlabel=xlabel,
        ylabel=ylabel,
        titles=_titles(titles, n_rows, n_cols, func),
        row_titles=_labels(row_titles, n_rows, "row_titles", "row of panels", func),
        col_titles=_labels(col_titles, n_cols, "col_titles", "column of panels", func),
        x_ticklabels=_labels(x_ticklabels, n_keys, "x_ticklabels", "key", func),
        y_ticklabels=_labels(y_ticklabels, n_queries, "y_ticklabels", "query", func),
    )


def color_limits(
    data: np.ma.MaskedArray,
    vmin: float | None = None,
    vmax: float | None = None,
    func: str = "color_limits",
) -> tuple[float, float]:
    """One colour scale for all panels: from 0 (or the minimum, if negative) to the maximum.

    Attention weights are non-negative, so 0 is white and the largest weight shown is the
    darkest colour; a fixed 0..1 scale would paint a row of 64 equal weights (1/64 each)
    almost white. Masked and non-finite cells are ignored. ``vmin``/``vmax`` override.

    Examples
    --------
    >>> import numpy as np
    >>> color_limits(np.ma.masked_array([[0.2, 0.5]]))
    (0.0, 0.5)
    >>> color_limits(np.ma.masked_array([[-1.0, 2.0]]))
    (-1.0, 2.0)
    >>> color_limits(np.ma.masked_array([[0.0, 0.0]]))
    (0.0, 1.0)
    """
    shown = data.compressed()
    low = min(0.0, float(shown.min())) if shown.size else 0.0
    high = float(shown.max()) if shown.size else 1.0
    low = low if vmin is None else float(vmin)
    high = high if vmax is None else float(vmax)
    if high <= low and vmax is None:
        high = low + 1.0  # a constant input still gets a readable colour bar
    if not high > low:
        raise ValueError(f"{func}: vmin must be less than vmax; got vmin={low}, vmax={high}.")
    return low, high


def mosaic_offsets(n_panels: int, size: int, gap: float) -> np.ndarray:
    """Data coordinate of the first cell of each of ``n_panels`` panels of ``size`` cells.

    Examples
    --------
    >>> mosaic_offsets(3, 10, 2.0)
    array([ 0., 12., 24.])
    """
    return np.arange(n_panels) * (size + gap)
