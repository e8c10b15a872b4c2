"""causal_mask and padding_mask: correct answers pass; every mistake is named."""

import numpy as np
import pytest
import torch

import attnlab
from attnlab.exercises import check
from attnlab.exercises._masks import CAUSAL_MASK, PADDING_MASK


def first_paragraph(result) -> str:
    return result.feedback.split("\n\n")[0]


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


# --------------------------------------------------------------------------------- padding_mask


@pytest.mark.parametrize(
    "answer",
    [
        lambda lengths, n: torch.arange(n)[None, :] < lengths[:, None],
        lambda lengths, n: np.array([[j < int(length) for j in range(n)] for length in lengths]),
        lambda lengths, n: torch.ones(len(lengths), n).cumsum(-1) <= lengths[:, None],
    ],
    ids=["broadcast", "loops", "cumsum"],
)
def test_padding_mask_passes_correct_answers(answer):
    assert check("padding_mask", answer).passed


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (
            lambda lengths, n: torch.arange(n)[None, :] >= lengths[:, None],
            "Your mask is inverted: True marks the padding",
        ),
        (lambda lengths, n: torch.arange(n)[None, :] <= lengths[:, None], "Off by one"),
        (lambda lengths, n: torch.arange(n)[None, :] < lengths[:, None] - 1, "Off by one"),
        (
            lambda lengths, n: (torch.arange(n)[None, :] < lengths[:, None]).T,
            "Your mask is transposed",
        ),
        (
            lambda lengths, n: (torch.arange(n)[None, :] < lengths[:, None]).float(),
            "is not boolean",
        ),
    ],
    ids=["inverted", "one too many", "one too few", "transposed", "float"],
)
def test_padding_mask_names_each_mistake(answer, words):
    result = check("padding_mask", answer)
    assert result.status == "failed"
    assert words in first_paragraph(result), result.feedback


@pytest.mark.parametrize("lengths", [[0, 3, 1], [4, 4], [2]])
def test_the_padding_reference_is_where_masked_softmax_gives_weight(lengths):
    lengths = torch.tensor(lengths)
    weights = attnlab.masked_softmax(torch.zeros(len(lengths), 1, 4), lengths)[:, 0]  # (b, k)
    (reference,) = PADDING_MASK.reference(lengths, 4)
    assert torch.equal(reference, weights > 0)


def test_the_padding_reference_matches_the_books_sequence_mask():
    from attnlab import d2l

    lengths = torch.tensor([0, 2, 5, 1])
    (reference,) = PADDING_MASK.reference(lengths, 5)
    assert torch.equal(reference, d2l.sequence_mask(torch.ones(4, 5), lengths).bool())
