"""The exercise on scaled dot products, ``scaled_dot_product``, and checks shared with others.

Scaled dot-product attention scores each key by its dot product with the query divided by
``sqrt(d)``, normalises the scores over the keys and pools the values (section 10.3 (Chinese
2nd ed.) / 11.3 (English)).

References
----------
1. A. Vaswani et al., "Attention is all you need", NeurIPS (2017), section 3.2.1.
2. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.3
   (Chinese 2nd ed.) / 11.3 (English).
"""

from __future__ import annotations

import math

import torch

import attnlab
from attnlab.exercises._engine import Exercise, Mistake, like
from attnlab.exercises._inputs import Case, arange, close, ones, randn

__all__ = ["SCALED_DOT_PRODUCT", "empty_uniform", "output_not_pooled", "transposed"]

# ---------------------------------------------------------------------------- scaled_dot_product


def _attention(queries, keys, values, valid_lens=None):
    return attnlab.dot_product_attention(queries, keys, values, valid_lens=valid_lens)


def _scaled(scale_of_d, over: int = -1, masked: bool = True):
    """A wrong attention: another scale, the softmax over another axis, or no mask."""

    def wrong(queries, keys, values, valid_lens=None):
        queries, keys, values = queries.double(), keys.double(), values.double()
        scores = queries @ keys.mT * scale_of_d(queries.shape[-1])  # (b, q, d) @ (b, d, k)
        if over == -1:
            weights = attnlab.masked_softmax(scores, valid_lens if masked else None)
        else:
            weights = scores.softmax(over)
        return weights @ values, weights

    return wrong


def _empty(case: Case) -> torch.Tensor:
    queries = case.args[0]
    lengths = case.args[case.names.index("valid_lens")] if "valid_lens" in case.names else None
    if lengths is None:
        return torch.zeros(queries.shape[:2], dtype=torch.bool)
    lengths = torch.as_tensor(lengths)
    return (lengths[:, None].expand(queries.shape[:2]) if lengths.ndim == 1 else lengths) == 0


def empty_uniform(case: Case, got, expected) -> bool:
    empty, n_keys = _empty(case), case.args[1].shape[-2]
    rows = got[1].double()[empty]
    return bool(empty.any()) and torch.allclose(rows, torch.full_like(rows, 1 / n_keys), atol=1e-3)


def transposed(case: Case, got, expected) -> bool:
    weights = got[1]
    return (
        weights.ndim == 3
        and close((weights.mT,), expected[1:], case.dtype)
        and not close(got[1:], expected[1:], case.dtype)
    )


def output_not_pooled(case: Case, got, expected) -> bool:
    return close(got[1:], expected[1:], case.dtype) and not close(got[:1], expected[:1])


def _sdp_cases() -> list[Case]:
    lens = torch.tensor
    ones_query = ones(1, 1, 4)
    two_keys = torch.tensor([[[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]])
    return [
        Case(queries=ones_query, keys=two_keys, values=torch.tensor([[[1.0], [0.0]]])),
        Case(
            queries=torch.tensor([[[1.0, 0.0], [0.0, 2.0]]]),
            keys=torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]]),
            values=torch.tensor([[[1.0], [2.0], [3.0]]]),
        ),
        Case(
            queries=ones(2, 1, 2),
            keys=ones(2, 4, 2),
            values=arange(2, 4, 2),
            valid_lens=lens([2, 3]),
        ),
        Case(
            queries=randn(2, 3, 8, seed=20),
            keys=randn(2, 4, 8, seed=21),
            values=randn(2, 4, 5, seed=22),
        ),
        Case(
            queries=randn(2, 3, 8, seed=23),
            keys=randn(2, 5, 8, seed=24),
            values=randn(2, 5, 3, seed=25),
            valid_lens=lens([[1, 3, 5], [2, 4, 5]]),
        ),
        Case(
            queries=randn(3, 2, 16, seed=26, dtype=torch.float64),
            keys=randn(3, 6, 16, seed=27, dtype=torch.float64),
            values=randn(3, 6, 4, seed=28, dtype=torch.float64),
            valid_lens=lens([6, 1, 4]),
        ),
        Case(
            ["empty"],
            queries=randn(2, 2, 4, seed=29),
            keys=randn(2, 3, 4, seed=30),
            values=randn(2, 3, 2, seed=31),
            valid_lens=lens([0, 2]),
        ),
        Case(
            queries=randn(4, 6, 32, seed=32, scale=2.0),
            keys=randn(4, 7, 32, seed=33, scale=2.0),
            values=randn(4, 7, 6, seed=34),
        ),
    ]


SCALED_DOT_PRODUCT = Exercise(
    name="scaled_dot_product",
    signature="scaled_dot_product(queries, keys, values, valid_lens=None) -> (output, weights)",
    task="queries (batch, n_queries, d), keys (batch, n_keys, d), values (batch, n_keys, d_v); "
    "weights (batch, n_queries, n_keys) are the masked softmax of the scaled dot products, "
    "output = weights @ values.",
    outputs=("output", "weights"),
    reference=_attention,
    make_cases=_sdp_cases,
    mistakes=[
        Mistake(
            "Your scores are not scaled: the dot product of two random d-dimensional vectors "
            "has variance d, so for large d the softmax saturates into an almost one-hot row "
            "and its gradients vanish.",
            "By how much must the dot products shrink so that their variance is 1 again, "
            "whatever d is?",
            like(_scaled(lambda d: 1.0)),
        ),
        Mistake(
            "Your scores are divided by d instead of sqrt(d): the variance of a dot product "
            "of d independent unit-variance terms is d, so its standard deviation is sqrt(d); "
            "dividing by d makes the scores too small and the weights too flat for large d.",
            "Standard deviation, not variance: what is the standard deviation of the dot product?",
            like(_scaled(lambda d: 1.0 / d)),
        ),
        Mistake(
            "Your softmax normalises over the queries instead of the keys: the weights of one "
            "query over all keys (a row) must sum to 1, yours sum to 1 over the queries of one "
            "key (a column).",
            "Which axis of the (batch, n_queries, n_keys) scores holds the keys?",
            like(_scaled(lambda d: 1 / math.sqrt(d), over=-2)),
        ),
        Mistake(
            "Your weights are transposed: they have one row per key and one column per query. "
            "attnlab and the book's heatmaps expect (batch, n_queries, n_keys), queries as rows.",
            "Check the shape of your weights against (batch, n_queries, n_keys) with "
            "n_queries != n_keys.",
            transposed,
        ),
        Mistake(
            "Your function ignores valid_lens: keys at positions >= valid_lens still get "
            "weight, so the queries attend to padding.",
            "Which function of the previous exercise masks the keys beyond valid_lens?",
            like(_scaled(lambda d: 1 / math.sqrt(d), masked=False)),
        ),
        Mistake(
            "A query whose keys are all masked (valid_lens 0) gets uniform weights: it attends "
            "to the padding and outputs the average of padding values (the book's -1e6 trick). "
            "It should get zero weights and a zero output.",
            "A masked softmax that gives an empty row zeros does it for you.",
            empty_uniform,
        ),
        Mistake(
            "Your weights are right but your output is not weights @ values.",
            "Each query's output is the weighted sum of the values: which matrix product of "
            "weights and values gives (batch, n_queries, d_v)?",
            output_not_pooled,
        ),
    ],
    hint="Score with a batched matrix product of queries and transposed keys, scale, mask, "
    "normalise over the keys, pool the values; compare with attnlab.dot_product_attention.",
    covered="d from 2 to 32, n_queries != n_keys, valid_lens 1-D, 2-D, with 0 and omitted, "
    "float32 and float64",
)
