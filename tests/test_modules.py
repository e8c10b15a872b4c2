"""torch.nn modules: the book's printed examples, kept weights and the learnable bandwidth."""

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
