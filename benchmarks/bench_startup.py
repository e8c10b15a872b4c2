"""What a learner's first cell waits for: importing attnlab, and the first call of each function.

In fresh processes, median of several runs (after one warm-up run that fills the file cache):

1. ``import attnlab`` (lazy: nothing heavy is imported) and ``import attnlab`` followed by the
   core (``attnlab.nadaraya_watson``, which imports torch) against ``import torch``;
   ``import attnlab.plotting`` against ``import torch, matplotlib``. Target: within 1.15x.
2. the first call against the second call, in one fresh process, of ``nadaraya_watson``, the
   estimator's ``fit`` with ``bandwidth="loo"`` and ``show_heatmaps``. A first call also pays
   its library's own first use, measured alone and named: torch's first operations (a plain
   softmax and product) and matplotlib's first figure (a plain ``imshow``). Target: the first
   call within 2x of the second, plus that cost.

Run with ``python -m benchmarks startup``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from benchmarks._timing import fresh_process

FIRST_CALLS = textwrap.dedent(
    """
    import json, sys, time
    import torch, matplotlib
    matplotlib.use("Agg")
    from attnlab import NadarayaWatsonRegressor, datasets, nadaraya_watson, show_heatmaps
    data = datasets.toy_regression(seed=0)  # the imports are done: what follows is calls

    def twice(call):
        times = []
        for _ in range(2):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        return times

    def plain_figure():
        import matplotlib.pyplot as plt
        figure, ax = plt.subplots()
        ax.imshow([[0.0, 1.0]])
        figure.canvas.draw()
        plt.close(figure)

    def heatmaps():
        import matplotlib.pyplot as plt
        figure = show_heatmaps(torch.rand(2, 3, 8, 8))
        figure.canvas.draw()
        plt.close(figure)

    def plain_torch():
        scores = -(data.x_test[:, None] - data.x_train[None, :]) ** 2 / 2
        torch.softmax(scores, dim=-1) @ data.y_train

    cases = {
        "torch alone: first operations": plain_torch,
        "nadaraya_watson": lambda: nadaraya_watson(data.x_test, data.x_train, data.y_train),
        "NadarayaWatsonRegressor(bandwidth='loo').fit": lambda: NadarayaWatsonRegressor(
            bandwidth="loo"
        ).fit(data.x_train[:, None].numpy(), data.y_train.numpy()),
        "matplotlib alone: a first figure": plain_figure,
        "show_heatmaps": heatmaps,
    }
    name = sys.argv[1]  # one case per fresh process: no case warms another up
    print(json.dumps({name: twice(cases[name])}))
    """
)


def bench_imports() -> None:
    print("\n1) import time, fresh processes, median of 7 runs")
    torch_alone, _ = fresh_process("import torch", repeats=7)
    both, _ = fresh_process("import torch, matplotlib.pyplot", repeats=7)
    cases = [
        ("import attnlab", "import attnlab", torch_alone, "import torch"),
        ("import attnlab + the core", "import attnlab; attnlab.nadaraya_watson",
         torch_alone, "import torch"),
        ("import attnlab + every module", "import attnlab; attnlab.MultiHeadAttention; "
         "attnlab.record_attention; attnlab.select_bandwidth; attnlab.train_pooling",
         torch_alone, "import torch"),
        ("import attnlab.plotting + pyplot", "import attnlab.plotting, matplotlib.pyplot",
         both, "import torch, matplotlib.pyplot"),
    ]  # fmt: skip
    print(f"  {'import torch':<34} {torch_alone * 1e3:7.0f} ms")
    print(f"  {'import torch, matplotlib.pyplot':<34} {both * 1e3:7.0f} ms")
    for label, code, reference, peer in cases:
        seconds, _ = fresh_process(code, repeats=7)
        ratio = seconds / reference
        verdict = "met" if ratio <= 1.15 else "MISSED"
        print(
            f"  {label:<34} {seconds * 1e3:7.0f} ms   {ratio:5.2f}x {peer}"
            f"  (target <= 1.15x: {verdict})",
            flush=True,
        )


def bench_first_calls(runs: int = 3) -> None:
    print(f"\n2) first call against second call, each case in fresh processes (median of {runs})")
    names = [
        "torch alone: first operations",
        "nadaraya_watson",
        "NadarayaWatsonRegressor(bandwidth='loo').fit",
        "matplotlib alone: a first figure",
        "show_heatmaps",
    ]
    collected: dict[str, list[list[float]]] = {}
    for _ in range(runs):
        for case in names:
            result = subprocess.run(
                [sys.executable, "-c", FIRST_CALLS, case], capture_output=True, text=True,
                check=True,
            )  # fmt: skip
            for name, times in json.loads(result.stdout.splitlines()[-1]).items():
                collected.setdefault(name, []).append(times)
    medians = {
        name: sorted(pairs, key=lambda pair: pair[0])[len(pairs) // 2]
        for name, pairs in collected.items()
    }

    def own_cost(name):
        first, second = medians[name]
        return first - second

    torch_extra = own_cost("torch alone: first operations")
    matplotlib_extra = own_cost("matplotlib alone: a first figure")
    for name, (first, second) in medians.items():
        if name == "show_heatmaps":
            extra, peer = matplotlib_extra, "matplotlib's own first-figure cost"
        else:
            extra, peer = torch_extra, "torch's own first-operation cost"
        ratio = (first - extra) / second
        note = f" after {peer} ({extra * 1e3:.1f} ms)"
        verdict = "" if " alone: " in name else (
            f"  (target <= 2x{note}: {'met' if ratio <= 2 else 'MISSED'})"
        )  # fmt: skip
        print(
            f"  {name:<46} first {first * 1e3:7.1f} ms  second {second * 1e3:7.1f} ms  "
            f"{first / second:6.2f}x{verdict}",
            flush=True,
        )


def main() -> None:
    bench_imports()
    bench_first_calls()


if __name__ == "__main__":
    main()
