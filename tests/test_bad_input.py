"""Bad input, across the public API: a clear TypeError or ValueError naming the function and the
argument, never a bare torch or NumPy error, never a silently larger result or a silent NaN.

A corpus of hand-written cases, one per class of mistake (several per class), then a fuzz test
that throws random shapes, dtypes, masks and lengths at the core and checks that every call
either returns the shapes it promises or raises attnlab's own error.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab import (
    AdditiveAttention,
    MultiHeadAttention,
    NadarayaWatson,
    NadarayaWatsonRegressor,
    PositionalEncoding,
    average_pooling,
    dot_product_attention,
    masked_softmax,
    nadaraya_watson,
    train_pooling,
)
from attnlab.datasets import toy_regression


def randn(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def mha(*args, **kwargs):
    return MultiHeadAttention(num_hiddens=8, num_heads=2)(*args, **kwargs)


def mha_fused(*args, **kwargs):
    return MultiHeadAttention(num_hiddens=8, num_heads=2)(*args, need_weights=False, **kwargs)


def additive(*args, **kwargs):
    return AdditiveAttention(num_hiddens=4)(*args, **kwargs)


QKV = (randn(2, 3, 4), randn(2, 5, 4), randn(2, 5, 6))
NAN_KEYS = torch.tensor([0.0, math.nan, 2.0])
INF_VALUES = torch.tensor([0.0, 1.0, math.inf])
LINE = torch.tensor([0.0, 1.0, 2.0])

CASES = [
    # batch axes that do not broadcast
    (dot_product_attention, (randn(2, 3, 4), randn(3, 5, 4), randn(3, 5, 6)), {},
     ValueError, r"dot_product_attention: the leading \(batch\) axes of queries, keys and values must broadcast; got queries.shape=\(2,\)"),
    (mha, (randn(2, 3, 4), randn(3, 5, 4), randn(3, 5, 4)), {},
     ValueError, r"MultiHeadAttention: the leading \(batch\) axes .* must broadcast"),
    (mha_fused, (randn(2, 3, 4), randn(3, 5, 4), randn(3, 5, 4)), {},
     ValueError, r"MultiHeadAttention: the leading \(batch\) axes .* must broadcast"),
    (additive, (randn(4, 3, 4), randn(2, 5, 4), randn(2, 5, 6)), {},
     ValueError, r"AdditiveAttention: the leading \(batch\) axes"),
    (nadaraya_watson, (randn(2, 3, 1), randn(3, 5, 1), randn(3, 5, 1)), {},
     ValueError, r"nadaraya_watson: the leading \(batch\) axes"),
    # no keys at all
    (masked_softmax, (torch.zeros(2, 3, 0),), {},
     ValueError, r"masked_softmax: scores must have shape .* with at least one key; got scores.shape=\(2, 3, 0\)"),
    (additive, (randn(2, 3, 4), torch.zeros(2, 0, 4), torch.zeros(2, 0, 6)), {},
     ValueError, r"AdditiveAttention: keys must hold at least one key"),
    (dot_product_attention, (randn(2, 3, 4), torch.zeros(2, 0, 4), torch.zeros(2, 0, 6)), {},
     ValueError, r"dot_product_attention: keys must hold at least one key"),
    (mha_fused, (randn(2, 3, 4), torch.zeros(2, 0, 4), torch.zeros(2, 0, 4)), {},
     ValueError, r"MultiHeadAttention: keys must hold at least one key"),
    (average_pooling, (LINE, torch.zeros(0), torch.zeros(0)), {},
     ValueError, r"average_pooling: keys must hold at least one key"),
    # valid lengths of the wrong kind
    (masked_softmax, (torch.zeros(2, 3, 4), "abc"), {},
     TypeError, r"masked_softmax: valid_lens must be a tensor of integers .*; got 'abc' \(str\)"),
    (masked_softmax, (torch.zeros(2, 3, 4), [object(), 1]), {},
     TypeError, r"masked_softmax: valid_lens must be a tensor of integers"),
    (dot_product_attention, QKV, {"valid_lens": {"a": 1}},
     TypeError, r"dot_product_attention: valid_lens must be a tensor of integers"),
    (masked_softmax, (torch.zeros(2, 3, 4), torch.tensor([1.5, 2.0])), {},
     ValueError, r"valid_lens must hold whole numbers of keys"),
    (masked_softmax, (torch.zeros(2, 3, 4), torch.tensor([math.nan, 2.0])), {},
     ValueError, r"valid_lens must hold whole numbers of keys"),
    (masked_softmax, (torch.zeros(2, 3, 4), torch.tensor([True, False])), {},
     TypeError, r"valid_lens must be integers .* For a boolean mask pass mask=\.\.\. instead"),
    (mha, (*QKV[:2], randn(2, 5, 4)), {"valid_lens": torch.tensor([1, 2, 3])},
     ValueError, r"MultiHeadAttention: valid_lens must have shape \(2,\)"),
    # masks that would widen the result, or are not boolean
    (masked_softmax, (torch.zeros(3, 4),), {"mask": torch.ones(2, 3, 4, dtype=torch.bool)},
     ValueError, r"masked_softmax: mask must broadcast to the scores' shape \(3, 4\); got mask.shape=\(2, 3, 4\)\. A mask may not add or widen axes"),
    (dot_product_attention, QKV, {"mask": torch.ones(5, 2, 3, 5, dtype=torch.bool)},
     ValueError, r"dot_product_attention: mask must broadcast to the scores' shape \(2, 3, 5\)"),
    (mha_fused, (*QKV[:2], randn(2, 5, 4)), {"mask": torch.ones(7, 2, 3, 5, dtype=torch.bool)},
     ValueError, r"MultiHeadAttention: mask must broadcast to the scores' shape \(2, 3, 5\)"),
    (mha, (*QKV[:2], randn(2, 5, 4)), {"mask": torch.ones(2, 3, 6, dtype=torch.bool)},
     ValueError, r"MultiHeadAttention: mask must broadcast"),
    (masked_softmax, (torch.zeros(3, 4),), {"mask": torch.ones(3, 4)},
     TypeError, r"masked_softmax: mask must be a boolean tensor .* float mask is ambiguous"),
    (masked_softmax, (torch.zeros(3, 4),), {"mask": "all"},
     TypeError, r"masked_softmax: mask must be a boolean tensor where True means 'may attend'"),
    # data-level functions refuse NaN and infinity, on every path
    (nadaraya_watson, (LINE, NAN_KEYS, LINE), {},
     ValueError, r"nadaraya_watson: keys must be finite; got 1 NaN or infinite value\(s\) in keys.shape=\(3, 1\)"),
    (nadaraya_watson, (LINE, NAN_KEYS, LINE), {"need_weights": False},
     ValueError, r"nadaraya_watson: keys must be finite"),
    (nadaraya_watson, (LINE, LINE, INF_VALUES), {"kernel": "epanechnikov", "need_weights": False},
     ValueError, r"nadaraya_watson: values must be finite"),
    (nadaraya_watson, (torch.tensor([math.inf]), LINE, LINE), {},
     ValueError, r"nadaraya_watson: queries must be finite"),
    (average_pooling, (LINE, LINE, INF_VALUES), {},
     ValueError, r"average_pooling: values must be finite"),
    (average_pooling, (NAN_KEYS, LINE, LINE), {},
     ValueError, r"average_pooling: queries must be finite"),
    # kernels that do not return weights
    (nadaraya_watson, (LINE, LINE, LINE), {"kernel": lambda u: torch.full_like(u, math.inf)},
     ValueError, r"kernel '<lambda>' must return non-negative values \(finite weights\); got inf"),
    (nadaraya_watson, (LINE, LINE, LINE), {"kernel": lambda u: u},
     ValueError, r"kernel '<lambda>' must return non-negative values \(finite weights\); got -"),
    (nadaraya_watson, (LINE, LINE, LINE), {"kernel": lambda u: u[:1]},
     ValueError, r"kernel '<lambda>' must return one value per input"),
    # dtypes and containers that are not numbers
    (dot_product_attention, (randn(2, 3, 4).to(torch.complex64), *QKV[1:]), {},
     TypeError, r"dot_product_attention: queries must be real-valued"),
    (nadaraya_watson, ("abc", LINE, LINE), {},
     TypeError, r"nadaraya_watson: queries must be a tensor, a NumPy array or a nested list"),
    (average_pooling, (LINE, LINE, [[1, 2], [3]]), {},
     TypeError, r"average_pooling: values must be a tensor, a NumPy array"),
    (dot_product_attention, (QKV[0].to_sparse(), *QKV[1:]), {},
     TypeError, r"dot_product_attention: queries must be a dense tensor"),
    (nadaraya_watson, (LINE, LINE, LINE), {"bandwidth": None},
     TypeError, r"nadaraya_watson: bandwidth must be a positive number or a tensor"),
    # shapes that do not pair up
    (mha, (randn(2, 3, 4), randn(2, 5, 4), randn(2, 6, 4)), {},
     ValueError, r"MultiHeadAttention: keys and values must have the same number of keys; got keys.shape=\(2, 5, 4\), values.shape=\(2, 6, 4\)"),
    (dot_product_attention, (randn(3), randn(5), randn(5)), {},
     ValueError, r"dot_product_attention: queries must have shape \(\*batch, n, d\) with a feature axis; got queries.shape=\(3,\)\. For scalar items use x\[:, None\]"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("function", "args", "kwargs", "error", "pattern"),
    CASES,
    ids=[f"{i:02d}-{getattr(case[0], '__name__', 'call')}" for i, case in enumerate(CASES)],
)
def test_bad_input_gets_attnlabs_own_error(function, args, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        function(*args, **kwargs)


# --- modules built for one size, dtype or kind of input ----------------------------------------


def test_lazy_modules_say_what_they_were_built_for():
    attention = MultiHeadAttention(num_hiddens=8, num_heads=2)
    queries, keys, values = randn(2, 3, 4), randn(2, 5, 6), randn(2, 5, 7)
    attention(queries, keys, values)
    with pytest.raises(
        ValueError,
        match=r"MultiHeadAttention: keys must have 6 features .* built for on its first call; got keys.shape=\(2, 5, 3\)",
    ):
        attention(queries, randn(2, 5, 3), values)
    for need_weights in (True, False):
        with pytest.raises(
            TypeError,
            match=r"MultiHeadAttention: queries have dtype torch.float64 but the module's parameters are torch.float32; convert the inputs",
        ):
            attention(queries.double(), keys.double(), values.double(), need_weights=need_weights)
    # a float64 module takes float64 inputs
    double = MultiHeadAttention(num_hiddens=8, num_heads=2).double()
    with pytest.raises(TypeError, match=r"queries have dtype torch.float32 but the module's"):
        double(queries, keys, values)


def test_float64_input_to_a_fresh_float32_module_is_explained():
    with pytest.raises(TypeError, match=r"AdditiveAttention: queries have dtype torch.float64"):
        AdditiveAttention(num_hiddens=4)(randn(2, 3, 4).double(), *(t.double() for t in QKV[1:]))


def test_training_a_kernel_without_gradient_is_explained():
    data = toy_regression(seed=0)
    with pytest.raises(ValueError, match=r"boxcar kernel: its score is constant inside"):
        train_pooling(NadarayaWatson(kernel="boxcar"), data.x_train, data.y_train, epochs=2)


# --- the estimator -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "y",
    [np.array(["a", "b", "c", "d"]), ["1.0", "2.0", "3.0", "4.0"], np.array([b"x"] * 4),
     np.array([object(), 1, 2, 3], dtype=object)],
)  # fmt: skip
def test_estimator_refuses_targets_that_are_not_numbers(y):
    X = np.arange(4.0)[:, None]
    with pytest.raises(ValueError, match=r"NadarayaWatsonRegressor: y must hold numbers"):
        NadarayaWatsonRegressor().fit(X, y)


@pytest.mark.parametrize(
    ("bandwidth", "error", "pattern"),
    [
        (None, TypeError, r"bandwidth must be a positive number, an array of them .* or 'loo'; got None"),
        (True, TypeError, r"bandwidth must be a positive number.*; got True"),
        ("silverman", ValueError, r"bandwidth must be a positive number, an array of them .* or 'loo'; got 'silverman'"),
        ({"h": 1}, TypeError, r"bandwidth must be a positive number"),
        (-0.5, ValueError, r"bandwidth must be positive and finite; got bandwidth=-0.5"),
        (math.nan, ValueError, r"bandwidth must be positive and finite; got bandwidth=nan"),
        ([0.5, 0.5, 0.5], ValueError, r"bandwidth must be a scalar \(one per feature\); got bandwidth.shape=\(3,\)"),
    ],
)  # fmt: skip
def test_estimator_bandwidth_errors_name_what_came(bandwidth, error, pattern):
    X, y = np.arange(5.0)[:, None], np.arange(5.0)
    with pytest.raises(error, match=r"NadarayaWatsonRegressor: " + pattern):
        NadarayaWatsonRegressor(bandwidth=bandwidth).fit(X, y)


# --- half precision: computed safely, not NaN --------------------------------------------------


def test_half_precision_nadaraya_watson_with_a_narrow_bandwidth():
    keys = torch.linspace(0, 5, 40)
    values = torch.sin(keys)
    expected, expected_weights = nadaraya_watson(keys, keys, values, bandwidth=1e-3)
    for dtype in (torch.float16, torch.bfloat16):
        output, weights = nadaraya_watson(
            keys.to(dtype), keys.to(dtype), values.to(dtype), bandwidth=1e-3
        )
        assert output.dtype == weights.dtype == dtype
        assert torch.isfinite(output).all() and torch.isfinite(weights).all()
        torch.testing.assert_close(output.float(), expected, atol=2e-2, rtol=0)
        torch.testing.assert_close(weights.float(), expected_weights, atol=1e-2, rtol=0)


def test_half_precision_attention_agrees_with_torch_where_torch_is_finite():
    queries, keys, values = (30 * randn(2, 4, 16, seed=s) for s in (1, 2, 3))
    half = [t.half() for t in (queries, keys, values)]
    reference = F.scaled_dot_product_attention(*half)
    assert torch.isfinite(reference).all()
    output, weights = dot_product_attention(*half)
    assert output.dtype == torch.float16 and torch.isfinite(weights).all()
    torch.testing.assert_close(output, reference, atol=2e-2, rtol=2e-2)
    # the weights are the float32 computation, rounded once
    _, exact = dot_product_attention(*(t.float() for t in half))
    torch.testing.assert_close(weights.float(), exact, atol=1e-3, rtol=0)


def test_half_precision_masked_softmax_has_no_nan():
    scores = torch.tensor([[60000.0, -60000.0, 30000.0]], dtype=torch.float16)
    weights = masked_softmax(scores, torch.tensor([2]))
    assert weights.dtype == torch.float16
    torch.testing.assert_close(weights.float(), torch.tensor([[1.0, 0.0, 0.0]]))
    empty = masked_softmax(scores, torch.tensor([0]))
    assert torch.equal(empty, torch.zeros_like(empty))


def test_positional_encoding_offset_errors():
    encoding = PositionalEncoding(num_hiddens=4, max_len=10)
    with pytest.raises(
        ValueError, match=r"PositionalEncoding: offset must be an integer >= 0; got -1"
    ):
        encoding(torch.zeros(1, 3, 4), offset=-1)
    with pytest.raises(
        ValueError,
        match=r"3 positions after offset 8 but the table covers max_len=10.*max_len >= 11",
    ):
        encoding(torch.zeros(1, 3, 4), offset=8)


def test_positional_encoding_in_float64_is_exact_to_rounding():
    encoding = PositionalEncoding(num_hiddens=64, max_len=1000)
    positions = np.arange(1000, dtype=np.float64)[:, None]
    frequencies = 10000.0 ** (-np.arange(0, 64, 2, dtype=np.float64) / 64)
    expected = np.empty((1000, 64))
    expected[:, 0::2], expected[:, 1::2] = (
        np.sin(positions * frequencies),
        np.cos(positions * frequencies),
    )
    error = np.abs(encoding.P[0].double().numpy() - expected).max()
    assert error <= 6e-8  # float32 rounding of numbers up to 1 (the book's table is 2.8e-5 off)


# --- fuzz: random shapes, dtypes, masks and lengths at the core --------------------------------

DTYPES = [torch.float16, torch.float32, torch.float64, torch.int64, torch.bool]
sizes = st.integers(0, 3)
batch = st.lists(st.integers(1, 3), min_size=0, max_size=2)


@st.composite
def attention_inputs(draw):
    def tensor(n_axes_batch, n, d):
        dtype = draw(st.sampled_from(DTYPES))
        shape = (*n_axes_batch, n, d) if d is not None else (n,)
        return (torch.rand(shape) * 4 - 2).to(dtype)

    batch_q, batch_k = draw(batch), draw(batch)
    d_q, d_k = draw(sizes), draw(sizes)
    n_q, n_k, n_v = draw(sizes), draw(sizes), draw(sizes)
    queries = tensor(batch_q, n_q, draw(st.sampled_from([d_q, None])))
    keys = tensor(batch_k, n_k, d_k)
    values = tensor(batch_k, n_v, draw(sizes))
    valid_lens = draw(st.sampled_from([None, "batch", "query", "wrong", "negative", "text"]))
    mask = draw(st.sampled_from([None, "full", "wide", "float", "key"]))
    return queries, keys, values, valid_lens, mask


def concrete(kind, scores_shape, for_mask):
    if kind is None:
        return None
    if for_mask:
        return {
            "full": torch.rand(scores_shape) > 0.3,
            "wide": torch.rand((2, *scores_shape)) > 0.3,
            "float": torch.rand(scores_shape),
            "key": torch.rand(scores_shape[-1:]) > 0.3,
        }[kind]
    batch_shape, query_shape = scores_shape[:-2], scores_shape[:-1]
    return {
        "batch": torch.randint(0, 4, batch_shape),
        "query": torch.randint(0, 4, query_shape),
        "wrong": torch.randint(0, 4, (5, *batch_shape)),
        "negative": -torch.ones(batch_shape, dtype=torch.long),
        "text": "two",
    }[kind]


def expected_scores_shape(queries, keys, values):
    """``(*batch, n_queries, n_keys)`` that a successful call must return weights of."""
    try:
        batch_shape = torch.broadcast_shapes(queries.shape[:-2], keys.shape[:-2], values.shape[:-2])
    except RuntimeError:
        batch_shape = queries.shape[:-2]  # the call must refuse these
    n_queries = queries.shape[-2] if queries.ndim >= 2 else 1
    return (*batch_shape, n_queries, keys.shape[-2] if keys.ndim >= 2 else 1)


OWN_ERROR = re.compile(r"^(dot_product_attention|masked_softmax|MultiHeadAttention): \w")


@settings(
    max_examples=int(__import__("os").environ.get("ATTNLAB_FUZZ_EXAMPLES", 150)), deadline=None
)
@given(attention_inputs())
@pytest.mark.filterwarnings("error:An output with one or more elements was resized")
def test_fuzz_attention_returns_what_it_promises_or_says_why_not(inputs):
    queries, keys, values, lens_kind, mask_kind = inputs
    scores_shape = expected_scores_shape(queries, keys, values)
    valid_lens = concrete(lens_kind, scores_shape, for_mask=False)
    mask = concrete(mask_kind, scores_shape, for_mask=True)
    try:
        output, weights = dot_product_attention(
            queries, keys, values, valid_lens=valid_lens, mask=mask
        )
    except (TypeError, ValueError) as error:
        assert OWN_ERROR.match(str(error)), f"not attnlab's message: {error!r}"
        return
    # it returned: exactly the promised shapes, weights a distribution or zero, no NaN
    assert weights.shape == scores_shape
    assert output.shape == (*scores_shape[:-1], values.shape[-1])
    assert torch.isfinite(weights).all() and (weights >= 0).all()
    sums = weights.double().sum(-1)  # 1, or 0 for a query with no admissible key
    assert (((sums - 1).abs() < 1e-2) | (sums == 0)).all()


@settings(
    max_examples=int(__import__("os").environ.get("ATTNLAB_FUZZ_EXAMPLES", 100)), deadline=None
)
@given(attention_inputs(), st.sampled_from(["gaussian", "epanechnikov"]), st.booleans())
@pytest.mark.filterwarnings("error:An output with one or more elements was resized")
@pytest.mark.filterwarnings("ignore:nadaraya_watson.*have no key inside")
def test_fuzz_pooling_returns_what_it_promises_or_says_why_not(inputs, kernel, need_weights):
    queries, keys, values, _, _ = inputs
    if queries.ndim == 1:  # scalar items: keys and values as scalars too
        keys, values = keys.flatten(), values.flatten()
    try:
        output, weights = nadaraya_watson(
            queries, keys, values, kernel=kernel, bandwidth=0.7, need_weights=need_weights
        )
    except (TypeError, ValueError) as error:
        assert re.match(r"^nadaraya_watson: \w", str(error)), f"not attnlab's message: {error!r}"
        return
    n_queries = queries.shape[-2] if queries.ndim > 1 else queries.shape[0]
    assert output.shape[-2 if values.ndim > 1 else -1] == n_queries
    if weights is not None:
        assert weights.shape[-2:] == (n_queries, keys.shape[-2] if keys.ndim > 1 else len(keys))
        assert torch.isfinite(weights).all()


@settings(
    max_examples=int(__import__("os").environ.get("ATTNLAB_FUZZ_EXAMPLES", 100)), deadline=None
)
@given(attention_inputs(), st.sampled_from(["multihead", "fused", "additive", "softmax"]))
def test_fuzz_modules_return_what_they_promise_or_say_why_not(inputs, kind):
    queries, keys, values, lens_kind, mask_kind = inputs
    scores_shape = expected_scores_shape(queries, keys, values)
    if kind == "softmax":  # the queries are the scores
        scores_shape = tuple(queries.shape)
    valid_lens = concrete(lens_kind, scores_shape, for_mask=False)
    mask = concrete(mask_kind, scores_shape, for_mask=True)
    names = {"multihead": "MultiHeadAttention", "fused": "MultiHeadAttention",
             "additive": "AdditiveAttention", "softmax": "masked_softmax"}  # fmt: skip
    try:
        if kind == "softmax":
            result = masked_softmax(queries, valid_lens, mask=mask)
            assert result.shape == queries.shape
            assert not torch.isnan(result).any()
            return
        if kind == "additive":
            output, weights = AdditiveAttention(num_hiddens=3)(
                queries, keys, values, valid_lens, mask=mask
            )
        else:
            output, weights = MultiHeadAttention(num_hiddens=4, num_heads=2)(
                queries, keys, values, valid_lens, mask=mask, need_weights=kind == "multihead"
            )
    except (TypeError, ValueError) as error:
        assert str(error).startswith(names[kind] + ": "), f"not attnlab's message: {error!r}"
        return
    assert output.shape[:-1] == scores_shape[:-1]
    if weights is not None:
        assert weights.shape[-2:] == scores_shape[-2:] and torch.isfinite(weights).all()
