"""Kernels for Nadaraya-Watson regression, written as log-densities so that no bandwidth underflows.

A kernel ``K(u)`` scores how relevant a key at scaled distance ``u = (x - x_i) / h`` is to a
query. Nadaraya-Watson normalises the scores with a softmax, so each kernel also provides its
logarithm: ``exp`` of a very negative log-kernel is what underflows, and the softmax never takes
it before subtracting the row maximum.

References
----------
1. E. A. Nadaraya, "On estimating regression", Theory Probab. Appl. 9 (1964).
2. G. S. Watson, "Smooth regression analysis", Sankhya A 26 (1964).
3. B. W. Silverman, *Density Estimation for Statistics and Data Analysis* (1986), Table 3.1.
4. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.2
   (Chinese 2nd edition) / 11.2 (English).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = [
    "Kernel",
    "boxcar",
    "constant",
    "epanechnikov",
    "gaussian",
    "get_kernel",
    "names",
    "triangular",
    "tricube",
]

LogKernel = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Kernel:
    """A named kernel ``K(u)`` with its log-density.

    Parameters
    ----------
    name : str
        Name used in messages and plots.
    log : callable
        ``log K(u)`` for a tensor of scaled distances ``u``; ``-inf`` where ``K(u) = 0``.
    support : float
        ``K(u) = 0`` for ``|u| > support`` (``math.inf`` for kernels without a compact support).

    Examples
    --------
    >>> import torch
    >>> from attnlab import kernels
    >>> kernels.epanechnikov(torch.tensor([0.0, 0.5, 1.0, 2.0]))
    tensor([0.7500, 0.5625, 0.0000, 0.0000])
    >>> kernels.epanechnikov.support
    1.0
    """

    name: str
    log: LogKernel
    support: float = math.inf

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        """Evaluate ``K(u)``."""
        return torch.exp(self.log(torch.as_tensor(u)))

    def __repr__(self) -> str:
        return f"Kernel({self.name!r})"


def _inside(u: torch.Tensor, support: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask of ``|u| < support`` and ``|u|`` with the outside replaced by 0.

    Replacing before the log keeps ``log1p(-1)``-style infinities out of the untaken branch of
    ``torch.where``, whose gradient would otherwise be ``0 * inf = NaN``.
    """
    magnitude = u.abs()
    inside = magnitude < support
    return inside, torch.where(inside, magnitude, torch.zeros_like(magnitude))


def _log_gaussian(u: torch.Tensor) -> torch.Tensor:
    return -0.5 * u.square() - 0.5 * math.log(2 * math.pi)


def _log_boxcar(u: torch.Tensor) -> torch.Tensor:
    # closed window |u| <= 1, as in scikit-learn's "tophat" and statsmodels' "uniform"
    inside = u.abs() <= 1
    return torch.where(inside, math.log(0.5), -math.inf).to(u.dtype)


def _log_epanechnikov(u: torch.Tensor) -> torch.Tensor:
    inside, magnitude = _inside(u)
    log_k = math.log(0.75) + torch.log1p(-magnitude.square())
    return torch.where(inside, log_k, -math.inf)


def _log_triangular(u: torch.Tensor) -> torch.Tensor:
    inside, magnitude = _inside(u)
    return torch.where(inside, torch.log1p(-magnitude), -math.inf)


def _log_tricube(u: torch.Tensor) -> torch.Tensor:
    inside, magnitude = _inside(u)
    log_k = math.log(70 / 81) + 3 * torch.log1p(-magnitude.pow(3))
    return torch.where(inside, log_k, -math.inf)


def _log_constant(u: torch.Tensor) -> torch.Tensor:
    # K(u) = 1 everywhere: Nadaraya-Watson then weighs every key equally (average pooling)
    return torch.zeros_like(u)


gaussian = Kernel("gaussian", _log_gaussian)
"""Gaussian kernel ``exp(-u^2 / 2) / sqrt(2 pi)``."""
boxcar = Kernel("boxcar", _log_boxcar, support=1.0)
"""Boxcar (uniform) kernel ``1/2`` on ``|u| <= 1``."""
epanechnikov = Kernel("epanechnikov", _log_epanechnikov, support=1.0)
"""Epanechnikov kernel ``3/4 (1 - u^2)`` on ``|u| <= 1`` (not the triangular kernel)."""
triangular = Kernel("triangular", _log_triangular, support=1.0)
"""Triangular kernel ``1 - |u|`` on ``|u| <= 1``."""
tricube = Kernel("tricube", _log_tricube, support=1.0)
"""Tricube kernel ``70/81 (1 - |u|^3)^3`` on ``|u| <= 1``."""
constant = Kernel("constant", _log_constant)
"""Constant kernel ``1``: not a density; Nadaraya-Watson with it is average pooling."""

_NAMED = {k.name: k for k in (gaussian, boxcar, epanechnikov, triangular, tricube, constant)}
names: tuple[str, ...] = tuple(_NAMED)
"""Names accepted wherever a kernel is asked for."""


def _from_callable(func: Callable[[torch.Tensor], torch.Tensor]) -> Kernel:
    name = getattr(func, "__name__", type(func).__name__)

    def log(u: torch.Tensor) -> torch.Tensor:
        values = torch.as_tensor(func(u), dtype=u.dtype, device=u.device)
        if values.shape != u.shape:
            raise ValueError(
                f"kernel {name!r} must return one value per input, of shape {tuple(u.shape)}; "
                f"got shape {tuple(values.shape)}."
            )
        checked = values.detach()
        bad = (checked < 0) | torch.isnan(checked) | torch.isinf(checked)
        if bool(bad.any()):
            found = checked[bad][0].item()
            raise ValueError(
                f"kernel {name!r} must return non-negative values (finite weights); got "
                f"{found} at the scaled distance u={u.detach()[bad][0].item():.4g}."
            )
        return torch.log(values)

    return Kernel(name, log)


def get_kernel(
    kernel: str | Kernel | Callable[[torch.Tensor], torch.Tensor], func: str = "get_kernel"
) -> Kernel:
    """Resolve a kernel given by name, as a :class:`Kernel`, or as a callable ``K(u)``.

    A user callable must map a tensor of scaled distances to non-negative values of the same
    shape; it need not integrate to 1, since Nadaraya-Watson normalises the weights.

    Examples
    --------
    >>> get_kernel("tricube")
    Kernel('tricube')
    >>> get_kernel(lambda u: 1 / (1 + u**2)).name
    '<lambda>'
    """
    if isinstance(kernel, Kernel):
        return kernel
    if isinstance(kernel, str):
        if kernel not in _NAMED:
            options = ", ".join(repr(name) for name in names)
            raise ValueError(
                f"{func}: kernel must be one of {options} or a callable K(u); got {kernel!r}."
            )
        return _NAMED[kernel]
    if callable(kernel):
        return _from_callable(kernel)
    raise TypeError(
        f"{func}: kernel must be a kernel name, an attnlab Kernel or a callable K(u); "
        f"got {type(kernel).__name__}."
    )
