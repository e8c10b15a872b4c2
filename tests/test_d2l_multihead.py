"""attnlab.d2l, sections 10.5-10.6 (Chinese 2nd ed.) / 11.5-11.6 (English): multi-head attention
under both editions' constructors, self-attention and positional encoding.

Oracles: attnlab's own ``MultiHeadAttention`` and torch's ``nn.MultiheadAttention`` with the same
parameters, the English chapter's subclass of ``d2l.Module`` written out in the test, the
sinusoid formula in float64, and the book's printed shapes and module listing.
"""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

import attnlab
from attnlab import d2l


@pytest.fixture
def seeded():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        yield


# the book prints the Chinese edition's module so (10.5, 10.6)
BOOK_LISTING = """MultiHeadAttention(
  (attention): DotProductAttention(
    (dropout): Dropout(p=0.5, inplace=False)
  )
  (W_q): Linear(in_features=100, out_features=100, bias=False)
  (W_k): Linear(in_features=100, out_features=100, bias=False)
  (W_v): Linear(in_features=100, out_features=100, bias=False)
  (W_o): Linear(in_features=100, out_features=100, bias=False)
)"""


# --- the book's calls ---------------------------------------------------------------------------


def test_chinese_multihead_attention_prints_and_shapes_as_the_book(seeded):
    num_hiddens, num_heads = 100, 5
    attention = d2l.MultiHeadAttention(num_hiddens, num_hiddens, num_hiddens, num_hiddens,
                                       num_heads, 0.5)  # fmt: skip
    assert repr(attention.eval()) == BOOK_LISTING
    batch_size, num_queries, num_kvpairs, valid_lens = 2, 4, 6, d2l.tensor([3, 2])
    X = d2l.ones((batch_size, num_queries, num_hiddens))
    Y = d2l.ones((batch_size, num_kvpairs, num_hiddens))
    assert attention(X, Y, Y, valid_lens).shape == (2, 4, 100)
    # self-attention, 10.6
    assert attention(X, X, X, valid_lens).shape == (2, 4, 100)
    weights = attention.attention.attention_weights  # (batch * num_heads, q, k)
    assert weights.shape == (10, 4, 4)
    assert bool((weights[:5, :, 3:] == 0).all()) and bool((weights[5:, :, 2:] == 0).all())
    assert bool((weights[:5, :, :3] > 0).all())


class _BookStyleMultiHead(d2l.Module):
    """The English 11.5 construction: a subclass of d2l.Module over d2l.DotProductAttention."""

    def __init__(self, num_hiddens, num_heads, dropout, bias=False):
        super().__init__()
        self.num_heads = num_heads
        self.attention = d2l.DotProductAttention(dropout)
        self.W_q = nn.LazyLinear(num_hiddens, bias=bias)
        self.W_k = nn.LazyLinear(num_hiddens, bias=bias)
        self.W_v = nn.LazyLinear(num_hiddens, bias=bias)
        self.W_o = nn.LazyLinear(num_hiddens, bias=bias)

    def forward(self, queries, keys, values, valid_lens):
        queries = self.transpose_qkv(self.W_q(queries))
        keys, values = self.transpose_qkv(self.W_k(keys)), self.transpose_qkv(self.W_v(values))
        if valid_lens is not None:
            valid_lens = torch.repeat_interleave(valid_lens, repeats=self.num_heads, dim=0)
        return self.W_o(self.transpose_output(self.attention(queries, keys, values, valid_lens)))


@d2l.add_to_class(_BookStyleMultiHead)
def transpose_qkv(self, X):
    return d2l.transpose_qkv(X, self.num_heads)


@d2l.add_to_class(_BookStyleMultiHead)
def transpose_output(self, X):
    return d2l.transpose_output(X, self.num_heads)


def test_english_subclass_of_d2l_module_equals_d2l_multihead_attention(seeded):
    num_hiddens, num_heads = 100, 5
    book_style = _BookStyleMultiHead(num_hiddens, num_heads, 0.5)
    batch_size, num_queries, num_kvpairs = 2, 4, 6
    valid_lens = d2l.tensor([3, 2])
    X = d2l.normal(0, 1, (batch_size, num_queries, num_hiddens))
    Y = d2l.normal(0, 1, (batch_size, num_kvpairs, num_hiddens))
    d2l.check_shape(book_style.eval()(X, Y, Y, valid_lens), (batch_size, num_queries, num_hiddens))
    attention = d2l.MultiHeadAttention(num_hiddens, num_heads, 0.5)
    attention.load_state_dict(book_style.state_dict(), strict=True)
    torch.testing.assert_close(
        attention.eval()(X, Y, Y, valid_lens), book_style(X, Y, Y, valid_lens)
    )
    torch.testing.assert_close(attention.attention.attention_weights,
                               book_style.attention.attention_weights)  # fmt: skip


def test_english_multihead_attention_draws_the_books_parameters_from_a_seed(seeded):
    attention = d2l.MultiHeadAttention(100, 5, 0.5)
    attention(torch.ones(2, 4, 100), torch.ones(2, 6, 100), torch.ones(2, 6, 100))
    # the book's module after torch.manual_seed(0) and the same call
    expected = torch.tensor([-0.0965, 0.0730, 0.0727])
    torch.testing.assert_close(attention.W_o.weight[0, :3].detach(), expected, atol=1e-4, rtol=0)


def test_english_self_attention_checks_its_shape(seeded):
    attention = d2l.MultiHeadAttention(100, 5, 0.5)
    X = d2l.ones((2, 4, 100))
    d2l.check_shape(attention(X, X, X, d2l.tensor([3, 2])), (2, 4, 100))
    assert attention.edition == "English" and attention.W_q.weight.shape == (100, 100)


# --- oracles --------------------------------------------------------------------------------------


def _pair(num_hiddens, num_heads, d_in, bias, seed):
    """A d2l and an attnlab MultiHeadAttention with the same random parameters."""
    generator = torch.Generator().manual_seed(seed)
    book = d2l.MultiHeadAttention(d_in, d_in, d_in, num_hiddens, num_heads, 0.3, bias)
    state = {key: torch.randn(value.shape, generator=generator) / math.sqrt(d_in)
             for key, value in book.state_dict().items()}  # fmt: skip
    book.load_state_dict(state)
    core = attnlab.MultiHeadAttention(num_hiddens, num_heads, 0.3, bias)
    core.load_state_dict(state)
    return book.eval(), core.eval(), generator


@settings(max_examples=30)
@given(
    lengths=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    per_query=st.booleans(),
    heads=st.sampled_from([1, 2, 4]),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_equals_attnlab_multihead_attention_and_its_per_head_weights(
    lengths, per_query, heads, bias, seed
):
    book, core, generator = _pair(8, heads, 6, bias, seed)
    batch = len(lengths)
    queries = torch.randn(batch, 3, 6, generator=generator)
    keys = torch.randn(batch, 5, 6, generator=generator)
    valid_lens = torch.tensor(lengths)
    if per_query:
        valid_lens = torch.randint(1, 6, (batch, 3), generator=generator)
    output = book(queries, keys, keys, valid_lens)
    expected, weights = core(queries, keys, keys, valid_lens)
    torch.testing.assert_close(output, expected)
    # folded as the book folds them: item i * heads + j is example i, head j
    folded = book.attention.attention_weights
    assert folded.shape == (batch * heads, 3, 5)
    torch.testing.assert_close(folded.reshape(batch, heads, 3, 5), weights)
    torch.testing.assert_close(book.attention_weights, weights)


@pytest.mark.parametrize("bias", [False, True])
def test_equals_torch_multihead_attention(bias):
    book, _, generator = _pair(12, 3, 12, bias, seed=1)
    torch_attention = nn.MultiheadAttention(12, 3, bias=bias, batch_first=True)
    with torch.no_grad():
        torch_attention.in_proj_weight.copy_(torch.cat([book.W_q.weight, book.W_k.weight,
                                                        book.W_v.weight]))  # fmt: skip
        torch_attention.out_proj.weight.copy_(book.W_o.weight)
        if bias:
            torch_attention.in_proj_bias.copy_(torch.cat([book.W_q.bias, book.W_k.bias,
                                                          book.W_v.bias]))  # fmt: skip
            torch_attention.out_proj.bias.copy_(book.W_o.bias)
    X = torch.randn(2, 4, 12, generator=generator)
    valid_lens = torch.tensor([3, 2])
    padding = torch.arange(4) >= valid_lens[:, None]  # torch: True = ignore
    expected, expected_weights = torch_attention.eval()(
        X, X, X, key_padding_mask=padding, average_attn_weights=False
    )
    torch.testing.assert_close(book(X, X, X, valid_lens), expected)
    torch.testing.assert_close(book.attention_weights, expected_weights)


def test_training_keeps_the_weights_before_dropout_in_the_books_place():
    book, _, generator = _pair(8, 2, 8, False, seed=2)
    X = torch.randn(2, 4, 8, generator=generator)
    book(X, X, X)
    before = book.attention.attention_weights
    with torch.random.fork_rng():
        torch.manual_seed(0)
        trained = book.train()(X, X, X)
        torch.manual_seed(0)
        mask = F.dropout(torch.ones_like(before), 0.3, training=True)  # the same draws
    torch.testing.assert_close(book.attention.attention_weights, before)  # rows sum to 1
    heads = d2l.transpose_qkv(book.W_v(X), 2)  # (b * h, k, s)
    expected = book.W_o(d2l.transpose_output((before * mask) @ heads, 2))
    torch.testing.assert_close(trained, expected)


@given(batch=st.integers(1, 3), n=st.integers(1, 4), heads=st.sampled_from([1, 2, 5]))
def test_transpose_output_undoes_transpose_qkv(batch, n, heads):
    X = torch.randn(batch, n, heads * 3)
    folded = d2l.transpose_qkv(X, heads)
    assert folded.shape == (batch * heads, n, 3)
    for i in range(batch):
        for j in range(heads):  # item i * heads + j is example i's head j: features 3j to 3j + 3
            assert torch.equal(folded[i * heads + j], X[i, :, 3 * j : 3 * j + 3])
    assert torch.equal(d2l.transpose_output(folded, heads), X)


# --- state dicts ----------------------------------------------------------------------------------


def test_loads_the_books_state_dicts_of_both_editions():
    # the Chinese MultiHeadAttention(10, 12, 14, 16, 4, 0.5, bias=True) holds these parameters,
    # and so does the English MultiHeadAttention(16, 4, 0.5, bias=True) after a call with
    # queries of 12, keys of 10 and values of 14 features
    shapes = {"W_q.weight": (16, 12), "W_q.bias": (16,), "W_k.weight": (16, 10),
              "W_k.bias": (16,), "W_v.weight": (16, 14), "W_v.bias": (16,),
              "W_o.weight": (16, 16), "W_o.bias": (16,)}  # fmt: skip
    generator = torch.Generator().manual_seed(0)
    book = {key: torch.randn(shape, generator=generator) for key, shape in shapes.items()}
    chinese = d2l.MultiHeadAttention(10, 12, 14, 16, 4, 0.5, bias=True)
    english = d2l.MultiHeadAttention(16, 4, 0.5, bias=True)
    queries, keys, values = torch.randn(2, 3, 12), torch.randn(2, 5, 10), torch.randn(2, 5, 14)
    outputs = []
    for attention in (chinese, english):
        attention.load_state_dict(book, strict=True)
        assert {key: tuple(value.shape) for key, value in attention.state_dict().items()} == shapes
        outputs.append(attention.eval()(queries, keys, values, torch.tensor([5, 1])))
    torch.testing.assert_close(outputs[0], outputs[1])


# --- errors ---------------------------------------------------------------------------------------


def test_errors():
    with pytest.raises(TypeError, match=r"MultiHeadAttention: the arguments must follow one "
                       r"edition's signature, MultiHeadAttention\(num_hiddens, num_heads, "
                       r"dropout=0.0, bias=False\) \(English edition\) or MultiHeadAttention\("
                       r"key_size, query_size, value_size, num_hiddens, num_heads, dropout, "
                       r"bias=False\) \(Chinese edition\); got MultiHeadAttention\(100, 100, "
                       r"100, 5, 0.5\)"):  # fmt: skip
        d2l.MultiHeadAttention(100, 100, 100, 5, 0.5)
    with pytest.raises(ValueError, match=r"num_hiddens must be divisible by num_heads"):
        d2l.MultiHeadAttention(10, 10, 10, 100, 3, 0.5)
    with pytest.raises(ValueError, match=r"MultiHeadAttention: value_size must be a positive"):
        d2l.MultiHeadAttention(10, 10, 0, 100, 5, 0.5)
    attention = d2l.MultiHeadAttention(8, 2)
    with pytest.raises(TypeError, match=r"MultiHeadAttention: keys must be a tensor of shape "
                       r"\(batch, n, features\); got a tensor of shape \(5, 8\)"):  # fmt: skip
        attention(torch.ones(2, 3, 8), torch.ones(5, 8), torch.ones(2, 5, 8))
    with pytest.raises(ValueError, match=r"transpose_qkv: the feature size must be a multiple "
                       r"of num_heads=3; got X.shape=\(2, 4, 8\)"):  # fmt: skip
        d2l.transpose_qkv(torch.ones(2, 4, 8), 3)
    with pytest.raises(ValueError, match=r"transpose_output: the batch axis must hold batch \* "
                       r"num_heads=3 items; got X.shape=\(4, 2, 2\)"):  # fmt: skip
        d2l.transpose_output(torch.ones(4, 2, 2), 3)
    with pytest.raises(TypeError, match=r"transpose_qkv: X must be a tensor of shape \(batch, "):
        d2l.transpose_qkv(torch.ones(4, 8), 2)


# --- 10.6 / 11.6 positional encoding ------------------------------------------------------------


def test_positional_encoding_is_the_sinusoid_table_and_plots_as_the_book():
    import matplotlib.pyplot as plt

    encoding_dim, num_steps = 32, 60
    pos_encoding = d2l.PositionalEncoding(encoding_dim, 0)
    pos_encoding.eval()
    X = pos_encoding(d2l.zeros((1, num_steps, encoding_dim)))
    P = pos_encoding.P[:, : X.shape[1], :]
    torch.testing.assert_close(X, P)
    positions = torch.arange(num_steps, dtype=torch.float64)[:, None]
    angles = positions / 10000 ** (torch.arange(0, encoding_dim, 2, dtype=torch.float64) / 32)
    torch.testing.assert_close(P[0, :, 0::2], angles.sin().float())
    torch.testing.assert_close(P[0, :, 1::2], angles.cos().float())
    # the book computes the table in float32: within 3e-6 of it over these positions
    book = d2l.arange(num_steps, dtype=torch.float32).reshape(-1, 1) / torch.pow(
        10000, torch.arange(0, encoding_dim, 2, dtype=torch.float32) / encoding_dim
    )
    assert (P[0, :, 0::2] - torch.sin(book)).abs().max() < 3e-6
    d2l.plot(d2l.arange(num_steps), P[0, :, 6:10].T, xlabel="Row (position)", figsize=(6, 2.5),
             legend=["Col %d" % d for d in d2l.arange(6, 10)])  # fmt: skip  # noqa: UP031
    axes = plt.gca()
    assert tuple(plt.gcf().get_size_inches()) == (6, 2.5) and len(axes.get_lines()) == 4
    assert [text.get_text() for text in axes.get_legend().get_texts()] == [
        "Col 6", "Col 7", "Col 8", "Col 9"
    ]  # fmt: skip
    torch.testing.assert_close(torch.as_tensor(axes.get_lines()[2].get_ydata()), P[0, :, 8])
