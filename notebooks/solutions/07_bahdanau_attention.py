"""Reference answers to lesson 07's exercises that have a check (for teachers).

Each function replaces the stub of the same name in the lesson's answer cell; run the check
cell below it and it passes. ``tests/test_notebooks.py`` runs the lesson's exercises with these.
"""

import torch

from attnlab import masked_softmax


def additive_attention(queries, keys, values, W_q, W_k, w_v, valid_lens=None):
    """w_v . tanh(W_q q + W_k k) for every query-key pair, masked softmax, pooled values."""
    projected_queries = queries @ W_q.T  # (b, q, d_q) @ (d_q, h) -> (b, q, h)
    projected_keys = keys @ W_k.T  # (b, k, d_k) @ (d_k, h) -> (b, k, h)
    # every query plus every key by broadcasting: (b, q, 1, h) + (b, 1, k, h) -> (b, q, k, h)
    features = torch.tanh(projected_queries[:, :, None, :] + projected_keys[:, None, :, :])
    scores = features @ w_v  # (b, q, k, h) @ (h,) -> (b, q, k)
    weights = masked_softmax(scores, valid_lens)
    return weights @ values, weights  # (b, q, k) @ (b, k, v) -> (b, q, v)
