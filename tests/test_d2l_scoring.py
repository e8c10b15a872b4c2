"""attnlab.d2l, sections 10.1 and 10.3 (Chinese 2nd ed.) / 11.1 and 11.3 (English): heatmaps,
masked softmax, dot-product and additive attention with the book's calls and conventions.

Oracles: the book's printed outputs, the values its code prints under ``torch.manual_seed(0)``,
torch's ``scaled_dot_product_attention``, and the additive score written out in the test.
"""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn import functional as F

from attnlab import d2l


@pytest.fixture
def seeded():
    """The book's cells draw from torch's global generator: seed it without leaking the state."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        yield


def _book_inputs(query_size):
    queries = d2l.normal(0, 1, (2, 1, query_size))
    keys = d2l.ones((2, 10, 2))
    values = torch.arange(40, dtype=torch.float32).reshape(1, 10, 4).repeat(2, 1, 1)
    return queries, keys, values, d2l.tensor([2, 6])


# the book's printed output for both scoring functions: all keys are equal, so the output is the
# mean of the first 2 (first example) and first 6 (second example) values
BOOK_OUTPUT = torch.tensor([[[2.0, 3.0, 4.0, 5.0]], [[10.0, 11.0, 12.0, 13.0]]])


# --- 10.1 / 11.1 attention cues: show_heatmaps ------------------------------------------------


def test_show_heatmaps_draws_the_book_identity_and_returns_nothing():
    import matplotlib.pyplot as plt

    attention_weights = d2l.reshape(d2l.eye(10), (1, 1, 10, 10))
    assert d2l.show_heatmaps(attention_weights, xlabel="Keys", ylabel="Queries") is None
    panel, colorbar = plt.gcf().axes
    assert (panel.get_xlabel(), panel.get_ylabel()) == ("Keys", "Queries")
    assert torch.equal(torch.as_tensor(panel.images[0].get_array()), torch.eye(10))
    assert colorbar.get_label() == "<colorbar>"


def test_show_heatmaps_takes_the_books_cmap_and_figsize():
    import matplotlib.pyplot as plt

    table = d2l.PositionalEncoding(32, 0).P[:, :60].unsqueeze(0)  # (1, 1, 60, 32)
    d2l.show_heatmaps(table, xlabel="Column (encoding dimension)", ylabel="Row (position)",
                      figsize=(3.5, 4), cmap="Blues")  # fmt: skip
    figure = plt.gcf()
    assert tuple(figure.get_size_inches()) == (3.5, 4)
    assert figure.axes[0].images[0].get_cmap().name.startswith("Blues")


# --- 10.3 / 11.3 masked softmax ---------------------------------------------------------------


def test_masked_softmax_prints_the_books_values(seeded):
    # what the book's code prints for these two calls when the section starts from seed 0
    first = d2l.masked_softmax(torch.rand(2, 2, 4), torch.tensor([2, 3]))
    expected = torch.tensor([[[0.4324, 0.5676, 0.0, 0.0], [0.4191, 0.5809, 0.0, 0.0]],
                             [[0.3234, 0.3859, 0.2907, 0.0], [0.2882, 0.3337, 0.3781, 0.0]]])  # fmt: skip
    torch.testing.assert_close(first, expected, atol=1e-4, rtol=0)
    second = d2l.masked_softmax(torch.rand(2, 2, 4), d2l.tensor([[1, 3], [2, 4]]))
    expected = torch.tensor([[[1.0, 0.0, 0.0, 0.0], [0.3316, 0.4189, 0.2495, 0.0]],
                             [[0.4667, 0.5333, 0.0, 0.0], [0.1837, 0.2217, 0.2071, 0.3876]]])  # fmt: skip
    torch.testing.assert_close(second, expected, atol=1e-4, rtol=0)


@settings(max_examples=30)
@given(
    lengths=st.lists(st.integers(1, 6), min_size=1, max_size=4),
    per_query=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_the_chinese_cells_masked_softmax_over_sequence_mask_equals_d2l_masked_softmax(
    lengths, per_query, seed
):
    # the Chinese 10.3 cell builds masked_softmax from d2l.sequence_mask with -1e6
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(len(lengths), 3, 6, generator=generator)
    valid_lens = torch.tensor(lengths)
    if per_query:
        valid_lens = torch.randint(1, 7, (len(lengths), 3), generator=generator)
    flat = valid_lens.reshape(-1) if per_query else valid_lens.repeat_interleave(3)
    masked = d2l.sequence_mask(X.reshape(-1, 6), flat, value=-1e6)
    expected = F.softmax(masked.reshape(X.shape), dim=-1)
    torch.testing.assert_close(d2l.masked_softmax(X, valid_lens), expected, rtol=0, atol=0)


def test_a_fully_masked_row_is_zero_not_uniform():
    # documented difference: the book's -1e6 gives such a row uniform weights
    assert torch.equal(d2l.masked_softmax(torch.zeros(1, 2, 3), torch.tensor([0])),
                       torch.zeros(1, 2, 3))  # fmt: skip


def test_sequence_mask_leaves_its_input_alone_and_masks_trailing_axes():
    X = torch.ones(2, 3, 2)
    masked = d2l.sequence_mask(X, torch.tensor([1, 2]), value=-1)
    assert torch.equal(X, torch.ones(2, 3, 2))  # the book's overwrites X
    assert masked[:, :, 0].tolist() == [[1, -1, -1], [1, 1, -1]]
    assert torch.equal(masked[..., 0], masked[..., 1])


def test_sequence_mask_errors():
    with pytest.raises(TypeError, match=r"sequence_mask: X must be a tensor of shape \(batch, "):
        d2l.sequence_mask(torch.ones(3), torch.tensor([1]))
    with pytest.raises(ValueError, match=r"valid_len must hold one length per sequence, shape "
                       r"\(2,\); got valid_len.shape=\(3,\)"):  # fmt: skip
        d2l.sequence_mask(torch.ones(2, 3), torch.tensor([1, 2, 3]))


# --- 10.3 / 11.3 scaled dot-product attention -------------------------------------------------


def test_dot_product_attention_prints_the_books_output(seeded):
    queries, keys, values, valid_lens = _book_inputs(2)
    attention = d2l.DotProductAttention(dropout=0.5)
    attention.eval()
    output = attention(queries, keys, values, valid_lens)
    torch.testing.assert_close(output, BOOK_OUTPUT)
    d2l.check_shape(attention.attention_weights, (2, 1, 10))
    # the heatmap cell of the section
    d2l.show_heatmaps(d2l.reshape(attention.attention_weights, (1, 1, 2, 10)), "Keys", "Queries")


def test_dot_product_attention_english_call_checks_its_shape(seeded):
    queries, keys = d2l.normal(0, 1, (2, 1, 2)), d2l.normal(0, 1, (2, 10, 2))
    values, valid_lens = d2l.normal(0, 1, (2, 10, 4)), d2l.tensor([2, 6])
    attention = d2l.DotProductAttention(dropout=0.5)
    attention.eval()
    d2l.check_shape(attention(queries, keys, values, valid_lens), (2, 1, 4))
    assert bool((attention.attention_weights[0, 0, 2:] == 0).all())


@settings(max_examples=30)
@given(
    lengths=st.lists(st.integers(1, 7), min_size=1, max_size=3),
    n_queries=st.integers(1, 4),
    d=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_dot_product_attention_equals_torch_sdpa(lengths, n_queries, d, seed):
    generator = torch.Generator().manual_seed(seed)
    batch = len(lengths)
    queries = torch.randn(batch, n_queries, d, generator=generator)
    keys = torch.randn(batch, 7, d, generator=generator)
    values = torch.randn(batch, 7, 3, generator=generator)
    valid_lens = torch.tensor(lengths)
    attention = d2l.DotProductAttention(dropout=0.2).eval()
    output = attention(queries, keys, values, valid_lens)
    mask = torch.arange(7) < valid_lens[:, None, None]  # (b, 1, k): True = may attend
    expected = F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask)
    torch.testing.assert_close(output, expected)
    sums = attention.attention_weights.sum(-1)
    torch.testing.assert_close(sums, torch.ones_like(sums))


def test_dot_product_attention_keeps_the_weights_before_dropout():
    generator = torch.Generator().manual_seed(0)
    queries, keys = (
        torch.randn(2, 3, 4, generator=generator),
        torch.randn(2, 5, 4, generator=generator),
    )
    values = torch.randn(2, 5, 6, generator=generator)
    attention = d2l.DotProductAttention(dropout=0.5)
    expected_weights = F.softmax(queries @ keys.mT / 2, dim=-1)
    with torch.random.fork_rng():
        torch.manual_seed(1)
        output = attention.train()(queries, keys, values)
        torch.manual_seed(1)
        expected = F.dropout(expected_weights, 0.5, training=True) @ values
    torch.testing.assert_close(attention.attention_weights, expected_weights)  # rows sum to 1
    torch.testing.assert_close(output, expected)  # pooled with the dropped-out weights
    assert not torch.allclose(output, expected_weights @ values)


def test_dot_product_attention_errors():
    with pytest.raises(ValueError, match=r"DotProductAttention: dropout must be in \[0, 1\); got "
                       r"dropout=1.5"):  # fmt: skip
        d2l.DotProductAttention(1.5)
    with pytest.raises(TypeError, match=r"DotProductAttention: dropout must be a number"):
        d2l.DotProductAttention("0.5")


# --- 10.3 / 11.3 additive attention -----------------------------------------------------------


def test_additive_attention_chinese_form_prints_the_books_output(seeded):
    queries, keys, values, valid_lens = _book_inputs(20)
    attention = d2l.AdditiveAttention(key_size=2, query_size=20, num_hiddens=8, dropout=0.1)
    attention.eval()
    torch.testing.assert_close(attention(queries, keys, values, valid_lens), BOOK_OUTPUT)
    assert attention.W_k.weight.shape == (8, 2) and attention.W_q.weight.shape == (8, 20)
    assert attention.edition == "Chinese"


def test_additive_attention_english_form_is_lazy_and_checks_its_shape(seeded):
    queries, keys, values, valid_lens = _book_inputs(20)
    attention = d2l.AdditiveAttention(num_hiddens=8, dropout=0.1)
    attention.eval()
    d2l.check_shape(attention(queries, keys, values, valid_lens), (2, 1, 4))
    assert attention.W_q.weight.shape == (8, 20) and attention.edition == "English"
    d2l.show_heatmaps(d2l.reshape(attention.attention_weights, (1, 1, 2, 10)), "Keys", "Queries")


def _additive_oracle(attention, queries, keys, values, valid_lens):
    """The additive score w_v . tanh(W_q q + W_k k) and the masked pooling, written out."""
    W_q, W_k, w_v = attention.W_q.weight, attention.W_k.weight, attention.w_v.weight[0]
    features = (queries @ W_q.T)[:, :, None, :] + (keys @ W_k.T)[:, None, :, :]  # (b, q, k, h)
    scores = torch.tanh(features) @ w_v  # (b, q, k)
    mask = torch.arange(keys.shape[1]) < valid_lens[:, None, None]
    weights = F.softmax(scores.masked_fill(~mask, -math.inf), dim=-1)
    return weights @ values, weights


@pytest.mark.parametrize("form", ["English", "Chinese"])
def test_additive_attention_equals_its_formula_and_keeps_weights_before_dropout(form):
    generator = torch.Generator().manual_seed(0)
    queries, keys = (
        torch.randn(2, 3, 5, generator=generator),
        torch.randn(2, 6, 7, generator=generator),
    )
    values, valid_lens = torch.randn(2, 6, 4, generator=generator), torch.tensor([3, 6])
    with torch.random.fork_rng():
        torch.manual_seed(0)
        attention = (d2l.AdditiveAttention(4, 0.5) if form == "English"
                     else d2l.AdditiveAttention(7, 5, 4, 0.5))  # fmt: skip
        output = attention.eval()(queries, keys, values, valid_lens)  # builds lazy layers
        expected, expected_weights = _additive_oracle(attention, queries, keys, values, valid_lens)
        torch.testing.assert_close(output, expected)
        torch.testing.assert_close(attention.attention_weights, expected_weights)
        torch.manual_seed(3)
        trained = attention.train()(queries, keys, values, valid_lens)
        torch.manual_seed(3)
        dropped = F.dropout(expected_weights, 0.5, training=True) @ values
    torch.testing.assert_close(attention.attention_weights, expected_weights)  # before dropout
    torch.testing.assert_close(trained, dropped)


def test_additive_attention_loads_either_editions_state_dict():
    # the book's parameters for AdditiveAttention(key_size=2, query_size=20, num_hiddens=8) and,
    # after a call with such inputs, for the English AdditiveAttention(num_hiddens=8)
    generator = torch.Generator().manual_seed(0)
    book = {"W_k.weight": torch.randn(8, 2, generator=generator),
            "W_q.weight": torch.randn(8, 20, generator=generator),
            "w_v.weight": torch.randn(1, 8, generator=generator)}  # fmt: skip
    for attention in (d2l.AdditiveAttention(2, 20, 8, 0.1), d2l.AdditiveAttention(8, 0.1)):
        attention.load_state_dict(book, strict=True)
        assert {key: tuple(value.shape) for key, value in attention.state_dict().items()} == {
            "W_k.weight": (8, 2), "W_q.weight": (8, 20), "w_v.weight": (1, 8)
        }  # fmt: skip
        assert all(torch.equal(attention.state_dict()[key], value) for key, value in book.items())
    copy = d2l.AdditiveAttention(2, 20, 8, 0.1)
    copy.load_state_dict(attention.state_dict())
    queries, keys = torch.randn(2, 1, 20), torch.randn(2, 10, 2)
    values = torch.randn(2, 10, 4)
    assert torch.equal(copy.eval()(queries, keys, values), attention.eval()(queries, keys, values))


def test_additive_attention_draws_the_books_parameters_from_a_seed(seeded):
    # values of the book's modules, both editions, after torch.manual_seed(0)
    chinese = d2l.AdditiveAttention(2, 20, 8, 0.1)
    torch.testing.assert_close(
        chinese.W_k.weight[0], torch.tensor([-0.0053, 0.3793]), atol=1e-4, rtol=0
    )
    torch.manual_seed(0)
    english = d2l.AdditiveAttention(8, 0.1)
    english(torch.ones(2, 1, 20), torch.ones(2, 10, 2), torch.ones(2, 10, 4))
    torch.testing.assert_close(english.w_v.weight[0, :3], torch.tensor([-0.0408, -0.1578, 0.2827]),
                               atol=1e-4, rtol=0)  # fmt: skip
    torch.testing.assert_close(english.W_q.weight[0, :2], torch.tensor([-0.0017, 0.1200]),
                               atol=1e-4, rtol=0)  # fmt: skip


def test_additive_attention_errors_show_both_signatures():
    with pytest.raises(TypeError, match=r"AdditiveAttention: the arguments must follow one "
                       r"edition's signature, AdditiveAttention\(num_hiddens, dropout=0.0\) "
                       r"\(English edition\) or AdditiveAttention\(key_size, query_size, "
                       r"num_hiddens, dropout\) \(Chinese edition\); got "
                       r"AdditiveAttention\(2, 20, 8\)."):  # fmt: skip
        d2l.AdditiveAttention(2, 20, 8)
    with pytest.raises(ValueError, match=r"AdditiveAttention: num_hiddens must be a positive "
                       r"integer; got 0"):  # fmt: skip
        d2l.AdditiveAttention(0, 0.1)
    with pytest.raises(ValueError, match=r"AdditiveAttention: key_size must be a positive"):
        d2l.AdditiveAttention(-2, 20, 8, 0.1)
    with pytest.raises(ValueError, match=r"AdditiveAttention: dropout must be in \[0, 1\)"):
        d2l.AdditiveAttention(8, 1.0)
