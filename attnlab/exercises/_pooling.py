"""The exercise on attention pooling: ``nadaraya_watson``, with helpers the others share.

Nadaraya-Watson regression weighs each training point (key) by a Gaussian kernel of its
distance to the query, ``softmax(-((query - key) / h)^2 / 2)`` over the keys, and pools the
values; leaving each point out of its own keys is what makes a bandwidth learnable (section
10.2 (Chinese 2nd ed.) / 11.2 (English)).

References
----------
1. E. A. Nadaraya, "On estimating regression", Theory Probab. Appl. 9 (1964).
2. G. S. Watson, "Smooth regression analysis", Sankhya A 26 (1964).
3. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.2
   (Chinese 2nd ed.) / 11.2 (English).
"""

from __future__ import annotations

import torch

import attnlab
from attnlab.exercises._engine import Exercise, Mistake, like
from attnlab.exercises._inputs import Case, Given, close, non_finite

__all__ = ["NADARAYA_WATSON", "NARROW", "points"]


def points(n: int, seed: int, dtype=torch.float32) -> tuple[Given, Given]:
    """Sorted inputs in [0, 5) and the book's targets 2 sin(x) + x^0.8, with their code."""
    generator = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, generator=generator, dtype=torch.float64) * 5).sort().values
    y = 2 * torch.sin(x) + x**0.8
    code = f"(torch.rand({n}, generator=torch.Generator().manual_seed({seed})) * 5).sort().values"
    return Given(x.to(dtype), code), Given(y.to(dtype), "2 * torch.sin(keys) + keys ** 0.8")


def _grid(n: int, dtype=torch.float32) -> Given:
    return Given(torch.linspace(0, 5, n, dtype=dtype), f"torch.linspace(0, 5, {n})")


def _gaussian(scale=lambda u: -(u**2) / 2, multiply: bool = False, over: int = -1):
    """A Nadaraya-Watson with a wrong kernel, bandwidth or axis of normalisation."""

    def wrong(queries, keys, values, bandwidth):
        queries, keys, values = queries.double(), keys.double(), values.double()
        differences = queries[:, None] - keys[None, :]  # (q, 1) - (1, k) -> (q, k)
        u = differences * bandwidth if multiply else differences / bandwidth
        weights = scale(u).softmax(over)  # (q, k)
        return weights @ values, weights  # (q, k) @ (k,) -> (q,)

    return wrong


def _nadaraya_watson(queries, keys, values, bandwidth):
    return attnlab.nadaraya_watson(queries, keys, values, bandwidth=bandwidth)


def _keys_by_queries(case: Case, got, expected) -> bool:
    weights = got[1]
    return (
        weights.ndim == 2
        and close((weights.T,), expected[1:], case.dtype)
        and not close(got[1:], expected[1:], case.dtype)
    )


def _kernel_values(queries, keys, values, bandwidth):
    """The Gaussian kernel values, unnormalised, in the input's dtype (so they underflow)."""
    kernel = torch.exp(-(((queries[:, None] - keys[None, :]) / bandwidth) ** 2) / 2)  # (q, k)
    return kernel @ values, kernel


def _unnormalised(case: Case, got, expected) -> bool:
    weights = got[1].double()
    totals = weights.sum(-1, keepdim=True)
    scaled = (
        weights.shape == expected[1].shape
        and bool((totals > 0).all())
        and not torch.allclose(totals, torch.ones_like(totals), atol=1e-3)
        and close((weights / totals,), expected[1:], case.dtype, atol=1e-4)
    )
    raw = _kernel_values(*case.fresh())[1:]  # (q, k)
    return scaled or (close(got[1:], raw, case.dtype) and not close(raw, expected[1:], case.dtype))


def _output_not_pooled(case: Case, got, expected) -> bool:
    return close(got[1:], expected[1:], case.dtype) and not close(got[:1], expected[:1])


def _narrow_nan(case: Case, got, expected) -> bool:
    return "narrow" in case.tags and non_finite(got, expected)


NARROW = Mistake(
    "At a narrow bandwidth your function returns NaN: exp(-u^2 / 2) underflows to exactly 0 "
    "for every key when the query is more than about 40 bandwidths from all of them, and 0 / 0 "
    "is NaN. The weights themselves are well defined: the nearest keys share them.",
    "Normalising exp(s) over a row is a softmax of the scores s = -u^2 / 2. What does a "
    "softmax do so that the largest exponent never underflows?",
    _narrow_nan,
)


def _nw_cases() -> list[Case]:
    t = torch.tensor
    keys, values = t([0.0, 1.0, 2.0]), t([0.0, 1.0, 4.0])
    inputs, targets = points(10, seed=40)
    many, many_targets = points(20, seed=41, dtype=torch.float64)
    return [
        Case(queries=t([0.5]), keys=keys, values=values, bandwidth=0.5),
        Case(queries=t([0.0, 1.0]), keys=keys, values=values, bandwidth=1.0),
        Case(
            ["narrow"], queries=t([0.5]), keys=t([0.0, 1.0]), values=t([0.0, 2.0]), bandwidth=0.01
        ),
        Case(queries=_grid(7), keys=inputs, values=targets, bandwidth=0.5),
        Case(queries=_grid(5), keys=inputs, values=targets, bandwidth=2.0),
        Case(["narrow"], queries=_grid(9), keys=inputs, values=targets, bandwidth=0.01),
        Case(queries=_grid(12, torch.float64), keys=many, values=many_targets, bandwidth=0.3),
    ]


NADARAYA_WATSON = Exercise(
    name="nadaraya_watson",
    signature="nadaraya_watson(queries, keys, values, bandwidth) -> (output, weights)",
    task="1-D queries, keys and values; weights (n_queries, n_keys) of the Gaussian kernel "
    "exp(-((query - key) / bandwidth)^2 / 2), each row normalised to sum 1; "
    "output = weights @ values.",
    outputs=("output", "weights"),
    reference=_nadaraya_watson,
    make_cases=_nw_cases,
    mistakes=[
        Mistake(
            "Your weights have one row per key and one column per query (keys x queries), the "
            "orientation of the book's section 11.2 code. attnlab's weights, like the book's "
            "heatmaps, have one row per query: (n_queries, n_keys).",
            "Which difference, queries[:, None] - keys[None, :] or the other way round, "
            "gives one row per query?",
            _keys_by_queries,
        ),
        Mistake(
            "Your weights are normalised over the queries (each column sums to 1), not over "
            "the keys: the weights one query gives to all keys must sum to 1.",
            "Along which axis of the (n_queries, n_keys) kernel values should the sum run?",
            like(_gaussian(over=-2)),
        ),
        Mistake(
            "Your rows are not normalised: the kernel values are right up to a factor, but "
            "each query's weights must sum to 1, otherwise the output is not an average of "
            "the values.",
            "Divide each row by what?",
            _unnormalised,
        ),
        Mistake(
            "Your function multiplies the distance by the bandwidth instead of dividing it: "
            "then a larger bandwidth makes the kernel narrower, not wider. (The book's "
            "learnable w multiplies; the bandwidth h = 1 / w divides.)",
            "The kernel is K(u) with u = (query - key) / h: what happens to u as h grows?",
            like(_gaussian(multiply=True)),
        ),
        Mistake(
            "Your Gaussian misses the 1/2: exp(-u^2) is the kernel of bandwidth h / sqrt(2), "
            "so your weights are narrower than asked.",
            "Write the Gaussian density of u and compare the exponents.",
            like(_gaussian(scale=lambda u: -(u**2))),
        ),
        NARROW,
        Mistake(
            "Your weights are right but your output is not weights @ values.",
            "Each prediction is the weighted sum of the values with that query's weights.",
            _output_not_pooled,
        ),
    ],
    hint="Build the (n_queries, n_keys) matrix of scaled differences, turn it into Gaussian "
    "weights normalised per query, then pool the values; compare with attnlab.nadaraya_watson.",
    covered="bandwidths from 0.01 to 2, n_queries != n_keys, float32 and float64",
)
