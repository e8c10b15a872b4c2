"""Reference answers to lesson 06's exercises that have a check (for teachers).

Each function replaces the stub of the same name in the lesson's answer cell; run the check
cell below it and it passes. ``tests/test_notebooks.py`` runs the lesson's exercises with these.
"""

import torch


def leave_one_out_error(x, y, bandwidth):
    """Mean over the points of (y_i - f_-i(x_i))^2, f_-i Gaussian Nadaraya-Watson on the others."""
    u = (x[:, None] - x[None, :]) / bandwidth  # (n, n): queries x_i, keys x_j
    scores = (-(u**2) / 2).masked_fill(torch.eye(len(x), dtype=torch.bool), float("-inf"))
    predictions = torch.softmax(scores, dim=-1) @ y  # each point from the others only
    return torch.mean((y - predictions) ** 2)
