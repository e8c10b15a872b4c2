"""``attnlab demo``: fit the pooling methods to the book's toy regression, draw and write them.

The comparison is :func:`attnlab.compare.compare_methods`, the figures
:mod:`attnlab.plotting.demo`; this module parses the options, says what it is doing stage by
stage on stderr, writes the files and prints the table.

References
----------
1. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.2
   (Chinese 2nd edition) / 11.2 (English).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from attnlab.cli._common import EXIT_CODES, EXIT_OK, Stages, UsageError, integer, use_off_screen

__all__ = ["add_parser", "run"]

DEFAULT_OUT = "attnlab-demo"


MAX_TRAIN = 1_000  # each training epoch costs n_train^2 kernel evaluations


_DEMO_EPILOG = f"""\
The demo writes into DIR:
  fits.png, kernels.png, bandwidth.png, loss.png   the figures (PNG)
  metrics.json   test MSE per method, bandwidths and settings; the same --seed
                 gives an identical file
  weights.npz    each method's attention weights (test points x training points),
                 under the keys average_pooling, nw_book, nw_loo, nw_learned

Without --out, DIR is ./{DEFAULT_OUT}, or ./{DEFAULT_OUT}-2, -3, ... if that one already holds
files. An existing non-empty DIR given with --out is only written into with --force (files of
the same name are replaced, other files are left alone).

While it runs, the demo says what it is doing on stderr, one line per stage (with a progress
bar for a stage that takes more than a second, when stderr is a terminal); --quiet silences
this and the report.

examples:
  attnlab demo
  attnlab demo --out results --seed 3 --n-train 100
  attnlab heatmap results/weights.npz --key nw_learned --out learned.png

{EXIT_CODES}"""


def add_parser(commands) -> None:
    demo = commands.add_parser(
        "demo",
        help="fit average pooling and Nadaraya-Watson pooling to the book's toy regression",
        description="Fit average pooling and Nadaraya-Watson pooling with the book's bandwidth\n"
        "(h = 1), the leave-one-out bandwidth and a learned bandwidth to the toy regression of\n"
        "Dive into Deep Learning, section 10.2 (Chinese 2nd edition) / 11.2 (English)\n"
        "(generated; nothing is downloaded). Print their test errors and write figures,\n"
        "metrics and weights to DIR.",
        epilog=_DEMO_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--out", metavar="DIR", help=f"output folder (default: ./{DEFAULT_OUT})")
    demo.add_argument(
        "--seed", type=integer(0), default=0, metavar="N", help="data seed (default: 0)"
    )
    demo.add_argument(
        "--n-train",
        type=integer(3, MAX_TRAIN),
        default=50,
        metavar="N",
        help=f"training points, 3 to {MAX_TRAIN} (default: 50, as in the book)",
    )
    demo.add_argument(
        "--epochs",
        type=integer(1),
        default=200,
        metavar="N",
        help="training epochs of the learned bandwidth (default: 200)",
    )
    demo.add_argument(
        "--quiet", action="store_true", help="print nothing but errors; no progress lines"
    )
    demo.add_argument(
        "--force", action="store_true", help="write into an output folder that holds files"
    )


def _is_free(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def _output_folder(out: str | None, force: bool) -> Path:
    if out is None:
        path = Path(DEFAULT_OUT)
        number = 2
        while not (force or _is_free(path)):
            path, number = Path(f"{DEFAULT_OUT}-{number}"), number + 1
        return path
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder.")
    if not (force or _is_free(path)):
        raise UsageError(
            f"output folder {out} already holds files; choose another --out or pass --force to "
            "replace the demo's files in it."
        )
    return path


def run(args: argparse.Namespace) -> int:
    stage = Stages("demo", args.quiet)
    folder = _output_folder(args.out, args.force)
    stage("loading torch and matplotlib")
    use_off_screen(args)
    import torch

    from attnlab import __version__
    from attnlab.compare import compare_methods
    from attnlab.datasets import toy_regression
    from attnlab.plotting import DEMO_FIGURES, save_figure
    from attnlab.plotting.demo import DEMO_PLOTS

    stage(f"drawing the book's toy regression: {args.n_train} points, seed {args.seed}")
    data = toy_regression(args.n_train, seed=args.seed)
    threads = torch.get_num_threads()
    if args.n_train <= 200:  # (n, n) tensors this small cost more to share out than to compute
        torch.set_num_threads(1)
    try:
        progress = not args.quiet and sys.stderr.isatty()
        comparison = compare_methods(data, epochs=args.epochs, progress=progress, on_stage=stage)
    finally:
        torch.set_num_threads(threads)
    folder.mkdir(parents=True, exist_ok=True)
    for name, plot in DEMO_PLOTS.items():
        stage(f"drawing {name}")
        save_figure(plot(comparison), folder / name, dpi=120)
    stage("writing metrics.json and weights.npz")
    settings = {"data": "attnlab.datasets.toy_regression (the book's 2 sin(x) + x^0.8, noise "
                "0.5)", "seed": args.seed, "attnlab_version": __version__}  # fmt: skip
    comparison.save(folder, **settings)
    stage(f"done in {time.perf_counter() - stage.start:.1f} s")
    if not args.quiet:
        _report(args, comparison, folder, DEMO_FIGURES)
    return EXIT_OK


def _report(args, comparison, folder: Path, figures: dict[str, str]) -> None:
    print(
        f"Attention pooling on the book's toy regression (seed {args.seed}): {args.n_train} "
        f"noisy training points;\ntest MSE against the true function at "
        f"{len(comparison.data.x_test)} test points.\n"
    )
    print(comparison.table())
    print(
        "\nLearning h minimises the same leave-one-out error as the search, so the two\n"
        "bandwidths agree once training has converged (see bandwidth.png and loss.png)."
    )
    print(f"\nWritten to {folder}/:")
    for name, what in figures.items():
        print(f"  {name:<14} {what}")
    print(f"  {'metrics.json':<14} test MSE, bandwidths and settings")
    print(f"  {'weights.npz':<14} the weights; draw them with")
    print(f"  {'':<14} attnlab heatmap {folder / 'weights.npz'} --key nw_learned --out w.png")
