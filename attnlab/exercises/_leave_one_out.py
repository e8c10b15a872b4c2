"""Exercises on leaving each point out: ``leave_one_out_weights`` and ``leave_one_out_error``.

Predicting each training point from the others, never from itself, is what lets a bandwidth be
chosen (the mean squared leave-one-out error is a U-shaped curve of the bandwidth) or learned
by gradient descent: with its own point kept, each point predicts itself best as h goes to 0
(section 10.2 (Chinese 2nd ed.) / 11.2 (English), lessons 02 and 06).

References
----------
1. B. W. Silverman, *Density Estimation for Statistics and Data Analysis* (1986), section 3.4.
2. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.2
   (Chinese 2nd ed.) / 11.2 (English).
"""

from __future__ import annotations

import torch

import attnlab
from attnlab.exercises._engine import Exercise, Mistake, like
from attnlab.exercises._inputs import Case, close
from attnlab.exercises._pooling import NARROW, points

__all__ = ["LEAVE_ONE_OUT_ERROR", "LEAVE_ONE_OUT_WEIGHTS"]

# ------------------------------------------------------------------------- leave_one_out_weights


def _loo(x, bandwidth):
    return (attnlab.nadaraya_watson(x, x, x, bandwidth=bandwidth, leave_one_out=True)[1],)


def _with_own_point(x, bandwidth):
    return (attnlab.nadaraya_watson(x.double(), x.double(), x.double(), bandwidth=bandwidth)[1],)


def _not_renormalised(x, bandwidth):
    weights = _with_own_point(x, bandwidth)[0]
    return (weights * (1 - torch.eye(len(x), dtype=weights.dtype)),)


def _book_layout(case: Case, got, expected) -> bool:
    n = expected[0].shape[0]
    if got[0].shape != (n, n - 1):
        return False
    others = ~torch.eye(n, dtype=torch.bool)
    return close(got, (expected[0][others].reshape(n, n - 1),), case.dtype)


LEAVE_ONE_OUT_WEIGHTS = Exercise(
    name="leave_one_out_weights",
    signature="leave_one_out_weights(x, bandwidth) -> weights",
    task="For 1-D points x, the (n, n) Gaussian Nadaraya-Watson weights of each point (row, a "
    "query) on the other points (columns, keys): zero on the diagonal, each row summing to 1.",
    outputs=("weights",),
    reference=_loo,
    make_cases=lambda: [
        Case(x=torch.tensor([0.0, 1.0]), bandwidth=1.0),
        Case(x=torch.tensor([0.0, 1.0, 3.0]), bandwidth=1.0),
        Case(["narrow"], x=torch.tensor([0.0, 1.0, 2.0]), bandwidth=0.01),
        Case(x=points(8, seed=50)[0], bandwidth=0.5),
        Case(x=points(12, seed=51, dtype=torch.float64)[0], bandwidth=0.25),
        Case(["narrow"], x=points(10, seed=52)[0], bandwidth=0.005),
    ],
    mistakes=[
        Mistake(
            "Your weights keep each point's own key: a point's kernel on itself is the largest "
            "possible, so each point is predicted mostly by its own value, and a learned "
            "bandwidth shrinks towards 0 (it interpolates the noise).",
            "Which entries of the (n, n) matrix are a point's weight on itself?",
            like(_with_own_point),
        ),
        Mistake(
            "Your rows are not renormalised after excluding each point's own key: the "
            "diagonal is 0, but the other weights still sum to less than 1.",
            "Remove the own point before normalising, or normalise again after.",
            like(_not_renormalised),
        ),
        Mistake(
            "Your weights have shape (n, n - 1), the book's layout that drops each point from "
            "its keys. Here each row covers all n keys, with exactly 0 on the point itself, "
            "so that row i and column j are still points i and j.",
            "Which score gives a key exactly zero weight after a softmax?",
            _book_layout,
        ),
        NARROW,
    ],
    hint="Compute the Gaussian weights of every point on every point, keep each point from "
    "weighing itself, normalise each row; compare with "
    "attnlab.nadaraya_watson(x, x, x, bandwidth=..., leave_one_out=True).",
    covered="2 to 12 points, bandwidths from 0.005 to 1, float32 and float64",
)


# --------------------------------------------------------------------------- leave_one_out_error


def _predictions(x, y, bandwidth, leave_one_out=True) -> torch.Tensor:
    x, y = x.double(), y.double()
    return attnlab.nadaraya_watson(x, x, y, bandwidth=bandwidth, leave_one_out=leave_one_out)[0]


def _error(x, y, bandwidth) -> tuple[torch.Tensor]:
    return (((_predictions(x, y, bandwidth) - y) ** 2).mean(),)


def _per_point(case: Case, got, expected) -> bool:
    errors = got[0]
    return errors.ndim == 1 and close((errors.double().mean(),), expected, case.dtype)


def _loo_error_cases() -> list[Case]:
    t = torch.tensor
    x, y = points(20, seed=80)
    x64, y64 = points(30, seed=81, dtype=torch.float64)
    return [
        Case(x=t([0.0, 1.0, 2.0]), y=t([0.0, 1.0, 4.0]), bandwidth=1.0),
        Case(["narrow"], x=t([0.0, 1.0, 2.0]), y=t([0.0, 1.0, 0.0]), bandwidth=0.01),
        Case(x=t([0.0, 0.5, 1.5, 3.0]), y=t([1.0, -1.0, 2.0, 0.5]), bandwidth=0.7),
        Case(x=x, y=y, bandwidth=0.3),
        Case(x=x, y=y, bandwidth=2.0),
        Case(x=x64, y=y64, bandwidth=0.25),
    ]


LEAVE_ONE_OUT_ERROR = Exercise(
    name="leave_one_out_error",
    signature="leave_one_out_error(x, y, bandwidth) -> error",
    task="The mean over the points i of (y_i - f_-i(x_i))^2, where f_-i is Gaussian "
    "Nadaraya-Watson regression on all the other points: a single number.",
    outputs=("error",),
    reference=_error,
    make_cases=_loo_error_cases,
    mistakes=[
        Mistake(
            "Your error keeps each point in its own prediction: every point then predicts "
            "itself best, so your error falls to 0 as the bandwidth shrinks, and minimising "
            "it picks the narrowest bandwidth, an interpolation of the noise.",
            "Which weight should point i get in the prediction at x_i?",
            like(lambda x, y, h: (((_predictions(x, y, h, False) - y.double()) ** 2).mean(),)),
        ),
        Mistake(
            "Your error is the sum of the squared errors, not their mean: it grows with the "
            "number of points, so errors on data sets of different sizes do not compare.",
            "Divide by what?",
            like(lambda x, y, h: (((_predictions(x, y, h) - y.double()) ** 2).sum(),)),
        ),
        Mistake(
            "Your error is the root of the mean squared error (RMSE); this exercise asks for "
            "the mean squared error itself. (Both pick the same bandwidth.)",
            "Which operation is one too many?",
            like(lambda x, y, h: (((_predictions(x, y, h) - y.double()) ** 2).mean().sqrt(),)),
        ),
        Mistake(
            "Your error is the mean absolute error; this exercise asks for the mean of the "
            "squared errors.",
            "Square, do not take the absolute value.",
            like(lambda x, y, h: ((_predictions(x, y, h) - y.double()).abs().mean(),)),
        ),
        Mistake(
            "Your function returns every point's squared error; the leave-one-out error is "
            "their mean, one number.",
            "Reduce the errors to one number.",
            _per_point,
        ),
        NARROW,
    ],
    hint="Predict every point from the others with leave-one-out weights, then average the "
    "squared differences; compare with attnlab.nadaraya_watson(x, x, y, bandwidth=..., "
    "leave_one_out=True).",
    covered="3 to 30 points, bandwidths from 0.01 to 2, float32 and float64",
)
