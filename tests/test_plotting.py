"""Tests for attnlab.plotting: artists checked against the input, under the Agg backend."""

import io
import subprocess
import sys

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

import attnlab
from attnlab import (
    HeatmapDisplay,
    masked_softmax,
    nadaraya_watson,
    plot_bandwidth_curve,
    plot_fits,
    plot_kernels,
    plot_loss,
    show_heatmaps,
)


def _images(fig):
    """Heatmap images of a figure, in drawing order (colour bar excluded)."""
    return [image for ax in fig.axes for image in ax.images]


def _rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- the book's calls, unchanged


def test_book_identity_call():
    attention_weights = torch.eye(10).reshape((1, 1, 10, 10))
    fig = show_heatmaps(attention_weights, xlabel="Keys", ylabel="Queries")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), np.eye(10))
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Keys", "Queries")
    image = ax.images[0]
    assert (image.norm.vmin, image.norm.vmax) == (0.0, 1.0)
    colorbar = image.colorbar  # set on the image that the colour bar was drawn for
    assert colorbar is not None and colorbar.ax is fig.axes[1]
    assert colorbar.mappable.norm is image.norm
    assert (colorbar.vmin, colorbar.vmax) == (0.0, 1.0)
    # ticks on whole cells: no key 2.5 on integer indices
    assert all(float(tick).is_integer() for tick in ax.get_xticks() if 0 <= tick <= 9)
    assert all(float(tick).is_integer() for tick in ax.get_yticks() if 0 <= tick <= 9)


def test_book_masked_softmax_weights():
    weights = masked_softmax(_rand(2, 2, 4), torch.tensor([2, 3]))  # (2, 2, 4)
    fig = show_heatmaps(weights.unsqueeze(0), xlabel="Keys", ylabel="Queries")
    images = _images(fig)
    assert len(images) == 2
    for image, expected in zip(images, weights, strict=True):
        np.testing.assert_allclose(image.get_array(), expected.numpy())
    # 3-D input is one row of panels, the same figure
    again = show_heatmaps(weights, xlabel="Keys", ylabel="Queries")
    assert [i.get_array().tolist() for i in _images(again)] == [
        i.get_array().tolist() for i in images
    ]


def test_book_multihead_grid_titles_per_column():
    layers, heads = 2, 5
    weights = torch.softmax(_rand(layers, heads, 4, 6), dim=-1)
    titles = ["Head %d" % i for i in range(1, 6)]  # noqa: UP031  (the book's call, verbatim)
    fig = show_heatmaps(weights, xlabel="Keys", ylabel="Queries", titles=titles, figsize=(7, 3.5))
    grid = np.array(fig.axes[: layers * heads]).reshape(layers, heads)
    for row, col in np.ndindex(layers, heads):
        ax = grid[row, col]
        # the book sets the column's title on every panel
        assert ax.get_title() == f"Head {col + 1}"
        np.testing.assert_allclose(ax.images[0].get_array(), weights[row, col].numpy())
        assert ax.get_xlabel() == ("Keys" if row == layers - 1 else "")
        assert ax.get_ylabel() == ("Queries" if col == 0 else "")


def test_book_nadaraya_watson_call_with_grad():
    data = attnlab.datasets.toy_regression()
    bandwidth = torch.tensor(0.5, requires_grad=True)
    _, attention_weights = nadaraya_watson(
        data.x_test, data.x_train, data.y_train, bandwidth=bandwidth
    )
    assert attention_weights.requires_grad
    fig = show_heatmaps(
        attention_weights.unsqueeze(0).unsqueeze(0),
        xlabel="Sorted training inputs",
        ylabel="Sorted testing inputs",
    )
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), attention_weights.detach().numpy())
    assert ax.get_xlabel() == "Sorted training inputs"
    assert ax.get_ylabel() == "Sorted testing inputs"


# ------------------------------------------------------------------- one colour scale for all


@pytest.mark.parametrize("layout", ["grid", "mosaic"])
def test_every_panel_shares_the_colorbar_norm(layout):
    weights = _rand(3, 4, 5, 6).numpy()
    weights[1, 2] *= 7.0  # one panel far brighter than the others
    display = HeatmapDisplay(weights).plot(layout=layout, figsize=(8, 6))
    assert display.images_.shape == (3, 4)
    colorbar_norm = display.colorbar_.mappable.norm
    assert (colorbar_norm.vmin, colorbar_norm.vmax) == (0.0, pytest.approx(weights.max()))
    for (row, col), image in np.ndenumerate(display.images_):
        assert (image.norm.vmin, image.norm.vmax) == (colorbar_norm.vmin, colorbar_norm.vmax)
        np.testing.assert_array_equal(image.get_array(), weights[row, col])


def test_negative_values_keep_their_sign_on_the_scale():
    values = np.array([[-2.0, 0.5], [1.0, 3.0]])
    fig = show_heatmaps(values)
    norm = fig.axes[0].images[0].norm
    assert (norm.vmin, norm.vmax) == (-2.0, 3.0)


@pytest.mark.parametrize(
    ("values", "limits"),
    [(np.zeros((2, 2)), (0.0, 1.0)), (np.full((2, 2), -3.0), (-3.0, -2.0))],
)
def test_constant_input_gets_a_readable_scale(values, limits):
    norm = show_heatmaps(values).axes[0].images[0].norm
    assert (norm.vmin, norm.vmax) == limits


def test_vmin_vmax_override():
    norm = show_heatmaps(_rand(3, 3) / 4, vmin=0, vmax=1).axes[0].images[0].norm
    assert (norm.vmin, norm.vmax) == (0.0, 1.0)


@settings(max_examples=15, deadline=None)
@given(
    shape=st.tuples(*(st.integers(1, 3) for _ in range(2)), *(st.integers(1, 5) for _ in range(2))),
    scale=st.floats(-5, 5),
    seed=st.integers(0, 100),
)
def test_drawn_arrays_and_norm_match_the_input(shape, scale, seed):
    values = (_rand(*shape, seed=seed) * scale).numpy()
    display = HeatmapDisplay(values).plot(figsize=(4, 4))
    low, high = min(0.0, values.min()), values.max()
    if high <= low:
        high = low + 1.0
    norm = display.colorbar_.mappable.norm
    assert norm.vmin == pytest.approx(low) and norm.vmax == pytest.approx(high)
    for index, image in np.ndenumerate(display.images_):
        np.testing.assert_array_equal(image.get_array(), values[index])
    plt.close(display.figure_)


# ------------------------------------------------------------------------ inputs and layouts


def test_numpy_list_and_half_precision_inputs():
    expected = np.arange(6.0).reshape(2, 3)
    for matrices in (expected, expected.tolist(), torch.tensor(expected, dtype=torch.bfloat16)):
        image = show_heatmaps(matrices).axes[0].images[0]
        np.testing.assert_array_equal(image.get_array(), expected)


def test_float64_is_not_rounded():
    values = np.array([[0.1, 1 / 3]])
    image = show_heatmaps(torch.tensor(values, dtype=torch.float64)).axes[0].images[0]
    np.testing.assert_array_equal(image.get_array(), values)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensor():
    weights = _rand(2, 3, 3).cuda().requires_grad_()
    images = _images(show_heatmaps(weights))
    np.testing.assert_allclose(images[1].get_array(), weights[1].detach().cpu().numpy())


def test_auto_layout_switches_to_mosaic_above_16_panels():
    assert HeatmapDisplay(_rand(4, 4, 3, 3)).plot().layout_ == "grid"
    display = HeatmapDisplay(_rand(1, 17, 3, 3)).plot(figsize=(12, 2))
    assert display.layout_ == "mosaic"
    assert display.axes_.shape == (1, 1) and display.images_.shape == (1, 17)
    assert len(display.axes_[0, 0].images) == 17


def test_mosaic_places_panels_side_by_side_without_overlap():
    display = HeatmapDisplay(_rand(2, 3, 4, 5)).plot(layout="mosaic", figsize=(6, 4))
    extents = {index: image.get_extent() for index, image in np.ndenumerate(display.images_)}
    for (row, col), (left, right, bottom, top) in extents.items():
        assert right - left == 5 and bottom - top == 4  # one data unit per cell
        if col:
            assert left > extents[row, col - 1][1]
        if row:
            assert top > extents[row - 1, col][2]


def test_mosaic_titles_and_ticks():
    tokens = ["the", "cat", "sat"]
    fig = show_heatmaps(
        _rand(2, 3, 3, 3),
        titles=["Head 1", "Head 2", "Head 3"],
        row_titles=["Layer 1", "Layer 2"],
        x_ticklabels=tokens,
        y_ticklabels=tokens,
        layout="mosaic",
        figsize=(6, 4),
    )
    ax = fig.axes[0]
    texts = [text.get_text() for text in ax.texts]
    # a title that repeats on every row is drawn once above its column
    assert texts == ["Head 1", "Head 2", "Head 3", "Layer 1", "Layer 2"]
    assert [label.get_text() for label in ax.get_xticklabels()] == tokens * 3
    assert [label.get_text() for label in ax.get_yticklabels()] == tokens * 2
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Keys", "Queries")


def test_mosaic_distinct_panel_titles_each_drawn():
    titles = [["a", "b"], ["c", "d"]]
    fig = show_heatmaps(_rand(2, 2, 3, 3), titles=titles, layout="mosaic", figsize=(4, 4))
    assert [text.get_text() for text in fig.axes[0].texts] == ["a", "b", "c", "d"]


def test_grid_row_col_titles_and_token_ticks():
    tokens_k, tokens_q = ["a", "b", "c", "d"], ["x", "y", "z"]
    display = HeatmapDisplay(
        _rand(2, 2, 3, 4),
        row_titles=["Layer 1", "Layer 2"],
        col_titles=["Head 1", "Head 2"],
        x_ticklabels=tokens_k,
        y_ticklabels=tokens_q,
    ).plot(layout="grid", figsize=(6, 5))
    axes = display.axes_
    assert [ax.get_title() for ax in axes[0]] == ["Head 1", "Head 2"]
    assert [ax.get_title() for ax in axes[1]] == ["", ""]
    assert [t.get_text() for t in axes[0, 1].texts] == ["Layer 1"]
    assert [t.get_text() for t in axes[1, 1].texts] == ["Layer 2"]
    assert len(axes[0, 0].texts) == 0
    assert [t.get_text() for t in axes[1, 0].get_xticklabels()] == tokens_k
    assert [t.get_text() for t in axes[1, 0].get_yticklabels()] == tokens_q


def test_titles_one_per_panel_flat_and_nested():
    for titles in (["a", "b", "c", "d"], [["a", "b"], ["c", "d"]]):
        display = HeatmapDisplay(_rand(2, 2, 3, 3), titles=titles).plot(layout="grid")
        assert [ax.get_title() for ax in display.axes_.flat] == ["a", "b", "c", "d"]


def test_mask_cells_are_masked_and_drawn_in_masked_color():
    weights = masked_softmax(_rand(2, 4, 4), mask=torch.ones(4, 4, dtype=torch.bool).tril())
    mask = torch.ones(4, 4, dtype=torch.bool).tril()
    weights[0, 0, 0] = float("nan")
    display = HeatmapDisplay(weights, mask=mask).plot(masked_color="blue")
    for image in display.images_.flat:
        expected = ~mask.numpy()
        if image is display.images_[0, 0]:
            expected = expected.copy()
            expected[0, 0] = True
        np.testing.assert_array_equal(np.ma.getmaskarray(image.get_array()), expected)
        assert image.get_cmap().get_bad().tolist() == [0.0, 0.0, 1.0, 1.0]
    # masked and NaN cells stay out of the colour scale
    norm = display.colorbar_.mappable.norm
    assert norm.vmax == pytest.approx(float(weights[mask.expand(2, 4, 4)].nan_to_num().max()))


def test_colormaps_are_not_mutated():
    registered = mpl.colormaps["Reds"].get_bad().tolist()
    mine = mpl.colormaps["Blues"]
    before = mine.get_bad().tolist()
    show_heatmaps(_rand(2, 2), cmap=mine, masked_color="green")
    show_heatmaps(_rand(2, 2), masked_color="green")
    assert mine.get_bad().tolist() == before
    assert mpl.colormaps["Reds"].get_bad().tolist() == registered


# --------------------------------------------------------------- nothing global, exports work


def test_no_global_state_changes_when_axes_are_given():
    rc_before = dict(mpl.rcParams)
    fig, axes = plt.subplots(2, 3)
    figures_before = plt.get_fignums()
    display = HeatmapDisplay(_rand(2, 3, 4, 4)).plot(axes)
    assert plt.get_fignums() == figures_before
    assert display.figure_ is fig
    assert [list(row) for row in display.axes_] == [list(row) for row in axes]
    # one Axes for many panels: a mosaic in it
    fig2, ax = plt.subplots()
    figures_before = plt.get_fignums()
    shown = show_heatmaps(_rand(3, 4, 4), axes=ax)
    assert shown is fig2 and plt.get_fignums() == figures_before
    assert len(ax.images) == 3
    show_heatmaps(_rand(2, 2, 3, 3), titles=["a", "b"])
    assert dict(mpl.rcParams) == rc_before


def test_one_dimensional_axes_for_one_row():
    fig, axes = plt.subplots(1, 3)
    assert show_heatmaps(_rand(3, 2, 2), axes=list(axes), colorbar=False) is fig
    assert all(len(ax.images) == 1 for ax in axes)


@pytest.mark.parametrize("layout", ["grid", "mosaic"])
@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_export_png_and_svg(layout, fmt):
    fig = show_heatmaps(_rand(2, 3, 4, 4), titles=["a", "b", "c"], layout=layout, figsize=(5, 4))
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt)
    head = buffer.getvalue()[:400]
    assert head.startswith(b"\x89PNG") if fmt == "png" else b"<svg" in head


def test_labels_and_ticks_not_clipped():
    tokens = ["a-long-token", "another-token", "x"]
    for layout in ("grid", "mosaic"):
        fig = show_heatmaps(
            _rand(2, 2, 3, 3), ylabel="Queries (test inputs)", x_ticklabels=tokens,
            titles=["Head 1", "Head 2"], layout=layout, figsize=(4, 4),
        )  # fmt: skip
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        texts = [text for ax in fig.axes for text in ax.texts]
        for ax in fig.axes:
            texts += [ax.xaxis.label, ax.yaxis.label, ax.title, *ax.get_xticklabels()]
        for text in texts:
            if text.get_text() and text.get_visible():
                box = text.get_window_extent(renderer)
                assert box.x0 >= 0 and box.y0 >= 0, text
                assert box.x1 <= fig.bbox.width and box.y1 <= fig.bbox.height, text
        plt.close(fig)


def test_import_does_not_load_pyplot():
    code = "import sys, attnlab; print('matplotlib.pyplot' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


# -------------------------------------------------------------------------- pinned errors


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"matrices": torch.ones(5)}, ValueError, r"show_heatmaps: matrices must have shape "),
        ({"matrices": torch.ones(1, 1, 1, 2, 2)}, ValueError, r"got matrices.shape=\(1, 1, 1, 2"),
        ({"matrices": torch.ones(1, 0, 3)}, ValueError, r"at least one value"),
        ({"matrices": [["a", "b"]]}, TypeError, r"matrices must be a tensor, a NumPy array"),
        ({"titles": ["a", "b", "c"]}, ValueError, r"one title per column \(2\).*got 3 titles"),
        ({"col_titles": ["a"]}, ValueError, r"col_titles must have one label per column"),
        ({"row_titles": ["a", "b"]}, ValueError, r"row_titles must have one label per row"),
        ({"x_ticklabels": ["a"]}, ValueError, r"x_ticklabels must have one label per key \(4\)"),
        ({"y_ticklabels": list("abcd")}, ValueError, r"one label per query \(3\); got 4"),
        ({"x_ticklabels": "abcd"}, TypeError, r"x_ticklabels must be a sequence of 4 labels"),
        ({"titles": ["a", "b"], "col_titles": ["a", "b"]}, ValueError, r"not both"),
        ({"mask": torch.ones(3, 4)}, TypeError, r"mask must be boolean"),
        ({"mask": torch.ones(2, 4, dtype=torch.bool)}, ValueError, r"broadcastable"),
        ({"layout": "tight"}, ValueError, r"layout must be one of 'auto', 'grid', 'mosaic'"),
        ({"vmin": 1.0, "vmax": 0.5}, ValueError, r"vmin must be less than vmax"),
    ],
)
def test_show_heatmaps_errors(kwargs, error, match):
    kwargs = {"matrices": _rand(1, 2, 3, 4), **kwargs}
    with pytest.raises(error, match=match):
        show_heatmaps(**kwargs)


def test_axes_errors():
    _fig, axes = plt.subplots(2, 2)
    with pytest.raises(ValueError, match=r"axes must be one Axes or an array of shape \(1, 3\)"):
        show_heatmaps(_rand(3, 2, 2), axes=axes)
    with pytest.raises(TypeError, match=r"axes must be a matplotlib Axes; got 'x'"):
        show_heatmaps(_rand(1, 2, 2, 2), axes=["x", "y"])
    with pytest.raises(ValueError, match=r"layout='mosaic' draws into one Axes"):
        show_heatmaps(_rand(2, 2, 2, 2), axes=axes, layout="mosaic")
    with pytest.raises(ValueError, match=r"axes must be one Axes or an array of shape \(2, 2\)"):
        show_heatmaps(_rand(2, 2, 2, 2), axes=axes[0, 0], layout="grid")


def test_display_errors_name_the_display():
    with pytest.raises(ValueError, match=r"^HeatmapDisplay: matrices must have shape"):
        HeatmapDisplay(torch.ones(3))
    with pytest.raises(ValueError, match=r"^HeatmapDisplay.plot: layout must be one of"):
        HeatmapDisplay(torch.ones(3, 3)).plot(layout="tight")


# ------------------------------------------------------------------------ lesson plots


def test_plot_kernels_draws_each_kernel_at_the_bandwidth():
    fig = plot_kernels(["gaussian", "epanechnikov", "boxcar"], bandwidth=0.5)
    lines = {line.get_label(): line for line in fig.axes[0].lines}
    assert list(lines) == ["gaussian", "epanechnikov", "boxcar"]
    x = lines["gaussian"].get_xdata()
    assert x.min() == pytest.approx(-1.5) and x.max() == pytest.approx(1.5)
    u = x / 0.5
    np.testing.assert_allclose(
        lines["gaussian"].get_ydata(), np.exp(-(u**2) / 2) / np.sqrt(2 * np.pi)
    )
    np.testing.assert_allclose(
        lines["epanechnikov"].get_ydata(), np.where(np.abs(u) < 1, 0.75 * (1 - u**2), 0.0),
        atol=1e-12,
    )  # fmt: skip
    np.testing.assert_allclose(lines["boxcar"].get_ydata(), np.where(np.abs(u) <= 1, 0.5, 0.0))


def test_plot_kernels_defaults_and_given_ax():
    fig, ax = plt.subplots()
    figures_before = plt.get_fignums()
    assert plot_kernels(ax=ax) is fig
    assert plt.get_fignums() == figures_before
    assert [line.get_label() for line in ax.lines] == list(attnlab.kernels.names)
    custom = plot_kernels(lambda u: 1 / (1 + u**2))
    assert [line.get_label() for line in custom.axes[0].lines] == ["<lambda>"]


def test_plot_kernels_errors():
    with pytest.raises(ValueError, match=r"plot_kernels: kernel must be one of"):
        plot_kernels("cosine")
    with pytest.raises(ValueError, match=r"plot_kernels: bandwidth must be positive"):
        plot_kernels(bandwidth=0.0)
    with pytest.raises(ValueError, match=r"bandwidth must be a single positive number"):
        plot_kernels(bandwidth=torch.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"plot_kernels: ax must be a matplotlib Axes"):
        plot_kernels(ax="left")


def test_plot_fits_grid_lines_and_shared_heatmap_scale():
    data = attnlab.datasets.toy_regression(n_train=20)
    narrow = nadaraya_watson(data.x_test, data.x_train, data.y_train, bandwidth=0.2)
    wide = nadaraya_watson(data.x_test, data.x_train, data.y_train, bandwidth=2.0)
    fits = {"narrow": narrow, "truth only": (data.y_test, None), "wide": wide}
    fig = plot_fits(*data, fits)
    top = [ax for ax in fig.axes if ax.get_title() in fits]
    assert [ax.get_title() for ax in top] == list(fits)
    truth, prediction, points = top[0].lines
    np.testing.assert_allclose(truth.get_ydata(), data.y_test.numpy())
    np.testing.assert_allclose(prediction.get_ydata(), narrow[0].numpy())
    np.testing.assert_allclose(points.get_xdata(), data.x_train.numpy())
    images = _images(fig)
    assert len(images) == 2
    np.testing.assert_allclose(images[0].get_array(), narrow[1].numpy())
    np.testing.assert_allclose(images[1].get_array(), wide[1].numpy())
    global_max = max(narrow[1].max().item(), wide[1].max().item())
    colorbars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(colorbars) == 1
    for image in images:
        assert (image.norm.vmin, image.norm.vmax) == (0.0, pytest.approx(global_max))
    assert any(text.get_text() == "no weights" for ax in fig.axes for text in ax.texts)


def test_plot_fits_into_given_axes_and_errors():
    data = attnlab.datasets.toy_regression(n_train=10)
    fit = nadaraya_watson(data.x_test, data.x_train, data.y_train, bandwidth=0.5)
    fig, axes = plt.subplots(2, 1)
    assert plot_fits(*data, {"nw": fit}, axes=axes) is fig
    with pytest.raises(ValueError, match=r"plot_fits: axes must be one Axes or an array of shape"):
        plot_fits(*data, {"nw": fit, "again": fit}, axes=axes)
    with pytest.raises(TypeError, match=r"fits must be a non-empty dict"):
        plot_fits(*data, {})
    with pytest.raises(TypeError, match=r"fits\['nw'\] must be a pair"):
        plot_fits(*data, {"nw": fit[0]})
    with pytest.raises(ValueError, match=r"prediction must have shape \(50,\)"):
        plot_fits(*data, {"nw": (fit[0][:3], None)})
    with pytest.raises(ValueError, match=r"weights must have shape \(n_test, n_train\)"):
        plot_fits(*data, {"nw": (fit[0], fit[1].T)})
    with pytest.raises(ValueError, match=r"x and y must have the same length"):
        plot_fits(data.x_train, data.y_train[:3], data.x_test, data.y_test, {"nw": fit})


def test_plot_bandwidth_curve():
    fig = plot_bandwidth_curve([1.0, 0.1, 0.3], [0.4, 0.5, 0.3], selected=0.3)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    curve, marker = ax.lines
    np.testing.assert_allclose(curve.get_xdata(), [0.1, 0.3, 1.0])
    np.testing.assert_allclose(curve.get_ydata(), [0.5, 0.3, 0.4])
    assert marker.get_xdata()[0] == pytest.approx(0.3)
    assert "0.3" in marker.get_label()
    with pytest.raises(ValueError, match=r"plot_bandwidth_curve: bandwidths and errors must"):
        plot_bandwidth_curve([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match=r"bandwidths must be positive \(log axis\)"):
        plot_bandwidth_curve([0.0, 1.0], [1.0, 2.0])


def test_plot_loss_accepts_tensors_with_grad():
    weight = torch.tensor(2.0, requires_grad=True)
    losses = [weight * 3, weight * 2, weight]
    ax = plot_loss(losses).axes[0]
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [6.0, 4.0, 2.0])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Epoch", "Loss")
    with pytest.raises(ValueError, match=r"plot_loss: losses must be one-dimensional"):
        plot_loss([])
    with pytest.raises(TypeError, match=r"plot_loss: losses must be a sequence of numbers"):
        plot_loss(["high", "low"])


def test_one_panel_into_one_given_axes():
    figure, ax = plt.subplots()
    assert show_heatmaps(torch.eye(3), axes=ax) is figure
    np.testing.assert_array_equal(ax.images[0].get_array(), np.eye(3))
    assert HeatmapDisplay(torch.eye(3)).plot(ax).axes_.shape == (1, 1)
