"""The computations behind :func:`attnlab.nadaraya_watson`: log-kernel scores, then one of three
ways to pool them, all on checked inputs.

1. Differentiable (a tensor requires grad): the whole ``(*batch, q, k)`` score tensor at once,
   so autograd sees ordinary operations.
2. Blocks of queries (no autograd): each block's scores are written straight into its rows of
   the returned weights (or into one reused scratch block when no weights are returned), then
   normalised in place by torch's fused softmax while the block is still in the cache. Every
   weight is written once; nothing of size ``(q, k)`` is allocated twice.
3. Prediction only with the Gaussian kernel on 2-D inputs: numerator and denominator in one
   matrix product per block, without subtracting row maxima; rows whose total weight is too
   small for that to be exact are recomputed by the stable path.

Scores are log-kernels, so the softmax subtracts each row's maximum before exponentiating and no
bandwidth underflows to ``0 / 0``; a row with no admissible key (a compact kernel's empty window)
becomes a row of zeros and is reported in ``empty``.

References
----------
1. E. A. Nadaraya (1964); G. S. Watson (1964): kernel regression.
2. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.2
   (Chinese 2nd edition) / 11.2 (English).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from attnlab.kernels import Kernel, constant, gaussian
from attnlab.masking import softmax

__all__ = [
    "empty_weights",
    "kernel_scores",
    "pool_blocks",
    "pool_differentiable",
    "pool_gaussian_fast",
]


def kernel_scores(
    queries: torch.Tensor, keys: torch.Tensor, bandwidth: torch.Tensor, kernel: Kernel
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


def empty_weights(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """An uninitialised tensor for the weights, in memory that is quick to touch first.

    The weights are often hundreds of MB that are written once. On the CPU they are allocated
    through NumPy, which asks the kernel for huge pages (``madvise``): the first write then
    costs about a quarter of what it costs in memory from torch's allocator, where every 4 KiB
    page faults on its own. Elsewhere, and for dtypes NumPy lacks, torch allocates.
    """
    numpy_dtype = {torch.float32: np.float32, torch.float64: np.float64}.get(dtype)
    if device.type != "cpu" or numpy_dtype is None or math.prod(shape) < (1 << 19):
        return torch.empty(shape, dtype=dtype, device=device)
    return torch.from_numpy(np.empty(shape, dtype=numpy_dtype))


def _own_keys(rows: torch.Tensor, n_keys: int) -> torch.Tensor:
    """``(c, k)`` mask of each query row's own key, for leave-one-out."""
    return rows[:, None] == torch.arange(n_keys, device=rows.device)


def pool_differentiable(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    bandwidth: torch.Tensor,
    kernel: Kernel,
    leave_one_out: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All scores at once, through operations autograd differentiates; returns
    ``(output, weights, empty)``."""
    # 1) score: log-kernel of the scaled distance (no exp yet, so nothing underflows)
    scores = kernel_scores(queries, keys, bandwidth, kernel)  # (*b, q, k)
    if leave_one_out:
        own = _own_keys(torch.arange(scores.shape[-2], device=scores.device), scores.shape[-1])
        scores = torch.where(own, torch.full((), -math.inf, dtype=scores.dtype), scores)
    # 2) normalise over keys; a query with no key in the window gets a row of zeros
    weights = softmax(scores)  # (*b, q, k)
    empty = scores.detach().amax(-1) == -math.inf  # (*b, q)
    # 3) weighted sum of values
    return weights @ values, weights, empty  # (*b, q, k) @ (*b, k, v) -> (*b, q, v)


def _write_gaussian_scores(
    block: torch.Tensor,
    scaled_queries: torch.Tensor,
    scaled_keys: torch.Tensor,
    difference: torch.Tensor | None,
) -> None:
    """Write ``-||q - k||^2 / (2 h^2)`` into ``block`` in place, one feature at a time.

    The queries and keys come scaled by ``1 / (h sqrt 2)``; the Gaussian's constant
    ``-log(2 pi) / 2`` is left out, since the softmax does not see a constant shift.
    """
    n_features = scaled_queries.shape[-1]
    for feature in range(n_features):
        target = block if n_features == 1 else difference
        torch.sub(
            scaled_queries[..., feature, None],
            scaled_keys[..., None, :, feature],
            out=target,
        )  # (*b, c, 1) - (*b, 1, k) -> (*b, c, k)
        base = block if feature > 0 else torch.zeros((), dtype=block.dtype, device=block.device)
        torch.addcmul(base, target, target, value=-1.0, out=block)


def _softmax_in_place(block: torch.Tensor, may_be_empty: bool) -> torch.Tensor | None:
    """Normalise each row of ``block`` in place; return which rows had no admissible key.

    torch's fused softmax makes one sweep over the cached block; a row of ``-inf`` (no key in a
    compact kernel's window) comes out NaN, and only such rows are NaN, since scores are finite
    or ``-inf``: they are set to zero. Without ``may_be_empty`` (every score finite) nothing
    is looked for and None is returned.
    """
    torch.softmax(block, dim=-1, out=block)
    if not may_be_empty:
        return None
    empty = torch.isnan(block[..., 0])  # (*b, c)
    if bool(empty.any()):
        block.masked_fill_(empty[..., None], 0.0)
    return empty


def pool_blocks(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    bandwidth: torch.Tensor,
    kernel: Kernel,
    leave_one_out: bool,
    batch_shape: tuple[int, ...],
    need_weights: bool,
    block_elements: int,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Pool block by block of queries, writing each weight once; returns
    ``(output, weights or None, empty)``."""
    n_queries, n_keys, n_features = queries.shape[-2], keys.shape[-2], queries.shape[-1]
    like = {"dtype": queries.dtype, "device": queries.device}
    fused = kernel is gaussian
    per_row = n_keys * math.prod(batch_shape) * (1 if fused else n_features)
    rows = max(1, block_elements // per_row)
    shape = (*batch_shape, n_queries, n_keys)
    weights = empty_weights(shape, queries.dtype, queries.device) if need_weights else None
    scratch = (
        None if need_weights else torch.empty(*batch_shape, min(rows, n_queries), n_keys, **like)
    )
    difference = None
    if fused:
        scale = 1.0 / (bandwidth * math.sqrt(2.0))  # () or (d,)
        scaled_queries, scaled_keys = queries * scale, keys * scale  # (*b, q, d), (*b, k, d)
        if n_features > 1:
            difference = torch.empty(*batch_shape, min(rows, n_queries), n_keys, **like)
    # written in place, so that no small result outlives a block
    output = torch.empty(*batch_shape, n_queries, values.shape[-1], **like)
    empty = torch.zeros(*batch_shape, n_queries, dtype=torch.bool, device=queries.device)
    # finite inputs give finite Gaussian and constant scores: only a compact kernel's window,
    # a user's kernel that returns 0, or leaving out a query's only key can empty a row
    may_be_empty = leave_one_out or kernel not in (gaussian, constant)
    for start in range(0, n_queries, rows):
        stop = min(start + rows, n_queries)
        if weights is not None:
            block = weights[..., start:stop, :]  # (*b, c, k), a view of the result
        else:
            block = scratch[..., : stop - start, :]
        # 1) score: log-kernel of the scaled distance, straight into the block
        if fused:
            part = None if difference is None else difference[..., : stop - start, :]
            _write_gaussian_scores(block, scaled_queries[..., start:stop, :], scaled_keys, part)
        else:
            block.copy_(kernel_scores(queries[..., start:stop, :], keys, bandwidth, kernel))
        if leave_one_out:
            block.diagonal(offset=start, dim1=-2, dim2=-1).fill_(-math.inf)
        # 2) normalise over keys in place  3) weighted sum of values
        rows_empty = _softmax_in_place(block, may_be_empty)
        if rows_empty is not None:
            empty[..., start:stop] = rows_empty
        output[..., start:stop, :] = block @ values  # (*b, c, k) @ (*b, k, v) -> (*b, c, v)
    return output, weights, empty


def pool_gaussian_fast(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    bandwidth: torch.Tensor,
    leave_one_out: bool,
    block_elements: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian Nadaraya-Watson without weights, for inference on 2-D inputs.

    Same result as the stable path, faster: cache-sized blocks, few passes, numerator and
    denominator in one matrix product. The row maximum is not subtracted; instead the exponent
    is clamped just above the smallest normal number's logarithm (denormals make ``exp`` ~50x
    slower, and their contribution is below rounding), and any row whose total weight is too
    small for that to be exact (a query far from every key) is recomputed by the stable path.
    Returns the output and which queries have no admissible key.
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
    ones = torch.ones(n_keys, 1, dtype=values.dtype, device=values.device)  # (k, 1)
    values_and_ones = torch.cat([values, ones], dim=1).T.contiguous()  # (v + 1, k)
    sums = torch.empty(values.shape[1] + 1, n_queries, dtype=values.dtype, device=values.device)
    rows = max(1, block_elements // n_keys)
    block = torch.empty(min(rows, n_queries), n_keys, dtype=queries.dtype, device=queries.device)
    difference = torch.empty_like(block) if queries.shape[1] > 1 else None
    for start in range(0, n_queries, rows):
        stop = min(start + rows, n_queries)
        scores = block[: stop - start]  # (c, k)
        part = None if difference is None else difference[: stop - start]
        # 1) score: -||x - x_i||^2 / (2 h^2), in place
        _write_gaussian_scores(scores, scaled_queries[start:stop], scaled_keys, part)
        scores.clamp_min_(floor).exp_()  # (c, k) unnormalised weights
        if leave_one_out:
            scores.diagonal(offset=start).zero_()
        # 2) normalise and 3) weighted sum in one product: [sum w y, sum w] per query
        torch.mm(values_and_ones, scores.T, out=sums[:, start:stop])  # (v + 1, k) @ (k, c)
    totals = sums[-1]  # (q,)
    output = (sums[:-1] / totals).T.contiguous()  # (v, q) -> (q, v)
    unsafe = torch.nonzero(~(totals >= safe_total)).flatten()  # (n_unsafe,)
    empty = torch.zeros(n_queries, dtype=torch.bool, device=output.device)  # (q,)
    for start in range(0, len(unsafe), rows):
        chosen = unsafe[start : start + rows]
        scores = kernel_scores(queries[chosen], keys, bandwidth, gaussian)  # (c, k)
        if leave_one_out:
            own = _own_keys(chosen, n_keys)
            scores = torch.where(own, torch.full((), -math.inf, dtype=scores.dtype), scores)
        weights = softmax(scores)
        output[chosen] = weights @ values
        empty[chosen] = scores.amax(-1) == -math.inf
    return output, empty
