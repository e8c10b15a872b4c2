"""positional_encoding and split_heads: correct answers pass; every mistake is named."""

import math
import re

import numpy as np
import pytest
import torch

from attnlab.exercises import check
from attnlab.exercises._transformer import SPLIT_HEADS


def first_paragraph(result) -> str:
    return result.feedback.split("\n\n")[0]


# --------------------------------------------------------------------------- positional_encoding


def encoding_torch(max_len, num_hiddens, base=10000.0, swap=False, start=0, pair_exponent=2):
    positions = torch.arange(start, start + max_len, dtype=torch.float32).reshape(-1, 1)
    exponents = (
        torch.arange(0, num_hiddens, 2, dtype=torch.float32) * (pair_exponent / 2) / num_hiddens
    )
    angles = positions / torch.pow(base, exponents)
    table = torch.zeros(max_len, num_hiddens)
    table[:, 0::2] = torch.cos(angles) if swap else torch.sin(angles)
    table[:, 1::2] = torch.sin(angles) if swap else torch.cos(angles)
    return table


def encoding_loops(max_len, num_hiddens):
    table = np.zeros((max_len, num_hiddens))
    for i in range(max_len):
        for j in range(num_hiddens // 2):
            angle = i / 10000 ** (2 * j / num_hiddens)
            table[i, 2 * j], table[i, 2 * j + 1] = math.sin(angle), math.cos(angle)
    return table


def encoding_complex(max_len, num_hiddens):
    # e^{i angle} = cos + i sin: the real and imaginary parts interleaved
    angles = torch.outer(
        torch.arange(max_len, dtype=torch.float64),
        10000.0 ** (-torch.arange(0, num_hiddens, 2) / num_hiddens),
    )
    rotations = torch.polar(torch.ones_like(angles), angles)
    return torch.stack([rotations.imag, rotations.real], dim=-1).flatten(1)


@pytest.mark.parametrize("answer", [encoding_torch, encoding_loops, encoding_complex])
def test_positional_encoding_passes_correct_answers(answer):
    result = check("positional_encoding", answer)
    assert result.passed, result.feedback


def by_column_index(max_len, num_hiddens):
    columns = torch.arange(num_hiddens, dtype=torch.float64)
    angles = torch.arange(max_len, dtype=torch.float64)[:, None] / 10000 ** (columns / num_hiddens)
    return torch.where(columns % 2 == 0, angles.sin(), angles.cos())


def halves(max_len, num_hiddens):
    table = encoding_torch(max_len, num_hiddens)
    return torch.cat([table[:, 0::2], table[:, 1::2]], dim=1)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda m, d: encoding_torch(m, d, swap=True), "Sine and cosine are swapped"),
        (lambda m, d: encoding_torch(m, d, base=1000.0), "Your table uses a base other than 10000"),
        (lambda m, d: encoding_torch(m, d, base=500.0), "Your table uses a base other than 10000"),
        (
            lambda m, d: encoding_torch(m, d, base=100.0),
            "the same table as base 100 instead of 10000",
        ),
        (
            lambda m, d: encoding_torch(m, d, pair_exponent=1),
            "Your frequencies use the exponent j/d instead of 2j/d",
        ),
        (by_column_index, "Your frequencies use the exponent j/d instead of 2j/d"),
        (halves, "all the sines in the first half of the columns"),
        (lambda m, d: encoding_torch(m, d, start=1), "Your positions start at 1"),
        (lambda m, d: encoding_torch(m, d)[None], "Your table has the book's leading batch axis"),
    ],
    ids=[
        "swapped",
        "base 1000",
        "base 500",
        "base 100",
        "exponent j/d",
        "column index",
        "halves",
        "from 1",
        "batch axis",
    ],
)
def test_positional_encoding_names_each_mistake(answer, words):
    result = check("positional_encoding", answer)
    assert result.status == "failed"
    assert words in first_paragraph(result), result.feedback


def test_a_swapped_table_is_shown_on_the_smallest_input():
    result = check("positional_encoding", lambda m, d: encoding_torch(m, d, swap=True))
    assert "max_len = 1\n    num_hiddens = 2" in result.feedback
    assert re.search(r"expected P: +\[\[0, 1\]\]\n +your P: +\[\[1, 0\]\]", result.feedback)


# ---------------------------------------------------------------------------------- split_heads


def split_book(X, num_heads):
    X = X.reshape(X.shape[0], X.shape[1], num_heads, -1).permute(0, 2, 1, 3)
    return X.reshape(-1, X.shape[2], X.shape[3])


def split_chunks(X, num_heads):
    return torch.stack(X.chunk(num_heads, dim=-1), dim=1).flatten(0, 1)


def split_loops(X, num_heads):
    batch, _, d = X.shape
    size = d // num_heads
    return torch.stack(
        [X[b, :, h * size : (h + 1) * size] for b in range(batch) for h in range(num_heads)]
    )


@pytest.mark.parametrize("answer", [split_book, split_chunks, split_loops])
def test_split_heads_passes_correct_answers(answer):
    assert check("split_heads", answer).passed


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (
            lambda X, h: X.reshape(X.shape[0] * h, X.shape[1], -1),
            "Your function reshapes without a transpose",
        ),
        (
            lambda X, h: (
                X.reshape(*X.shape[:2], h, -1)
                .permute(2, 0, 1, 3)
                .reshape(-1, X.shape[1], X.shape[2] // h)
            ),
            "Your heads are ordered head first",
        ),
        (
            lambda X, h: (
                X.reshape(*X.shape[:2], -1, h)
                .permute(0, 3, 1, 2)
                .reshape(-1, X.shape[1], X.shape[2] // h)
            ),
            "takes every num_heads-th feature",
        ),
        (
            lambda X, h: X.reshape(*X.shape[:2], h, -1).transpose(1, 2),
            "Your heads are right but keep their own axis",
        ),
        (
            lambda X, h: X.reshape(*X.shape[:2], h, -1),
            "You split the features into heads but left them next to the features",
        ),
    ],
    ids=["no transpose", "head first", "interleaved features", "four axes", "not moved"],
)
def test_split_heads_names_each_mistake(answer, words):
    result = check("split_heads", answer)
    assert result.status == "failed"
    assert words in first_paragraph(result), result.feedback


def test_a_reshape_without_transpose_is_shown_on_the_smallest_input():
    result = check("split_heads", lambda X, h: X.reshape(X.shape[0] * h, X.shape[1], -1))
    assert "X = torch.arange(8.0).reshape(1, 2, 4)\n    num_heads = 2" in result.feedback


@pytest.mark.parametrize(
    ("shape", "num_heads"), [((1, 2, 4), 2), ((2, 3, 6), 3), ((3, 5, 8), 4), ((2, 1, 6), 6)]
)
def test_the_split_reference_the_books_transpose_qkv_matches_a_loop_over_heads(shape, num_heads):
    X = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    (reference,) = SPLIT_HEADS.reference(X, num_heads)
    torch.testing.assert_close(reference, split_loops(X, num_heads), rtol=0, atol=0)
