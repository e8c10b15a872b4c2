"""torch.nn modules: the book's printed examples, kept weights and the learnable bandwidth."""

import numpy as np
import pytest
import torch

from attnlab import (
    AdditiveAttention,
    AveragePooling,
    DotProductAttention,
    NadarayaWatson,
    average_pooling,
    datasets,
    dot_product_attention,
    nadaraya_watson,
)


def _book_inputs(query_size):
    queries = torch.normal(0, 1, (2, 1, query_size), generator=torch.Generator().manual_seed(0))
    keys = torch.ones((2, 10, 2))
    values = torch.arange(40, dtype=torch.float32).reshape(1, 10, 4).repeat(2, 1, 1)
    return queries, keys, values, torch.tensor([2, 6])


BOOK_OUTPUT = torch.tensor([[[2.0, 3.0, 4.0, 5.0]], [[10.0, 11.0, 12.0, 13.0]]])


def test_additive_attention_reproduces_the_book():
    attention = AdditiveAttention(num_hiddens=8, dropout=0.1).eval()
    output, weights = attention(*_book_inputs(20))
    torch.testing.assert_close(output, BOOK_OUTPUT)
    assert weights.shape == (2, 1, 10)
    assert torch.equal(attention.attention_weights, weights.detach())
    assert attention.attention_weights.requires_grad is False


def test_dot_product_attention_module_reproduces_the_book():
    attention = DotProductAttention(dropout=0.5).eval()
    output, weights = attention(*_book_inputs(2))
    torch.testing.assert_close(output, BOOK_OUTPUT)
    torch.testing.assert_close(weights[1, 0, :6], torch.full((6,), 1 / 6))


def test_dot_product_module_equals_function():
    queries, keys, values, lengths = _book_inputs(2)
    keys = torch.randn(2, 10, 2)
    output, weights = DotProductAttention()(queries, keys, values, lengths)
    expected, expected_weights = dot_product_attention(queries, keys, values, valid_lens=lengths)
    torch.testing.assert_close(output, expected)
    torch.testing.assert_close(weights, expected_weights)


def test_additive_attention_is_lazy_and_trains():
    attention = AdditiveAttention(num_hiddens=4)
    queries, keys, values = torch.randn(3, 2, 5), torch.randn(3, 6, 7), torch.randn(3, 6, 2)
    output, _ = attention(queries, keys, values)
    assert attention.W_q.weight.shape == (4, 5) and attention.W_k.weight.shape == (4, 7)
    output.sum().backward()
    assert attention.w_v.weight.grad is not None


def test_average_pooling_module_equals_function():
    keys, values = torch.arange(5.0), torch.arange(5.0) ** 2
    module = AveragePooling()
    output, _ = module(torch.zeros(3), keys, values)
    expected, expected_weights = average_pooling(torch.zeros(3), keys, values)
    torch.testing.assert_close(output, expected)
    assert torch.equal(module.attention_weights, expected_weights)


def test_nadaraya_watson_module_equals_function_and_learns_a_positive_bandwidth():
    data = datasets.toy_regression(seed=1)
    module = NadarayaWatson(bandwidth=0.8)
    output, _ = module(data.x_test, data.x_train, data.y_train)
    expected, _ = nadaraya_watson(data.x_test, data.x_train, data.y_train, bandwidth=0.8)
    torch.testing.assert_close(output, expected)
    assert [name for name, _ in module.named_parameters()] == ["log_bandwidth"]
    optimizer = torch.optim.SGD(module.parameters(), lr=50.0)  # a huge step still keeps h > 0
    for _ in range(3):
        optimizer.zero_grad()
        prediction, _ = module(data.x_train, data.x_train, data.y_train, leave_one_out=True)
        ((prediction - data.y_train) ** 2).mean().backward()
        optimizer.step()
    assert module.bandwidth.item() > 0


def test_fixed_bandwidth_is_a_buffer():
    module = NadarayaWatson(kernel="epanechnikov", bandwidth=[0.5, 2.0], learnable=False)
    assert list(module.parameters()) == []
    torch.testing.assert_close(module.bandwidth, torch.tensor([0.5, 2.0]))
    assert "kernel='epanechnikov'" in repr(module)


def test_module_errors():
    with pytest.raises(
        ValueError,
        match="NadarayaWatson: bandwidth must be positive and finite; got bandwidth=-1.0",
    ):
        NadarayaWatson(bandwidth=-1.0)
    with pytest.raises(ValueError, match="NadarayaWatson: kernel must be one of"):
        NadarayaWatson(kernel="rbf")
    with pytest.raises(
        ValueError, match="AdditiveAttention: num_hiddens must be a positive integer; got 0"
    ):
        AdditiveAttention(num_hiddens=0)
    with pytest.raises(
        ValueError, match=r"DotProductAttention: dropout must be in \[0, 1\); got dropout=2"
    ):
        DotProductAttention(dropout=2)


def additive_oracle(attention, queries, keys, values, valid_lens=None):
    """``w_v . tanh(W_q q + W_k k)`` and its masked softmax, in float64 NumPy from the weights."""
    W_q = attention.W_q.weight.detach().double().numpy()  # (h, d_q)
    W_k = attention.W_k.weight.detach().double().numpy()  # (h, d_k)
    w_v = attention.w_v.weight.detach().double().numpy()[0]  # (h,)
    q, k, v = (x.double().numpy() for x in (queries, keys, values))
    hidden = np.tanh((q @ W_q.T)[:, :, None, :] + (k @ W_k.T)[:, None, :, :])  # (b, q, k, h)
    scores = hidden @ w_v  # (b, q, k)
    if valid_lens is not None:
        scores = np.where(
            np.arange(k.shape[1]) < valid_lens.numpy()[:, None, None], scores, -np.inf
        )
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return scores, weights, weights @ v


@pytest.mark.parametrize("valid_lens", [None, torch.tensor([3, 7])])
def test_additive_scores_and_weights_equal_a_numpy_oracle(valid_lens):
    generator = torch.Generator().manual_seed(3)
    queries = torch.randn(2, 4, 5, generator=generator)
    keys = torch.randn(2, 7, 3, generator=generator)  # distinct keys: the scores differ
    values = torch.randn(2, 7, 6, generator=generator)
    attention = AdditiveAttention(num_hiddens=8).eval()
    output, weights = attention(queries, keys, values, valid_lens)
    scores, expected_weights, expected_output = additive_oracle(
        attention, queries, keys, values, valid_lens
    )
    assert np.unique(scores[np.isfinite(scores)].round(6)).size > 10  # not a constant score
    np.testing.assert_allclose(weights.detach().numpy(), expected_weights, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(output.detach().numpy(), expected_output, rtol=1e-5, atol=1e-5)


def test_lazy_layers_refuse_another_size_or_dtype_later():
    attention = AdditiveAttention(num_hiddens=4)
    queries, keys, values = torch.randn(2, 3, 5), torch.randn(2, 6, 7), torch.randn(2, 6, 2)
    attention(queries, keys, values)
    with pytest.raises(
        ValueError,
        match=r"AdditiveAttention: queries must have 5 features \(last axis\), the size this module was built for on its first call; got queries.shape=\(2, 3, 6\)",
    ):
        attention(torch.randn(2, 3, 6), keys, values)
    with pytest.raises(
        TypeError,
        match=r"AdditiveAttention: queries have dtype torch.float64 but the module's parameters are torch.float32",
    ):
        attention(queries.double(), keys.double(), values.double())


def test_no_keys_is_refused():
    with pytest.raises(ValueError, match=r"AdditiveAttention: keys must hold at least one key"):
        AdditiveAttention(num_hiddens=4)(
            torch.randn(2, 3, 5), torch.randn(2, 0, 5), torch.randn(2, 0, 2)
        )
