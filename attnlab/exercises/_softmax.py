"""Exercises on normalising scores: ``softmax_rows`` and ``masked_softmax``.

A softmax turns each row of scores into weights that are non-negative and sum to 1. Done
naively it overflows; masked, it must give padded keys zero weight and a query with nothing to
attend to zeros, not a uniform row or NaN (section 10.3 (Chinese 2nd ed.) / 11.3 (English)).

References
----------
1. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.3
   (Chinese 2nd ed.) / 11.3 (English).
2. A. Vaswani et al., "Attention is all you need", NeurIPS (2017), section 3.2.3.
"""

from __future__ import annotations

import torch

import attnlab
from attnlab.exercises._engine import Exercise, Mistake, like
from attnlab.exercises._inputs import Case, close, non_finite, randn, zeros

__all__ = ["MASKED_SOFTMAX", "SOFTMAX_ROWS"]


def _tensor(values, dtype=torch.float32) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


# ---------------------------------------------------------------------------------- softmax_rows


def _softmax_cases() -> list[Case]:
    half = torch.float16
    return [
        Case(scores=_tensor([[5.0]])),
        Case(scores=_tensor([0.0, 1.0])),
        Case(scores=_tensor([[0.0, 1.0, 2.0], [0.0, 0.0, 0.0]])),
        Case(["large"], scores=_tensor([[1000.0, 0.0]])),
        Case(["large"], scores=_tensor([[-1000.0, -1000.0]])),
        Case(["large"], scores=_tensor([[1000.0, 999.0], [0.0, 1.0]])),
        Case(["large"], scores=_tensor([[12.0, 0.0]], dtype=half)),
        Case(scores=randn(4, seed=0)),
        Case(scores=randn(2, 3, seed=1)),
        Case(scores=randn(3, 4, seed=2, scale=3.0)),
        Case(scores=randn(2, 5, seed=3, scale=3.0, dtype=half)),
        Case(scores=randn(3, 5, seed=4, dtype=torch.float64)),
        Case(scores=randn(2, 3, 5, seed=5)),
        Case(["large"], scores=randn(4, 6, seed=6, scale=100.0)),
        Case(scores=randn(2, 2, 3, 4, seed=7)),
    ]


def _other_axis(case: Case, got, expected) -> bool:
    scores = case.args[0].double()
    return any(
        close(got, (scores.softmax(dim),), case.dtype) for dim in range(scores.ndim - 1)
    ) and not close(got, expected, case.dtype)


def _whole_tensor(scores: torch.Tensor):
    # stable, like every model of a mistake: only the mistake itself differs from the reference
    exponentials = (scores.double() - scores.double().max()).exp()
    return (exponentials / exponentials.sum(),)


def _one_maximum(scores: torch.Tensor):
    exponentials = (scores - scores.max()).exp()
    return (exponentials / exponentials.sum(-1, keepdim=True),)


SOFTMAX_ROWS = Exercise(
    name="softmax_rows",
    signature="softmax_rows(scores) -> weights",
    task="Each row along the last axis of weights is non-negative and sums to 1, for scores "
    "of any shape and dtype.",
    outputs=("weights",),
    reference=lambda scores: (attnlab.masked_softmax(scores),),
    make_cases=_softmax_cases,
    mistakes=[
        Mistake(
            "Your function normalises along another axis than the last: the weights of one "
            "query (one row, the last axis) must sum to 1, but yours sum to 1 down a column.",
            "Which axis of scores holds the keys? Check what dim= your sum uses.",
            _other_axis,
        ),
        Mistake(
            "Your function normalises over the whole tensor: all weights together sum to 1, "
            "instead of each row on its own.",
            "A sum without dim= adds up every entry. Which entries belong to one query?",
            like(_whole_tensor),
        ),
        Mistake(
            "Your function subtracts one maximum for the whole tensor, not one per row: a row "
            "whose scores are all far below that maximum underflows to exp(...) = 0 and "
            "divides 0 by 0.",
            "Each row needs its own shift. Which argument of max() keeps one value per row?",
            like(_one_maximum),
        ),
        Mistake(
            "Large scores overflow: exp(1000) is inf in float32 (in float16 exp(12) already is), "
            "so your weights become inf / inf = NaN; very negative scores underflow to 0 / 0.",
            "softmax(x) equals softmax(x - c) for any number c subtracted from a whole row. "
            "Which c keeps every exponent at most 0?",
            lambda case, got, expected: "large" in case.tags and non_finite(got, expected),
        ),
    ],
    hint="Compute exp of each score and divide by the sum of its row; compare your result with "
    "attnlab.masked_softmax(scores) on the input above.",
    covered="1 to 4 axes, float16, float32 and float64, scores up to 1000",
)


# -------------------------------------------------------------------------------- masked_softmax


def _per_query(case: Case) -> torch.Tensor:
    """valid_lens as one length per (sequence, query): shape (batch, n_queries)."""
    scores, lengths = case.args
    lengths = torch.as_tensor(lengths)
    return lengths[:, None].expand(scores.shape[:2]) if lengths.ndim == 1 else lengths


def _empty_rows(case: Case) -> torch.Tensor:
    return _per_query(case) == 0 if case.args[1] is not None else torch.zeros(0, dtype=bool)


def _uniform_when_empty(case: Case, got, expected) -> bool:
    empty = _empty_rows(case)
    n_keys = case.args[0].shape[-1]
    rows = got[0].double()[empty]
    return bool(empty.any()) and torch.allclose(rows, torch.full_like(rows, 1 / n_keys), atol=1e-3)


def _nan_when_empty(case: Case, got, expected) -> bool:
    empty = _empty_rows(case)
    return bool(empty.any()) and bool(got[0][empty].isnan().any())


def _off_by_one(case: Case, got, expected) -> bool:
    scores, lengths = case.args
    if lengths is None or got[0].shape != scores.shape:
        return False
    n_keys, per_query = scores.shape[-1], _per_query(case)
    for shift in (1, -1):
        shifted = per_query + shift
        # rows where the shifted length is a real length and differs: no empty-row convention
        rows = (shifted >= 1) & (shifted <= n_keys) & (per_query <= n_keys)
        wrong = attnlab.masked_softmax(scores.double(), shifted.clamp(0, n_keys))
        if rows.any() and close((got[0][rows],), (wrong[rows],), case.dtype):
            return True
    return False


def _rows_masked(fill: float | None):
    """The mask applied to queries (rows) instead of keys; masked rows uniform or zero."""

    def wrong(scores, lengths):
        scores = scores.double()
        lengths = torch.as_tensor(lengths)
        if lengths.ndim != 1:
            raise ValueError("only the 1-D case is modelled")
        keep = torch.arange(scores.shape[1])[None, :] < lengths[:, None]  # (b, q)
        weights = scores.softmax(-1)
        fallback = 0.0 if fill is None else 1.0 / scores.shape[-1]
        return (torch.where(keep[..., None], weights, torch.full_like(weights, fallback)),)

    return wrong


def _tiled(scores, lengths):
    lengths = torch.as_tensor(lengths)
    if lengths.ndim != 1:
        raise ValueError("only the 1-D case is modelled")
    batch, n_queries = scores.shape[:2]
    tiled = lengths.repeat(n_queries).reshape(batch, n_queries)
    return (attnlab.masked_softmax(scores.double(), tiled),)


def _masked_cases() -> list[Case]:
    half = torch.float16
    lens = torch.tensor
    return [
        Case(scores=zeros(1, 1, 4), valid_lens=lens([2])),
        Case(["empty"], scores=zeros(1, 2, 3), valid_lens=lens([0])),
        Case(scores=zeros(1, 3, 4), valid_lens=lens([2])),
        Case(scores=zeros(2, 2, 4), valid_lens=lens([1, 3])),
        Case(scores=zeros(2, 2, 4), valid_lens=lens([[1, 3], [2, 4]])),
        Case(["empty"], scores=_tensor([[[0, 1, 2]], [[0, 1, 2]]], half), valid_lens=lens([2, 0])),
        Case(scores=randn(2, 2, 3, seed=10), valid_lens=None),
        Case(scores=randn(2, 2, 4, seed=11), valid_lens=lens([2, 3])),
        Case(scores=randn(2, 2, 4, seed=12), valid_lens=lens([[1, 3], [2, 4]])),
        Case(["empty"], scores=randn(2, 3, 4, seed=13), valid_lens=lens([0, 4])),
        Case(scores=randn(2, 3, 5, seed=14, dtype=torch.float64), valid_lens=lens([3, 5])),
        Case(scores=randn(2, 3, 5, seed=15, scale=4.0, dtype=half), valid_lens=lens([1, 4])),
        Case(
            ["empty"],
            scores=randn(3, 4, 6, seed=16, scale=3.0),
            valid_lens=lens([[0, 1, 2, 6], [3, 3, 5, 0], [6, 5, 4, 1]]),
        ),
        Case(scores=randn(4, 5, 7, seed=17), valid_lens=lens([7, 1, 3, 5])),
    ]


MASKED_SOFTMAX = Exercise(
    name="masked_softmax",
    signature="masked_softmax(scores, valid_lens) -> weights",
    task="scores has shape (batch, n_queries, n_keys); valid_lens, of shape (batch,) or "
    "(batch, n_queries) or None, says how many leading keys each query may attend to. Masked "
    "keys get weight 0; a query with valid_lens 0 gets all zeros; scores is left unchanged.",
    outputs=("weights",),
    reference=lambda scores, valid_lens: (attnlab.masked_softmax(scores, valid_lens),),
    make_cases=_masked_cases,
    mistakes=[
        Mistake(
            "Your weights ignore valid_lens: keys at positions >= valid_lens still get weight, "
            "so each query attends to the padding.",
            "A masked key must get weight exactly 0. What score makes exp(score) equal 0?",
            like(lambda scores, lengths: (scores.double().softmax(-1),)),
        ),
        Mistake(
            "Your mask runs along the wrong axis: valid_lens counts how many keys (the last "
            "axis, columns) each query may attend to, but your function masks whole queries "
            "(rows) instead.",
            "Which axis of scores holds the keys? Build the mask from positions along it.",
            lambda case, got, expected: any(
                like(_rows_masked(fill))(case, got, expected) for fill in (None, -1e6)
            ),
        ),
        Mistake(
            "Off by one: your function lets each query attend to one key too many or one too "
            "few. valid_lens = 2 means keys 0 and 1 may be attended, key 2 and later not.",
            "Write down by hand the mask for valid_lens = 2 and 4 keys, and compare it with "
            "your function's.",
            _off_by_one,
        ),
        Mistake(
            "The lengths of different sequences got mixed up: with 1-D valid_lens every query "
            "of sequence b must use valid_lens[b], but your function gives some queries the "
            "length of another sequence, as tiling the lengths does ([l0, l1, l0, l1] instead "
            "of [l0, l0, l1, l1]).",
            "Print the length your function uses for each (sequence, query) pair when "
            "valid_lens = [1, 3].",
            like(_tiled),
        ),
        Mistake(
            "A query whose keys are all masked (valid_lens 0) gets uniform weights: it attends "
            "to the padding, and its output is the average of padding values. This is what "
            "the book's -1e6 trick gives: every score becomes -1e6, and the softmax of equal "
            "scores is uniform.",
            "What should a query with nothing to attend to get? Find such rows and make sure "
            "they come out that way.",
            _uniform_when_empty,
        ),
        Mistake(
            "In float16 your weights contain NaN. float16 holds numbers only up to 65504: a "
            "fill value such as -1e6 or -1e9 becomes -inf there, so a row with every key "
            "masked gives 0 / 0, and exp of a score above 11 overflows to inf.",
            "Make sure a fully masked row never reaches a division, whatever the dtype; "
            "torch.finfo(scores.dtype) tells each dtype's limits.",
            lambda case, got, expected: case.dtype == torch.float16 and non_finite(got, expected),
        ),
        Mistake(
            "A query whose keys are all masked (valid_lens 0) gets NaN weights: with every "
            "score -inf, the softmax computes 0 / 0. NaN then spreads into the output and "
            "into every gradient.",
            "Find the rows with no admissible key. Which weights should they get, and can you "
            "give them those without ever dividing by zero?",
            _nan_when_empty,
        ),
    ],
    hint="Build a boolean mask of the keys each query may attend to, give the other keys no "
    "weight, and compare with attnlab.masked_softmax(scores, valid_lens) on the input above.",
    covered="valid_lens 1-D, 2-D and None, lengths 0 to n_keys, float16, float32 and float64; "
    "scores unchanged",
    mutation_hint="The book's masked_softmax writes -1e6 into X[~mask] after a reshape, which "
    "is a view of the caller's scores. Build new tensors instead (torch.where, masked_fill "
    "without the underscore).",
)
