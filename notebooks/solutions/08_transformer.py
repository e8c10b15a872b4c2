"""Reference answers to lesson 08's exercises that have a check (for teachers).

Each function replaces the stub of the same name in the lesson's answer cell; run the check
cell below it and it passes. ``tests/test_notebooks.py`` runs the lesson's exercises with these.
"""

import torch


def causal_mask(n):
    """The (n, n) boolean mask, True where query i may attend to key j: j <= i."""
    positions = torch.arange(n)
    return positions[None, :] <= positions[:, None]  # (1, n) <= (n, 1) -> (n, n)
