"""Query-key-value attention with a learned-free scoring function: scaled dot products.

A query scores every key by their dot product, scaled by ``1 / sqrt(d)`` so that the scores of
random ``d``-dimensional vectors keep unit variance and the softmax does not saturate; the
weights are the masked softmax of the scores and the output is their weighted sum of values.

References
----------
1. D. Bahdanau, K. Cho, Y. Bengio, "Neural machine translation by jointly learning to align and
   translate", ICLR (2015), arXiv:1409.0473 (2014).
2. A. Vaswani et al., "Attention is all you need", NeurIPS (2017), section 3.2.1.
3. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.3
   (Chinese 2nd edition) / 11.3 (English).
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import torch

from attnlab._validation import check_probability, check_queries_keys_values, compute_dtype
from attnlab.masking import apply_mask, build_mask

__all__ = ["attend", "check_scale", "dot_product_attention"]


def check_scale(scale: Any, d: int, func: str) -> float:
    """The factor on the scores: ``1 / sqrt(d)`` by default, else a finite number."""
    if scale is None:
        return 1.0 / math.sqrt(d)
    if isinstance(scale, bool) or not isinstance(scale, Real) or not math.isfinite(scale):
        raise TypeError(f"{func}: scale must be a finite number or None; got {scale!r}.")
    return float(scale)


def attend(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    allowed: torch.Tensor | None,
    scale: float,
    dropout: float = 0.0,
    training: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention on checked inputs: the kernel of every attention here.

    Callers have validated the inputs (:func:`dot_product_attention`, the modules) and built
    ``allowed`` with :func:`attnlab.masking.build_mask`; nothing is checked again.
    """
    dtype = queries.dtype
    work = compute_dtype(dtype)  # half precision: scores in float32, as torch's SDPA does
    queries, keys = queries.to(work), keys.to(work)
    # 1) score: scaled dot products; scale the queries, not the scores: q*d multiplications
    # instead of q*k (as torch's SDPA does)
    scores = (queries * scale) @ keys.mT  # (*b, q, d) @ (*b, d, k) -> (*b, q, k)
    # 2) normalise over admissible keys
    if allowed is None:
        # nothing masked and finite scores: no empty rows to guard; without autograd the
        # softmax may overwrite the scores (one fewer (q, k) buffer, as torch's own MHA does)
        inplace = not (torch.is_grad_enabled() and scores.requires_grad)
        weights = torch.softmax(scores, dim=-1, out=scores) if inplace else scores.softmax(-1)
    else:
        weights = apply_mask(scores, allowed)  # (*b, q, k)
    weights = weights.to(dtype)
    if training and dropout > 0:
        weights = torch.nn.functional.dropout(weights, p=dropout, training=True)
    # 3) weighted sum of values
    return weights @ values, weights  # (*b, q, k) @ (*b, k, v) -> (*b, q, v)


def dot_product_attention(
    queries,
    keys,
    values,
    *,
    valid_lens: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    scale: float | None = None,
    dropout: float = 0.0,
    training: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention that returns its weights.

    Equal to ``torch.nn.functional.scaled_dot_product_attention`` wherever both apply, except
    that a query with no admissible key outputs zeros (torch: zeros too, since 2.5; NaN before).

    Parameters
    ----------
    queries : torch.Tensor of shape (*batch, n_queries, d)
    keys : torch.Tensor of shape (*batch, n_keys, d)
    values : torch.Tensor of shape (*batch, n_keys, d_v)
    valid_lens : torch.Tensor of shape (*batch,) or (*batch, n_queries), optional
        Keys at positions ``>= valid_lens`` are masked (the book's convention).
    mask : torch.Tensor of bool, broadcastable to (*batch, n_queries, n_keys), optional
        True where a query may attend to a key.
    scale : float, optional
        Factor on the scores; ``1 / sqrt(d)`` by default.
    dropout : float, default 0.0
        Probability of dropping a weight, applied only when ``training`` is True.
    training : bool, default False

    Returns
    -------
    output : torch.Tensor of shape (*batch, n_queries, d_v)
        ``weights @ values``.
    weights : torch.Tensor of shape (*batch, n_queries, n_keys)
        The weights the output was computed with: with dropout in training these are the
        dropped-out (and rescaled) weights, so ``output == weights @ values`` always holds.

    Notes
    -----
    NaN in, NaN out: attention runs inside models, where checking every call for NaN would
    cost a device synchronisation, so NaN or infinite inputs give NaN outputs, as in torch. A
    query with no admissible key (all masked) gets zero weights and a zero output, never NaN.
    Half-precision inputs are scored in float32 (where torch's kernel also computes), so
    moderately large values do not overflow to NaN weights; the results have the inputs' dtype.

    Examples
    --------
    >>> import torch
    >>> queries = torch.ones(2, 1, 2)
    >>> keys = torch.ones(2, 10, 2)
    >>> values = torch.arange(40.0).reshape(1, 10, 4).repeat(2, 1, 1)
    >>> valid_lens = torch.tensor([2, 6])
    >>> output, weights = dot_product_attention(queries, keys, values, valid_lens=valid_lens)
    >>> output
    tensor([[[ 2.,  3.,  4.,  5.]],
    <BLANKLINE>
            [[10., 11., 12., 13.]]])
    >>> weights.shape, weights.sum(-1).flatten()
    (torch.Size([2, 1, 10]), tensor([1., 1.]))
    """
    func = "dot_product_attention"
    checked = check_queries_keys_values(func, queries, keys, values)
    queries, keys, values = checked.queries, checked.keys, checked.values
    dropout = check_probability(dropout, "dropout", func)
    scale = check_scale(scale, queries.shape[-1], func)
    scores_shape = (*checked.batch_shape, queries.shape[-2], keys.shape[-2])  # (*b, q, k)
    allowed = build_mask(scores_shape, valid_lens, mask, func, device=queries.device)
    return attend(queries, keys, values, allowed, scale, dropout, training)
