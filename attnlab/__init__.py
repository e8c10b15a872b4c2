"""attnlab: learn attention by doing it.

Every pooling returns ``(output, weights)``, with ``weights`` of shape
``(*batch, n_queries, n_keys)``; the README maps each module to the idea it teaches.

Names are imported on first use (PEP 562), so ``import attnlab`` and the ``attnlab`` command's
``--help`` are instant: torch is imported with the first pooling or module, matplotlib with the
first plot, scikit-learn with the estimator.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_NAMES = {
    "AdditiveAttention": "attnlab.modules",
    "AveragePooling": "attnlab.modules",
    "BandwidthCurve": "attnlab.bandwidth",
    "DotProductAttention": "attnlab.modules",
    "HeatmapDisplay": "attnlab.plotting",
    "MultiHeadAttention": "attnlab.multihead",
    "NadarayaWatson": "attnlab.modules",
    "NadarayaWatsonRegressor": "attnlab.estimators",
    "PositionalEncoding": "attnlab.multihead",
    "Recording": "attnlab.recording",
    "average_pooling": "attnlab.pooling",
    "dot_product_attention": "attnlab.attention",
    "draw_attention_cues": "attnlab.plotting",
    "masked_softmax": "attnlab.masking",
    "nadaraya_watson": "attnlab.pooling",
    "plot_bandwidth_curve": "attnlab.plotting",
    "plot_fits": "attnlab.plotting",
    "plot_kernels": "attnlab.plotting",
    "plot_loss": "attnlab.plotting",
    "record_attention": "attnlab.recording",
    "select_bandwidth": "attnlab.bandwidth",
    "show_heatmaps": "attnlab.plotting",
    "stack_heads": "attnlab.recording",
    "train_pooling": "attnlab.training",
}
_SUBMODULES = ("d2l", "datasets", "exercises", "grading", "kernels", "plotting")

__all__ = [
    "AdditiveAttention",
    "AveragePooling",
    "BandwidthCurve",
    "DotProductAttention",
    "HeatmapDisplay",
    "MultiHeadAttention",
    "NadarayaWatson",
    "NadarayaWatsonRegressor",
    "PositionalEncoding",
    "Recording",
    "__version__",
    "average_pooling",
    "d2l",
    "datasets",
    "dot_product_attention",
    "draw_attention_cues",
    "exercises",
    "grading",
    "kernels",
    "masked_softmax",
    "nadaraya_watson",
    "plot_bandwidth_curve",
    "plot_fits",
    "plot_kernels",
    "plot_loss",
    "plotting",
    "record_attention",
    "select_bandwidth",
    "show_heatmaps",
    "stack_heads",
    "train_pooling",
]


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"attnlab.{name}")
    else:
        raise AttributeError(f"module 'attnlab' has no attribute {name!r}")
    globals()[name] = value  # the next access is an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # what type checkers and editors see
    from attnlab import d2l, datasets, exercises, grading, kernels, plotting
    from attnlab.attention import dot_product_attention
    from attnlab.bandwidth import BandwidthCurve, select_bandwidth
    from attnlab.estimators import NadarayaWatsonRegressor
    from attnlab.masking import masked_softmax
    from attnlab.modules import (
        AdditiveAttention,
        AveragePooling,
        DotProductAttention,
        NadarayaWatson,
    )
    from attnlab.multihead import MultiHeadAttention, PositionalEncoding
    from attnlab.plotting import (
        HeatmapDisplay,
        draw_attention_cues,
        plot_bandwidth_curve,
        plot_fits,
        plot_kernels,
        plot_loss,
        show_heatmaps,
    )
    from attnlab.pooling import average_pooling, nadaraya_watson
    from attnlab.recording import Recording, record_attention, stack_heads
    from attnlab.training import train_pooling
