"""nadaraya_watson and leave_one_out_weights: correct answers pass; every mistake is named."""

import math

import numpy as np
import pytest
import torch

from attnlab.exercises import check


def first_paragraph(result) -> str:
    return result.feedback.split("\n\n")[0]


# ------------------------------------------------------------------------------- nadaraya_watson


def nw_softmax(queries, keys, values, bandwidth):
    scores = -(((queries[:, None] - keys[None, :]) / bandwidth) ** 2) / 2  # (q, k)
    weights = scores.softmax(-1)
    return weights @ values, weights


def nw_numpy(queries, keys, values, bandwidth):
    q, k, v = (np.asarray(t, dtype=np.float64) for t in (queries, keys, values))
    scores = -(((q[:, None] - k[None, :]) / bandwidth) ** 2) / 2
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    return weights @ v, weights


def nw_loops(queries, keys, values, bandwidth):
    rows, outputs = [], []
    for query in queries.tolist():
        scores = [-(((query - key) / bandwidth) ** 2) / 2 for key in keys.tolist()]
        top = max(scores)
        kernel = [math.exp(s - top) for s in scores]
        row = [w / sum(kernel) for w in kernel]
        rows.append(row)
        outputs.append(sum(w * y for w, y in zip(row, values.tolist(), strict=True)))
    return torch.tensor(outputs), torch.tensor(rows)


@pytest.mark.parametrize("answer", [nw_softmax, nw_numpy, nw_loops])
def test_nadaraya_watson_passes_correct_answers(answer):
    result = check("nadaraya_watson", answer)
    assert result.passed, result.feedback


def book_nw(queries, keys, values, bandwidth):
    # the English edition's section 11.2: distances keys x queries, normalised over axis 0
    distances = keys.reshape(-1, 1) - queries.reshape(1, -1)
    kernel = torch.exp(-((distances / bandwidth) ** 2) / 2)
    weights = kernel / kernel.sum(0)
    return values @ weights, weights


def keys_by_queries(queries, keys, values, bandwidth):
    output, weights = nw_softmax(queries, keys, values, bandwidth)
    return output, weights.T


def gaussian_exp(queries, keys, values, bandwidth, normalise=True, multiply=False, half=True):
    u = (
        (queries[:, None] - keys[None, :]) * bandwidth
        if multiply
        else (queries[:, None] - keys[None, :]) / bandwidth
    )
    kernel = torch.exp(-(u**2) / 2) if half else torch.exp(-(u**2))
    weights = kernel / kernel.sum(-1, keepdim=True) if normalise else kernel
    return weights @ values, weights


def over_queries(queries, keys, values, bandwidth):
    weights = (-(((queries[:, None] - keys[None, :]) / bandwidth) ** 2) / 2).softmax(0)
    return weights @ values, weights


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (keys_by_queries, "Your weights have one row per key and one column per query"),
        (over_queries, "Your weights are normalised over the queries"),
        (
            lambda q, k, v, h: gaussian_exp(q, k, v, h, normalise=False),
            "Your rows are not normalised",
        ),
        (
            lambda q, k, v, h: nw_softmax(q, k, v, 1 / h),
            "multiplies the distance by the bandwidth instead of dividing it",
        ),
        (lambda q, k, v, h: nw_softmax(q, k, v, h / math.sqrt(2)), "Your Gaussian misses the 1/2"),
        (gaussian_exp, "At a narrow bandwidth your function returns NaN"),
        (
            lambda q, k, v, h: (lambda o, w: (o + 1, w))(*nw_softmax(q, k, v, h)),
            "your output is not weights @ values",
        ),
    ],
    ids=[
        "keys x queries",
        "over queries",
        "not normalised",
        "bandwidth multiplied",
        "no 1/2",
        "NaN narrow",
        "output",
    ],
)
def test_nadaraya_watson_names_each_mistake(answer, words):
    result = check("nadaraya_watson", answer)
    assert result.status == "failed"
    assert words in first_paragraph(result), result.feedback


def test_the_books_code_gets_both_of_its_mistakes():
    result = check("nadaraya_watson", book_nw)
    assert "At a narrow bandwidth your function returns NaN" in first_paragraph(result)
    assert "bandwidth = 0.01" in result.feedback
    assert "Also: Your weights have one row per key and one column per query" in result.feedback


def test_multiplying_by_the_bandwidth_is_shown_on_the_smallest_input():
    result = check("nadaraya_watson", lambda q, k, v, h: nw_softmax(q, k, v, 1 / h))
    assert (
        "queries = torch.tensor([0.5])" in result.feedback and "bandwidth = 0.5" in result.feedback
    )


# ------------------------------------------------------------------------- leave_one_out_weights


def loo_masked(x, bandwidth):
    scores = -(((x[:, None] - x[None, :]) / bandwidth) ** 2) / 2
    return scores.masked_fill(torch.eye(len(x), dtype=torch.bool), -math.inf).softmax(-1)


def loo_loops(x, bandwidth):
    points = x.tolist()
    rows = []
    for i, query in enumerate(points):
        scores = [-(((query - key) / bandwidth) ** 2) / 2 for key in points]
        top = max(s for j, s in enumerate(scores) if j != i)
        kernel = [0.0 if j == i else math.exp(s - top) for j, s in enumerate(scores)]
        rows.append([w / sum(kernel) for w in kernel])
    return np.array(rows)


@pytest.mark.parametrize("answer", [loo_masked, loo_loops])
def test_leave_one_out_weights_passes_correct_answers(answer):
    result = check("leave_one_out_weights", answer)
    assert result.passed, result.feedback


def with_own_point(x, bandwidth):
    return (-(((x[:, None] - x[None, :]) / bandwidth) ** 2) / 2).softmax(-1)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (with_own_point, "Your weights keep each point's own key"),
        (
            lambda x, h: with_own_point(x, h) * (1 - torch.eye(len(x))),
            "Your rows are not renormalised",
        ),
        (
            lambda x, h: loo_masked(x, h)[~torch.eye(len(x), dtype=torch.bool)].reshape(len(x), -1),
            "Your weights have shape (n, n - 1)",
        ),
        (
            lambda x, h: (lambda k: k / k.sum(1, keepdim=True))(
                torch.exp(-(((x[:, None] - x[None, :]) / h) ** 2) / 2) * (1 - torch.eye(len(x)))
            ),
            "At a narrow bandwidth your function returns NaN",
        ),
    ],
    ids=["own point kept", "not renormalised", "the book's (n, n - 1)", "NaN narrow"],
)
def test_leave_one_out_weights_names_each_mistake(answer, words):
    result = check("leave_one_out_weights", answer)
    assert result.status == "failed"
    assert words in first_paragraph(result), result.feedback


# --------------------------------------------------------------------------- leave_one_out_error


def loo_error(x, y, bandwidth):
    return ((loo_masked(x, bandwidth) @ y - y) ** 2).mean()


def loo_error_numpy(x, y, bandwidth):
    weights = loo_loops(x, bandwidth)
    return float(np.mean((weights @ np.asarray(y, dtype=np.float64) - np.asarray(y)) ** 2))


@pytest.mark.parametrize("answer", [loo_error, loo_error_numpy])
def test_leave_one_out_error_passes_correct_answers(answer):
    result = check("leave_one_out_error", answer)
    assert result.passed, result.feedback


def kept(x, y, h):
    return ((with_own_point(x, h) @ y - y) ** 2).mean()


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (kept, "Your error keeps each point in its own prediction"),
        (
            lambda x, y, h: loo_error(x, y, h) * len(x),
            "Your error is the sum of the squared errors, not their mean",
        ),
        (
            lambda x, y, h: loo_error(x, y, h).sqrt(),
            "Your error is the root of the mean squared error",
        ),
        (
            lambda x, y, h: (loo_masked(x, h) @ y - y).abs().mean(),
            "Your error is the mean absolute error",
        ),
        (
            lambda x, y, h: (loo_masked(x, h) @ y - y) ** 2,
            "Your function returns every point's squared error",
        ),
        (
            lambda x, y, h: (lambda k: ((k / k.sum(1, keepdim=True) @ y - y) ** 2).mean())(
                torch.exp(-(((x[:, None] - x[None, :]) / h) ** 2) / 2) * (1 - torch.eye(len(x)))
            ),
            "At a narrow bandwidth your function returns NaN",
        ),
    ],
    ids=["own point kept", "sum", "root", "absolute", "per point", "NaN narrow"],
)
def test_leave_one_out_error_names_each_mistake(answer, words):
    result = check("leave_one_out_error", answer)
    assert result.status == "failed"
    assert words in first_paragraph(result), result.feedback


def test_a_python_float_is_accepted_as_the_error():
    assert check("leave_one_out_error", lambda x, y, h: float(loo_error(x, y, h))).passed
