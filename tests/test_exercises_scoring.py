"""scaled_dot_product and additive_attention: correct answers pass; every mistake is named."""

import math

import numpy as np
import pytest
import torch

from attnlab.exercises import check


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


# ---------------------------------------------------------------------------- additive_attention


def additive_broadcast(
    queries,
    keys,
    values,
    W_q,
    W_k,
    w_v,
    valid_lens=None,
    activation=torch.tanh,
    after=False,
    as_stored=False,
    over=-1,
):
    projected_q = queries @ (W_q if as_stored else W_q.T)
    projected_k = keys @ (W_k if as_stored else W_k.T)
    features = projected_q[:, :, None, :] + projected_k[:, None, :, :]
    scores = activation(features @ w_v) if after else activation(features) @ w_v
    allowed = allowed_keys(queries, keys, valid_lens)
    empty = ~allowed.any(-1, keepdim=True)
    weights = (
        torch.where(allowed | empty, scores, float("-inf")).softmax(over).masked_fill(empty, 0.0)
    )
    return weights @ values, weights


def additive_loops(queries, keys, values, W_q, W_k, w_v, valid_lens=None):
    q, k, v = (np.asarray(t, dtype=np.float64) for t in (queries, keys, values))
    Wq, Wk, wv = (np.asarray(t, dtype=np.float64) for t in (W_q, W_k, w_v))
    batch, n_queries, n_keys = q.shape[0], q.shape[1], k.shape[1]
    weights = np.zeros((batch, n_queries, n_keys))
    for b in range(batch):
        for i in range(n_queries):
            n = (
                n_keys
                if valid_lens is None
                else int(valid_lens[b] if valid_lens.ndim == 1 else valid_lens[b, i])
            )
            if n:
                scores = np.array([wv @ np.tanh(Wq @ q[b, i] + Wk @ k[b, j]) for j in range(n)])
                e = np.exp(scores - scores.max())
                weights[b, i, :n] = e / e.sum()
    return weights @ v, weights


@pytest.mark.parametrize("answer", [additive_broadcast, additive_loops])
def test_additive_attention_passes_correct_answers(answer):
    result = check("additive_attention", answer)
    assert result.passed, result.feedback


def with_options(**options):
    return lambda q, k, v, W_q, W_k, w_v, valid_lens=None: additive_broadcast(
        q, k, v, W_q, W_k, w_v, valid_lens, **options
    )


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (with_options(activation=lambda x: x), "Your scores have no tanh"),
        (with_options(after=True), "Your tanh comes after w_v"),
        (
            with_options(as_stored=True),
            "Your projections multiply by W_q and W_k instead of their transposes",
        ),
        (
            lambda *args, valid_lens=None: (lambda o, w: (o, w.mT))(
                *additive_broadcast(*args, valid_lens)
            ),
            "Your weights are transposed",
        ),
        (with_options(over=-2), "Your softmax normalises over the queries instead of the keys"),
        (
            lambda q, k, v, W_q, W_k, w_v, valid_lens=None: additive_broadcast(
                q, k, v, W_q, W_k, w_v
            ),
            "Your function ignores valid_lens",
        ),
        (
            lambda *args, valid_lens=None: (lambda o, w: (o * 0, w))(
                *additive_broadcast(*args, valid_lens)
            ),
            "your output is not weights @ values",
        ),
    ],
    ids=[
        "no tanh",
        "tanh after w_v",
        "W as stored",
        "transposed weights",
        "over queries",
        "valid_lens ignored",
        "output",
    ],
)
def test_additive_attention_names_each_mistake(answer, words):
    result = check("additive_attention", answer)
    assert result.status == "failed"
    assert words in first_paragraph(result), result.feedback


def test_additive_attention_with_the_books_masking_names_the_uniform_rows():
    def book_masking(q, k, v, W_q, W_k, w_v, valid_lens=None):
        scores = torch.tanh((q @ W_q.T)[:, :, None] + (k @ W_k.T)[:, None]) @ w_v
        weights = scores.masked_fill(~allowed_keys(q, k, valid_lens), -1e6).softmax(-1)
        return weights @ v, weights

    result = check("additive_attention", book_masking)
    assert "gets uniform weights" in first_paragraph(result)
