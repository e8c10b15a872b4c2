"""scaled_dot_product and causal_mask: answers written differently pass; every mistake is named."""

import math

import numpy as np
import pytest
import torch

from attnlab.exercises import check
from attnlab.exercises._scoring import CAUSAL_MASK


def first_paragraph(result) -> str:
    return result.feedback.split("\n\n")[0]


# ---------------------------------------------------------------------------- scaled_dot_product


def allowed_keys(queries, keys, valid_lens):
    if valid_lens is None:
        return torch.ones(queries.shape[0], queries.shape[1], keys.shape[1], dtype=torch.bool)
    lengths = valid_lens if valid_lens.ndim == 2 else valid_lens[:, None].expand(queries.shape[:2])
    return torch.arange(keys.shape[1]) < lengths[..., None]


def attention_einsum(queries, keys, values, valid_lens=None, scale=None, over=-1):
    d = queries.shape[-1]
    scores = torch.einsum("bqd,bkd->bqk", queries, keys) * (
        scale if scale is not None else 1 / math.sqrt(d)
    )
    allowed = allowed_keys(queries, keys, valid_lens)
    empty = ~allowed.any(-1, keepdim=True)
    weights = (
        torch.where(allowed | empty, scores, float("-inf")).softmax(over).masked_fill(empty, 0.0)
    )
    return torch.einsum("bqk,bkv->bqv", weights, values), weights


def attention_loops(queries, keys, values, valid_lens=None):
    q, k, v = (np.asarray(t, dtype=np.float64) for t in (queries, keys, values))
    batch, n_queries, d = q.shape
    n_keys = k.shape[1]
    weights = np.zeros((batch, n_queries, n_keys))
    for b in range(batch):
        for i in range(n_queries):
            if valid_lens is None:
                n = n_keys
            else:
                n = int(valid_lens[b] if valid_lens.ndim == 1 else valid_lens[b, i])
            if n == 0:
                continue
            scores = [
                sum(q[b, i, j] * k[b, key, j] for j in range(d)) / math.sqrt(d) for key in range(n)
            ]
            top = max(scores)
            e = [math.exp(s - top) for s in scores]
            weights[b, i, :n] = [x / sum(e) for x in e]
    return weights @ v, weights


def attention_torch_sdpa(queries, keys, values, valid_lens=None):
    # torch's fused attention for the output, the weights computed beside it
    allowed = allowed_keys(queries, keys, valid_lens)
    output = torch.nn.functional.scaled_dot_product_attention(
        queries, keys, values, attn_mask=allowed
    )
    output = output.masked_fill(~allowed.any(-1, keepdim=True), 0.0)
    return output, attention_einsum(queries, keys, values, valid_lens)[1]


@pytest.mark.parametrize("answer", [attention_einsum, attention_loops, attention_torch_sdpa])
def test_scaled_dot_product_passes_correct_answers(answer):
    result = check("scaled_dot_product", answer)
    assert result.passed, result.feedback


def book_attention(queries, keys, values, valid_lens=None):
    # the book's -1e6 masking: a query with valid_lens 0 attends uniformly to the padding
    scores = queries @ keys.mT / math.sqrt(queries.shape[-1])
    scores = scores.masked_fill(~allowed_keys(queries, keys, valid_lens), -1e6)
    weights = scores.softmax(-1)
    return weights @ values, weights


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (
            lambda q, k, v, valid_lens=None: attention_einsum(q, k, v, valid_lens, scale=1.0),
            "Your scores are not scaled",
        ),
        (
            lambda q, k, v, valid_lens=None: attention_einsum(
                q, k, v, valid_lens, scale=1 / q.shape[-1]
            ),
            "Your scores are divided by d instead of sqrt(d)",
        ),
        (
            lambda q, k, v, valid_lens=None: attention_einsum(q, k, v, valid_lens, over=-2),
            "Your softmax normalises over the queries instead of the keys",
        ),
        (
            lambda q, k, v, valid_lens=None: (lambda o, w: (o, w.mT))(
                *attention_einsum(q, k, v, valid_lens)
            ),
            "Your weights are transposed",
        ),
        (
            lambda q, k, v, valid_lens=None: attention_einsum(q, k, v),
            "Your function ignores valid_lens",
        ),
        (book_attention, "A query whose keys are all masked (valid_lens 0) gets uniform weights"),
        (
            lambda q, k, v, valid_lens=None: (lambda o, w: (2 * o, w))(
                *attention_einsum(q, k, v, valid_lens)
            ),
            "Your weights are right but your output is not weights @ values",
        ),
    ],
    ids=[
        "no scale",
        "divided by d",
        "softmax over queries",
        "transposed weights",
        "valid_lens ignored",
        "uniform empty rows",
        "output",
    ],
)
def test_scaled_dot_product_names_each_mistake(answer, words):
    result = check("scaled_dot_product", answer)
    assert result.status == "failed"
    assert words in first_paragraph(result), result.feedback


def test_transposed_weights_show_both_shapes():
    def transposed(q, k, v, valid_lens=None):
        output, weights = attention_einsum(q, k, v, valid_lens)
        return output, weights.mT

    result = check("scaled_dot_product", transposed)
    assert "your weights have shape (1, 3, 2); expected (1, 2, 3)" in result.feedback


def test_a_signature_without_valid_lens_is_named_in_the_feedback():
    result = check("scaled_dot_product", lambda q, k, v: attention_einsum(q, k, v))
    assert "raised TypeError" in first_paragraph(result)
    assert "valid_lens = torch.tensor([2, 3])" in result.feedback


# ---------------------------------------------------------------------------------- causal_mask


def causal_loops(n):
    return torch.tensor(
        [[key <= query for key in range(n)] for query in range(n)], dtype=torch.bool
    )


@pytest.mark.parametrize(
    "answer",
    [
        lambda n: torch.ones(n, n, dtype=torch.bool).tril(),
        causal_loops,
        lambda n: np.tri(n, dtype=bool),
    ],
    ids=["tril", "loops", "numpy"],
)
def test_causal_mask_passes_correct_answers(answer):
    assert check("causal_mask", answer).passed


@pytest.mark.parametrize(
    ("answer", "words", "witness"),
    [
        (
            lambda n: torch.ones(n, n, dtype=torch.bool).triu(),
            "Your mask is transposed: it lets each query see the future",
            "n = 2",
        ),
        (
            lambda n: torch.ones(n, n, dtype=torch.bool).tril(-1),
            "Your mask excludes the diagonal",
            "n = 1",
        ),
        (lambda n: torch.ones(n, n, dtype=torch.bool).triu(1), "Your mask is inverted", "n = 1"),
        (lambda n: torch.ones(n, n).tril(), "is not boolean", "n = 1"),
        (lambda n: torch.ones(n, n, dtype=torch.int64).tril(), "is not boolean", "n = 1"),
    ],
    ids=["transposed", "diagonal excluded", "inverted", "float", "integer"],
)
def test_causal_mask_names_each_mistake(answer, words, witness):
    result = check("causal_mask", answer)
    assert result.status == "failed"
    assert words in first_paragraph(result)
    assert f"    {witness}\n" in result.feedback


@pytest.mark.parametrize("n", [1, 2, 5, 9])
def test_the_causal_reference_matches_torchs_subsequent_mask(n):
    # torch's float mask: 0 where a query may attend, -inf above the diagonal
    oracle = torch.nn.Transformer.generate_square_subsequent_mask(n) == 0
    (reference,) = CAUSAL_MASK.reference(n)
    assert reference.dtype == torch.bool and torch.equal(reference, oracle)
