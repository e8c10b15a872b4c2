"""The chapter's picture of attention: a query meets the keys, and the weights pool the values.

A query (the volitional cue, what we look for) is compared with each key (a nonvolitional cue,
what makes an input stand out); the comparison gives one weight per key, and the output is the
values (the sensory inputs) summed with those weights. :func:`draw_attention_cues` draws that
flow for a given set of weights, so the picture can show any attention pattern.

References
----------
1. W. James, *The Principles of Psychology* (1890): the two-component framework of attention.
2. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.1
   (Chinese 2nd ed.) / 11.1 (English): the query-key-value figure, drawn here anew.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from attnlab._validation import describe
from attnlab.plotting._figures import check_colormap, figure_and_axes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["draw_attention_cues"]

_MAX_KEYS = 12


def _check_weights(weights: Any, func: str) -> np.ndarray:
    try:
        values = np.asarray(
            weights.detach().cpu() if hasattr(weights, "detach") else weights, dtype=float
        )
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{func}: weights must be a sequence of numbers, one per key; got {describe(weights)}."
        ) from error
    if values.ndim != 1 or not 1 <= values.size <= _MAX_KEYS:
        raise ValueError(
            f"{func}: weights must be one query's weights, a 1-D sequence of 1 to {_MAX_KEYS} "
            f"numbers (one per key); got shape {values.shape}."
        )
    if not np.isfinite(values).all() or (values < 0).any() or not np.isclose(values.sum(), 1.0):
        raise ValueError(
            f"{func}: weights must be non-negative and sum to 1, as attention weights do; got "
            f"{np.round(values, 4).tolist()} (sum {values.sum():.4g}). Normalise them first, "
            "e.g. with attnlab.masked_softmax of scores."
        )
    return values


def draw_attention_cues(
    weights: Any = (0.05, 0.10, 0.60, 0.20, 0.05),
    *,
    ax: Any = None,
    figsize: tuple[float, float] | None = None,
    cmap: Any = "Reds",
) -> Figure:
    """Draw the query-key-value diagram of attention pooling for one query.

    Keys stand on the left, each paired with a value on the right. The query comes from below
    and is compared with every key, giving the weights in the middle column (shaded by the
    probability scale, 0 to 1, of the colour map ``cmap``); the values flow into the output
    along arrows as thick as their weights.

    Parameters
    ----------
    weights : sequence of float, default (0.05, 0.10, 0.60, 0.20, 0.05)
        The query's attention weights, one per key (1 to 12 keys): non-negative, summing to 1.
    ax : matplotlib Axes, optional
        Draw into this Axes (its axis is switched off); by default a new figure is made.
    figsize : (float, float), optional
        Size of the new figure in inches, by default half an inch per box height, so that the
        text keeps its size whatever the number of keys; ignored when ``ax`` is given.
    cmap : str or Colormap, default "Reds"
        Colours of the weights.

    Returns
    -------
    matplotlib.figure.Figure
        The figure that holds the diagram. In a notebook, end the call with ``;``.

    Examples
    --------
    >>> fig = draw_attention_cues([0.1, 0.7, 0.2])
    >>> ax = fig.axes[0]
    >>> [text.get_text() for text in ax.texts if text.get_text().startswith("0.")]
    ['0.10', '0.70', '0.20']
    >>> draw_attention_cues([0.5, 0.6])
    Traceback (most recent call last):
    ValueError: draw_attention_cues: weights must be non-negative and sum to 1, as attention ...
    """
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

    func = "draw_attention_cues"
    values = _check_weights(weights, func)
    n_keys = values.size
    top = n_keys + 0.6  # rows from the top: key i at height n_keys - i
    query_y, header = -0.6, top + 0.15
    xlim, ylim = (-0.4, 10.2), (query_y - 0.7, header + 1.0)
    if figsize is None:  # half an inch per unit of the drawing, whatever n_keys is
        figsize = (0.5 * (xlim[1] - xlim[0]), 0.5 * (ylim[1] - ylim[0]))
    fig, ax = figure_and_axes(ax, figsize, func)
    colormap = check_colormap(cmap, func)
    x_key, x_weight, x_value, x_output = 1.0, 4.0, 6.6, 9.2
    width, height = 1.2, 0.62
    key_color, value_color = "#4c9be8", "#b9dcf7"

    def box(x, y, text, color, gid, text_color="black"):
        ax.add_patch(
            Rectangle(
                (x - width / 2, y - height / 2), width, height, facecolor=color,
                edgecolor="#1f3b57", linewidth=1.0, gid=gid,
            )
        )  # fmt: skip
        ax.text(x, y, text, ha="center", va="center", fontsize=10, color=text_color, gid=gid)

    def arrow(start, end, gid, **style):
        kw = {"arrowstyle": "-|>", "mutation_scale": 12, "color": "#333333", "linewidth": 1.0}
        ax.add_patch(FancyArrowPatch(start, end, gid=gid, shrinkA=0, shrinkB=0, **(kw | style)))

    # 1) keys and values, in pairs: the nonvolitional cues and the sensory inputs
    rows = [n_keys - i for i in range(n_keys)]
    for i, y in enumerate(rows, start=1):
        box(x_key, y, rf"$\mathbf{{k}}_{{{i}}}$", key_color, "key")
        box(x_value, y, rf"$\mathbf{{v}}_{{{i}}}$", value_color, "value")
    # 2) the query, the volitional cue, meets every key: one weight per key
    box(x_weight, query_y, r"$\mathbf{q}$", "white", "query")
    frame_bottom = rows[-1] - height / 2 - 0.12
    ax.add_patch(
        FancyBboxPatch(
            (x_weight - width / 2 - 0.12, frame_bottom), width + 0.24,
            rows[0] - rows[-1] + height + 0.24, boxstyle="round,pad=0,rounding_size=0.25",
            facecolor="none", edgecolor="#333333", linewidth=1.0, gid="weights-frame",
        )
    )  # fmt: skip
    arrow((x_weight, query_y + height / 2), (x_weight, frame_bottom), "query")
    for weight, y in zip(values, rows, strict=True):
        arrow((x_key + width / 2, y), (x_weight - width / 2, y), "key-to-weight")
        text_color = "white" if weight > 0.5 else "black"
        box(x_weight, y, f"{weight:.2f}", colormap(weight), "weight", text_color)
        arrow((x_weight + width / 2, y), (x_value - width / 2, y), "weight-to-value",
              linestyle="--", arrowstyle="-|>")  # fmt: skip
    # 3) the values, weighted, are summed into the output: arrows as thick as the weights
    output_y = (rows[0] + rows[-1]) / 2
    ax.add_patch(
        FancyBboxPatch(
            (x_output - 0.55, output_y - 0.4), 1.1, 0.8, boxstyle="round,pad=0.05",
            facecolor="white", edgecolor="#1f3b57", gid="output",
        )
    )  # fmt: skip
    for weight, y in zip(values, rows, strict=True):
        arrow((x_value + width / 2, y), (x_output - 0.6, output_y), "value-to-output",
              linewidth=0.4 + 6 * weight, mutation_scale=6 + 10 * weight,
              color=colormap(0.45 + 0.55 * weight))  # fmt: skip
    ax.text(x_output, output_y, "output", ha="center", va="center", fontsize=10, gid="output")
    # 4) labels: what each column is, in the chapter's two vocabularies
    labels = [
        (x_key, header, "keys\n(nonvolitional cues)"),
        (x_weight, header, r"weights $\alpha(\mathbf{q}, \mathbf{k}_i)$"),
        (x_value, header, "values\n(sensory inputs)"),
        (x_weight - 1.1, query_y, "query\n(volitional cue)"),
    ]
    for x, y, text in labels:
        ha = "right" if text.startswith("query") else "center"
        ax.text(x, y, text, ha=ha, va="bottom" if y == header else "center", fontsize=10,
                gid="label")  # fmt: skip
    ax.text(
        x_output, output_y - 0.7,
        r"$\sum_i \alpha(\mathbf{q}, \mathbf{k}_i)\, \mathbf{v}_i$", ha="center", va="top",
        fontsize=11, gid="label",
    )  # fmt: skip
    ax.text(
        (x_weight + x_output) / 2, query_y, "attention pooling", ha="center", va="center",
        fontsize=10, style="italic", gid="label",
    )  # fmt: skip
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return fig
