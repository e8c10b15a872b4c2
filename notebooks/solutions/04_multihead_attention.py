"""Reference answers to lesson 04's exercises that have a check (for teachers).

Each function replaces the stub of the same name in the lesson's answer cell; run the check
cell below it and it passes. ``tests/test_notebooks.py`` runs the lesson's exercises with these.
"""

import torch


def positional_encoding(max_len, num_hiddens):
    """The (max_len, num_hiddens) table: sin(i / 10000^(2j/d)) in column 2j, cos in 2j + 1."""
    positions = torch.arange(max_len, dtype=torch.float64)[:, None]  # (max_len, 1)
    exponents = torch.arange(0, num_hiddens, 2, dtype=torch.float64) / num_hiddens  # 2j / d
    angles = positions / 10000**exponents  # (max_len, d/2)
    table = torch.zeros(max_len, num_hiddens, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles)
    return table.float()


def split_heads(X, num_heads):
    """(batch, n, d) -> (batch * num_heads, n, d / num_heads), the book's transpose_qkv."""
    batch, n, d = X.shape
    heads = X.reshape(batch, n, num_heads, d // num_heads)  # split the features
    heads = heads.permute(0, 2, 1, 3)  # (batch, num_heads, n, d / num_heads): heads by the batch
    return heads.reshape(batch * num_heads, n, d // num_heads)  # row b * num_heads + h
