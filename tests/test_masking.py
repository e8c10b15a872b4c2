"""masked_softmax: the book's calls, boolean masks, empty rows, dtypes and no mutation."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from attnlab import masked_softmax
from attnlab.masking import softmax


def test_book_example_1d_valid_lens():
    scores = torch.rand(2, 2, 4, generator=torch.Generator().manual_seed(0))
    weights = masked_softmax(scores, torch.tensor([2, 3]))
    assert torch.equal(weights[0, :, 2:], torch.zeros(2, 2))
    assert torch.equal(weights[1, :, 3:], torch.zeros(2, 1))
    torch.testing.assert_close(weights[0, :, :2], torch.softmax(scores[0, :, :2], dim=-1))
    torch.testing.assert_close(weights[1, :, :3], torch.softmax(scores[1, :, :3], dim=-1))


def test_book_example_2d_valid_lens():
    scores = torch.rand(2, 2, 4, generator=torch.Generator().manual_seed(1))
    lengths = torch.tensor([[1, 3], [2, 4]])
    weights = masked_softmax(scores, lengths)
    for b in range(2):
        for q in range(2):
            n = int(lengths[b, q])
            torch.testing.assert_close(weights[b, q, :n], torch.softmax(scores[b, q, :n], dim=-1))
            assert torch.equal(weights[b, q, n:], torch.zeros(4 - n))


def test_boolean_mask_matches_torch_softmax_with_inf():
    generator = torch.Generator().manual_seed(2)
    scores = torch.randn(3, 5, 6, generator=generator)
    mask = torch.rand(3, 5, 6, generator=generator) > 0.3
    mask[..., 0] = True  # every row keeps a key, so torch's softmax is defined
    expected = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    torch.testing.assert_close(masked_softmax(scores, mask=mask), expected)


def test_valid_lens_and_mask_combine():
    causal = torch.ones(3, 3, dtype=torch.bool).tril()
    weights = masked_softmax(torch.zeros(1, 3, 3), torch.tensor([2]), mask=causal)
    expected = torch.tensor([[[1.0, 0, 0], [0.5, 0.5, 0], [0.5, 0.5, 0]]])
    torch.testing.assert_close(weights, expected)


def test_fully_masked_rows_are_zero_with_finite_gradients():
    scores = torch.randn(2, 3, 4, requires_grad=True)
    weights = masked_softmax(scores, torch.tensor([0, 2]))
    assert torch.equal(weights[0], torch.zeros(3, 4))
    (weights * torch.arange(4.0)).sum().backward()
    assert torch.isfinite(scores.grad).all()
    assert torch.equal(scores.grad[0], torch.zeros(3, 4))


def test_does_not_mutate_input():
    scores = torch.randn(2, 2, 4)
    before = scores.clone()
    masked_softmax(scores, torch.tensor([1, 2]))
    masked_softmax(scores, mask=torch.zeros(4, dtype=torch.bool))
    assert torch.equal(scores, before)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision(dtype):
    scores = torch.randn(2, 3, 5).to(dtype)
    weights = masked_softmax(scores, torch.tensor([2, 0]))
    assert weights.dtype == dtype
    assert torch.isfinite(weights).all()
    expected = masked_softmax(scores.float(), torch.tensor([2, 0]))
    torch.testing.assert_close(weights.float(), expected, atol=1e-2, rtol=1e-2)


def test_any_number_of_leading_axes():
    scores = torch.randn(2, 3, 4, 5, 6)
    lengths = torch.randint(0, 7, (2, 3, 4))
    weights = masked_softmax(scores, lengths)
    positions = torch.arange(6)
    assert torch.equal(weights > 0, positions < lengths[..., None, None].expand(2, 3, 4, 5, 1))


def test_softmax_without_mask_equals_torch():
    scores = torch.randn(4, 7)
    torch.testing.assert_close(softmax(scores), torch.softmax(scores, dim=-1))
    torch.testing.assert_close(masked_softmax(scores), torch.softmax(scores, dim=-1))


@given(
    st.integers(1, 4),
    st.integers(1, 6),
    st.integers(1, 6),
    st.integers(0, 2**16),
)
def test_rows_sum_to_one_or_zero(batch, n_queries, n_keys, seed):
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randn(batch, n_queries, n_keys, generator=generator) * 30
    lengths = torch.randint(0, n_keys + 1, (batch, n_queries), generator=generator)
    weights = masked_softmax(scores, lengths)
    assert (weights >= 0).all()
    sums = weights.sum(-1)
    expected = (lengths > 0).to(sums.dtype)
    torch.testing.assert_close(sums, expected)


def test_float_mask_is_rejected_with_explanation():
    with pytest.raises(
        TypeError, match=r"masked_softmax: mask must be a boolean tensor .* float mask is ambiguous"
    ):
        masked_softmax(torch.zeros(2, 3), mask=torch.ones(2, 3))


def test_bad_valid_lens_shape():
    with pytest.raises(
        ValueError,
        match=r"valid_lens must have shape \(2,\) \(one length per sequence\) or \(2, 3\) .* got valid_lens.shape=\(3,\)",
    ):
        masked_softmax(torch.zeros(2, 3, 4), torch.tensor([1, 2, 3]))


def test_negative_or_fractional_valid_lens():
    with pytest.raises(ValueError, match="masked_softmax: valid_lens must be >= 0"):
        masked_softmax(torch.zeros(2, 3, 4), torch.tensor([1, -1]))
    with pytest.raises(ValueError, match="valid_lens must hold whole numbers"):
        masked_softmax(torch.zeros(2, 3, 4), torch.tensor([1.5, 2.0]))


def test_float_valid_lens_with_whole_numbers_are_accepted():
    weights = masked_softmax(torch.zeros(2, 1, 4), torch.tensor([1.0, 2.0]))
    torch.testing.assert_close(weights[:, 0], torch.tensor([[1.0, 0, 0, 0], [0.5, 0.5, 0, 0]]))


def test_mask_that_does_not_broadcast():
    with pytest.raises(
        ValueError,
        match=r"mask must broadcast to the scores' shape \(2, 3, 4\); got mask.shape=\(5,\)",
    ):
        masked_softmax(torch.zeros(2, 3, 4), mask=torch.ones(5, dtype=torch.bool))


def test_non_numeric_scores():
    with pytest.raises(
        TypeError, match="masked_softmax: scores must be a tensor, a NumPy array or a nested list"
    ):
        masked_softmax("scores")
