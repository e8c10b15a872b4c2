"""Plots that show attention weights honestly: the top layer of attnlab, and its only user of
matplotlib, which is imported when something is drawn.

- :mod:`attnlab.plotting.heatmaps`: :func:`show_heatmaps` and :class:`HeatmapDisplay`, every
  panel on one colour scale, the figure returned, no global state changed.
- :mod:`attnlab.plotting.lessons`: the lessons' plots of kernels, fits, bandwidth curves and
  losses.
- :mod:`attnlab.plotting.diagrams`: the chapter's query-key-value picture, for any weights.
- :mod:`attnlab.plotting.demo`: the figures of ``attnlab demo``, from a comparison.
- :mod:`attnlab.plotting.book`: the book's own figure helpers, behind ``attnlab.d2l``.

Each plot takes an optional ``ax``/``axes``, creates a figure only when none is given, and
returns the figure (or, for the display, itself with its artists).

References
----------
1. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, sections 10.1-10.2
   (Chinese 2nd edition) / 11.1-11.2 (English).
2. scikit-learn developers, "Visualizations" (the Display API), scikit-learn user guide.
"""

from attnlab.plotting._figures import save_figure
from attnlab.plotting.demo import DEMO_FIGURES, demo_figures
from attnlab.plotting.diagrams import draw_attention_cues
from attnlab.plotting.heatmaps import HeatmapDisplay, show_heatmaps
from attnlab.plotting.lessons import plot_bandwidth_curve, plot_fits, plot_kernels, plot_loss

__all__ = [
    "DEMO_FIGURES",
    "HeatmapDisplay",
    "demo_figures",
    "draw_attention_cues",
    "plot_bandwidth_curve",
    "plot_fits",
    "plot_kernels",
    "plot_loss",
    "save_figure",
    "show_heatmaps",
]
