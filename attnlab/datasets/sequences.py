"""Sequence tasks whose attention pattern is known in advance, for looking inside transformers.

Reversing a sequence forces position ``i`` of the output to look at position ``n - 1 - i`` of
the input, so a model that has learned it must attend along the anti-diagonal.

References
----------
1. A. Vaswani et al., "Attention is all you need", NeurIPS (2017).
2. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.7
   (Chinese 2nd ed.) / 11.7 (English).
"""

from __future__ import annotations

import torch

from attnlab._validation import check_positive_int

__all__ = ["reversal_task"]


def reversal_task(
    n_samples: int = 1000, seq_len: int = 8, vocab_size: int = 16, *, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random token sequences and their reversals: a task whose attention pattern is known.

    To output the token at position ``i`` a model must look at position ``seq_len - 1 - i``,
    so a transformer that has learned the task attends along the anti-diagonal.

    Parameters
    ----------
    n_samples : int, default 1000
    seq_len : int, default 8
    vocab_size : int, default 16
        Tokens are drawn uniformly from ``0, ..., vocab_size - 1``.
    seed : int, default 0
        Seed of a private ``torch.Generator``: the global random state is left alone.

    Returns
    -------
    inputs, targets : torch.Tensor of int64, shape (n_samples, seq_len)
        ``targets = inputs.flip(-1)``.

    Examples
    --------
    >>> inputs, targets = reversal_task(n_samples=2, seq_len=5, vocab_size=10, seed=0)
    >>> inputs.shape, bool((targets == inputs.flip(-1)).all())
    (torch.Size([2, 5]), True)
    >>> reversal_task(seq_len=0)
    Traceback (most recent call last):
    ValueError: reversal_task: seq_len must be a positive integer; got 0.
    """
    func = "reversal_task"
    for name, value in (("n_samples", n_samples), ("seq_len", seq_len), ("vocab_size", vocab_size)):
        check_positive_int(value, name, func)
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randint(vocab_size, (n_samples, seq_len), generator=generator)
    return inputs, inputs.flip(-1)
