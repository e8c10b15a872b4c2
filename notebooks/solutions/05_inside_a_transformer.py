"""Reference answers to lesson 05's exercises that have a check (for teachers).

Each function replaces the stub of the same name in the lesson's answer cell; run the check
cell below it and it passes. ``tests/test_notebooks.py`` runs the lesson's exercises with these.
"""

import torch


def padding_mask(valid_lens, n_keys):
    """The (batch, n_keys) boolean mask, True where a key may be attended (j < valid_lens[b])."""
    positions = torch.arange(n_keys)  # (k,)
    return positions[None, :] < valid_lens[:, None]  # (1, k) < (b, 1) -> (b, k)
