"""Reference answers to lesson 01's exercises that have a check (for teachers).

Each function replaces the stub of the same name in the lesson's answer cell; run the check
cell below it and it passes. ``tests/test_notebooks.py`` runs the lesson's exercises with these.
"""

import torch


def softmax_rows(scores):
    """Softmax over the last axis of scores (any shape): rows of non-negative weights summing to 1."""
    # softmax(x) = softmax(x - c) for any c per row: with c the row's maximum every exponent is
    # at most exp(0) = 1, so large scores cannot overflow and the largest term is never 0
    shifted = scores - scores.amax(dim=-1, keepdim=True)
    exponentials = torch.exp(shifted)
    return exponentials / exponentials.sum(dim=-1, keepdim=True)
