"""The default Nadaraya-Watson call, which returns the weights, against its two peers.

``nadaraya_watson(queries, keys, values, bandwidth=0.3)`` returns the ``(q, k)`` weights, as every
lesson uses it. In the same run it is timed against

1. the same prediction without weights (``need_weights=False``): what the weights cost;
2. the four lines of plain torch a student would write (difference, square, ``torch.softmax``,
   matrix product), which give the same weights;

at 1,000, 5,000 and 20,000 queries and keys in float32, at 5,000 in float64, and for the
learnable ``NadarayaWatson`` module in inference. Targets: within 1.6x of ``need_weights=False``
and at least 2x faster than plain torch. Each result is checked against plain torch first.

Run with ``python -m benchmarks weights``.
"""

from __future__ import annotations

import os

import torch

from attnlab import NadarayaWatson, nadaraya_watson
from benchmarks._timing import best_of, header, line

BANDWIDTH = 0.3


def plain_torch(queries, keys, values, bandwidth):
    """The naive version: every step a full (q, k) tensor."""
    differences = queries[:, None] - keys[None, :]  # (q, k)
    scores = -(differences**2) / (2 * bandwidth**2)  # (q, k)
    weights = torch.softmax(scores, dim=-1)  # (q, k)
    return weights @ values, weights


def data(n: int, dtype: torch.dtype):
    generator = torch.Generator().manual_seed(0)
    keys = torch.rand(n, generator=generator, dtype=dtype) * 5
    queries = torch.rand(n, generator=generator, dtype=dtype) * 5
    values = torch.randn(n, generator=generator, dtype=dtype)
    return queries, keys, values


def check_same(queries, keys, values, ours) -> float:
    output, weights = ours()
    expected, expected_weights = plain_torch(queries, keys, values, BANDWIDTH)
    difference = float((weights - expected_weights).abs().max())
    assert difference < 1e-5, difference
    assert float((output - expected).abs().max()) < 1e-3
    return difference


def compare(label: str, n: int, dtype: torch.dtype, module: bool = False) -> dict[str, float]:
    queries, keys, values = data(n, dtype)
    if module:
        pooling = NadarayaWatson(bandwidth=BANDWIDTH).to(dtype).eval()

        def ours():
            with torch.no_grad():
                return pooling(queries, keys, values)
    else:

        def ours():
            return nadaraya_watson(queries, keys, values, bandwidth=BANDWIDTH)

    difference = check_same(queries, keys, values, ours)
    repeats = 3 if n >= 20_000 else 7
    weights = best_of(ours, repeats)
    prediction = best_of(
        lambda: nadaraya_watson(queries, keys, values, bandwidth=BANDWIDTH, need_weights=False),
        repeats,
    )
    naive = best_of(lambda: plain_torch(queries, keys, values, BANDWIDTH), repeats)
    print(f"\n{label}: {n:,} x {n:,}, {str(dtype).removeprefix('torch.')}")
    header()
    line("plain torch (4 lines, same weights)", naive)
    line("need_weights=False (no weights)", prediction)
    line("attnlab, weights returned", weights, naive, f"max weight diff {difference:.1e}")
    of_prediction = weights.wall / prediction.wall
    speedup = naive.wall / weights.wall
    print(
        f"     weights path / need_weights=False: {of_prediction:.2f} (target <= 1.6: "
        f"{'met' if of_prediction <= 1.6 else 'MISSED'}); plain torch / weights path: "
        f"{speedup:.2f} (target >= 2: {'met' if speedup >= 2 else 'MISSED'})",
        flush=True,
    )
    return {"of_prediction": of_prediction, "speedup": speedup}


def main() -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    for n in (1_000, 5_000, 20_000):
        compare("nadaraya_watson", n, torch.float32)
    compare("nadaraya_watson", 5_000, torch.float64)
    compare("NadarayaWatson module, inference", 5_000, torch.float32, module=True)


if __name__ == "__main__":
    main()
