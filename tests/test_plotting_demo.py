"""The figures of ``attnlab demo``, checked by what they draw: lines, images, labels, legends."""

import numpy as np
import pytest
import torch

from attnlab.compare import METHODS, compare_methods
from attnlab.datasets import toy_regression
from attnlab.plotting import DEMO_FIGURES, demo_figures


@pytest.fixture(scope="module")
def comparison():
    return compare_methods(toy_regression(40, seed=1), epochs=150)


@pytest.fixture(scope="module")
def figures(comparison):
    return demo_figures(comparison)


def legend_labels(ax):
    legend = ax.get_legend()
    assert legend is not None
    return [text.get_text() for text in legend.get_texts()]


def assert_legend_below(figure, axes):
    figure.draw_without_rendering()  # lay out, so that extents are final
    for ax in axes:
        legend, frame = ax.get_legend().get_window_extent(), ax.get_window_extent()
        assert legend.y1 <= frame.y0 + 1  # pixels: below the axes, not over the data
        assert figure.bbox.x0 - 1 <= legend.x0 and legend.x1 <= figure.bbox.x1 + 1
        assert legend.y0 >= figure.bbox.y0 - 1
        title = ax.title.get_window_extent()
        assert figure.bbox.x0 - 1 <= title.x0 and title.x1 <= figure.bbox.x1 + 1


def test_one_figure_per_file(figures):
    assert list(figures) == list(DEMO_FIGURES) == [
        "fits.png", "kernels.png", "bandwidth.png", "loss.png"
    ]  # fmt: skip


def test_fits_show_each_method_and_its_weights_on_one_scale(figures, comparison):
    figure = figures["fits.png"]
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert titles == [method.label for method in METHODS]
    images = [image for ax in figure.axes for image in ax.images]
    assert len(images) == len(METHODS)
    for image, method in zip(images, METHODS, strict=True):
        fit = comparison.fits[method.label]
        np.testing.assert_allclose(image.get_array(), fit.weights.numpy())
    norms = {id(image.norm) for image in images}
    assert len(norms) == 1  # one colour scale: the one colour bar is true for every panel
    largest = max(float(fit.weights.max()) for fit in comparison.fits.values())
    assert images[0].norm.vmax == pytest.approx(largest)
    for ax, method in zip(figure.axes, METHODS, strict=False):
        prediction = ax.lines[1].get_ydata()
        np.testing.assert_allclose(prediction, comparison.fits[method.label].prediction.numpy())


def test_kernels_panel_shows_every_bandwidth_and_a_legend_off_the_curves(figures, comparison):
    every, compared = figures["kernels.png"].axes[:2]
    assert len(every.lines) == 6  # every named kernel
    selected = comparison.fits["NW, leave-one-out h"].bandwidth
    learned = comparison.fits["NW, learned h"].bandwidth
    labels = legend_labels(compared)
    assert labels[0] == "book's h = 1"
    assert labels[1] == f"leave-one-out h = {selected:.3g}"
    assert labels[2].startswith(f"learned h = {learned:.3g}")
    # each curve is the Gaussian at its bandwidth
    for line, bandwidth in zip(compared.lines, (1.0, selected, learned), strict=True):
        distance = torch.as_tensor(line.get_xdata())
        expected = torch.exp(-0.5 * (distance / bandwidth) ** 2) / np.sqrt(2 * np.pi)
        np.testing.assert_allclose(line.get_ydata(), expected.numpy(), rtol=1e-6)
    # the legends stand below their axes, where they cover no curve, inside the figure
    assert_legend_below(figures["kernels.png"], (every, compared))


def test_coinciding_bandwidths_stay_visible_and_are_named(figures, comparison):
    selected = comparison.fits["NW, leave-one-out h"].bandwidth
    learned = comparison.fits["NW, learned h"].bandwidth
    assert abs(np.log(selected / learned)) < 0.02  # this data: the two coincide
    _, compared = figures["kernels.png"].axes[:2]
    loo_line, learned_line = compared.lines[1], compared.lines[2]
    # the learned curve is dashed on top of a wider leave-one-out curve: both show
    assert learned_line.get_linestyle() == "--"
    assert loo_line.get_linewidth() > learned_line.get_linewidth()
    assert "on the leave-one-out curve" in legend_labels(compared)[2]
    ax = figures["bandwidth.png"].axes[0]
    marks = {line.get_label(): line for line in ax.lines[1:]}
    chosen = next(line for label, line in marks.items() if label.startswith("selected h"))
    taught = next(line for label, line in marks.items() if label.startswith("learned h"))
    assert chosen.get_xdata()[0] == pytest.approx(selected)
    assert taught.get_xdata()[0] == pytest.approx(learned)
    # interleaved dashes: the same pattern, offset by one dash, in two colours
    assert chosen.get_color() != taught.get_color()
    assert chosen._dash_pattern[1] == taught._dash_pattern[1]
    assert chosen._dash_pattern[0] != taught._dash_pattern[0]
    assert "same as selected" in taught.get_label()


def test_bandwidth_curve_is_the_leave_one_out_error(figures, comparison):
    ax = figures["bandwidth.png"].axes[0]
    curve = ax.lines[0]
    order = np.argsort(comparison.bandwidths)
    np.testing.assert_allclose(curve.get_xdata(), comparison.bandwidths[order])
    np.testing.assert_allclose(curve.get_ydata(), comparison.loo_errors[order])
    assert ax.get_xscale() == "log"
    assert any(label.startswith("NW, h = 1 (book)") for label in legend_labels(ax))
    assert_legend_below(figures["bandwidth.png"], [ax])


def test_loss_is_the_training_history(figures, comparison):
    ax = figures["loss.png"].axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), comparison.losses)
    assert ax.lines[1].get_ydata()[0] == pytest.approx(np.nanmin(comparison.loo_errors))
    assert ax.get_title() == "Learning h: leave-one-out training loss"


def test_separate_marks_when_bandwidths_differ():
    # two epochs leave the learned bandwidth far from the selected one
    figures = demo_figures(compare_methods(toy_regression(40, seed=1), epochs=2))
    labels = legend_labels(figures["kernels.png"].axes[1])
    assert "on the leave-one-out curve" not in labels[2]
    ax = figures["bandwidth.png"].axes[0]
    learned = next(line for line in ax.lines if line.get_label().startswith("learned h"))
    assert "same as selected" not in learned.get_label()
    assert learned.get_linestyle() == ":"


def test_refuses_what_is_not_a_comparison():
    with pytest.raises(TypeError, match="demo_figures: comparison must be an attnlab.compare"):
        demo_figures({"fits": None})
