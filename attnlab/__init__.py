"""attnlab: learn attention by doing it.

Every pooling returns ``(output, weights)``, with ``weights`` of shape
``(*batch, n_queries, n_keys)``; the README maps each module to the idea it teaches.
"""

from attnlab import datasets, kernels
from attnlab.attention import dot_product_attention
from attnlab.estimators import BandwidthCurve, NadarayaWatsonRegressor, select_bandwidth
from attnlab.masking import masked_softmax
from attnlab.modules import AdditiveAttention, AveragePooling, DotProductAttention, NadarayaWatson
from attnlab.multihead import MultiHeadAttention, PositionalEncoding
from attnlab.plotting import (
    HeatmapDisplay,
    plot_bandwidth_curve,
    plot_fits,
    plot_kernels,
    plot_loss,
    show_heatmaps,
)
from attnlab.pooling import average_pooling, nadaraya_watson
from attnlab.recording import Recording, record_attention, stack_heads
from attnlab.training import train_pooling

__version__ = "0.1.0"

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
    "datasets",
    "dot_product_attention",
    "kernels",
    "masked_softmax",
    "nadaraya_watson",
    "plot_bandwidth_curve",
    "plot_fits",
    "plot_kernels",
    "plot_loss",
    "record_attention",
    "select_bandwidth",
    "show_heatmaps",
    "stack_heads",
    "train_pooling",
]
