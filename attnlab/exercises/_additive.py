"""The exercise on additive (Bahdanau) attention: ``additive_attention``.

Additive attention scores a query-key pair with a one-hidden-layer network,
``w_v . tanh(W_q q + W_k k)``, which works when queries and keys differ in size, then
normalises the scores over the keys and pools the values (section 10.3 (Chinese 2nd ed.) /
11.3 (English); lesson 07 puts it in a translator, section 10.4 / 11.4).

References
----------
1. D. Bahdanau, K. Cho, Y. Bengio, "Neural machine translation by jointly learning to align and
   translate", ICLR (2015), arXiv:1409.0473 (2014).
2. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, sections 10.3-10.4
   (Chinese 2nd ed.) / 11.3-11.4 (English).
"""

from __future__ import annotations

import torch

import attnlab
from attnlab.exercises._engine import Exercise, Mistake, like
from attnlab.exercises._inputs import Case, arange, ones, randn
from attnlab.exercises._scoring import empty_uniform, output_not_pooled, transposed

__all__ = ["ADDITIVE_ATTENTION"]


def _additive(queries, keys, values, W_q, W_k, w_v, valid_lens=None):
    """attnlab's AdditiveAttention with the given parameters (its layers' weights)."""
    attention = attnlab.AdditiveAttention(num_hiddens=W_q.shape[0]).eval()
    with torch.no_grad():
        attention(queries.float(), keys.float(), values.float())  # sizes the lazy layers
        attention = attention.to(queries.dtype)
        attention.W_q.weight.copy_(W_q)  # (h, d_q), as nn.Linear stores it
        attention.W_k.weight.copy_(W_k)  # (h, d_k)
        attention.w_v.weight.copy_(w_v[None])  # (1, h)
        return attention(queries, keys, values, valid_lens)


def _scored(activation=torch.tanh, after=False, as_stored=False, over=-1, masked=True):
    """A wrong additive attention: no tanh, tanh after w_v, W not transposed, another axis."""

    def wrong(queries, keys, values, W_q, W_k, w_v, valid_lens=None):
        queries, keys, values, W_q, W_k, w_v = (
            t.double() for t in (queries, keys, values, W_q, W_k, w_v)
        )
        projected_q = queries @ (W_q if as_stored else W_q.T)  # (b, q, h)
        projected_k = keys @ (W_k if as_stored else W_k.T)  # (b, k, h)
        features = projected_q[:, :, None, :] + projected_k[:, None, :, :]  # (b, q, k, h)
        scores = activation(features @ w_v) if after else activation(features) @ w_v  # (b, q, k)
        if over == -1:
            weights = attnlab.masked_softmax(scores, valid_lens if masked else None)
        else:
            weights = scores.softmax(over)
        return weights @ values, weights

    return wrong


def _additive_cases() -> list[Case]:
    t = torch.tensor
    W_q, W_k, w_v = t([[1.0, 2.0], [0.0, 1.0]]), t([[1.0, 0.0], [1.0, 1.0]]), t([1.0, -1.0])
    keys = t([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    return [
        Case(
            queries=t([[[1.0, 0.0]]]),
            keys=t([[[1.0, 0.0], [0.0, 1.0]]]),
            values=t([[[1.0], [0.0]]]),
            W_q=W_q,
            W_k=W_k,
            w_v=w_v,
        ),
        Case(
            queries=t([[[1.0, 0.0], [0.0, 2.0]]]),
            keys=keys,
            values=t([[[1.0], [2.0], [3.0]]]),
            W_q=W_q,
            W_k=W_k,
            w_v=w_v,
        ),
        Case(
            queries=ones(2, 1, 2),
            keys=ones(2, 4, 2),
            values=arange(2, 4, 2),
            W_q=W_q,
            W_k=W_k,
            w_v=w_v,
            valid_lens=t([2, 3]),
        ),
        Case(
            queries=randn(2, 3, 5, seed=90, scale=2.0),
            keys=randn(2, 4, 3, seed=91, scale=2.0),
            values=randn(2, 4, 2, seed=92),
            W_q=randn(6, 5, seed=93),
            W_k=randn(6, 3, seed=94),
            w_v=randn(6, seed=95),
            valid_lens=t([[1, 4, 2], [3, 3, 4]]),
        ),
        Case(
            ["empty"],
            queries=randn(2, 2, 4, seed=96),
            keys=randn(2, 3, 4, seed=97),
            values=randn(2, 3, 2, seed=98),
            W_q=randn(4, 4, seed=99),
            W_k=randn(4, 4, seed=100),
            w_v=randn(4, seed=101),
            valid_lens=t([0, 2]),
        ),
        Case(
            queries=randn(3, 2, 3, seed=102, dtype=torch.float64),
            keys=randn(3, 5, 2, seed=103, dtype=torch.float64),
            values=randn(3, 5, 4, seed=104, dtype=torch.float64),
            W_q=randn(8, 3, seed=105, dtype=torch.float64),
            W_k=randn(8, 2, seed=106, dtype=torch.float64),
            w_v=randn(8, seed=107, dtype=torch.float64),
        ),
    ]


ADDITIVE_ATTENTION = Exercise(
    name="additive_attention",
    signature="additive_attention(queries, keys, values, W_q, W_k, w_v, valid_lens=None) "
    "-> (output, weights)",
    task="score(q, k) = w_v . tanh(W_q q + W_k k) for every query-key pair, with W_q of shape "
    "(h, d_q), W_k (h, d_k), w_v (h,) (nn.Linear's layout); weights (batch, n_queries, "
    "n_keys) are the masked softmax of the scores over the keys, output = weights @ values.",
    outputs=("output", "weights"),
    reference=_additive,
    make_cases=_additive_cases,
    mistakes=[
        Mistake(
            "Your scores have no tanh: w_v . (W_q q + W_k k) is linear, so it splits into a "
            "query term, which the softmax cancels, plus a key term: every query then gets "
            "the same weights.",
            "Where does the hidden layer's nonlinearity go?",
            like(_scored(activation=lambda features: features)),
        ),
        Mistake(
            "Your tanh comes after w_v: tanh(w_v . (W_q q + W_k k)) squashes the score itself "
            "into [-1, 1], so no key can ever get much more weight than another.",
            "The tanh acts on the hidden features, before w_v turns them into one score.",
            like(_scored(after=True)),
        ),
        Mistake(
            "Your projections multiply by W_q and W_k instead of their transposes: with "
            "nn.Linear's layout, (h, d), the projection of a query is queries @ W_q.T.",
            "Which product of (batch, n, d) queries and an (h, d) matrix gives (batch, n, h)?",
            like(_scored(as_stored=True)),
        ),
        Mistake(
            "Your weights are transposed: one row per key and one column per query. The "
            "weights have shape (batch, n_queries, n_keys), queries as rows.",
            "Check the shape of your weights with n_queries != n_keys.",
            transposed,
        ),
        Mistake(
            "Your softmax normalises over the queries instead of the keys: each query's "
            "weights over the keys (a row) must sum to 1.",
            "Which axis of the (batch, n_queries, n_keys) scores holds the keys?",
            like(_scored(over=-2)),
        ),
        Mistake(
            "Your function ignores valid_lens: keys at positions >= valid_lens still get "
            "weight, so the queries attend to padding.",
            "Which function masks the keys beyond valid_lens?",
            like(_scored(masked=False)),
        ),
        Mistake(
            "A query whose keys are all masked (valid_lens 0) gets uniform weights: it attends "
            "to the padding (the book's -1e6 trick); it should get zero weights.",
            "A masked softmax that gives an empty row zeros does it for you.",
            empty_uniform,
        ),
        Mistake(
            "Your weights are right but your output is not weights @ values.",
            "Each query's output is the weighted sum of the values.",
            output_not_pooled,
        ),
    ],
    hint="Project queries and keys to h features, add every query to every key by "
    "broadcasting ((b, q, 1, h) + (b, 1, k, h)), tanh, score with w_v, then mask, normalise "
    "and pool; compare with attnlab.AdditiveAttention.",
    covered="queries and keys of different sizes, n_queries != n_keys, valid_lens 1-D, 2-D, "
    "with 0 and omitted, float32 and float64",
)
