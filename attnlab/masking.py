"""Masked softmax: normalise attention scores over the keys a query may attend to.

Padding tokens and future positions must get zero weight. attnlab masks by setting their scores
to minus infinity before a softmax that treats a row with no admissible key as all zeros, so a
fully masked row never turns into NaN (torch's softmax) or a uniform row (the book's ``-1e6``).

References
----------
1. A. Vaswani et al., "Attention is all you need", NeurIPS (2017), section 3.2.3.
2. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.3
   (Chinese 2nd edition) / 11.3 (English).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from attnlab._validation import as_float_tensor, check_mask, check_valid_lens, compute_dtype

__all__ = ["apply_mask", "build_mask", "masked_softmax", "softmax"]


def softmax(scores: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis in which a row of ``-inf`` scores gives zero weights.

    Parameters
    ----------
    scores : torch.Tensor of shape (..., n_keys)
        Scores; ``-inf`` marks a key that gets no weight.

    Returns
    -------
    weights : torch.Tensor of shape (..., n_keys)
        Non-negative; each row sums to 1, or is all zeros when every score in it is ``-inf``.

    Examples
    --------
    >>> import torch
    >>> softmax(torch.tensor([[0.0, 0.0], [-torch.inf, -torch.inf]]))
    tensor([[0.5000, 0.5000],
            [0.0000, 0.0000]])
    """
    # torch's fused softmax (one pass over the scores, about 5x faster than spelling it out)
    # would give 0/0 = NaN on an empty row: 1) find such rows, 2) give them scores of 0 for
    # the softmax and weights of 0 after it, so neither the weights nor the gradients are NaN
    empty = scores.amax(dim=-1, keepdim=True) == -math.inf  # (..., 1)
    if not bool(empty.any()):
        return torch.softmax(scores, dim=-1)  # (..., k); exp(-inf) = 0 exactly
    weights = torch.softmax(scores.masked_fill(empty, 0.0), dim=-1)  # (..., k)
    return weights.masked_fill(empty, 0.0)


def build_mask(
    scores_shape: Sequence[int],
    valid_lens: Any,
    mask: Any,
    func: str,
    device: torch.device | None = None,
) -> torch.Tensor | None:
    """Boolean mask (True = may attend) that broadcasts to ``scores_shape``, or None.

    ``valid_lens`` of shape ``scores_shape[:-2]`` applies one length to every query of a
    sequence; of shape ``scores_shape[:-1]`` one length per query (the book's 1-D and 2-D cases).
    ``mask`` must broadcast *to* the scores' shape; both are combined when both are given.
    """
    allowed = None
    if valid_lens is not None:
        lengths = check_valid_lens(valid_lens, func, device)
        batch_shape, query_shape = tuple(scores_shape[:-2]), tuple(scores_shape[:-1])
        # one length per query, or one per sequence shared by its queries (for a single row
        # of scores the two are the same)
        if tuple(lengths.shape) != query_shape and tuple(lengths.shape) == batch_shape:
            lengths = lengths[..., None]  # (*b,) -> (*b, 1)
        elif tuple(lengths.shape) != query_shape:
            raise ValueError(
                f"{func}: valid_lens must have shape {batch_shape} (one length per sequence) or "
                f"{query_shape} (one per query) for scores of shape {tuple(scores_shape)}; "
                f"got valid_lens.shape={tuple(lengths.shape)}."
            )
        positions = torch.arange(scores_shape[-1], device=lengths.device)  # (k,)
        allowed = positions < lengths[..., None]  # (..., q, 1) vs (k,) -> (..., q, k)
    if mask is not None:
        mask = check_mask(mask, scores_shape, func, device)
        allowed = mask if allowed is None else allowed & mask
    return allowed


def apply_mask(scores: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
    """Masked softmax without checks: the core's kernel behind :func:`masked_softmax`.

    ``allowed`` broadcasts to ``scores`` (from :func:`build_mask`); out of place, so the
    caller's scores stay as they were.
    """
    if allowed is not None:
        scores = torch.where(allowed, scores, torch.full((), -math.inf, dtype=scores.dtype))
    return softmax(scores)


def masked_softmax(
    scores: torch.Tensor,
    valid_lens: torch.Tensor | None = None,
    *,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Softmax over keys that ignores masked keys; a fully masked row gives zeros.

    Parameters
    ----------
    scores : torch.Tensor of shape (*batch, n_queries, n_keys)
        Attention scores. Not modified.
    valid_lens : torch.Tensor of shape (*batch,) or (*batch, n_queries), optional
        Number of leading keys each sequence (or each query) may attend to, as in the book.
    mask : torch.Tensor of bool, broadcastable to scores, optional
        True where a query may attend to a key (torch's ``scaled_dot_product_attention``
        convention). Combined with ``valid_lens`` when both are given.

    Returns
    -------
    weights : torch.Tensor of shape (*batch, n_queries, n_keys)
        Zero on masked keys; rows sum to 1 except rows with no admissible key, which are 0.

    Notes
    -----
    A NaN score gives a NaN row (torch's NaN-in, NaN-out convention for code inside models);
    masking never produces NaN. Half-precision scores are normalised in float32 and returned
    in their own dtype. The scores are not modified.

    Examples
    --------
    >>> import torch
    >>> weights = masked_softmax(torch.zeros(2, 2, 4), torch.tensor([2, 3]))
    >>> weights
    tensor([[[0.5000, 0.5000, 0.0000, 0.0000],
             [0.5000, 0.5000, 0.0000, 0.0000]],
    <BLANKLINE>
            [[0.3333, 0.3333, 0.3333, 0.0000],
             [0.3333, 0.3333, 0.3333, 0.0000]]])
    >>> weights.sum(-1)
    tensor([[1., 1.],
            [1., 1.]])
    >>> masked_softmax(torch.zeros(1, 3), mask=torch.tensor([[False, False, False]]))
    tensor([[0., 0., 0.]])
    """
    func = "masked_softmax"
    scores = as_float_tensor(scores, "scores", func)
    if scores.ndim < 1 or scores.shape[-1] == 0:
        got = "a scalar" if scores.ndim < 1 else f"scores.shape={tuple(scores.shape)} (no keys)"
        raise ValueError(
            f"{func}: scores must have shape (*batch, n_queries, n_keys) with at least one key; "
            f"got {got}."
        )
    allowed = build_mask(scores.shape, valid_lens, mask, func, device=scores.device)
    weights = apply_mask(scores.to(compute_dtype(scores.dtype)), allowed)
    return weights.to(scores.dtype)
