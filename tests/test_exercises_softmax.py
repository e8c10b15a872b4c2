"""softmax_rows and masked_softmax: answers written differently pass; every listed mistake is named."""

import math

import numpy as np
import pytest
import torch

import attnlab
from attnlab.exercises import check


def first_paragraph(result) -> str:
    return result.feedback.split("\n\n")[0]


# ---------------------------------------------------------------------------------- softmax_rows


def softmax_torch(scores):
    exponentials = (scores - scores.amax(-1, keepdim=True)).exp()
    return exponentials / exponentials.sum(-1, keepdim=True)


def softmax_numpy(scores):
    x = np.asarray(scores, dtype=np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_loops(scores):
    rows = scores.double().reshape(-1, scores.shape[-1]).tolist()
    out = []
    for row in rows:
        top = max(row)
        e = [math.exp(s - top) for s in row]
        out.append([v / sum(e) for v in e])
    return torch.tensor(out).reshape(scores.shape)


def softmax_logsumexp(scores):
    return torch.exp(scores - torch.logsumexp(scores, dim=-1, keepdim=True))


@pytest.mark.parametrize("answer", [softmax_torch, softmax_numpy, softmax_loops, softmax_logsumexp])
def test_softmax_rows_passes_correct_answers(answer):
    result = check("softmax_rows", answer)
    assert result.passed, result.feedback
    assert result.feedback.startswith("Correct on all 15 inputs")


def naive(scores):
    e = scores.exp()
    return e / e.sum(-1, keepdim=True)


def one_maximum(scores):
    e = (scores - scores.max()).exp()
    return e / e.sum(-1, keepdim=True)


def whole_tensor(scores):
    e = (scores - scores.max()).exp()
    return e / e.sum()


@pytest.mark.parametrize(
    ("answer", "words", "witness"),
    [
        (
            lambda s: torch.softmax(s, dim=0),
            "normalises along another axis than the last",
            "[[1000.0, 0.0]]",
        ),
        (
            lambda s: s.softmax(-2) if s.ndim > 1 else s.softmax(0),
            "another axis than the last",
            "[[1000.0, 0.0]]",
        ),
        (whole_tensor, "normalises over the whole tensor", "[[1000.0, 999.0], [0.0, 1.0]]"),
        (naive, "Large scores overflow: exp(1000) is inf", "[[1000.0, 0.0]]"),
        (
            one_maximum,
            "subtracts one maximum for the whole tensor",
            "[[1000.0, 999.0], [0.0, 1.0]]",
        ),
    ],
    ids=["axis 0", "axis -2", "whole tensor", "no max subtraction", "one global max"],
)
def test_softmax_rows_names_each_mistake(answer, words, witness):
    result = check("softmax_rows", answer)
    assert result.status == "failed"
    assert words in first_paragraph(result)
    assert f"scores = torch.tensor({witness})" in result.feedback
    assert "Hint: " in result.feedback


def test_two_mistakes_at_once_are_both_named_the_smallest_input_first():
    result = check("softmax_rows", lambda scores: scores.exp() / scores.exp().sum())
    paragraphs = result.feedback.split("\n\n")
    assert paragraphs[0].startswith("Large scores overflow")
    assert "scores = torch.tensor([[1000.0, 0.0]])" in paragraphs[2]
    assert "Also: Your function normalises over the whole tensor" in result.feedback


def test_softmax_rows_overflow_in_float16_alone_is_named():
    def naive_in_float16(scores):
        return softmax_torch(scores) if scores.dtype != torch.float16 else naive(scores)

    result = check("softmax_rows", naive_in_float16)
    assert "Large scores overflow" in first_paragraph(result)
    assert "dtype=torch.float16" in result.feedback


# -------------------------------------------------------------------------------- masked_softmax


def lengths_per_query(scores, valid_lens):
    if valid_lens.ndim == 2:
        return valid_lens
    return valid_lens[:, None].expand(scores.shape[:2])


def masked_where(scores, valid_lens):
    if valid_lens is None:
        return scores.softmax(-1)
    allowed = torch.arange(scores.shape[-1]) < lengths_per_query(scores, valid_lens)[..., None]
    empty = ~allowed.any(-1, keepdim=True)
    masked = torch.where(allowed | empty, scores, float("-inf"))
    return masked.softmax(-1).masked_fill(empty, 0.0)


def masked_loops(scores, valid_lens):
    scores = np.asarray(scores, dtype=np.float64)
    weights = np.zeros_like(scores)
    batch, n_queries, _ = scores.shape
    for b in range(batch):
        for q in range(n_queries):
            if valid_lens is None:
                n = scores.shape[-1]
            else:
                n = int(valid_lens[b] if valid_lens.ndim == 1 else valid_lens[b, q])
            if n:
                row = np.exp(scores[b, q, :n] - scores[b, q, :n].max())
                weights[b, q, :n] = row / row.sum()
    return weights


def masked_upcast(scores, valid_lens):
    return masked_where(scores.float(), valid_lens).to(scores.dtype)


@pytest.mark.parametrize(
    "answer",
    [masked_where, masked_loops, masked_upcast, attnlab.masked_softmax],
    ids=lambda f: f.__name__,
)
def test_masked_softmax_passes_correct_answers(answer):
    result = check("masked_softmax", answer)
    assert result.passed, result.feedback


def book_masked_softmax(X, valid_lens):
    # the book's algorithm, rewritten: -1e6 written into a reshaped view of the scores
    if valid_lens is None:
        return torch.softmax(X, dim=-1)
    shape = X.shape
    if valid_lens.dim() == 1:
        valid_lens = torch.repeat_interleave(valid_lens, shape[1])
    else:
        valid_lens = valid_lens.reshape(-1)
    flat = X.reshape(-1, shape[-1])
    keep = torch.arange(shape[-1])[None, :] < valid_lens[:, None]
    flat[~keep] = -1e6
    return torch.softmax(flat.reshape(shape), dim=-1)


def shifted(shift):
    def answer(scores, valid_lens):
        if valid_lens is None:
            return scores.softmax(-1)
        return masked_where(scores, (valid_lens + shift).clamp(0, scores.shape[-1]))

    return answer


def tiled(scores, valid_lens):
    if valid_lens is not None and valid_lens.ndim == 1:
        valid_lens = valid_lens.repeat(scores.shape[1]).reshape(scores.shape[:2])
    return masked_where(scores, valid_lens)


def rows_masked(scores, valid_lens):
    if valid_lens is None:
        return scores.softmax(-1)
    lengths = valid_lens if valid_lens.ndim == 1 else valid_lens[:, 0]
    keep = torch.arange(scores.shape[1])[None, :] < lengths[:, None]  # over the queries
    return torch.where(keep[..., None], scores.softmax(-1), 0.0)


def minus_infinity(scores, valid_lens):
    if valid_lens is None:
        return scores.softmax(-1)
    allowed = torch.arange(scores.shape[-1]) < lengths_per_query(scores, valid_lens)[..., None]
    return scores.masked_fill(~allowed, float("-inf")).softmax(-1)


def fill_minus_1e6_then_zero_empty_rows(scores, valid_lens):
    # exact in float32 and float64; in float16 -1e6 is -inf and NaN * 0 is still NaN
    if valid_lens is None:
        return scores.softmax(-1)
    allowed = torch.arange(scores.shape[-1]) < lengths_per_query(scores, valid_lens)[..., None]
    weights = torch.where(allowed, scores, torch.tensor(-1e6, dtype=scores.dtype)).softmax(-1)
    return weights * allowed.any(-1, keepdim=True)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda scores, valid_lens: scores.softmax(-1), "Your weights ignore valid_lens"),
        (rows_masked, "Your mask runs along the wrong axis"),
        (shifted(1), "Off by one"),
        (shifted(-1), "Off by one"),
        (tiled, "The lengths of different sequences got mixed up"),
        (
            lambda s, v: book_masked_softmax(s.clone(), v),
            "A query whose keys are all masked (valid_lens 0) gets uniform weights: it attends to the padding",
        ),
        (minus_infinity, "A query whose keys are all masked (valid_lens 0) gets NaN weights"),
        (book_masked_softmax, "Your function changed its input `scores` in place"),
        (fill_minus_1e6_then_zero_empty_rows, "In float16 your weights contain NaN"),
    ],
    ids=[
        "mask ignored",
        "wrong axis",
        "one too many",
        "one too few",
        "tiled lengths",
        "uniform",
        "NaN",
        "in place",
        "float16",
    ],
)
def test_masked_softmax_names_each_mistake(answer, words):
    result = check("masked_softmax", answer)
    assert result.status == "failed"
    assert words in first_paragraph(result), result.feedback


def test_the_books_masked_softmax_gets_all_three_of_its_mistakes():
    result = check("masked_softmax", book_masked_softmax)
    paragraphs = result.feedback.split("\n\n")
    assert paragraphs[0].startswith("Your function changed its input `scores` in place")
    assert "scores after:" in result.feedback and "-1e+06" in result.feedback
    also = [p for p in paragraphs if p.startswith("Also: ")]
    assert "uniform weights" in also[0] and "In float16 your weights contain NaN" in also[1]


def test_the_smallest_inputs_are_shown():
    result = check("masked_softmax", tiled)
    assert "scores = torch.zeros(2, 2, 4)\n    valid_lens = torch.tensor([1, 3])" in result.feedback
    result = check("masked_softmax", minus_infinity)
    assert "scores = torch.zeros(1, 2, 3)\n    valid_lens = torch.tensor([0])" in result.feedback
    assert "[[[nan, nan, nan]," in result.feedback


def test_a_fill_value_that_does_not_fit_float16_is_explained():
    def masked_fill_minus_1e9(scores, valid_lens):
        if valid_lens is None:
            return scores.softmax(-1)
        allowed = torch.arange(scores.shape[-1]) < lengths_per_query(scores, valid_lens)[..., None]
        weights = scores.masked_fill(~allowed, -1e9).softmax(-1)  # raises for float16
        return weights * allowed.any(-1, keepdim=True)

    result = check("masked_softmax", masked_fill_minus_1e9)
    assert first_paragraph(result).startswith(
        "Your function raised RuntimeError: value cannot be converted"
    )
    assert (
        "This input is float16: its numbers stop at 65504 (-1e6 does not fit)." in result.feedback
    )
