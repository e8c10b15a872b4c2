"""Reference answers to lesson 02's exercises that have a check (for teachers).

Each function replaces the stub of the same name in the lesson's answer cell; run the check
cell below it and it passes. ``tests/test_notebooks.py`` runs the lesson's exercises with these.
"""

import torch


def nadaraya_watson(queries, keys, values, bandwidth):
    """Gaussian Nadaraya-Watson regression of 1-D values at 1-D queries: (output, weights)."""
    # 1) score: the log of the Gaussian kernel of the scaled distance, one row per query
    u = (queries[:, None] - keys[None, :]) / bandwidth  # (q, 1) - (1, k) -> (q, k)
    scores = -(u**2) / 2
    # 2) normalise each row: a softmax of the scores, so a narrow bandwidth cannot give 0 / 0
    weights = torch.softmax(scores, dim=-1)  # (q, k)
    # 3) weighted sum of the values
    return weights @ values, weights  # (q, k) @ (k,) -> (q,)


def leave_one_out_weights(x, bandwidth):
    """The (n, n) Gaussian weights of each point on the others: 0 on the diagonal, rows sum 1."""
    u = (x[:, None] - x[None, :]) / bandwidth  # (n, n)
    scores = -(u**2) / 2
    # a score of -inf is a weight of exactly 0 after the softmax: each point leaves itself out,
    # and the softmax renormalises over the others
    own = torch.eye(len(x), dtype=torch.bool)
    scores = scores.masked_fill(own, float("-inf"))
    return torch.softmax(scores, dim=-1)
