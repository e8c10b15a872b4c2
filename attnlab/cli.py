"""The ``attnlab`` command: parse the arguments, delegate to the library, report.

``attnlab demo`` fits average pooling and three Nadaraya-Watson poolings to the book's toy
regression (:func:`attnlab.compare.compare_methods`), prints their test errors and writes the
figures (:mod:`attnlab.plotting.demo`), metrics and weights; ``attnlab heatmap`` draws
attention weights saved from any model, read without ever unpickling; ``attnlab grade`` runs a
class's notebooks and collects their exercise checks (:func:`attnlab.grading.grade_command`).
Arguments are parsed before torch or matplotlib is imported, so ``--help`` and usage errors
answer at once.

References
----------
1. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, sections 10.1-10.2
   (Chinese 2nd edition) / 11.1-11.2 (English).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
DEFAULT_OUT = "attnlab-demo"
MAX_TRAIN = 1_000  # each training epoch costs n_train^2 kernel evaluations

_EXIT_CODES = """\
exit codes:
  0  success
  1  runtime failure (for example, the output cannot be written)
  2  usage error or bad input (bad arguments, a non-empty output folder without --force,
     a weights file that cannot be read safely)"""

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

{_EXIT_CODES}"""

# the bounds of attnlab._loading, written out so that --help imports nothing (a test keeps the
# two equal)
MAX_CELLS, MAX_PANEL_CELLS, MAX_PANELS, MAX_REPEATED = 2**26, 2**24, 1024, 2**20

_HEATMAP_EPILOG = f"""\
FILE may be .npy, .npz, .pt/.pth (a tensor, a list of equally shaped tensors, which are
stacked, or a dict of tensors; nested dicts and lists are named by their path, e.g.
--key encoder.layers.0) or .safetensors. The weights must have 2 to 4 axes: (queries, keys),
(panels, queries, keys) or (rows, cols, queries, keys); extra leading axes of size 1 are
dropped. At most {MAX_CELLS:,} values are drawn, {MAX_PANEL_CELLS:,} in one panel
(4096 x 4096) and {MAX_PANELS:,} panels; a file may describe at most {MAX_REPEATED:,}
values more than it holds (a view made by expand(), the zeros of a sparse tensor).

Every header is checked against the bytes the file holds before any data are read, and files
are never unpickled, since unpickling can run arbitrary code: NumPy and safetensors files are
read by attnlab itself, PyTorch files by torch.load(weights_only=True) once attnlab has
checked that they name only tensors and containers.

IMAGE's extension picks the format (png, svg, pdf, ...); an existing IMAGE is replaced.

examples:
  python -c "import numpy as np; np.save('eye.npy', np.eye(10))"
  attnlab heatmap eye.npy --out eye.png
  attnlab heatmap attn.pt --key layer0 --out attn.svg --titles "head 1" "head 2"

{_EXIT_CODES}"""


class UsageError(Exception):
    """Bad input from the user: reported in one line, exit code 2."""


def _integer(low: int, high: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer; got {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"expected an integer {bound}; got {value}")
        return value

    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None
    if not 0 < value < 1000:
        raise argparse.ArgumentTypeError(f"expected a positive number below 1000; got {text}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds; got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds; got {text}")
    return value


def _add_demo(commands) -> None:
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
        "--seed", type=_integer(0), default=0, metavar="N", help="data seed (default: 0)"
    )
    demo.add_argument(
        "--n-train",
        type=_integer(3, MAX_TRAIN),
        default=50,
        metavar="N",
        help=f"training points, 3 to {MAX_TRAIN} (default: 50, as in the book)",
    )
    demo.add_argument(
        "--epochs",
        type=_integer(1),
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


def _add_heatmap(commands) -> None:
    heatmap = commands.add_parser(
        "heatmap",
        help="draw attention weights saved in a .npy, .npz, .pt or .safetensors file",
        description="Draw attention weights saved from your own model as heatmaps, all panels\n"
        "on one colour scale.",
        epilog=_HEATMAP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    heatmap.add_argument("file", metavar="FILE", help="the saved weights")
    heatmap.add_argument("--out", metavar="IMAGE", required=True, help="image to write")
    heatmap.add_argument("--key", metavar="NAME", help="which array of a file that holds several")
    heatmap.add_argument(
        "--xlabel", default="Keys", metavar="TEXT", help="x-axis label (default: Keys)"
    )
    heatmap.add_argument(
        "--ylabel", default="Queries", metavar="TEXT", help="y-axis label (default: Queries)"
    )
    heatmap.add_argument(
        "--titles", nargs="+", metavar="TITLE", help="one title per column of panels"
    )
    heatmap.add_argument(
        "--cmap", default="Reds", metavar="NAME", help="matplotlib colour map (default: Reds)"
    )
    heatmap.add_argument(
        "--figsize",
        nargs=2,
        type=_positive_float,
        metavar=("W", "H"),
        help="figure size in inches (default: about 2.5 per panel, at most 20 across)",
    )
    heatmap.add_argument(
        "--dpi", type=_integer(10, 1200), default=150, metavar="N", help="resolution (default: 150)"
    )


def _add_grade(commands) -> None:
    from attnlab.grading import DEFAULT_TIMEOUT, DESCRIPTION, EPILOG  # no torch: --help is instant

    grade = commands.add_parser(
        "grade",
        help="execute student notebooks and collect their exercise checks",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    grade.add_argument(
        "paths", nargs="+", metavar="NOTEBOOK_OR_DIR", help="notebooks, or folders of them"
    )
    grade.add_argument("--out", metavar="CSV", help="write the report to this CSV file")
    grade.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds for all the cells of one notebook (default: {DEFAULT_TIMEOUT:g})",
    )
    grade.add_argument(
        "--quiet", action="store_true", help="print the table only; no progress lines"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``attnlab`` command (imports neither torch nor matplotlib)."""
    from attnlab import __version__

    parser = argparse.ArgumentParser(
        prog="attnlab",
        description="Learn attention by doing it: fit and draw attention pooling (attnlab demo),\n"
        "draw attention weights saved from your own model (attnlab heatmap), or grade a\n"
        "class's exercise notebooks (attnlab grade).",
        epilog=f"Run 'attnlab demo' to start; 'attnlab COMMAND --help' for details.\n\n"
        f"{_EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"attnlab {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_demo, _add_heatmap, _add_grade):
        add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``attnlab`` command with ``argv`` (default ``sys.argv[1:]``); return the exit code.

    Run as a program (``argv`` None) it draws off-screen with matplotlib's Agg backend; called
    from Python with ``argv`` it leaves the caller's backend as it is.

    Examples
    --------
    >>> main(["--version"])
    attnlab ...
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version and usage errors: return the code instead
        return EXIT_OK if exit_.code is None else int(exit_.code)
    run = {"demo": _run_demo, "heatmap": _run_heatmap, "grade": _run_grade}[args.command]
    args.off_screen = argv is None
    try:
        return run(args)
    except UsageError as error:
        print(f"attnlab {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        print(f"attnlab {args.command}: error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except MemoryError:
        print(
            f"attnlab {args.command}: error: out of memory; free some memory, or draw fewer or "
            "smaller panels.",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"attnlab {args.command}: interrupted", file=sys.stderr)
        return 130


def _use_agg(args: argparse.Namespace) -> None:
    """As a program, draw off-screen (matplotlib's Agg backend, unless pyplot is in use)."""
    if args.off_screen:
        from attnlab.plotting._figures import use_off_screen_backend

        use_off_screen_backend()


class _Stages:
    """One line per stage on stderr, ``attnlab demo: <what>``, unless quiet."""

    def __init__(self, command: str, quiet: bool) -> None:
        self.command, self.quiet = command, quiet
        self.start = time.perf_counter()

    def __call__(self, text: str) -> None:
        if not self.quiet:
            print(f"attnlab {self.command}: {text}", file=sys.stderr, flush=True)


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


def _run_demo(args: argparse.Namespace) -> int:
    stage = _Stages("demo", args.quiet)
    folder = _output_folder(args.out, args.force)
    stage("loading torch and matplotlib")
    _use_agg(args)
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
        _report_demo(args, comparison, folder, DEMO_FIGURES)
    return EXIT_OK


def _report_demo(args, comparison, folder: Path, figures: dict[str, str]) -> None:
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


def _figure_size(shape: tuple[int, ...]) -> tuple[float, float]:
    """About 2.5 inches per panel, as in the book, shrunk so that a big grid stays 20 across."""
    rows, cols = (1, 1) if len(shape) == 2 else (1, shape[0]) if len(shape) == 3 else shape[:2]
    panel = max(1.0, min(2.5, 20.0 / max(rows, cols)))
    return (panel * cols + 1.0, panel * rows + 0.5)


def _run_heatmap(args: argparse.Namespace) -> int:
    _use_agg(args)
    from attnlab import plotting
    from attnlab._loading import LoadError, load_weights
    from attnlab.plotting._figures import image_formats, is_colormap

    formats = image_formats()
    if Path(args.out).suffix.lower().removeprefix(".") not in formats:
        raise UsageError(
            f"--out {args.out}: the extension picks the image format; use one of "
            f"{', '.join('.' + name for name in formats)}."
        )
    if not is_colormap(args.cmap):
        raise UsageError(
            f"--cmap {args.cmap!r} is not a matplotlib colour map, e.g. Reds, viridis."
        )
    try:
        weights = load_weights(args.file, key=args.key)
    except LoadError as error:
        raise UsageError(str(error)) from None
    try:
        with warnings.catch_warnings():  # e.g. a figure too small for its layout: still drawn
            warnings.simplefilter("ignore")
            figure = plotting.show_heatmaps(
                weights,
                xlabel=args.xlabel,
                ylabel=args.ylabel,
                titles=args.titles,
                figsize=tuple(args.figsize) if args.figsize else _figure_size(weights.shape),
                cmap=args.cmap,
            )
            plotting.save_figure(figure, args.out, dpi=args.dpi)
    except (TypeError, ValueError) as error:
        raise UsageError(str(error)) from None
    return EXIT_OK


def _run_grade(args: argparse.Namespace) -> int:
    from attnlab.grading import grade_command

    return grade_command(args.paths, out=args.out, timeout=args.timeout, quiet=args.quiet)
