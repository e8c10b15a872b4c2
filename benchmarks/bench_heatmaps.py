"""Time ``attnlab.show_heatmaps`` against the book's ``show_heatmaps`` on a BERT-base sized grid.

Input: attention weights of 12 layers x 12 heads, 64 queries x 64 keys (softmax of seeded random
scores), with the book's per-column titles, axis labels and a colour bar; the figure is 18 x 18
inches and saved to PNG at 100 dpi under the Agg backend. Each repetition builds the figure and
saves it; the figures are the median wall-clock time and the median CPU time of this process
(the CPU time is the steadier figure on a busy machine).

Run with ``python -m benchmarks heatmaps``.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import torch

from attnlab import show_heatmaps

N_LAYERS, N_HEADS, N_QUERIES, N_KEYS = 12, 12, 64, 64
FIGSIZE = (18.0, 18.0)
DPI = 100
REPEATS = 3


def book_show_heatmaps(matrices, xlabel, ylabel, titles=None, figsize=(2.5, 2.5), cmap="Reds"):
    """The book's ``show_heatmaps`` (section 11.1.4), written out from its text.

    ``d2l.plt`` is ``matplotlib.pyplot``; ``d2l.use_svg_display()`` is left out because it only
    switches a notebook's inline display to SVG and has no effect under Agg.
    """
    num_rows, num_cols = matrices.shape[0], matrices.shape[1]
    fig, axes = plt.subplots(
        num_rows, num_cols, figsize=figsize, sharex=True, sharey=True, squeeze=False
    )
    for i, (row_axes, row_matrices) in enumerate(zip(axes, matrices, strict=False)):
        for j, (ax, matrix) in enumerate(zip(row_axes, row_matrices, strict=False)):
            pcm = ax.imshow(matrix.detach().numpy(), cmap=cmap)
            if i == num_rows - 1:
                ax.set_xlabel(xlabel)
            if j == 0:
                ax.set_ylabel(ylabel)
            if titles:
                ax.set_title(titles[j])
    fig.colorbar(pcm, ax=axes, shrink=0.6)


def _weights() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(N_LAYERS, N_HEADS, N_QUERIES, N_KEYS, generator=generator)
    return torch.softmax(scores, dim=-1)  # (layers, heads, q, k)


def _time(draw, path: str, repeats: int) -> tuple[float, float, int]:
    """Median wall and CPU seconds to build and save, and the PNG's size in bytes."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fig = draw()
        fig.savefig(path, dpi=DPI)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        plt.close(fig)
    return statistics.median(walls), statistics.median(cpus), os.path.getsize(path)


def _check_agreement(weights: torch.Tensor, titles: list[str], labels: dict) -> None:
    """Both draw the same arrays; only attnlab's colour bar is true for every panel."""
    book_show_heatmaps(weights, titles=titles, figsize=FIGSIZE, **labels)
    book_images = [ax.images[0] for ax in plt.gcf().axes if ax.get_label() != "<colorbar>"]
    fig = show_heatmaps(weights, titles=titles, figsize=FIGSIZE, **labels)
    images = fig.axes[0].images
    expected = weights.reshape(-1, N_QUERIES, N_KEYS).numpy()
    same = all(
        (a.get_array() == e).all() and (b.get_array() == e).all()
        for a, b, e in zip(book_images, images, expected, strict=True)
    )
    print(f"both draw the input arrays: {same}")
    for name, drawn in (("book", book_images), ("attnlab", images)):
        bar = drawn[-1].norm  # the book's bar belongs to its last panel
        true_for = sum((i.norm.vmin, i.norm.vmax) == (bar.vmin, bar.vmax) for i in drawn)
        print(f"{name}'s colour bar ({bar.vmin:.3f} to {bar.vmax:.3f}) is true for "
              f"{true_for} of {len(drawn)} panels")  # fmt: skip
    plt.close("all")


def main() -> None:
    weights = _weights()
    titles = [f"Head {i}" for i in range(1, N_HEADS + 1)]
    labels = {"xlabel": "Keys", "ylabel": "Queries"}

    def book():
        book_show_heatmaps(weights, titles=titles, figsize=FIGSIZE, **labels)
        return plt.gcf()

    cases = {
        "book show_heatmaps": book,
        "attnlab show_heatmaps": lambda: show_heatmaps(
            weights, titles=titles, figsize=FIGSIZE, **labels
        ),
        "attnlab, one title per panel": lambda: show_heatmaps(
            weights,
            titles=[[f"L{i} H{j}" for j in range(1, 13)] for i in range(1, 13)],
            figsize=FIGSIZE,
            **labels,
        ),
        "attnlab, layout='grid' (144 Axes)": lambda: show_heatmaps(
            weights, titles=titles, figsize=FIGSIZE, layout="grid", **labels
        ),
    }
    print(
        f"{N_LAYERS} x {N_HEADS} panels of {N_QUERIES} x {N_KEYS}, figsize={FIGSIZE}, dpi={DPI}, "
        f"median of {REPEATS} (of 1 for the grid); torch threads: {torch.get_num_threads()}"
    )
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        # untimed warm-up: font caches and lazy imports are not what is measured
        book_show_heatmaps(weights[:2, :2], titles=titles[:2], **labels)
        plt.gcf().savefig(os.path.join(folder, "warm-up.png"), dpi=DPI)
        show_heatmaps(weights[:2, :2], titles=titles[:2], **labels).savefig(
            os.path.join(folder, "warm-up.png"), dpi=DPI
        )
        plt.close("all")
        for name, draw in cases.items():
            # the 144-Axes grid is slower than the book: timed once, to show why "auto" avoids it
            repeats = 1 if "grid" in name else REPEATS
            results[name] = _time(draw, os.path.join(folder, "figure.png"), repeats)
            wall, cpu, size = results[name]
            print(f"{name:36s} wall {wall:6.2f} s   cpu {cpu:6.2f} s   png {size / 1e3:6.0f} kB")
        _check_agreement(weights, titles, labels)
    book_wall, book_cpu, _ = results["book show_heatmaps"]
    for name, (wall, cpu, _) in results.items():
        if name != "book show_heatmaps":
            print(f"speed-up of {name}: {book_wall / wall:5.1f}x wall, {book_cpu / cpu:5.1f}x cpu")


if __name__ == "__main__":
    main()
