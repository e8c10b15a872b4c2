"""Query-key-value attention with a learned-free scoring function: scaled dot products.

A query scores every key by their dot product, scaled by ``1 / sqrt(d)`` so that the scores of
random ``d``-dimensional vectors keep unit variance and the softmax does not saturate; the
weights are the masked softmax of the scores and the output is their weighted sum of values.

References
----------
1. D. Bahdanau, K. Cho, Y. Bengio, "Neural machine translation by jointly learning to align and
   translate", ICLR (2015), arXiv:1409.0473 (2014).
2. A. Vaswani et al., "Attention is all you need", NeurIPS (2017), section 3.2.1.
3. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 11.3.
"""

from __future__ import annotations

import math

import torch

from attnlab._validation import as_float_tensor, check_probability, common_float_dtype
from attnlab.masking import masked_softmax

__all__ = ["check_qkv", "dot_product_attention"]


def check_qkv(
    func: str, queries, keys, values, *, same_features: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate ``(*batch, n, d)`` queries, keys and values; return them in one float dtype."""
    queries = as_float_tensor(queries, "queries", func)
    keys = as_float_tensor(keys, "keys", func)
    values = as_float_tensor(values, "values", func)
    for name, tensor in (("queries", queries), ("keys", keys), ("values", values)):
        if tensor.ndim < 2:
            raise ValueError(
                f"{func}: {name} must have shape (*batch, n, d) with a feature axis; "
                f"got {name}.shape={tuple(tensor.shape)}. For scalar items use x[:, None]."
            )
    if keys.shape[-2] != values.shape[-2]:
        raise ValueError(
            f"{func}: keys and values must have the same number of keys; "
            f"got keys.shape={tuple(keys.shape)}, values.shape={tuple(values.shape)}."
        )
    if same_features and queries.shape[-1] != keys.shape[-1]:
        raise ValueError(
            f"{func}: queries and keys must have the same feature size d (last axis); "
            f"got queries.shape={tuple(queries.shape)}, keys.shape={tuple(keys.shape)}."
        )
    dtype = common_float_dtype(queries, keys, values)
    return queries.to(dtype), keys.to(dtype), values.to(dtype)


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
    queries, keys, values = check_qkv(func, queries, keys, values)
    dropout = check_probability(dropout, "dropout", func)
    d = queries.shape[-1]
    if scale is None:
        scale = 1.0 / math.sqrt(d)
    elif isinstance(scale, bool) or not isinstance(scale, int | float) or not math.isfinite(scale):
        raise TypeError(f"{func}: scale must be a finite number or None; got {scale!r}.")
    # 1) score: scaled dot products  2) normalise over admissible keys  3) weighted sum of values
    # scale the queries, not the scores: q*d multiplications instead of q*k (as torch's SDPA does)
    scores = (queries * scale) @ keys.mT  # (*b, q, d) @ (*b, d, k) -> (*b, q, k)
    if valid_lens is None and mask is None:
        # nothing masked and finite scores: no empty rows to guard; without autograd the
        # softmax may overwrite the scores (one fewer (q, k) buffer, as torch's own MHA does)
        inplace = not (torch.is_grad_enabled() and scores.requires_grad)
        weights = torch.softmax(scores, dim=-1, out=scores) if inplace else scores.softmax(-1)
    else:
        weights = masked_softmax(scores, valid_lens, mask=mask)  # (*b, q, k)
    if training and dropout > 0:
        weights = torch.nn.functional.dropout(weights, p=dropout, training=True)
    return weights @ values, weights  # (*b, q, k) @ (*b, k, v) -> (*b, q, v)
