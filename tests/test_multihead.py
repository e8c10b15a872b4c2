"""MultiHeadAttention and PositionalEncoding: the book's shapes, torch's nn.MultiheadAttention as
oracle, the fused path against the weights path, the sinusoid formula written out by hand."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import attnlab.multihead
from attnlab import MultiHeadAttention, PositionalEncoding


def _generator(seed=0):
    return torch.Generator().manual_seed(seed)


def _built(num_hiddens=16, num_heads=4, bias=False, d_in=None, seed=0, **kwargs):
    """A MultiHeadAttention with seeded weights, materialised for keys and values of d_in."""
    torch.manual_seed(seed)
    attention = MultiHeadAttention(num_hiddens, num_heads, bias=bias, **kwargs).eval()
    keys = torch.zeros(1, 1, d_in or num_hiddens)
    attention(torch.zeros(1, 1, num_hiddens), keys, keys)
    return attention


# --- the book's example -------------------------------------------------------------------


def test_book_shapes_and_masked_keys_get_zero_weight_in_every_head():
    attention = MultiHeadAttention(num_hiddens=100, num_heads=5, dropout=0.5).eval()
    queries = torch.randn(2, 4, 100, generator=_generator())
    keys = torch.randn(2, 6, 100, generator=_generator(1))
    output, weights = attention(queries, keys, keys, torch.tensor([3, 2]))
    assert output.shape == (2, 4, 100)
    assert weights.shape == (2, 5, 4, 6)
    assert torch.equal(weights[0, :, :, 3:], torch.zeros(5, 4, 3))
    assert torch.equal(weights[1, :, :, 2:], torch.zeros(5, 4, 4))
    assert bool((weights[0, :, :, :3] > 0).all()) and bool((weights[1, :, :, :2] > 0).all())
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 5, 4))
    assert attention.attention_weights.shape == (2, 5, 4, 6)
    assert not attention.attention_weights.requires_grad


def test_heads_differ_and_each_is_its_own_dot_product_attention():
    attention = _built(num_hiddens=12, num_heads=3)
    X = torch.randn(2, 5, 12, generator=_generator())
    _, weights = attention(X, X, X)
    # independent per-head computation from the projection matrices
    Q, K = X @ attention.W_q.weight.T, X @ attention.W_k.weight.T
    for head in range(3):
        q, k = Q[..., head * 4 : (head + 1) * 4], K[..., head * 4 : (head + 1) * 4]
        expected = torch.softmax(q @ k.mT / 2.0, dim=-1)
        torch.testing.assert_close(weights[:, head].detach(), expected.detach())
    assert not torch.allclose(weights[:, 0], weights[:, 1])


# --- oracle: torch.nn.MultiheadAttention with the same weights ----------------------------


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("d_in", [None, 10])
def test_matches_torch_multihead_attention(bias, d_in):
    num_hiddens, num_heads = 16, 4
    d_in_or_e = d_in or num_hiddens
    attention = _built(num_hiddens, num_heads, bias=bias, d_in=d_in)
    oracle = nn.MultiheadAttention(
        num_hiddens, num_heads, bias=bias, kdim=d_in, vdim=d_in, batch_first=True
    ).eval()
    if d_in is None:  # one packed in-projection: rows [q; k; v]
        with torch.no_grad():
            oracle.in_proj_weight.copy_(
                torch.cat([attention.W_q.weight, attention.W_k.weight, attention.W_v.weight])
            )
    else:
        with torch.no_grad():
            oracle.q_proj_weight.copy_(attention.W_q.weight)
            oracle.k_proj_weight.copy_(attention.W_k.weight)
            oracle.v_proj_weight.copy_(attention.W_v.weight)
    with torch.no_grad():
        oracle.out_proj.weight.copy_(attention.W_o.weight)
        if bias:
            oracle.in_proj_bias.copy_(
                torch.cat([attention.W_q.bias, attention.W_k.bias, attention.W_v.bias])
            )
            oracle.out_proj.bias.copy_(attention.W_o.bias)
    queries = torch.randn(3, 4, num_hiddens, generator=_generator(2))
    keys = torch.randn(3, 7, d_in_or_e, generator=_generator(3))
    values = torch.randn(3, 7, d_in_or_e, generator=_generator(4))
    valid_lens = torch.tensor([7, 3, 1])
    padding = torch.arange(7) >= valid_lens[:, None]  # torch: True = ignore
    expected, expected_weights = oracle(
        queries, keys, values, key_padding_mask=padding, average_attn_weights=False
    )
    for need_weights in (True, False):
        output, weights = attention(queries, keys, values, valid_lens, need_weights=need_weights)
        torch.testing.assert_close(output, expected)
        if need_weights:
            torch.testing.assert_close(weights, expected_weights)


# --- fused path == weights path -----------------------------------------------------------


def _mask_with_an_empty_row():
    mask = torch.rand(2, 4, 6, generator=_generator(5)) > 0.4
    mask[:, :, 0] = True
    mask[1, 2] = False  # query 2 of example 1 may attend to nothing
    return mask


@pytest.mark.parametrize(
    "masks",
    [
        {},
        {"valid_lens": torch.tensor([3, 2])},
        {"valid_lens": torch.tensor([[1, 2, 3, 6], [6, 5, 0, 2]])},
        {"mask": _mask_with_an_empty_row()},
        {"valid_lens": torch.tensor([5, 4]), "mask": _mask_with_an_empty_row()},
    ],
)
@pytest.mark.parametrize("bias", [False, True])
def test_fused_path_equals_weights_path(masks, bias):
    attention = _built(num_hiddens=20, num_heads=5, bias=bias)
    queries = torch.randn(2, 4, 20, generator=_generator(6), requires_grad=True)
    keys = torch.randn(2, 6, 20, generator=_generator(7))
    output, weights = attention(queries, keys, keys, **masks)
    fused, none = attention(queries, keys, keys, need_weights=False, **masks)
    assert none is None and attention.attention_weights is None
    torch.testing.assert_close(fused, output)
    assert not torch.isnan(weights).any()
    empty = weights.sum(-1) == 0  # (b, h, q): rows with no admissible key
    if "mask" in masks:
        assert bool(empty[1, :, 2].all())
        # no admissible key: zero heads, so the output is the output projection's bias
        expected = attention.W_o.bias if bias else torch.zeros(20)
        torch.testing.assert_close(output[1, 2], expected)
    (grad,) = torch.autograd.grad(fused.sum(), queries)
    assert not torch.isnan(grad).any()


def test_fused_path_guard_for_torch_before_2_5(monkeypatch):
    monkeypatch.setattr(attnlab.multihead, "_SDPA_ZEROS_EMPTY_ROWS", False)
    attention = _built(num_hiddens=8, num_heads=2)
    X = torch.randn(2, 4, 8, generator=_generator())
    mask = torch.ones(4, 4, dtype=torch.bool)
    mask[1] = False
    output, _ = attention(X, X, X, mask=mask)
    fused, _ = attention(X, X, X, mask=mask, need_weights=False)
    torch.testing.assert_close(fused, output)
    assert torch.equal(fused[:, 1], torch.zeros(2, 8))


def test_extra_batch_axes_and_unbatched_input():
    attention = _built(num_hiddens=8, num_heads=2)
    X = torch.randn(3, 2, 5, 8, generator=_generator())
    valid_lens = torch.tensor([[5, 1], [2, 3], [4, 4]])
    output, weights = attention(X, X, X, valid_lens)
    assert weights.shape == (3, 2, 2, 5, 5)
    for i in range(3):
        expected, expected_weights = attention(X[i], X[i], X[i], valid_lens[i])
        torch.testing.assert_close(output[i], expected)
        torch.testing.assert_close(weights[i], expected_weights)
    single, single_weights = attention(X[0, 0], X[0, 0], X[0, 0])
    assert single.shape == (5, 8) and single_weights.shape == (2, 5, 5)
    fused, _ = attention(X, X, X, valid_lens, need_weights=False)
    torch.testing.assert_close(fused, output)


def test_dropout_only_in_training():
    attention = _built(num_hiddens=8, num_heads=2, dropout=0.5)
    X = torch.randn(2, 6, 8, generator=_generator())
    first, weights = attention(X, X, X)
    torch.testing.assert_close(attention(X, X, X)[0], first)
    attention.train()
    torch.manual_seed(0)
    _, dropped = attention(X, X, X)
    assert bool((dropped == 0).any()) and not bool((weights == 0).any())
    torch.manual_seed(0)
    fused_a, _ = attention(X, X, X, need_weights=False)
    torch.manual_seed(1)
    fused_b, _ = attention(X, X, X, need_weights=False)
    assert not torch.allclose(fused_a, fused_b)


# --- properties ---------------------------------------------------------------------------


@given(
    lengths=st.lists(st.integers(0, 5), min_size=1, max_size=3),
    n_queries=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_rows_sum_to_one_unless_nothing_is_admissible(lengths, n_queries, seed):
    attention = _built(num_hiddens=8, num_heads=2, seed=seed % 7)
    generator = _generator(seed)
    queries = torch.randn(len(lengths), n_queries, 8, generator=generator)
    keys = torch.randn(len(lengths), 5, 8, generator=generator)
    valid_lens = torch.tensor(lengths)
    _, weights = attention(queries, keys, keys, valid_lens)
    sums = weights.detach().sum(-1)  # (b, h, q)
    expected = (valid_lens > 0).to(sums.dtype)[:, None, None].expand_as(sums)
    torch.testing.assert_close(sums, expected)
    assert bool((weights >= 0).all())


@given(permutation=st.permutations(range(5)), seed=st.integers(0, 2**16))
def test_self_attention_is_permutation_equivariant(permutation, seed):
    attention = _built(num_hiddens=8, num_heads=2, seed=seed % 5)
    X = torch.randn(2, 5, 8, generator=_generator(seed))
    order = torch.tensor(permutation)
    output, weights = attention(X, X, X)
    permuted, permuted_weights = attention(X[:, order], X[:, order], X[:, order])
    torch.testing.assert_close(permuted, output[:, order])
    torch.testing.assert_close(permuted_weights, weights[:, :, order][:, :, :, order])


# --- errors -------------------------------------------------------------------------------


def test_construction_errors():
    with pytest.raises(
        ValueError, match=r"num_hiddens must be divisible by num_heads.*=100, num_heads=3.*102"
    ):
        MultiHeadAttention(100, 3)
    with pytest.raises(ValueError, match="num_heads must be a positive integer; got 0"):
        MultiHeadAttention(100, 0)
    with pytest.raises(ValueError, match="num_hiddens must be a positive integer; got 2.5"):
        MultiHeadAttention(2.5, 1)
    with pytest.raises(ValueError, match=r"MultiHeadAttention: dropout must be in \[0, 1\)"):
        MultiHeadAttention(8, 2, dropout=1.0)


def test_call_errors_name_the_module():
    attention = _built(num_hiddens=8, num_heads=2)
    X = torch.zeros(2, 3, 8)
    with pytest.raises(ValueError, match=r"MultiHeadAttention: valid_lens must have shape \(2,\)"):
        attention(X, X, X, torch.tensor([1, 2, 3]))
    with pytest.raises(TypeError, match="MultiHeadAttention: mask must be a boolean tensor"):
        attention(X, X, X, mask=torch.ones(3, 3))
    with pytest.raises(ValueError, match="MultiHeadAttention: keys and values must have the same"):
        attention(X, X, X[:, :2])
    with pytest.raises(ValueError, match="MultiHeadAttention: queries must have shape"):
        attention(torch.zeros(8), X, X)


# --- positional encoding ------------------------------------------------------------------


def test_positional_table_matches_the_formula():
    d, max_len = 6, 50
    encoding = PositionalEncoding(d, max_len=max_len)
    expected = [
        [
            math.sin(i / 10000 ** (j / d)) if j % 2 == 0 else math.cos(i / 10000 ** ((j - 1) / d))
            for j in range(d)
        ]
        for i in range(max_len)
    ]
    assert encoding.P.shape == (1, max_len, d)
    torch.testing.assert_close(encoding.P[0], torch.tensor(expected), atol=1e-6, rtol=0)


def test_positional_table_is_accurate_far_from_the_origin():
    encoding = PositionalEncoding(4, max_len=1000)
    torch.testing.assert_close(
        encoding.P[0, 999, :2], torch.tensor([math.sin(999.0), math.cos(999.0)]), atol=1e-6, rtol=0
    )


@given(offset=st.integers(0, 40), position=st.integers(0, 50))
def test_an_offset_is_a_rotation_of_each_sine_cosine_pair(offset, position):
    d = 8
    P = PositionalEncoding(d, max_len=100).P[0].double()
    for j in range(d // 2):
        angle = offset / 10000 ** (2 * j / d)
        c, s = math.cos(angle), math.sin(angle)
        sin_i, cos_i = P[position, 2 * j], P[position, 2 * j + 1]
        rotated = torch.stack([sin_i * c + cos_i * s, cos_i * c - sin_i * s])
        torch.testing.assert_close(
            rotated, P[position + offset, 2 * j : 2 * j + 2], atol=1e-5, rtol=0
        )


def test_positional_encoding_adds_the_table_and_is_a_non_persistent_buffer():
    encoding = PositionalEncoding(8, dropout=0.5, max_len=20).eval()
    X = torch.randn(3, 7, 8, generator=_generator())
    torch.testing.assert_close(encoding(X), X + encoding.P[0, :7])
    torch.testing.assert_close(encoding(X[0]), X[0] + encoding.P[0, :7])  # unbatched
    assert encoding(X.half()).dtype == torch.float16
    assert "P" not in encoding.state_dict()
    assert dict(encoding.named_buffers())["P"] is encoding.P
    assert encoding.to(torch.float64).P.dtype == torch.float64  # moves with .to()
    encoding.train()
    dropped = encoding(torch.ones(4, 20, 8, dtype=torch.float64))
    assert bool((dropped == 0).any())


def test_positional_encoding_errors():
    with pytest.raises(ValueError, match="num_hiddens must be even.*got num_hiddens=7"):
        PositionalEncoding(7)
    with pytest.raises(ValueError, match="max_len must be a positive integer; got 0"):
        PositionalEncoding(8, max_len=0)
    encoding = PositionalEncoding(8, max_len=10)
    with pytest.raises(
        ValueError, match=r"X has 11 positions after offset 0 but the table covers max_len=10"
    ):
        encoding(torch.zeros(2, 11, 8))
    with pytest.raises(ValueError, match=r"X must have num_hiddens=8 features.*\(2, 3, 6\)"):
        encoding(torch.zeros(2, 3, 6))
    with pytest.raises(TypeError, match="X must be a floating tensor.*torch.int64"):
        encoding(torch.zeros(2, 3, 8, dtype=torch.long))


@pytest.mark.parametrize("bias", [False, True])
def test_self_attention_shortcut_equals_three_projections(bias):
    attention = _built(num_hiddens=12, num_heads=3, bias=bias)
    X = torch.randn(2, 5, 12, generator=_generator(), requires_grad=True)
    valid_lens = torch.tensor([5, 2])
    for need_weights in (True, False):
        packed = attention(X, X, X, valid_lens, need_weights=need_weights)
        separate = attention(X, X.clone(), X.clone(), valid_lens, need_weights=need_weights)
        torch.testing.assert_close(packed[0], separate[0])
        if need_weights:
            torch.testing.assert_close(packed[1], separate[1])
    (grad,) = torch.autograd.grad(attention(X, X, X)[0].sum(), attention.W_k.weight)
    (expected,) = torch.autograd.grad(attention(X, X.clone(), X)[0].sum(), attention.W_k.weight)
    torch.testing.assert_close(grad, expected)
