"""The book's face: ``from attnlab import d2l`` in place of ``from d2l import torch as d2l``.

Every code cell of the attention chapter of *Dive into Deep Learning* that does not download data
runs with this import, in both editions: chapter 10 of the Chinese 2nd edition and chapter 11 of
the English one. The names, constructor signatures (of either edition), parameter names and
conventions are the book's (a module returns its output and keeps ``.attention_weights``); the
computations are attnlab's own core. Names that need the book's downloaded data or its training
framework raise a one-line ``NotImplementedError`` that says so and what to use instead.

References
----------
1. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, Cambridge University
   Press (2023), chapter 11; Chinese 2nd edition (2023), chapter 10.
2. D. Bahdanau, K. Cho, Y. Bengio, arXiv:1409.0473 (2014).
3. A. Vaswani et al., "Attention is all you need", NeurIPS (2017).
"""

from __future__ import annotations

import difflib
from typing import Any

from attnlab.d2l.blocks import (
    AddNorm,
    DecoderBlock,
    EncoderBlock,
    PositionWiseFFN,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
)
from attnlab.d2l.encoder_decoder import (
    AttentionDecoder,
    Decoder,
    Encoder,
    EncoderDecoder,
    Seq2SeqAttentionDecoder,
    Seq2SeqEncoder,
    init_seq2seq,
)
from attnlab.d2l.kernel_regression import (
    NWKernelRegression,
    boxcar,
    constant,
    epanechikov,
    gaussian,
    nadaraya_watson,
)
from attnlab.d2l.multihead import (
    MultiHeadAttention,
    PositionalEncoding,
    transpose_output,
    transpose_qkv,
)
from attnlab.d2l.scope import (
    DATA_CONSTANTS,
    DataNotAvailableError,
    Module,
    OutOfScopeError,
    data_message,
    unavailable,
)
from attnlab.d2l.scoring import (
    AdditiveAttention,
    DotProductAttention,
    masked_softmax,
    sequence_mask,
)
from attnlab.d2l.tensors import *  # noqa: F403 (the book's aliases, listed in tensors.__all__)
from attnlab.d2l.tensors import __all__ as _tensor_names
from attnlab.d2l.transformer import TransformerDecoder, TransformerEncoder
from attnlab.plotting.book import (
    Animator,
    plot,
    pyplot,
    set_axes,
    set_figsize,
    show_heatmaps,
    use_svg_display,
)

# the book's names that raise: load_data_nmt, MTFraEng, Trainer, train_seq2seq, bleu, ...
globals().update(unavailable)

__all__ = [
    "AddNorm",
    "AdditiveAttention",
    "Animator",
    "AttentionDecoder",
    "DataNotAvailableError",
    "Decoder",
    "DecoderBlock",
    "DotProductAttention",
    "Encoder",
    "EncoderBlock",
    "EncoderDecoder",
    "Module",
    "MultiHeadAttention",
    "NWKernelRegression",
    "OutOfScopeError",
    "PositionWiseFFN",
    "PositionalEncoding",
    "Seq2SeqAttentionDecoder",
    "Seq2SeqEncoder",
    "TransformerDecoder",
    "TransformerDecoderBlock",
    "TransformerEncoder",
    "TransformerEncoderBlock",
    "boxcar",
    "constant",
    "epanechikov",
    "gaussian",
    "init_seq2seq",
    "masked_softmax",
    "nadaraya_watson",
    "plot",
    "sequence_mask",
    "set_axes",
    "set_figsize",
    "show_heatmaps",
    "transpose_output",
    "transpose_qkv",
    "use_svg_display",
    *_tensor_names,
]

_DOWNLOADING_PREFIXES = ("load_data_", "read_", "download")


def __getattr__(name: str) -> Any:
    """``d2l.plt`` is pyplot (imported on first use); other book names get a helpful error."""
    if name == "plt":
        return pyplot()
    if not name.startswith("_"):
        if name in DATA_CONSTANTS or name.startswith(_DOWNLOADING_PREFIXES):
            raise DataNotAvailableError(data_message(name))
        known = [*__all__, *unavailable, "plt"]
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean d2l.{close[0]}?" if close else ""
        raise AttributeError(
            f"module 'attnlab.d2l' has no attribute {name!r}: it holds what the attention "
            f"chapter uses (Chinese 2nd ed. chapter 10, English chapter 11), as listed on the "
            f"'Book code' page of attnlab's documentation.{hint}"
        )
    raise AttributeError(f"module 'attnlab.d2l' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "plt"})
