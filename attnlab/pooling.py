"""Attention pooling without learned parameters: average pooling and Nadaraya-Watson regression.

Both pool the values with weights over the keys. Average pooling ignores the query and weighs
every key equally; Nadaraya-Watson weighs each key by a kernel of its distance to the query,
``weights = softmax(log K((query - key) / h))``, so keys near the query count most.

References
----------
1. E. A. Nadaraya, "On estimating regression", Theory Probab. Appl. 9 (1964).
2. G. S. Watson, "Smooth regression analysis", Sankhya A 26 (1964).
3. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 11.2.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch

from attnlab._validation import as_float_tensor, check_bandwidth, common_float_dtype
from attnlab.kernels import Kernel, gaussian, get_kernel
from attnlab.masking import softmax

__all__ = ["average_pooling", "nadaraya_watson"]

# queries per chunk are chosen so that one chunk's (queries x keys x features) work tensor
# holds about this many elements (4 MiB in float32), whatever the problem size; a chunk makes
# a dozen such temporaries, so peak memory stays near 100 MiB
_CHUNK_ELEMENTS = 1 << 20
# the gaussian fast path works on blocks that stay in a core's cache (1 MiB in float32)
_FAST_CHUNK_ELEMENTS = 1 << 18


def _as_items(tensor: torch.Tensor) -> torch.Tensor:
    """View scalar items ``(n,)`` as ``(n, 1)``; 2 or more axes already are ``(*batch, n, d)``."""
    return tensor[:, None] if tensor.ndim == 1 else tensor


def _prepare(
    func: str, queries, keys, values
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    """Validate and convert inputs to ``(*batch, n, d)`` tensors of one float dtype.

    Returns queries, keys, values and whether the values were scalar (so the output drops its
    feature axis again).
    """
    queries = as_float_tensor(queries, "queries", func)
    keys = as_float_tensor(keys, "keys", func)
    values = as_float_tensor(values, "values", func)
    for name, tensor in (("queries", queries), ("keys", keys), ("values", values)):
        if tensor.ndim == 0:
            raise ValueError(
                f"{func}: {name} must have shape (n,) for scalar items or (*batch, n, d); "
                f"got a scalar (0-d) tensor."
            )
    scalar_values = values.ndim == 1
    queries, keys, values = _as_items(queries), _as_items(keys), _as_items(values)
    if keys.shape[-2] != values.shape[-2]:
        raise ValueError(
            f"{func}: keys and values must have the same number of keys (keys and values are "
            f"paired); got keys.shape={tuple(keys.shape)}, values.shape={tuple(values.shape)}."
        )
    if keys.shape[-2] == 0:
        raise ValueError(
            f"{func}: keys must hold at least one key; got keys.shape={tuple(keys.shape)}."
        )
    if queries.shape[-1] != keys.shape[-1]:
        raise ValueError(
            f"{func}: queries and keys must have the same number of features (last axis); "
            f"got queries.shape={tuple(queries.shape)}, keys.shape={tuple(keys.shape)}."
        )
    try:
        torch.broadcast_shapes(queries.shape[:-2], keys.shape[:-2], values.shape[:-2])
    except RuntimeError:
        raise ValueError(
            f"{func}: the leading (batch) axes of queries, keys and values must broadcast; got "
            f"queries.shape={tuple(queries.shape)}, keys.shape={tuple(keys.shape)}, "
            f"values.shape={tuple(values.shape)}."
        ) from None
    dtype = common_float_dtype(queries, keys, values)
    return queries.to(dtype), keys.to(dtype), values.to(dtype), scalar_values


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

    Examples
    --------
    >>> import torch
    >>> output, weights = average_pooling(torch.zeros(3), torch.arange(4.0), torch.arange(4.0))
    >>> output
    tensor([1.5000, 1.5000, 1.5000])
    >>> weights.shape, weights.sum(-1)
    (torch.Size([3, 4]), tensor([1., 1., 1.]))
    """
    queries, keys, values, scalar_values = _prepare("average_pooling", queries, keys, values)
    n_queries, n_keys = queries.shape[-2], keys.shape[-2]
    batch = torch.broadcast_shapes(queries.shape[:-2], keys.shape[:-2], values.shape[:-2])
    # 1) score: every key scores the same  2) normalise: 1 / n_keys  3) weighted sum of values
    weights = torch.full(
        (*batch, n_queries, n_keys), 1.0 / n_keys, dtype=values.dtype, device=values.device
    )  # (*b, q, k)
    output = weights @ values  # (*b, q, k) @ (*b, k, v) -> (*b, q, v)
    return (output.squeeze(-1) if scalar_values else output), weights


def _kernel_scores(
    queries: torch.Tensor,
    keys: torch.Tensor,
    bandwidth: torch.Tensor,
    kernel: Kernel,
) -> torch.Tensor:
    """Log-kernel scores ``log K(||query - key|| / h)`` of shape (*batch, n_queries, n_keys)."""
    scaled_queries = queries / bandwidth  # (*b, q, d) / (d,) or ()
    scaled_keys = keys / bandwidth  # (*b, k, d)
    if queries.shape[-1] == 1:
        # one feature: the signed difference keeps asymmetric user kernels exact
        distances = scaled_queries - scaled_keys.mT  # (*b, q, 1) - (*b, 1, k) -> (*b, q, k)
    else:
        differences = (
            scaled_queries[..., :, None, :] - scaled_keys[..., None, :, :]
        )  # (*b, q, k, d)
        squared = differences.square().sum(-1)  # (*b, q, k)
        # clamp before sqrt: the gradient of sqrt at 0 (a query equal to a key) is infinite
        distances = squared.clamp_min(torch.finfo(squared.dtype).tiny).sqrt()
    return kernel.log(distances)


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

    ``f(x) = sum_i softmax_i(log K(||x - x_i|| / h)) y_i``, the attention pooling of section 11.2
    of the book. The weights are a softmax of log-kernel scores, so even a tiny bandwidth gives
    exact weights instead of ``0 / 0``.

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
        One of :data:`attnlab.kernels.names` or a callable ``K(u)`` returning non-negative values.
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
    queries, keys, values, scalar_values = _prepare(func, queries, keys, values)
    n_queries, n_keys, n_features = queries.shape[-2], keys.shape[-2], queries.shape[-1]
    kernel = get_kernel(kernel, func)
    bandwidth = check_bandwidth(bandwidth, func, n_features=n_features).to(queries.dtype)
    if leave_one_out and n_queries != n_keys:
        raise ValueError(
            f"{func}: leave_one_out=True needs the queries to be the keys (as many queries as "
            f"keys); got {n_queries} queries and {n_keys} keys."
        )

    def pool(rows: slice | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # 1) score: log-kernel of the scaled distance (no exp yet, so nothing underflows)
        scores = _kernel_scores(queries[..., rows, :], keys, bandwidth, kernel)  # (*b, c, k)
        if leave_one_out:
            rows = torch.arange(n_queries, device=scores.device)[rows]  # (c,)
            own_key = rows[:, None] == torch.arange(n_keys, device=scores.device)  # (c, k)
            scores = torch.where(own_key, torch.full((), -math.inf, dtype=scores.dtype), scores)
        # 2) normalise over keys; a query with no key in the window gets a row of zeros
        weights = softmax(scores)  # (*b, c, k)
        # 3) weighted sum of values
        return weights @ values, weights  # (*b, c, k) @ (*b, k, v) -> (*b, c, v)

    fast = (
        kernel is gaussian
        and not need_weights
        and queries.ndim == keys.ndim == values.ndim == 2
        and not (
            torch.is_grad_enabled()
            and any(t.requires_grad for t in (queries, keys, values, bandwidth))
        )
    )
    if fast:
        output, empty = _gaussian_fast(queries, keys, values, bandwidth, leave_one_out, pool)
        weights = None
    elif need_weights:
        output, weights = pool(slice(None))
        empty = weights.sum(-1) == 0  # (*b, q)
    else:
        chunk = max(1, _CHUNK_ELEMENTS // (n_keys * max(n_features, 1)))
        batch = torch.broadcast_shapes(queries.shape[:-2], keys.shape[:-2], values.shape[:-2])
        # written in place, so that no small result outlives a chunk: kept pieces would pin the
        # chunk's freed temporaries in the heap, and resident memory would grow chunk by chunk
        like = {"device": values.device}
        output = torch.empty(*batch, n_queries, values.shape[-1], dtype=values.dtype, **like)
        empty = torch.empty(*batch, n_queries, dtype=torch.bool, **like)
        for start in range(0, n_queries, chunk):
            part, part_weights = pool(slice(start, start + chunk))
            output[..., start : start + chunk, :] = part
            empty[..., start : start + chunk] = part_weights.sum(-1) == 0
            del part, part_weights
        weights = None

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
    return (output.squeeze(-1) if scalar_values else output), weights


def _gaussian_fast(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    bandwidth: torch.Tensor,
    leave_one_out: bool,
    pool: Callable[[slice | torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian Nadaraya-Watson without weights, for inference on 2-D inputs.

    Same result as the stable path, faster: cache-sized blocks, few passes, numerator and
    denominator in one matrix product. The row maximum is not subtracted; instead the exponent
    is clamped just above the smallest normal number's logarithm (denormals make ``exp`` ~50x
    slower, and their contribution is below rounding), and any row whose total weight is too
    small for that to be exact (a query far from every key) is recomputed by the stable path.
    Returns the output and which queries have no admissible key (only infinite inputs).
    """
    n_queries, n_keys = queries.shape[0], keys.shape[0]
    info = torch.finfo(queries.dtype)
    # exp(floor) = e * tiny, a normal number: exp is fast there (at tiny itself it is not)
    floor = math.log(info.tiny) + 1.0
    # clamped entries add at most n_keys * exp(floor) to a total; below this, redo the row
    safe_total = n_keys * math.exp(floor) / info.eps
    scale = 1.0 / (bandwidth * math.sqrt(2.0))  # () or (d,)
    scaled_queries, scaled_keys = queries * scale, keys * scale  # (q, d), (k, d)
    # [y, 1] as rows: (v + 1, k) @ (k, c) is a far faster matrix product than (c, k) @ (k, v + 1)
    values_and_ones = torch.cat([values, torch.ones_like(values[:, :1])], dim=1).T.contiguous()
    sums = torch.empty(values.shape[1] + 1, n_queries, dtype=values.dtype, device=values.device)
    chunk = max(1, min(_CHUNK_ELEMENTS, _FAST_CHUNK_ELEMENTS) // n_keys)
    block = torch.empty(min(chunk, n_queries), n_keys, dtype=queries.dtype, device=queries.device)
    difference = torch.empty_like(block) if queries.shape[1] > 1 else block
    zero = torch.zeros((), dtype=queries.dtype, device=queries.device)
    for start in range(0, n_queries, chunk):
        stop = min(start + chunk, n_queries)
        scores, differences = block[: stop - start], difference[: stop - start]  # (c, k)
        # 1) score: -||x - x_i||^2 / (2 h^2), one feature at a time, in place
        for feature in range(queries.shape[1]):
            torch.sub(
                scaled_queries[start:stop, feature, None],
                scaled_keys[None, :, feature],
                out=differences,
            )  # (c, 1) - (1, k) -> (c, k)
            base = zero if feature == 0 else scores
            torch.addcmul(base, differences, differences, value=-1.0, out=scores)
        scores.clamp_min_(floor).exp_()  # (c, k) unnormalised weights
        if leave_one_out:
            scores[:, start:stop].diagonal().zero_()
        # 2) normalise and 3) weighted sum in one product: [sum w y, sum w] per query
        torch.mm(values_and_ones, scores.T, out=sums[:, start:stop])  # (v + 1, k) @ (k, c)
    totals = sums[-1]  # (q,)
    output = (sums[:-1] / totals).T.contiguous()  # (v, q) -> (q, v)
    unsafe = torch.nonzero(~(totals >= safe_total)).flatten()  # (n_unsafe,)
    empty = torch.zeros(n_queries, dtype=torch.bool, device=output.device)  # (q,)
    for start in range(0, len(unsafe), chunk):
        rows = unsafe[start : start + chunk]
        output[rows], weights = pool(rows)
        empty[rows] = weights.sum(-1) == 0  # only an infinite input can leave a row empty
    return output, empty


def _shown(bandwidth: torch.Tensor) -> float | list[float]:
    values = bandwidth.detach()
    return round(values.item(), 6) if values.numel() == 1 else values.tolist()
