"""Attention pooling without learned parameters: average pooling and Nadaraya-Watson regression.

Both pool the values with weights over the keys. Average pooling ignores the query and weighs
every key equally; Nadaraya-Watson weighs each key by a kernel of its distance to the query,
``weights = softmax(log K((query - key) / h))``, so keys near the query count most.

Both are data-level functions: NaN or infinite queries, keys or values are refused with a
``ValueError`` naming the argument, so a NaN in the output always means "no key in the window".

References
----------
1. E. A. Nadaraya, "On estimating regression", Theory Probab. Appl. 9 (1964).
2. G. S. Watson, "Smooth regression analysis", Sankhya A 26 (1964).
3. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.2
   (Chinese 2nd edition) / 11.2 (English).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch

from attnlab._nadaraya_watson import pool_blocks, pool_differentiable, pool_gaussian_fast
from attnlab._validation import (
    QueryKeyValue,
    check_bandwidth,
    check_queries_keys_values,
    compute_dtype,
)
from attnlab.kernels import Kernel, gaussian, get_kernel

__all__ = ["average_pooling", "nadaraya_watson"]

# queries per block are chosen so that a block of scores holds about this many elements (1 MiB
# in float32): it stays in a core's cache while it is scored, normalised and pooled
_CHUNK_ELEMENTS = 1 << 18


def average_pooling(queries, keys, values) -> tuple[torch.Tensor, torch.Tensor]:
    """Pool the values with equal weights, whatever the query: ``f(x) = mean(y_i)``.

    Parameters
    ----------
    queries : torch.Tensor of shape (n_queries,) or (*batch, n_queries, d)
        Only their number (and batch axes) matter: average pooling ignores what they are.
    keys : torch.Tensor of shape (n_keys,) or (*batch, n_keys, d)
    values : torch.Tensor of shape (n_keys,) or (*batch, n_keys, d_v)

    Returns
    -------
    output : torch.Tensor of shape (n_queries,) or (*batch, n_queries, d_v)
    weights : torch.Tensor of shape (*batch, n_queries, n_keys)
        Every entry ``1 / n_keys``.

    Raises
    ------
    ValueError
        For NaN or infinite inputs, mismatched shapes or no keys.

    Examples
    --------
    >>> import torch
    >>> output, weights = average_pooling(torch.zeros(3), torch.arange(4.0), torch.arange(4.0))
    >>> output
    tensor([1.5000, 1.5000, 1.5000])
    >>> weights.shape, weights.sum(-1)
    (torch.Size([3, 4]), tensor([1., 1., 1.]))
    """
    checked = check_queries_keys_values(
        "average_pooling", queries, keys, values, scalar_items=True, same_features=False,
        finite=True,
    )  # fmt: skip
    values = checked.values
    n_queries, n_keys = checked.queries.shape[-2], checked.keys.shape[-2]
    # 1) score: every key scores the same  2) normalise: 1 / n_keys  3) weighted sum of values
    weights = torch.full(
        (*checked.batch_shape, n_queries, n_keys), 1.0 / n_keys, dtype=values.dtype,
        device=values.device,
    )  # (*b, q, k)  # fmt: skip
    output = weights @ values  # (*b, q, k) @ (*b, k, v) -> (*b, q, v)
    return (output.squeeze(-1) if checked.scalar_values else output), weights


def nadaraya_watson(
    queries,
    keys,
    values,
    *,
    kernel: str | Kernel | Callable[[torch.Tensor], torch.Tensor] = "gaussian",
    bandwidth: float | torch.Tensor = 1.0,
    leave_one_out: bool = False,
    need_weights: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Nadaraya-Watson kernel regression: pool values with kernel weights of query-key distance.

    ``f(x) = sum_i softmax_i(log K(||x - x_i|| / h)) y_i``, the attention pooling of section
    10.2 (Chinese 2nd edition) / 11.2 (English) of the book. The weights are a softmax of
    log-kernel scores, so even a tiny bandwidth gives exact weights instead of ``0 / 0``.

    Parameters
    ----------
    queries : torch.Tensor of shape (n_queries,) or (*batch, n_queries, d)
        Points to predict at. A 1-D tensor holds scalar points; with 2 or more axes the last
        axis holds the features.
    keys : torch.Tensor of shape (n_keys,) or (*batch, n_keys, d)
        Training inputs ``x_i``.
    values : torch.Tensor of shape (n_keys,) or (*batch, n_keys, d_v)
        Training targets ``y_i``, paired with the keys.
    kernel : str, Kernel or callable, default "gaussian"
        One of :data:`attnlab.kernels.names` or a callable ``K(u)`` returning non-negative,
        finite values.
    bandwidth : float or torch.Tensor of shape () or (d,), default 1.0
        The bandwidth ``h`` (statsmodels' ``bw``); per feature when it has ``d`` entries. A
        tensor that requires grad is differentiated through (the book's ``w`` is ``1 / h``).
    leave_one_out : bool, default False
        Queries are the keys: give each point exactly zero weight on itself.
    need_weights : bool, default True
        Return the ``(*batch, n_queries, n_keys)`` weights. With False, queries are processed in
        chunks so memory stays bounded for large inputs, and ``None`` is returned for them.

    Returns
    -------
    output : torch.Tensor of shape (n_queries,) or (*batch, n_queries, d_v)
        NaN for a query that has no key inside a compact kernel's window (with a warning).
    weights : torch.Tensor of shape (*batch, n_queries, n_keys) or None
        Non-negative, rows sum to 1; an all-zero row for a query with no key in the window.

    Raises
    ------
    ValueError
        For NaN or infinite inputs (naming the argument), mismatched shapes, no keys, or a
        bandwidth that is not positive and finite.

    Notes
    -----
    Half-precision inputs are computed in float32 (``x / h`` overflows float16 for a small
    bandwidth) and returned in their own dtype. Without autograd, the weights are written
    block by block, each exactly once, straight into the returned tensor.

    Examples
    --------
    >>> import torch
    >>> keys = torch.tensor([0.0, 1.0, 2.0])
    >>> values = torch.tensor([0.0, 10.0, 20.0])
    >>> output, weights = nadaraya_watson(torch.tensor([1.0]), keys, values, bandwidth=0.5)
    >>> output
    tensor([10.])
    >>> weights
    tensor([[0.1065, 0.7870, 0.1065]])
    >>> weights.sum(-1)
    tensor([1.])
    """
    func = "nadaraya_watson"
    checked = check_queries_keys_values(func, queries, keys, values, scalar_items=True, finite=True)
    n_queries, n_keys = checked.queries.shape[-2], checked.keys.shape[-2]
    kernel = get_kernel(kernel, func)
    bandwidth = check_bandwidth(bandwidth, func, n_features=checked.queries.shape[-1])
    if leave_one_out and n_queries != n_keys:
        raise ValueError(
            f"{func}: leave_one_out=True needs the queries to be the keys (as many queries as "
            f"keys); got {n_queries} queries and {n_keys} keys."
        )
    output, weights, empty = _pool(checked, kernel, bandwidth, leave_one_out, need_weights)
    n_empty = int(empty.sum())
    if n_empty:
        warnings.warn(
            f"{func}: {n_empty} of {empty.numel()} queries have no key inside the "
            f"{kernel.name} kernel's window (bandwidth={_shown(bandwidth)}); their output is NaN "
            "and their weights are zero. Widen the bandwidth or use the gaussian kernel.",
            UserWarning,
            stacklevel=2,
        )
        # NaN through where(): the gradient of the other entries stays finite
        output = torch.where(empty[..., None], torch.full((), math.nan, dtype=output.dtype), output)
    return (output.squeeze(-1) if checked.scalar_values else output), weights


def _pool(
    checked: QueryKeyValue,
    kernel: Kernel,
    bandwidth: torch.Tensor,
    leave_one_out: bool,
    need_weights: bool,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Pick the computation: differentiable, weights written in place, or prediction only.

    Returns the output, the weights (or None) and which queries have no admissible key.
    """
    dtype = checked.values.dtype
    work = compute_dtype(dtype)
    queries, keys, values = (t.to(work) for t in (checked.queries, checked.keys, checked.values))
    bandwidth = bandwidth.to(work)
    differentiable = torch.is_grad_enabled() and any(
        t.requires_grad for t in (queries, keys, values, bandwidth)
    )
    if differentiable:
        output, weights, empty = pool_differentiable(
            queries, keys, values, bandwidth, kernel, leave_one_out
        )
    elif need_weights or not (kernel is gaussian and queries.ndim == keys.ndim == values.ndim == 2):
        output, weights, empty = pool_blocks(
            queries, keys, values, bandwidth, kernel, leave_one_out, checked.batch_shape,
            need_weights, _CHUNK_ELEMENTS,
        )  # fmt: skip
    else:
        output, empty = pool_gaussian_fast(
            queries, keys, values, bandwidth, leave_one_out, _CHUNK_ELEMENTS
        )
        weights = None
    output = output.to(dtype)
    return output, (None if weights is None else weights.to(dtype)), empty


def _shown(bandwidth: torch.Tensor) -> float | list[float]:
    values = bandwidth.detach()
    return round(values.item(), 6) if values.numel() == 1 else values.tolist()
