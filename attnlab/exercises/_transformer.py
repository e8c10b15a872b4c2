"""Exercises on the parts of a transformer: ``positional_encoding`` and ``split_heads``.

The sinusoidal table gives position ``i`` the row ``sin(i / 10000^(2j/d))``,
``cos(i / 10000^(2j/d))`` for ``j = 0 .. d/2 - 1`` (sines in even columns); multi-head attention
splits the ``d`` features into ``num_heads`` slices of ``d / num_heads`` and stacks the heads
next to the batch axis, the layout of the book's ``transpose_qkv`` (sections 10.5-10.6
(Chinese 2nd ed.) / 11.5-11.6 (English)).

References
----------
1. A. Vaswani et al., "Attention is all you need", NeurIPS (2017), sections 3.2.2 and 3.5.
2. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, sections 10.5-10.6
   (Chinese 2nd ed.) / 11.5-11.6 (English).
"""

from __future__ import annotations

import math

import torch

import attnlab
from attnlab.exercises._engine import Exercise, Mistake, like
from attnlab.exercises._inputs import Case, arange, close, randn

__all__ = ["POSITIONAL_ENCODING", "SPLIT_HEADS"]

# --------------------------------------------------------------------------- positional_encoding


def _encoding(max_len: int, num_hiddens: int) -> tuple[torch.Tensor]:
    return (attnlab.PositionalEncoding(num_hiddens, max_len=max_len).P[0],)


def _table(base=10000.0, exponent=lambda j, d: 2 * j / d, swap=False, halves=False, start=0):
    """A sinusoid table with a wrong base, exponent, order of sin and cos, or first position."""

    def wrong(max_len: int, num_hiddens: int) -> tuple[torch.Tensor]:
        positions = torch.arange(start, start + max_len, dtype=torch.float64)[:, None]
        pairs = torch.arange(num_hiddens // 2, dtype=torch.float64)  # j
        angles = positions / base ** exponent(pairs, num_hiddens)  # (max_len, d/2)
        first, second = (angles.cos(), angles.sin()) if swap else (angles.sin(), angles.cos())
        if halves:
            return (torch.cat([first, second], dim=1),)
        return (torch.stack([first, second], dim=2).flatten(1),)  # interleaved columns

    return wrong


def _column_index(max_len: int, num_hiddens: int) -> tuple[torch.Tensor]:
    """Each column k turning at 10000^(-k/d): the cosine of a pair at another frequency."""
    positions = torch.arange(max_len, dtype=torch.float64)[:, None]  # (max_len, 1)
    columns = torch.arange(num_hiddens, dtype=torch.float64)  # (d,)
    angles = positions / 10000.0 ** (columns / num_hiddens)  # (max_len, d)
    return (torch.where(columns % 2 == 0, angles.sin(), angles.cos()),)


def _other_base(case: Case, got, expected) -> bool:
    max_len, num_hiddens = case.args
    table = got[0].double()
    if max_len < 2 or num_hiddens < 4 or table.shape != (max_len, num_hiddens):
        return False
    frequency = math.asin(max(-1.0, min(1.0, float(table[1, 2]))))  # sin(1 * base^(-2/d))
    if frequency <= 0:
        return False
    base = frequency ** (-num_hiddens / 2)
    return not math.isclose(base, 10000.0, rel_tol=1e-3) and like(_table(base=base), 1e-3)(
        case, got, expected
    )


def _batch_axis(case: Case, got, expected) -> bool:
    table = got[0]
    return table.ndim == 3 and table.shape[0] == 1 and close((table[0],), expected, atol=1e-4)


POSITIONAL_ENCODING = Exercise(
    name="positional_encoding",
    signature="positional_encoding(max_len, num_hiddens) -> P",
    task="The (max_len, num_hiddens) table with P[i, 2j] = sin(i / 10000^(2j/d)) and "
    "P[i, 2j+1] = cos(i / 10000^(2j/d)), d = num_hiddens (even), positions i from 0.",
    outputs=("P",),
    reference=_encoding,
    make_cases=lambda: [
        Case(max_len=m, num_hiddens=d)
        for m, d in (
            (1, 2),
            (2, 2),
            (3, 4),
            (4, 6),
            (6, 8),
            (10, 16),
            (20, 32),
            (50, 64),
            (100, 20),
        )
    ],
    mistakes=[
        Mistake(
            "Sine and cosine are swapped: in the book's table the even columns (0, 2, ...) hold "
            "the sines and the odd columns the cosines, so position 0 reads 0, 1, 0, 1, ...",
            "What should row 0, the first position, look like?",
            like(_table(swap=True), 1e-4),
        ),
        Mistake(
            "Your frequencies use the exponent j/d instead of 2j/d (j numbering the sine-cosine "
            "pairs; the same table as base 100 instead of 10000), or each column's own index: "
            "the frequencies then fall only to 10000^(-1/2) instead of spanning 1 down to about "
            "1/10000.",
            "For d = 4, which two frequencies should columns 0 and 2 turn at?",
            lambda case, got, expected: (
                like(_table(exponent=lambda j, d: j / d), 1e-4)(case, got, expected)
                or like(_column_index, 1e-4)(case, got, expected)
            ),
        ),
        Mistake(
            "Your table uses a base other than 10000: its frequencies are 1 / base^(2j/d) with "
            "another base, so the slowest columns turn at the wrong speed.",
            "Look at column 2 of position 1: which number should it be the sine of?",
            _other_base,
        ),
        Mistake(
            "Your table puts all the sines in the first half of the columns and the cosines in "
            "the second; the book interleaves them: sine in column 2j, cosine in 2j + 1.",
            "Which column holds the cosine that pairs with the sine of column 0?",
            like(_table(halves=True), 1e-4),
        ),
        Mistake(
            "Your positions start at 1; the first position is 0, whose row is 0, 1, 0, 1, ...",
            "Which positions does torch.arange(max_len) give?",
            like(_table(start=1), 1e-4),
        ),
        Mistake(
            "Your table has the book's leading batch axis, shape (1, max_len, num_hiddens); "
            "this exercise asks for the (max_len, num_hiddens) table itself.",
            "Drop the axis of size 1.",
            _batch_axis,
        ),
    ],
    hint="Build the (max_len, num_hiddens / 2) angles i / 10000^(2j/d), then fill the even "
    "columns with their sines and the odd ones with their cosines.",
    covered="up to 100 positions and 64 features",
    atol=1e-4,
)


# ---------------------------------------------------------------------------------- split_heads


def _split(X: torch.Tensor, num_heads: int) -> tuple[torch.Tensor]:
    from attnlab import d2l  # the book's own layout, from attnlab's face of the book

    return (d2l.transpose_qkv(X, num_heads),)  # (b, n, d) -> (b * h, n, d / h)


def _reshaped(X, num_heads):
    batch, n, d = X.shape
    return (X.reshape(batch * num_heads, n, d // num_heads),)


def _head_major(X, num_heads):
    batch, n, d = X.shape
    heads = X.reshape(batch, n, num_heads, d // num_heads).permute(2, 0, 1, 3)  # (h, b, n, s)
    return (heads.reshape(batch * num_heads, n, d // num_heads),)


def _interleaved(X, num_heads):
    batch, n, d = X.shape
    heads = X.reshape(batch, n, d // num_heads, num_heads).permute(0, 3, 1, 2)  # (b, h, n, s)
    return (heads.reshape(batch * num_heads, n, d // num_heads),)


def _four_axes(case: Case, got, expected) -> bool:
    heads = got[0]
    return heads.ndim == 4 and close((heads.flatten(0, 1),), expected, case.dtype)


def _not_moved(case: Case, got, expected) -> bool:
    heads = got[0]
    return heads.ndim == 4 and close((heads.transpose(1, 2).flatten(0, 1),), expected, case.dtype)


SPLIT_HEADS = Exercise(
    name="split_heads",
    signature="split_heads(X, num_heads) -> heads",
    task="X of shape (batch, n, d) to (batch * num_heads, n, d / num_heads): head h of sequence "
    "b is row b * num_heads + h and holds features h * d/num_heads to (h + 1) * d/num_heads "
    "of every position (the book's transpose_qkv).",
    outputs=("heads",),
    reference=_split,
    make_cases=lambda: [
        Case(X=arange(1, 2, 4), num_heads=2),
        Case(X=arange(2, 2, 4), num_heads=2),
        Case(X=arange(2, 3, 6), num_heads=3),
        Case(X=arange(1, 3, 6), num_heads=1),
        Case(X=randn(2, 5, 8, seed=60), num_heads=4),
        Case(X=randn(3, 4, 12, seed=61, dtype=torch.float64), num_heads=6),
        Case(X=randn(2, 7, 16, seed=62), num_heads=2),
    ],
    mistakes=[
        Mistake(
            "Your function reshapes without a transpose: a plain reshape to (batch * num_heads, "
            "n, d / num_heads) cuts the features of consecutive positions into rows, so a head "
            "holds pieces of different positions instead of one slice of every position.",
            "After splitting the last axis into (num_heads, d / num_heads), which two axes "
            "must swap before merging the heads into the batch?",
            like(_reshaped),
        ),
        Mistake(
            "Your heads are ordered head first: row h * batch + b instead of b * num_heads + h. "
            "The values are right, but they no longer line up with valid_lens repeated per "
            "sequence, nor with the book's transpose_output that undoes the split.",
            "Which axis goes first when you merge (batch, num_heads) into one?",
            like(_head_major),
        ),
        Mistake(
            "Each of your heads takes every num_heads-th feature (features h, h + num_heads, "
            "...) instead of one contiguous slice of d / num_heads features.",
            "Split the last axis as (num_heads, d / num_heads) or as (d / num_heads, "
            "num_heads): which one gives head 0 the first features?",
            like(_interleaved),
        ),
        Mistake(
            "Your heads are right but keep their own axis: (batch, num_heads, n, d / num_heads). "
            "The book's layout merges batch and heads into one axis, so that batched matrix "
            "products treat every head as one more sequence.",
            "Merge the first two axes.",
            _four_axes,
        ),
        Mistake(
            "You split the features into heads but left them next to the features: (batch, n, "
            "num_heads, d / num_heads). The heads must move next to the batch axis first.",
            "Which axes must swap before the heads join the batch?",
            _not_moved,
        ),
    ],
    hint="Split the last axis into (num_heads, d / num_heads), bring the heads next to the "
    "batch, then merge those two axes; check the shape at every step.",
    covered="batch 1 to 3, 1 to 6 heads, float32 and float64",
)
