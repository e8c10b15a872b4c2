"""Toy regressions at full strength: attnlab's Nadaraya-Watson against statsmodels' KernelReg.

One run measures, in the same process:

1. prediction at 5,000 training points x 5,000 queries, fixed bandwidth, against
   ``KernelReg(reg_type="lc").fit`` (same result: max difference < 1e-4 in float32);
2. leave-one-out bandwidth selection at n = 1,000 against ``KernelReg(bw="cv_ls")``;
3. kernel evaluations per second against ``torch.exp`` over as many elements, with a breakdown
   of where the rest of the time goes;
4. peak memory of a 40,000 x 40,000 prediction, in a fresh subprocess.

Run with ``python -m benchmarks regression``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import torch

from attnlab import NadarayaWatsonRegressor, nadaraya_watson, select_bandwidth
from attnlab.datasets import toy_regression
from benchmarks._timing import Timing, best_of, header, line, once, threads

BANDWIDTH = 0.3


def kernel_reg(*args, **kwargs):
    from statsmodels.nonparametric.kernel_regression import KernelReg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return KernelReg(*args, **kwargs)


# all cores, and one core: statsmodels runs on one, and a single thread never waits at a
# barrier for a sibling thread that a busy machine has descheduled
THREAD_COUNTS = sorted({torch.get_num_threads(), 1}, reverse=True)


def bench_prediction(n: int = 5000) -> None:
    print(f"\n1) prediction, {n:,} training points x {n:,} queries, bandwidth {BANDWIDTH}")
    data = toy_regression(n, seed=0, dtype=torch.float64)
    queries = torch.rand(n, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 5
    x, y, q = data.x_train.numpy(), data.y_train.numpy(), queries.numpy()
    oracle = kernel_reg(endog=y, exog=x, var_type="c", reg_type="lc", bw=[BANDWIDTH])
    header()
    sm_time = best_of(lambda: oracle.fit(q), repeats=2)
    expected, _ = oracle.fit(q)
    line("statsmodels KernelReg(reg_type='lc').fit", sm_time, extra="(one core)")
    model = NadarayaWatsonRegressor(bandwidth=BANDWIDTH).fit(x[:, None], y)
    for count in THREAD_COUNTS:
        with threads(count):
            for dtype in (torch.float32, torch.float64):
                args = (queries.to(dtype), data.x_train.to(dtype), data.y_train.to(dtype))

                def run(args=args):
                    return nadaraya_watson(*args, bandwidth=BANDWIDTH, need_weights=False)[0]

                seconds = best_of(run)
                error = np.abs(run().double().numpy() - expected).max()
                name = f"nadaraya_watson, {str(dtype).removeprefix('torch.')}, {count} thread(s)"
                line(name, seconds, sm_time, f"max |diff| {error:.1e}")
                if dtype == torch.float32:
                    met = sm_time.wall / seconds.wall >= 10 and error < 1e-4
                    print(f"     bar (>= 10x, max |diff| < 1e-4): {'met' if met else 'MISSED'}")
            seconds = best_of(lambda: model.predict(q[:, None]))
            name = f"NadarayaWatsonRegressor.predict, {count} thread(s)"
            line(name, seconds, sm_time, "(float64, with validation)")
    args = (queries.float(), data.x_train.float(), data.y_train.float())
    seconds = best_of(lambda: nadaraya_watson(*args, bandwidth=BANDWIDTH), repeats=2)
    line("  for reference: returning the weights", seconds, sm_time)


def bench_selection(n: int = 1000) -> None:
    print(f"\n2) leave-one-out bandwidth selection, n = {n:,}")
    data = toy_regression(n, seed=0, dtype=torch.float64)
    x, y = data.x_train.numpy(), data.y_train.numpy()
    header()
    sm_time, oracle = once(
        lambda: kernel_reg(endog=y, exog=x, var_type="c", reg_type="lc", bw="cv_ls")
    )
    line("statsmodels KernelReg(bw='cv_ls'), timed once", sm_time, extra=f"h = {oracle.bw[0]:.5f}")
    for count in THREAD_COUNTS:
        with threads(count):
            seconds = best_of(lambda: select_bandwidth(x, y), repeats=3)
            bandwidth = select_bandwidth(x, y)
        name = f"select_bandwidth, {count} thread(s)"
        line(name, seconds, sm_time, f"h = {bandwidth:.5f}")
        met = sm_time.wall / seconds.wall >= 20
        print(f"     bar (>= 20x faster): {'met' if met else 'MISSED'}")
    loo = oracle.cv_loo
    errors = [float(loo(np.array([h]), oracle.est["lc"])[0]) for h in (oracle.bw[0], bandwidth)]
    print(f"     leave-one-out MSE: statsmodels {errors[0]:.6f}, attnlab {errors[1]:.6f}")


def bench_throughput(n: int = 5000) -> None:
    print(f"\n3) kernel evaluations per second ({n:,} x {n:,} = {n * n / 1e6:.0f} M, float32)")
    generator = torch.Generator().manual_seed(0)
    queries, keys = torch.rand(n, generator=generator) * 5, torch.rand(n, generator=generator) * 5
    values = torch.randn(n, generator=generator)
    elements = n * n
    scores, out = torch.randn(elements) - 3, torch.empty(elements)
    # the same blocks as the gaussian fast path, adding one stage at a time
    rows = max(1, (1 << 18) // n)
    block = torch.empty(rows, n)
    zero, both = torch.zeros(()), torch.stack([values, torch.ones(n)])  # (2, k)
    sums = torch.empty(2, n)

    def stages(count: int) -> None:
        for start in range(0, n, rows):
            part = block[: min(rows, n - start)]
            torch.sub(queries[start : start + rows, None], keys[None], out=part)
            if count >= 2:
                torch.addcmul(zero, part, part, value=-1.0, out=part)
                part.clamp_min_(-86.0)
            if count >= 3:
                part.exp_()
            if count >= 4:
                torch.mm(both, part.T, out=sums[:, start : start + rows])

    print(f"  load average {os.getloadavg()[0]:.1f} (the machine's other work shares its cores)")
    header()
    for count in THREAD_COUNTS:
        with threads(count):
            exp_time = best_of(lambda: torch.exp(scores, out=out))
            nw_time = best_of(
                lambda: nadaraya_watson(
                    queries, keys, values, bandwidth=BANDWIDTH, need_weights=False
                )
            )
            name = f"torch.exp over as many elements, {count} thread(s)"
            line(name, exp_time, extra=f"{elements / exp_time.wall / 1e9:5.2f} G/s")
            name = f"nadaraya_watson, gaussian, {count} thread(s)"
            line(name, nw_time, extra=f"{elements / nw_time.wall / 1e9:5.2f} G/s")
            share = exp_time.wall / nw_time.wall
            print(f"     nadaraya_watson runs at {share:.0%} of torch.exp's rate")
            previous = Timing(0.0, 0.0)
            names = ["difference q - k per block", "square, clamp", "exp", "product with [y, 1]"]
            for stage, name in enumerate(names, start=1):
                seconds = best_of(lambda stage=stage: stages(stage))
                added = Timing(seconds.wall - previous.wall, seconds.cpu - previous.cpu)
                line(f"  + {name}", added, extra=f"(cumulative {seconds.wall * 1e3:.1f} ms wall)")
                previous = seconds


MEMORY_SCRIPT = """
import sys, torch
from attnlab import nadaraya_watson

def status(field):  # resident set size now (VmRSS) or at its peak (VmHWM), in MiB
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith(field)) / 1024

n_queries, n_keys, kernel = int(sys.argv[1]), int(sys.argv[2]), sys.argv[4]
dtype = getattr(torch, sys.argv[3])
g = torch.Generator().manual_seed(0)
keys = torch.rand(n_keys, generator=g, dtype=dtype) * 5
queries = torch.rand(n_queries, generator=g, dtype=dtype) * 5
values = torch.randn(n_keys, generator=g, dtype=dtype)
nadaraya_watson(queries[:10], keys[:10], values[:10], need_weights=False)  # load the kernels
try:  # reset the peak to the current size (Linux >= 4.0), so start-up peaks do not count
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
except OSError:
    pass
before, peak_before = status("VmRSS:"), status("VmHWM:")
output, _ = nadaraya_watson(queries, keys, values, kernel=kernel, bandwidth=0.3, need_weights=False)
print(before, peak_before, status("VmHWM:"), bool(torch.isfinite(output).all()))
"""


def bench_memory(n: int = 40_000) -> None:
    print(f"\n4) memory of a {n:,} x {n:,} prediction (fresh subprocess, peak RSS)")
    script = textwrap.dedent(MEMORY_SCRIPT)
    # the stable path (any other kernel) is slower: 4,000 queries show its per-chunk memory,
    # which does not grow with the number of queries
    cases = [
        (n, "float32", "gaussian"),
        (n, "float64", "gaussian"),
        (n // 10, "float32", "epanechnikov"),
    ]
    for n_queries, dtype, kernel in cases:
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", script, str(n_queries), str(n), dtype, kernel],
            capture_output=True,
            text=True,
            check=True,
        )
        seconds = time.perf_counter() - start
        fields = result.stdout.split()
        before, _, peak = (float(field) for field in fields[:3])
        extra = peak - before
        dense = n_queries * n * (4 if dtype == "float32" else 8) / 2**30
        print(
            f"  {kernel}, {n_queries:,} x {n:,}, {dtype}: resident {before:.0f} MiB before, "
            f"peak during the run {peak:.0f} MiB: {extra:.0f} MiB extra (dense weights: "
            f"{dense:.1f} GiB); {seconds:.1f} s with start-up; finite: {fields[3]}"
        )
        verdict = "met" if extra < 1024 else "MISSED"
        print(f"     bar (well under 1 GB extra): {verdict}")


def main() -> None:
    torch.manual_seed(0)
    bench_prediction()
    bench_selection()
    bench_throughput()
    bench_memory()


if __name__ == "__main__":
    main()
