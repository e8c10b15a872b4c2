"""The book's Nadaraya-Watson section: its kernels, its regression function and its learnable model.

Section 10.2 (Chinese 2nd ed.) / 11.2 (English) predicts at a query by a kernel-weighted average
of training targets. The English edition compares four kernels with the bandwidth fixed; the
Chinese edition learns a width ``w`` by SGD. Both computations are ``attnlab.nadaraya_watson``,
called with the book's conventions: the book's kernels (unnormalised, under its names), weights
returned with one row per *training input*, and a parameter ``w`` that multiplies the distance.

References
----------
1. E. A. Nadaraya, "On estimating regression", Theory Probab. Appl. 9 (1964).
2. G. S. Watson, "Smooth regression analysis", Sankhya A 26 (1964).
3. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.2
   (Chinese 2nd ed.) / 11.2 (English).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import nn

import attnlab
from attnlab._validation import describe

__all__ = ["NWKernelRegression", "boxcar", "constant", "epanechikov", "gaussian", "nadaraya_watson"]


def gaussian(x: torch.Tensor) -> torch.Tensor:
    """The book's Gaussian kernel ``exp(-x^2 / 2)`` (not normalised to integrate to 1).

    Examples
    --------
    >>> import torch
    >>> gaussian(torch.tensor([0.0, 1.0, 2.0]))
    tensor([1.0000, 0.6065, 0.1353])
    """
    return torch.exp(-(x**2) / 2)


def boxcar(x: torch.Tensor) -> torch.Tensor:
    """The book's boxcar kernel: True for ``|x| < 1`` (an open window), a boolean tensor.

    ``attnlab.kernels.boxcar`` is the closed window ``|x| <= 1`` (scikit-learn's "tophat",
    statsmodels' "uniform"); the two differ only for a key exactly one bandwidth away.

    Examples
    --------
    >>> import torch
    >>> boxcar(torch.tensor([0.0, 0.5, 1.0, 2.0]))
    tensor([ True,  True, False, False])
    """
    return torch.abs(x) < 1.0


def constant(x: torch.Tensor) -> torch.Tensor:
    """The book's constant kernel: 1 everywhere (Nadaraya-Watson becomes average pooling).

    Examples
    --------
    >>> import torch
    >>> constant(torch.tensor([0.0, 5.0]))
    tensor([1., 1.])
    """
    return 1.0 + 0 * x


def epanechikov(x: torch.Tensor) -> torch.Tensor:
    """The kernel the book calls "Epanechikov": ``max(1 - |x|, 0)``, the **triangular** kernel.

    The Epanechnikov kernel is the parabola ``3/4 (1 - x^2)``, ``attnlab.kernels.epanechnikov``;
    this one equals ``attnlab.kernels.triangular`` and keeps the book's name so that the
    book's cells run.

    Examples
    --------
    >>> import torch
    >>> epanechikov(torch.tensor([0.0, 0.5, 1.0, 2.0]))
    tensor([1.0000, 0.5000, 0.0000, 0.0000])
    """
    return torch.clamp(1 - torch.abs(x), min=0)


def nadaraya_watson(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    kernel: Callable[[torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Nadaraya-Watson regression with the English edition's signature and weight layout.

    ``kernel`` takes the distances ``x_train - x_val`` with the bandwidth fixed at 1 (write
    ``lambda x: gaussian(x / h)`` for another). The computation is :func:`attnlab.nadaraya_watson`.

    Returns
    -------
    y_hat : torch.Tensor of shape (n_val,)
    attention_w : torch.Tensor of shape (n_train, n_val)
        One *row per training input* and one column per query, as the book returns them: the
        transpose of attnlab's ``(n_queries, n_keys)`` weights. Each column sums to 1; a query
        with no training input inside a compact kernel's window gets a column of zeros and a
        NaN prediction (the book's has NaN weights too).

    Examples
    --------
    >>> import torch
    >>> x_train, y_train = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([0.0, 10.0, 20.0])
    >>> y_hat, attention_w = nadaraya_watson(x_train, y_train, torch.tensor([1.0, 1.5]), boxcar)
    >>> y_hat
    tensor([10., 15.])
    >>> attention_w
    tensor([[0.0000, 0.0000],
            [1.0000, 0.5000],
            [0.0000, 0.5000]])
    """
    func = "nadaraya_watson"
    if not callable(kernel):
        raise TypeError(f"{func}: kernel must be a callable K(x); got {describe(kernel)}.")
    for name, tensor in (("x_train", x_train), ("y_train", y_train), ("x_val", x_val)):
        if not isinstance(tensor, torch.Tensor) or tensor.ndim != 1:
            raise TypeError(f"{func}: {name} must be a 1-D tensor; got {describe(tensor)}.")

    def book_kernel(u: torch.Tensor) -> torch.Tensor:
        # attnlab scores u = query - key; the book's kernel sees key - query
        return kernel(-u)

    book_kernel.__name__ = getattr(kernel, "__name__", "kernel")
    with warnings.catch_warnings():
        # a query with no key in the window: documented above, as in the book (NaN), no warning
        warnings.simplefilter("ignore", UserWarning)
        y_hat, weights = attnlab.nadaraya_watson(
            x_val, x_train, y_train, kernel=book_kernel, bandwidth=1.0
        )  # (n_val,), (n_val, n_train)
    return y_hat, weights.T  # the book's layout: (n_train, n_val)


class NWKernelRegression(nn.Module):
    """The Chinese edition's parametric Nadaraya-Watson regression, with its learnable ``w``.

    ``forward(queries, keys, values)`` predicts ``queries`` of shape ``(n_queries,)`` from keys
    and values of shape ``(n_queries, n_keys)``, one row of training pairs per query, with the
    weights ``softmax(-((query - key) * w)^2 / 2)`` over each row; ``.attention_weights`` keeps
    them, shape ``(n_queries, n_keys)``.

    ``w`` is the book's parameter (state_dict key ``w``, drawn from ``torch.rand((1,))``), so
    the book's SGD with learning rate 0.5 takes the book's steps. The computation is
    :func:`attnlab.nadaraya_watson` with bandwidth ``h = 1 / |w|`` (``attnlab.NadarayaWatson``
    learns ``log h`` instead, which suits other learning rates).

    Examples
    --------
    >>> import torch
    >>> net = NWKernelRegression()
    >>> with torch.no_grad():
    ...     _ = net.w.fill_(2.0)
    >>> keys = torch.tensor([[0.0, 1.0, 2.0]])
    >>> net(torch.tensor([1.0]), keys, 10 * keys).detach()
    tensor([10.])
    >>> net.attention_weights.shape, list(net.state_dict())
    (torch.Size([1, 3]), ['w'])
    """

    attention_weights: torch.Tensor | None

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.rand((1,)))
        self.attention_weights = None

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor):
        func = "NWKernelRegression"
        if not isinstance(queries, torch.Tensor) or queries.ndim != 1:
            raise TypeError(f"{func}: queries must be a 1-D tensor; got {describe(queries)}.")
        expected = (queries.shape[0], None)
        for name, tensor in (("keys", keys), ("values", values)):
            if not isinstance(tensor, torch.Tensor) or tensor.ndim != 2:
                raise TypeError(
                    f"{func}: {name} must be a tensor of shape (n_queries, n_keys), one row of "
                    f"training pairs per query; got {describe(tensor)}."
                )
            if tensor.shape[0] != queries.shape[0]:
                raise ValueError(
                    f"{func}: {name} must have one row per query, shape ({expected[0]}, n_keys); "
                    f"got {name}.shape={tuple(tensor.shape)}."
                )
        # ((q - k) * w)^2 is ((q - k) / h)^2 with h = 1 / |w|; |w| is clamped off 0 (where
        # the book's weights are uniform, and ours too: h is huge but finite)
        bandwidth = 1 / self.w.abs().clamp_min(torch.finfo(self.w.dtype).tiny)  # (1,)
        # each query is its own batch of one, with its own row of keys and values
        output, weights = attnlab.nadaraya_watson(
            queries[:, None, None], keys[..., None], values[..., None], bandwidth=bandwidth
        )  # (q, 1, 1), (q, 1, k)
        self.attention_weights = weights[:, 0]  # (q, k)
        return output.reshape(-1)  # (q,)
