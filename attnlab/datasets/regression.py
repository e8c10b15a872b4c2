"""The book's toy regression and other targets, drawn reproducibly: nothing is downloaded.

The book's toy regression draws 50 sorted inputs on [0, 5), targets ``2 sin(x) + x^0.8`` with
Gaussian noise of standard deviation 0.5, and evaluates on the grid ``arange(0, 5, 0.1)``.

References
----------
1. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.2.1
   (Chinese 2nd ed.), whose target this is; section 11.2.1 (English) fits ``2 sin(x) + x``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from attnlab._validation import check_positive_int

__all__ = ["FUNCTIONS", "Regression", "d2l_function", "toy_regression"]


class Regression(NamedTuple):
    """A toy regression: noisy training pairs and the noise-free truth on a test grid."""

    x_train: torch.Tensor
    """Training inputs, sorted, shape (n_train,)."""
    y_train: torch.Tensor
    """Noisy training targets, shape (n_train,)."""
    x_test: torch.Tensor
    """Test grid, shape (n_test,)."""
    y_test: torch.Tensor
    """Noise-free targets on the test grid, shape (n_test,)."""


def d2l_function(x: torch.Tensor) -> torch.Tensor:
    """The book's target ``f(x) = 2 sin(x) + x^0.8``."""
    return 2 * torch.sin(x) + x**0.8


FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "d2l": d2l_function,
    "sine": lambda x: torch.sin(2 * x),
    "step": lambda x: (x > 2.5).to(x.dtype) * 2 - 1,
    "linear": lambda x: 0.8 * x - 2,
}
"""Target functions by name: the book's ``"d2l"``, a faster ``"sine"``, a discontinuous
``"step"`` (where wide kernels blur the jump) and ``"linear"`` (where NW is biased at the ends)."""


def toy_regression(
    n_train: int = 50,
    *,
    function: str | Callable[[torch.Tensor], torch.Tensor] = "d2l",
    noise: float = 0.5,
    low: float = 0.0,
    high: float = 5.0,
    step: float = 0.1,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Regression:
    """Draw the book's toy regression (or another target) reproducibly.

    Parameters
    ----------
    n_train : int, default 50
        Number of training points, drawn uniformly on ``[low, high)`` and sorted.
    function : str or callable, default "d2l"
        A name in :data:`FUNCTIONS` or a callable ``f(x)`` on tensors.
    noise : float, default 0.5
        Standard deviation of the Gaussian noise added to the training targets.
    low, high, step : float
        Range of the inputs and spacing of the test grid ``arange(low, high, step)``.
    seed : int, default 0
        Seed of a private ``torch.Generator``: the global random state is left alone.
    dtype : torch.dtype, default torch.float32

    Returns
    -------
    Regression
        ``(x_train, y_train, x_test, y_test)``.

    Examples
    --------
    >>> data = toy_regression(seed=0)
    >>> data.x_train.shape, data.x_test.shape
    (torch.Size([50]), torch.Size([50]))
    >>> bool((data.x_train[1:] >= data.x_train[:-1]).all())
    True
    >>> torch.equal(toy_regression(seed=0).y_train, data.y_train)
    True
    """
    func = "toy_regression"
    check_positive_int(n_train, "n_train", func)
    if not noise >= 0:
        raise ValueError(f"{func}: noise must be >= 0; got {noise!r}.")
    if not (high > low and step > 0):
        raise ValueError(
            f"{func}: need high > low and step > 0; got low={low}, high={high}, step={step}."
        )
    if isinstance(function, str):
        if function not in FUNCTIONS:
            options = ", ".join(repr(name) for name in FUNCTIONS)
            raise ValueError(
                f"{func}: function must be one of {options} or a callable; got {function!r}."
            )
        function = FUNCTIONS[function]
    elif not callable(function):
        raise TypeError(
            f"{func}: function must be a name or a callable; got {type(function).__name__}."
        )

    generator = torch.Generator().manual_seed(seed)
    x_train, _ = torch.sort(
        torch.rand(n_train, generator=generator, dtype=dtype) * (high - low) + low
    )
    y_train = function(x_train) + noise * torch.randn(n_train, generator=generator, dtype=dtype)
    x_test = torch.arange(low, high, step, dtype=dtype)
    return Regression(x_train, y_train, x_test, function(x_test))
