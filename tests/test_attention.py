"""dot_product_attention against torch's scaled_dot_product_attention."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from attnlab import dot_product_attention


def _qkv(seed, batch=(2, 3), n_queries=5, n_keys=7, d=4, d_v=6, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    return (
        torch.randn(*batch, n_queries, d, generator=generator, dtype=dtype),
        torch.randn(*batch, n_keys, d, generator=generator, dtype=dtype),
        torch.randn(*batch, n_keys, d_v, generator=generator, dtype=dtype),
    )


def test_equals_sdpa_without_mask():
    queries, keys, values = _qkv(0)
    output, _ = dot_product_attention(queries, keys, values)
    torch.testing.assert_close(output, F.scaled_dot_product_attention(queries, keys, values))


def test_equals_sdpa_with_boolean_mask():
    queries, keys, values = _qkv(1)
    mask = torch.rand(2, 3, 5, 7, generator=torch.Generator().manual_seed(1)) > 0.4
    mask[..., 0] = True
    output, _ = dot_product_attention(queries, keys, values, mask=mask)
    expected = F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask)
    torch.testing.assert_close(output, expected)


def test_equals_sdpa_with_valid_lens():
    queries, keys, values = _qkv(2, batch=(4,))
    lengths = torch.tensor([1, 3, 7, 5])
    output, _ = dot_product_attention(queries, keys, values, valid_lens=lengths)
    mask = torch.arange(7) < lengths[:, None, None]  # (4, 1, 7)
    expected = F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask)
    torch.testing.assert_close(output, expected)


@pytest.mark.parametrize("scale", [0.1, 1.0, 3.0])
def test_equals_sdpa_with_custom_scale(scale):
    queries, keys, values = _qkv(3)
    output, _ = dot_product_attention(queries, keys, values, scale=scale)
    expected = F.scaled_dot_product_attention(queries, keys, values, scale=scale)
    torch.testing.assert_close(output, expected)


def test_weights_equal_sdpa_output_for_identity_values():
    queries, keys, _ = _qkv(4, batch=(2,))
    identity = torch.eye(7, dtype=torch.float64).expand(2, 7, 7)
    mask = torch.ones(5, 7, dtype=torch.bool).tril(diagonal=2)
    _, weights = dot_product_attention(queries, keys, identity, mask=mask)
    expected = F.scaled_dot_product_attention(queries, keys, identity, attn_mask=mask)
    torch.testing.assert_close(weights, expected)


def test_default_scale_is_one_over_sqrt_d():
    queries, keys, values = _qkv(5, d=9)
    _, weights = dot_product_attention(queries, keys, values)
    expected = torch.softmax(queries @ keys.mT / math.sqrt(9), dim=-1)
    torch.testing.assert_close(weights, expected)


def test_fully_masked_query_outputs_zeros_and_finite_gradients():
    queries, keys, values = _qkv(6, batch=(2,))
    queries.requires_grad_(True)
    output, weights = dot_product_attention(queries, keys, values, valid_lens=torch.tensor([0, 3]))
    assert torch.equal(output[0], torch.zeros_like(output[0]))
    assert torch.equal(weights[0], torch.zeros_like(weights[0]))
    output.sum().backward()
    assert torch.isfinite(queries.grad).all()


def test_book_example_gives_printed_output():
    queries = torch.normal(0, 1, (2, 1, 2), generator=torch.Generator().manual_seed(0))
    keys = torch.ones((2, 10, 2))
    values = torch.arange(40, dtype=torch.float32).reshape(1, 10, 4).repeat(2, 1, 1)
    output, _ = dot_product_attention(queries, keys, values, valid_lens=torch.tensor([2, 6]))
    torch.testing.assert_close(output, torch.tensor([[[2.0, 3, 4, 5]], [[10.0, 11, 12, 13]]]))


def test_dropout_only_in_training_and_output_is_weights_at_values():
    queries, keys, values = _qkv(7, dtype=torch.float32)
    evaluation, _ = dot_product_attention(queries, keys, values, dropout=0.5)
    reference, _ = dot_product_attention(queries, keys, values)
    torch.testing.assert_close(evaluation, reference)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        output, weights = dot_product_attention(queries, keys, values, dropout=0.5, training=True)
    assert (weights == 0).any()
    torch.testing.assert_close(output, weights @ values)


@given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**16))
def test_permutation_equivariance_of_self_attention(n, d, seed):
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randn(1, n, d, generator=generator, dtype=torch.float64)
    order = torch.randperm(n, generator=generator)
    output, weights = dot_product_attention(tokens, tokens, tokens)
    permuted, permuted_weights = dot_product_attention(*(tokens[:, order],) * 3)
    torch.testing.assert_close(permuted, output[:, order])
    torch.testing.assert_close(permuted_weights, weights[:, order][:, :, order])
    torch.testing.assert_close(weights.sum(-1), torch.ones(1, n, dtype=torch.float64))


def test_mismatched_key_and_value_counts():
    with pytest.raises(
        ValueError,
        match=r"dot_product_attention: keys and values must have the same number of keys; got keys.shape=\(2, 10, 4\), values.shape=\(2, 9, 4\)",
    ):
        dot_product_attention(torch.zeros(2, 3, 4), torch.zeros(2, 10, 4), torch.zeros(2, 9, 4))


def test_mismatched_feature_size():
    with pytest.raises(
        ValueError,
        match=r"queries and keys must have the same number of features d \(last axis\); got queries.shape=\(2, 3, 4\), keys.shape=\(2, 10, 5\)",
    ):
        dot_product_attention(torch.zeros(2, 3, 4), torch.zeros(2, 10, 5), torch.zeros(2, 10, 4))


def test_missing_feature_axis():
    with pytest.raises(
        ValueError,
        match=r"queries must have shape \(\*batch, n, d\) with a feature axis; got queries.shape=\(3,\)",
    ):
        dot_product_attention(torch.zeros(3), torch.zeros(2, 10, 4), torch.zeros(2, 10, 4))


def test_bad_scale_and_dropout():
    queries, keys, values = _qkv(8)
    with pytest.raises(
        TypeError, match="dot_product_attention: scale must be a finite number or None"
    ):
        dot_product_attention(queries, keys, values, scale=float("nan"))
    with pytest.raises(
        ValueError, match=r"dot_product_attention: dropout must be in \[0, 1\); got dropout=1.5"
    ):
        dot_product_attention(queries, keys, values, dropout=1.5)
