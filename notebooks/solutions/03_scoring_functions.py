"""Reference answers to lesson 03's exercises that have a check (for teachers).

Each function replaces the stub of the same name in the lesson's answer cell; run the check
cell below it and it passes. ``tests/test_notebooks.py`` runs the lesson's exercises with these.
"""

import math

import torch


def masked_softmax(scores, valid_lens):
    """Softmax over the keys that each query may attend to; a query with none gets zeros."""
    if valid_lens is None:
        return torch.softmax(scores, dim=-1)
    batch, n_queries, n_keys = scores.shape
    if valid_lens.ndim == 1:  # one length per sequence, shared by its queries
        valid_lens = valid_lens[:, None].expand(batch, n_queries)
    allowed = torch.arange(n_keys) < valid_lens[..., None]  # (k,) < (b, q, 1) -> (b, q, k)
    empty = ~allowed.any(dim=-1, keepdim=True)  # (b, q, 1): queries with no key at all
    # -inf gives exactly 0 weight; an empty row would be 0 / 0, so it gets plain scores for
    # the softmax and zeros after it. torch.where builds new tensors: scores stays unchanged
    masked = torch.where(allowed | empty, scores, float("-inf"))
    weights = torch.softmax(masked, dim=-1)
    return torch.where(empty, 0.0, weights).to(scores.dtype)


def scaled_dot_product(queries, keys, values, valid_lens=None):
    """Scaled dot-product attention: (output, weights), weights (batch, n_queries, n_keys)."""
    d = queries.shape[-1]
    scores = queries @ keys.transpose(1, 2) / math.sqrt(d)  # (b, q, d) @ (b, d, k) -> (b, q, k)
    weights = masked_softmax(scores, valid_lens)
    return weights @ values, weights  # (b, q, k) @ (b, k, v) -> (b, q, v)
