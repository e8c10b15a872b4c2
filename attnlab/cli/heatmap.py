"""``attnlab heatmap``: draw attention weights saved from any model, never unpickling a file.

Reading is :func:`attnlab._loading.load_weights` (every header checked before any data), drawing
:func:`attnlab.show_heatmaps`; this module parses the options and reports in one line.

References
----------
1. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.1
   (Chinese 2nd edition) / 11.1 (English).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from attnlab.cli._common import (
    EXIT_CODES,
    EXIT_OK,
    UsageError,
    integer,
    positive_float,
    use_off_screen,
)

__all__ = ["add_parser", "run"]

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

{EXIT_CODES}"""


def add_parser(commands) -> None:
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
        type=positive_float,
        metavar=("W", "H"),
        help="figure size in inches (default: about 2.5 per panel, at most 20 across)",
    )
    heatmap.add_argument(
        "--dpi", type=integer(10, 1200), default=150, metavar="N", help="resolution (default: 150)"
    )


def _figure_size(shape: tuple[int, ...]) -> tuple[float, float]:
    """About 2.5 inches per panel, as in the book, shrunk so that a big grid stays 20 across."""
    rows, cols = (1, 1) if len(shape) == 2 else (1, shape[0]) if len(shape) == 3 else shape[:2]
    panel = max(1.0, min(2.5, 20.0 / max(rows, cols)))
    return (panel * cols + 1.0, panel * rows + 0.5)


def run(args: argparse.Namespace) -> int:
    use_off_screen(args)
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
